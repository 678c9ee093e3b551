/**
 * Conformance of the research-volume readers on the real development CTs in ../shared/fixtures/imaging
 * (NIfTI, NRRD, MetaImage as published). Skipped, saying so, when that folder is absent.
 *
 * Orientation is checked two ways: the axis codes the published affine gives (what nibabel/ITK/Slicer
 * show for these files), and anatomy in LPS where labels or air allow (upper vertebrae superior, the
 * spine posterior of the lungs and abdomen, spleen on the patient's left, liver on the right).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNiftiVolume } from '../../../src/imaging/nifti';
import { readVolumeFile } from '../../../src/imaging/volume-file';
import { orientationCode, voxelToLps, type Vec3, type Volume } from '../../../src/imaging/volume';

const ROOT = join(__dirname, '../../../../shared/fixtures/imaging');
const have = (p: string): boolean => existsSync(join(ROOT, p));
const maybe = (p: string) => (have(p) ? describe : describe.skip);

if (!have('realct') || !have('totalsegmentator')) {
  // eslint-disable-next-line no-console
  console.warn(`research volume fixture tests skipped: ${join(ROOT, 'realct')} or ${join(ROOT, 'totalsegmentator')} is absent`);
}

/** LPS centroid and count of the voxels where `pick(value)` holds. */
function centroid(v: Volume, pick: (x: number) => boolean): { n: number; at: Vec3 } {
  const [nx, ny, nz] = v.dims;
  const s: Vec3 = [0, 0, 0];
  let n = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (!pick(v.data[i + j * nx + k * nx * ny] as number)) continue;
        const p = voxelToLps(v, i, j, k);
        s[0] += p[0];
        s[1] += p[1];
        s[2] += p[2];
        n++;
      }
    }
  }
  return { n, at: s.map((x) => x / Math.max(1, n)) as Vec3 };
}

/** LPS bounding box of the voxel centres: [min, max] per axis. */
function bounds(v: Volume): [[number, number], [number, number], [number, number]] {
  const [nx, ny, nz] = v.dims;
  const c: Vec3[] = [];
  for (const i of [0, nx - 1]) for (const j of [0, ny - 1]) for (const k of [0, nz - 1]) c.push(voxelToLps(v, i, j, k));
  const range = (a: 0 | 1 | 2): [number, number] => [Math.min(...c.map((p) => p[a])), Math.max(...c.map((p) => p[a]))];
  return [range(0), range(1), range(2)];
}

function huRange(v: Volume): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v.data) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

const sameGrid = (a: Volume, b: Volume): boolean => JSON.stringify([a.dims, a.origin, a.direction]) === JSON.stringify([b.dims, b.origin, b.direction]);

maybe('realct/tptbox-l3-crop')('real CT: tptbox L3 crop (NIfTI int16, sform)', () => {
  it('loads 73×47×73 at 1.5 mm with CT values; L2 above L3 above L4 in LPS', async () => {
    const dir = join(ROOT, 'realct/tptbox-l3-crop');
    const { volume, facts } = await readVolumeFile(join(dir, 'sub-ct_label-22_ct.nii.gz'));
    expect(volume.dims).toEqual([73, 47, 73]);
    expect(volume.spacing.map((s) => Math.round(s * 1000) / 1000)).toEqual([1.5, 1.5, 1.5]);
    expect(facts).toMatchObject({ format: 'nifti', elementType: 'int16', encoding: 'gzip' });
    expect(facts.geometryFrom).toMatch(/^sform/);
    const [lo, hi] = huRange(volume);
    expect(lo).toBeLessThan(-900);
    expect(hi).toBeGreaterThan(1000);
    expect(hi).toBeLessThan(3100);
    // The sform's columns are RAS (0,−1.5,0), (0,0,−1.5), (1.5,0,0): posterior, inferior, right.
    expect(orientationCode(volume)).toBe('PIR');
    // The README's 110×70×110 mm: 70 mm (j) along the body axis.
    const b = bounds(volume);
    expect(b[2][1] - b[2][0]).toBeCloseTo(69, 0);
    // VerSe labels 21 = L2, 22 = L3, 23 = L4: each higher vertebra lies superior (larger LPS z).
    const mask = decodeNiftiVolume(readFileSync(join(dir, 'sub-ct_seg-vert_label-22_msk.nii.gz')));
    expect(sameGrid(mask, volume)).toBe(true);
    const z = [21, 22, 23].map((l) => centroid(mask, (x) => x === l).at[2]);
    expect(z[0]).toBeGreaterThan(z[1]! + 15);
    expect(z[1]).toBeGreaterThan(z[2]! + 15);
    // The mask lies on bone: its mean CT value is that of bone, not of soft tissue.
    const [nx, ny, nz] = volume.dims;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < nx * ny * nz; i++) if (mask.data[i] === 22) ((sum += volume.data[i]!), n++);
    expect(sum / n).toBeGreaterThan(150);
  });
});

maybe('realct/verse004-l2-masked')('real CT: VerSe verse004 L2, masked (NIfTI float64, qform only)', () => {
  it('loads 100×89×74 at 1 mm from the qform, LPS axes, HU of bone and the masked background', async () => {
    const dir = join(ROOT, 'realct/verse004-l2-masked');
    const { volume, facts } = await readVolumeFile(join(dir, 'sub-verse004_0000_vertebra_21_im.nii.gz'));
    expect(volume.dims).toEqual([100, 89, 74]);
    expect(volume.spacing.map((s) => Math.round(s * 1000) / 1000)).toEqual([1, 1, 1]);
    expect(facts).toMatchObject({ elementType: 'float64' });
    expect(facts.geometryFrom).toMatch(/^qform/);
    // Quaternion (0, 0, 1): 180° about z, so RAS −x, −y, +z = LPS left, posterior, superior.
    expect(orientationCode(volume)).toBe('LPS');
    expect(volume.origin.map((x) => Math.round(x * 100) / 100)).toEqual([250.81, -145.07, 182.08]);
    const [lo, hi] = huRange(volume);
    expect(lo).toBeGreaterThan(-1100);
    expect(hi).toBeGreaterThan(1000);
    expect(hi).toBeLessThan(3100);
    // One vertebra: at most ~74 mm along the body axis, and the mask sits on bone.
    const mask = decodeNiftiVolume(readFileSync(join(dir, 'sub-verse004_0000_vertebra_21_seg.nii.gz')));
    expect(sameGrid(mask, volume)).toBe(true);
    const bone = centroid(volume, (x) => x > 250);
    const labelled = centroid(mask, (x) => x > 0);
    expect(Math.hypot(...bone.at.map((c, a) => c - labelled.at[a]!))).toBeLessThan(25);
  });
});

maybe('realct/tsds-s0244-bone')('real CT: TotalSegmentator s0244, bone-masked (NRRD gzip, LPS space)', () => {
  it('loads 288×288×287 at 1.5 mm, RAS axes; the pelvis is at the inferior end and the spine posterior', async () => {
    const { volume, facts, notes } = await readVolumeFile(join(ROOT, 'realct/tsds-s0244-bone/ct244_bone.nrrd'));
    expect(volume.dims).toEqual([288, 288, 287]);
    expect(volume.spacing).toEqual([1.5, 1.5, 1.5]);
    expect(facts).toMatchObject({ format: 'nrrd', encoding: 'gzip', elementType: 'int16', byteOrder: 'little' });
    expect(notes).toEqual([]);
    // space directions (−1.5,0,0) (0,−1.5,0) (0,0,1.5) in left-posterior-superior: right, anterior, superior.
    expect(orientationCode(volume)).toBe('RAS');
    expect(volume.origin).toEqual([226.57812500000003, 76.078125, 158.30000305175781]);
    // Soft tissue was set to a constant (0); bone up to ~2000 HU.
    const [lo, hi] = huRange(volume);
    expect(lo).toBe(0);
    expect(hi).toBeGreaterThan(1000);
    expect(hi).toBeLessThan(3100);
    const [nx, ny, nz] = volume.dims;
    const boneIn = (k0: number, k1: number): number => {
      let n = 0;
      for (let k = k0; k < k1; k++) for (let o = k * nx * ny; o < (k + 1) * nx * ny; o++) if (volume.data[o]! > 250) n++;
      return n;
    };
    // ~T10–L5 and pelvis: much more bone in the inferior quarter (pelvis, sacrum) than the superior one.
    const q = Math.floor(nz / 4);
    expect(boneIn(0, q)).toBeGreaterThan(1.5 * boneIn(nz - q, nz));
    // Bone (spine, pelvis) lies posterior of the middle of the field of view.
    const b = bounds(volume);
    expect(centroid(volume, (x) => x > 250).at[1]).toBeGreaterThan((b[1][0] + b[1][1]) / 2 + 20);
  });
});

maybe('realct/elastix-chest-crop')('real CT: elastix chest crop (MetaImage, zlib)', () => {
  it('loads 115×157×129 at 1.366×1.366×2.5 mm, LPS axes; the spine is posterior of the lungs at the crop’s left edge', async () => {
    const { volume, facts } = await readVolumeFile(join(ROOT, 'realct/elastix-chest-crop/3DCT_lung.mha'));
    expect(volume.dims).toEqual([115, 157, 129]);
    expect(volume.spacing).toEqual([1.366, 1.366, 2.5]);
    expect(facts).toMatchObject({ format: 'metaimage', encoding: 'zlib', elementType: 'int16' });
    // TransformMatrix identity; the header's AnatomicalOrientation RAI is ITK's "from" code for the same.
    expect(orientationCode(volume)).toBe('LPS');
    expect(facts.geometryFrom).toMatch(/AnatomicalOrientation RAI not used/);
    expect(volume.origin).toEqual([-153.827, -150.352, -1434.5]);
    const [lo, hi] = huRange(volume);
    expect(lo).toBeLessThan(-900);
    expect(hi).toBeGreaterThan(800);
    // Lung air is anterior of the bone (spine, posterior ribs).
    const air = centroid(volume, (x) => x < -500);
    const bone = centroid(volume, (x) => x > 250);
    expect(bone.at[1]).toBeGreaterThan(air.at[1] + 30);
    // The crop holds the patient's right chest (x < 0) and its left edge (x ≈ 0) cuts through the spine.
    const b = bounds(volume);
    expect(b[0][1]).toBeLessThan(5);
    expect(bone.at[0]).toBeLessThan(0);
    const [nx, ny, nz] = volume.dims;
    let edgeBone = 0;
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = nx - 8; i < nx; i++) if (volume.data[i + j * nx + k * nx * ny]! > 250) edgeBone++;
    expect(edgeBone).toBeGreaterThan(1000);
  });
});

maybe('totalsegmentator/spine_report/example_ct_report')('real CT: TotalSegmentator example (NIfTI int32, sform)', () => {
  it('loads 122×101×112 at 3 mm, RAS axes; S1…L1 ascend, the spine is posterior, spleen left and liver right', async () => {
    const dir = join(ROOT, 'totalsegmentator');
    const { volume, facts } = await readVolumeFile(join(dir, 'example_ct.nii.gz'));
    expect(volume.dims).toEqual([122, 101, 112]);
    expect(volume.spacing).toEqual([3, 3, 3]);
    expect(facts).toMatchObject({ elementType: 'int32' });
    expect(orientationCode(volume)).toBe('RAS');
    const [lo, hi] = huRange(volume);
    expect(lo).toBeLessThan(-900);
    expect(hi).toBeGreaterThan(1000);
    // TotalSegmentator labels on the same grid: 26 S1, 27 L5 … 31 L1.
    const seg = decodeNiftiVolume(readFileSync(join(dir, 'spine_report/example_ct_report/totalseg.nii.gz')));
    expect(sameGrid(seg, volume)).toBe(true);
    const z = [26, 27, 28, 29, 30, 31].map((l) => centroid(seg, (x) => x === l).at[2]);
    for (let i = 1; i < z.length; i++) expect(z[i]).toBeGreaterThan(z[i - 1]! + 15);
    const spine = centroid(seg, (x) => x >= 26 && x <= 31);
    const body = centroid(volume, (x) => x > -300);
    expect(spine.at[1]).toBeGreaterThan(body.at[1] + 20);
    // example_seg.nii.gz is on the 30-slice crop's grid (same x, y axes): organs place left and right.
    const organs = decodeNiftiVolume(readFileSync(join(dir, 'example_seg.nii.gz')));
    expect(organs.direction).toEqual(volume.direction);
    const spleen = centroid(organs, (x) => x === 1).at[0];
    const liver = centroid(organs, (x) => x === 5).at[0];
    expect(spleen).toBeGreaterThan(spine.at[0] + 50); // patient left is +x in LPS
    expect(liver).toBeLessThan(spine.at[0] - 30);
  });
});
