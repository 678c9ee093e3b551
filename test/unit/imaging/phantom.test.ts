import { createHash } from 'node:crypto';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { parseFractureList, phantomBuffers, randomPhantomOptions, type PhantomOptions } from '../../../src/imaging/phantom/generate';
import { deterministicUid } from '../../../src/imaging/phantom/prng';
import { lpsToVoxel, orientationCode, sampleTrilinear, toCanonicalLps, type Volume } from '../../../src/imaging/volume';

const { abs, max } = Math; // local aliases: global lookups are slow in jest's vm context

/** Small and fast: 96×96 at 4 mm, 3 mm slices, T10–L3 only. */
const SMALL: Partial<PhantomOptions> = { size: 96, pixelSpacing: 4, sliceSpacing: 3, coverage: { from: 'T10', to: 'L3' } };

const hashAll = (files: Array<{ name: string; data: Buffer }>): string => {
  const h = createHash('sha256');
  for (const f of files) h.update(f.name).update(f.data);
  return h.digest('hex');
};

const huAt = (v: Volume, p: [number, number, number]): number => {
  const [i, j, k] = lpsToVoxel(v, p);
  return sampleTrilinear(v, i, j, k);
};

describe('phantom', () => {
  it('is deterministic: same seed ⇒ identical bytes; another seed ⇒ different bytes and UIDs', () => {
    const a = phantomBuffers({ ...SMALL, seed: 11, fractures: parseFractureList('T12:2') });
    const b = phantomBuffers({ ...SMALL, seed: 11, fractures: parseFractureList('T12:2') });
    const c = phantomBuffers({ ...SMALL, seed: 12, fractures: parseFractureList('T12:2') });
    expect(hashAll(a.files)).toBe(hashAll(b.files));
    expect(hashAll(a.files)).not.toBe(hashAll(c.files));
    expect(a.truth).toEqual(b.truth);
    expect(a.truth.studyInstanceUid).not.toBe(c.truth.studyInstanceUid);
    expect(a.truth.studyInstanceUid).toMatch(/^2\.25\.\d+$/);
    expect(a.truth.studyInstanceUid.length).toBeLessThanOrEqual(64);
    expect(deterministicUid(1, 'x')).toBe(deterministicUid(1, 'x'));
  });

  it('gives true heights that match the requested Genant grade and morphology', () => {
    const { truth } = phantomBuffers({
      ...SMALL,
      slices: 3,
      fractures: parseFractureList('T11:1:wedge,T12:2:wedge,L1:3:biconcave,L2:2:crush,L3:3:crush'),
    });
    const by = new Map(truth.vertebrae.map((v) => [v.level, v]));
    const band = { 1: [20, 25], 2: [25, 40], 3: [40, 100] } as const;
    for (const f of truth.fractures) {
      const [lo, hi] = band[f.grade as 1 | 2 | 3];
      expect(f.heightLossPercent).toBeGreaterThanOrEqual(lo);
      expect(f.heightLossPercent).toBeLessThanOrEqual(hi);
    }
    const t12 = by.get('T12')!;
    expect(t12.heightsMm.anterior).toBeLessThan(t12.heightsMm.posterior * 0.75);
    expect(Math.abs(t12.heightsMm.posterior - t12.referenceHeightsMm.posterior)).toBeLessThan(0.05);
    const l1 = by.get('L1')!;
    expect(l1.heightsMm.middle).toBeLessThan(l1.heightsMm.posterior * 0.6);
    expect(l1.heightsMm.anterior).toBeGreaterThan(l1.heightsMm.posterior * 0.9);
    const l3 = by.get('L3')!;
    expect(l3.heightsMm.posterior).toBeLessThan(l3.referenceHeightsMm.posterior * 0.6);
    // Normal vertebrae: grade 0, < 20 % reduction, heights growing caudally.
    const normals = truth.vertebrae.filter((v) => v.grade === 0);
    for (const v of normals) expect(v.heightLossPercent).toBeLessThan(20);
    expect(by.get('T1')!.heightsMm.posterior).toBeLessThan(by.get('T8')!.heightsMm.posterior);
    expect(by.get('T8')!.heightsMm.posterior).toBeLessThan(by.get('L4')!.heightsMm.posterior);
    expect(by.get('T4')!.heightsMm.posterior).toBeGreaterThan(15);
    expect(by.get('L4')!.heightsMm.posterior).toBeGreaterThan(25);
  });

  it('marks partial coverage and confounder flags in the truth', () => {
    const { truth } = phantomBuffers({ ...SMALL, slices: 3, sclerotic: ['L2'], lytic: ['T10'], schmorl: ['L3'], scoliosisMm: 12 });
    const by = new Map(truth.vertebrae.map((v) => [v.level, v]));
    expect(by.get('L2')!.flags).toEqual(expect.arrayContaining(['sclerotic', 'scoliosis']));
    expect(by.get('T10')!.flags).toContain('lytic');
    expect(by.get('L3')!.flags).toContain('schmorlNode');
    expect(by.get('T1')!.flags).toContain('partialCoverage');
    expect(truth.confounders.partialCoverage).toBe(true);
  });

  it('puts the vertebral bodies where the truth says, for head/feet-first and supine/prone', () => {
    const base = { ...SMALL, seed: 5, noiseSigma: 0, fractures: parseFractureList('L1:3:wedge') };
    const results = (['HFS', 'FFS', 'HFP', 'FFP'] as const).map((position) => {
      const { truth, files } = phantomBuffers({ ...base, position });
      const { volume, analysis } = analyzeSeriesBuffers(files.map((f) => f.data));
      return { position, truth, volume, analysis };
    });
    const codes = results.map((r) => orientationCode(r.volume));
    expect(codes).toEqual(['LPS', 'RPI', 'RAS', 'LAI']);
    const ref = results[0]!;
    for (const r of results) {
      expect(r.analysis.volume.patientPosition).toBe(r.position);
      for (const v of r.truth.vertebrae.filter((x) => x.inFieldOfView)) {
        // Same LPS centres whatever the position.
        expect(v.centerMm).toEqual(ref.truth.vertebrae.find((x) => x.level === v.level)!.centerMm);
        const c = v.centerMm;
        // Body centre is cancellous bone; 12 mm in front of the anterior wall is soft tissue or fat.
        expect(huAt(r.volume, c)).toBeGreaterThan(120);
        expect(huAt(r.volume, c)).toBeLessThan(400);
        const front: [number, number, number] = [c[0], c[1] - v.depthMm / 2 - 12, c[2]];
        expect(huAt(r.volume, front)).toBeLessThan(100);
      }
      // The table's carbon shell (y 141…147 mm behind, −124…−130 mm in front) is behind a supine patient and
      // in front of a prone one; the other band is air.
      const z = r.truth.vertebrae.find((x) => x.level === 'L1')!.centerMm[2];
      const band = (ys: number[]): number => max(...ys.map((y) => huAt(r.volume, [0, y, z])));
      const behind = band([141, 142, 143, 144, 145, 146, 147]);
      const inFront = band([-124, -125, -126, -127, -128, -129, -130]);
      const prone = r.position.endsWith('P');
      expect(prone ? inFront : behind).toBeGreaterThan(-700);
      expect(prone ? behind : inFront).toBeLessThan(-900);
      // Canonical LPS volumes are the same voxels whatever the acquisition order; only the table moves
      // (behind a supine patient, in front of a prone one), so compare supine with supine, prone with prone.
      const canon = toCanonicalLps(r.volume);
      const refCanon = toCanonicalLps((r.position.endsWith('P') ? results[2]! : ref).volume);
      expect(canon.dims).toEqual(refCanon.dims);
      expect(canon.origin.map((x) => Math.round(x * 1000) / 1000)).toEqual(refCanon.origin.map((x) => Math.round(x * 1000) / 1000));
      let diff = 0;
      for (let i = 0; i < canon.data.length; i++) diff = max(diff, abs((canon.data[i] as number) - (refCanon.data[i] as number)));
      expect(diff).toBeLessThanOrEqual(1);
    }
  });

  it('draws a second, alternate anatomy from the same seed: other sizes and curve, sacral segments below S1', () => {
    const base = { ...SMALL, seed: 5, noiseSigma: 0, coverage: { from: 'L3', to: 'S1' }, labels: true } as const;
    const [ref, alt] = (['reference', 'alternate'] as const).map((anatomy) => {
      const { truth, files } = phantomBuffers({ ...base, anatomy });
      const ct = files.filter((f) => f.name.startsWith('CT.'));
      return { truth, volume: analyzeSeriesBuffers(ct.map((f) => f.data)).volume };
    });
    expect(alt!.truth.confounders.anatomy).toBe('alternate');
    const l4 = (t: typeof ref): { widthMm: number; depthMm: number } => t!.truth.vertebrae.find((v) => v.level === 'L4')!;
    // The alternate table's L4 is 52 × 35 mm against 49 × 33 mm, before each anatomy's jitter (±4% / ±12% and ±5%).
    expect(l4(alt).widthMm / l4(alt).depthMm).not.toBeCloseTo(l4(ref).widthMm / l4(ref).depthMm, 3);
    for (const r of [ref, alt]) {
      for (const v of r!.truth.vertebrae.filter((x) => x.inFieldOfView)) expect(huAt(r!.volume, v.centerMm)).toBeGreaterThan(120);
    }
    // 12 mm below S1's inferior endplate, along its axis: the S2 segment (bone) in the alternate anatomy only.
    const below = (r: typeof ref): number => {
      const { inferiorCenterMm: p, upAxis: u } = r!.truth.vertebrae.find((v) => v.level === 'S1')!.endplates;
      return huAt(r!.volume, [p[0] - 12 * u[0], p[1] - 12 * u[1], p[2] - 12 * u[2]]);
    };
    expect(below(alt)).toBeGreaterThan(120);
    expect(below(ref)).toBeLessThan(120);
  });

  it('makes six lumbar-type vertebrae on request: S1 free with an arch and a disc below it, the sacrum and its alae from S2', () => {
    const base = { ...SMALL, pixelSpacing: 2, size: 192, seed: 5, noiseSigma: 0, coverage: { from: 'L3', to: 'S1' } } as const;
    const [plain, six] = [false, true].map((lumbarisedS1) => {
      const { truth, files } = phantomBuffers({ ...base, lumbarisedS1 });
      const ct = files.filter((f) => f.name.startsWith('CT.'));
      return { truth, volume: analyzeSeriesBuffers(ct.map((f) => f.data)).volume };
    });
    expect(six!.truth.confounders.lumbarisedS1).toBe(true);
    const s1 = (r: typeof plain) => r!.truth.vertebrae.find((v) => v.level === 'S1')!;
    // Along S1's axis from its centre: `s` mm up, `a` anterior (LPS −y), `l` to the patient's left (+x).
    const at = (r: typeof plain, s: number, a: number, l: number): number => {
      const { centerMm: c, endplates } = s1(r);
      const u = endplates.upAxis;
      return huAt(r!.volume, [c[0] + l + s * u[0], c[1] - a + s * u[1], c[2] + s * u[2]]);
    };
    // Alae 12 mm beyond the side of S1's body, in its front half (the iliac wings run behind): bone on a plain
    // sacrum, none beside a lumbarised S1.
    const ala = (r: typeof plain): number => {
      const a = s1(r).depthMm * 0.15;
      return Math.min(at(r, 0, a, s1(r).widthMm / 2 + 12), at(r, 0, a, -s1(r).widthMm / 2 - 12));
    };
    expect(ala(plain)).toBeGreaterThan(150);
    expect(ala(six)).toBeLessThan(100);
    // Its arch: bone behind the canal (the plain sacrum's dorsal surface is not drawn).
    const arch = (r: typeof plain): number => {
      let m = -1024;
      for (let a = -s1(r).depthMm / 2 - 10; a > -s1(r).depthMm / 2 - 40; a -= 1) for (let l = -20; l <= 20; l += 2) for (const s of [-4, 0, 4]) m = Math.max(m, at(r, s, a, l));
      return m;
    };
    expect(arch(six)).toBeGreaterThan(300);
    expect(arch(plain)).toBeLessThan(150);
    // 12 mm below S1's inferior endplate: the S2 body past a disc when S1 is lumbarised, nothing on the plain spine.
    const below = (r: typeof plain): number => {
      const { inferiorCenterMm: p, upAxis: u } = s1(r).endplates;
      return huAt(r!.volume, [p[0] - 12 * u[0], p[1] - 12 * u[1], p[2] - 12 * u[2]]);
    };
    expect(below(six)).toBeGreaterThan(120);
    expect(below(plain)).toBeLessThan(120);
  });

  it('enhances the aorta with contrast and leaves the bone alone', () => {
    const base = { ...SMALL, seed: 9, noiseSigma: 0 };
    const [native, venous] = (['none', 'portal-venous'] as const).map((contrast) => {
      const { truth, files } = phantomBuffers({ ...base, contrast });
      return { truth, volume: analyzeSeriesBuffers(files.map((f) => f.data)).volume };
    });
    expect(venous!.truth.confounders.contrast).toBe('portal-venous');
    const t = native!.truth.vertebrae.find((v) => v.level === 'L1')!;
    // The descending aorta runs 18 mm left of the spine's centre, 13 mm in front of the body.
    const aorta: [number, number, number] = [t.centerMm[0] + 18, t.centerMm[1] - t.depthMm / 2 - 13, t.centerMm[2]];
    expect(huAt(native!.volume, aorta)).toBeLessThan(80);
    expect(huAt(venous!.volume, aorta)).toBeGreaterThan(130);
    expect(huAt(venous!.volume, t.centerMm)).toBeCloseTo(huAt(native!.volume, t.centerMm), 5);
  });

  it('writes unsigned (intercept −1024) and signed pixels that decode to the same HU', () => {
    // 8 slices at 3 mm: enough extent (21 mm) for the series to count as a CT volume.
    const u = phantomBuffers({ ...SMALL, seed: 3, slices: 8 });
    const s = phantomBuffers({ ...SMALL, seed: 3, slices: 8, signedPixels: true });
    const vu = analyzeSeriesBuffers(u.files.map((f) => f.data)).volume;
    const vs = analyzeSeriesBuffers(s.files.map((f) => f.data)).volume;
    expect(Array.from(vs.data)).toEqual(Array.from(vu.data));
    expect(Math.min(...vu.data)).toBeLessThan(-900);
  });

  it('rejects bad fracture lists', () => {
    expect(() => parseFractureList('T13:2')).toThrow(/unknown level/);
    expect(() => parseFractureList('T12:4')).toThrow(/grade/);
    expect(() => parseFractureList('T12:2:burst')).toThrow(/morphology/);
    expect(parseFractureList('t12:2,L1:3:crush')).toEqual([
      { level: 'T12', grade: 2, morphology: 'wedge' },
      { level: 'L1', grade: 3, morphology: 'crush' },
    ]);
  });
});

describe('randomPhantomOptions', () => {
  it('draws a deterministic, valid recipe from the seed', () => {
    expect(randomPhantomOptions(9)).toEqual(randomPhantomOptions(9));
    const recipes = Array.from({ length: 40 }, (_, i) => randomPhantomOptions(i));
    expect(new Set(recipes.map((r) => r.position)).size).toBeGreaterThan(1);
    expect(recipes.some((r) => (r.fractures ?? []).length > 0)).toBe(true);
    for (const r of recipes) {
      for (const f of r.fractures ?? []) expect([1, 2, 3]).toContain(f.grade);
      expect(r.sliceSpacing).toBeLessThanOrEqual(3);
    }
    const { truth } = phantomBuffers({ ...randomPhantomOptions(3), ...SMALL, slices: 2 });
    expect(truth.seed).toBe(3);
  });
});
