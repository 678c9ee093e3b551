/**
 * The real development set for bench:detection (`--real`): the six public CT scans under
 * ../shared/fixtures/imaging (five in realct/, see its README.md, and the TotalSegmentator example),
 * each run through the same path as `analyze-study` (analyzeVolumeFile / analyzeDirectory, then
 * completeAnalysis) with the bench's model. None of the scans is known to hold a fracture, so every
 * grade ≥ 2 call is a false positive.
 *
 * Where a reference segmentation exists (tptbox, verse004, totalseg), our body masks are compared with it
 * on the reformat's centre plane: each of our body components is paired with the reference body it
 * overlaps most (Dice ≥ 0.2, one to one), independently of the level we assigned, so that "found" and
 * "label correct" are separate questions. The six-point reading (measureBody) is applied to both masks:
 * to ours along the detector's superior axis (so these are the reported heights), to the reference along
 * the axis its own neighbouring bodies give (what our reading makes of their segmentation). For the
 * TotalSegmentator example, realCt (bench/detection.ts) also reads their mask along our axis and
 * compares both with spine_report.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SPINE_LEVELS, type SpineLevel } from '../src/domain/vocabulary';
import { analyzeDirectory, analyzeVolumeFile, type StudyAnalysis } from '../src/imaging/analyze';
import { decodeNiftiVolume } from '../src/imaging/nifti';
import { volumeFileFormat } from '../src/imaging/volume-file';
import { lpsToVoxel, type Vec3, type Volume } from '../src/imaging/volume';
import { findBodies, measureBody } from '../src/inference/bodies';
import { completeAnalysis, detectVertebrae, type Detection, type ModelHandle, type VertebraFinding } from '../src/inference';
import { volumeBounds } from '../src/inference/reformat';

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;
const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const HEIGHTS = ['anterior', 'middle', 'posterior'] as const;
type Heights = Record<(typeof HEIGHTS)[number], number>;

/** Levels from `a` to `b` inclusive (T1 … S1 order). */
const span = (a: SpineLevel, b: SpineLevel): SpineLevel[] => SPINE_LEVELS.slice(SPINE_LEVELS.indexOf(a), SPINE_LEVELS.indexOf(b) + 1);

/** VerSe numbering: 1–7 C1–C7, 8–19 T1–T12, 20–24 L1–L5, 26 sacrum. */
const VERSE: Record<number, SpineLevel> = Object.fromEntries([...span('T1', 'L5').map((l, i) => [8 + i, l]), [26, 'S1']]);
/** TotalSegmentator (spine_report's totalseg.nii.gz): 26 = S1 … 33 = T11. */
const TOTALSEG: Record<number, SpineLevel> = { 26: 'S1', 27: 'L5', 28: 'L4', 29: 'L3', 30: 'L2', 31: 'L1', 32: 'T12', 33: 'T11' };

interface Reference {
  /** Files relative to the fixtures' imaging folder. */
  files: string[];
  labels: string;
  /** The mask covers whole vertebrae (body + arch): on the centre plane the body is its most anterior component. */
  wholeVertebra: boolean;
  /** Reference level code at each voxel of the first file's grid (0 = none), from the loaded files. */
  code: (vols: Volume[], index: number) => number;
  levels: Record<number, SpineLevel>;
}

export interface RealCase {
  name: string;
  /** Relative to the fixtures' imaging folder: a volume file or a DICOM folder. */
  input: string;
  /** What a reader sees (realct/README.md "what it is" / "seen by a reader", fixtures/README.md). */
  reader: string;
  /** Levels whose vertebral body is in the scan and that the analyser reports (T1–L5; S1 is its anchor, never a finding). */
  visible: SpineLevel[];
  /** Of those, bodies cut by the scan's or the crop's edge. */
  partial: SpineLevel[];
  source: string;
  reference?: Reference;
}

/**
 * The six development cases. Visible levels: realct/README.md (its "what it is" column; "~" ranges taken
 * as written) and fixtures/README.md for the TotalSegmentator example; where masks exist they agree
 * (tptbox labels 21–23, verse004 one L2, totalseg body voxels T12–L5 and S1; its T11 has arch voxels only).
 */
export const REAL_DEV_CASES: RealCase[] = [
  {
    name: 'tptbox-l3-crop',
    input: 'realct/tptbox-l3-crop/sub-ct_label-22_ct.nii.gz',
    reader: 'L3, parts of L2 and L4; no fracture',
    visible: ['L2', 'L3', 'L4'],
    partial: ['L2', 'L4'],
    source: 'realct/README.md: "a crop around L3 with parts of L2 and L4"; mask labels 21, 22, 23',
    reference: {
      files: ['realct/tptbox-l3-crop/sub-ct_seg-vert_label-22_msk.nii.gz'],
      labels: 'whole-vertebra mask, VerSe numbering (20 = L1 … 22 = L3)',
      wholeVertebra: true,
      code: ([m], i) => (m as Volume).data[i] as number,
      levels: VERSE,
    },
  },
  {
    name: 'verse004-l2-masked',
    input: 'realct/verse004-l2-masked/sub-verse004_0000_vertebra_21_im.nii.gz',
    reader: 'one L2 (VerSe label 21), background masked; no fracture',
    visible: ['L2'],
    partial: [],
    source: 'realct/README.md: "a single L2 from VerSe case verse004"',
    reference: {
      files: ['realct/verse004-l2-masked/sub-verse004_0000_vertebra_21_seg.nii.gz'],
      // spineFE-benchmark relabelled the mask into "cortical, trabecular, vertebral body and process and disk
      // components" (its README). By position: 1 and 2 span the body, 3 and 4 lie across the canal (the arch),
      // 5 and 6 are thin slabs below and above the body (the discs). Body = 1 and 2.
      labels: 'sub-region mask of L2; body = values 1 and 2 (3–4 arch, 5–6 discs, by position)',
      wholeVertebra: false,
      code: ([m], i) => {
        const v = (m as Volume).data[i] as number;
        return v === 1 || v === 2 ? 21 : 0;
      },
      levels: VERSE,
    },
  },
  {
    name: 'tsds-s0244-bone',
    input: 'realct/tsds-s0244-bone/ct244_bone.nrrd',
    reader: '~T10–L5 and pelvis, bone-masked; no fracture seen',
    visible: span('T10', 'L5'),
    partial: [],
    source: 'realct/README.md: "~T10–L5 and pelvis"',
  },
  {
    name: 'lungdx-a0002-chest',
    input: 'realct/lungdx-a0002-chest/dicom',
    reader: '~T1–T11 at 8 mm; not assessable, nothing obvious',
    visible: span('T1', 'T11'),
    partial: [],
    source: 'realct/README.md: "a chest CT … ~T1–T11", 30 slices at 8 mm',
  },
  {
    name: 'elastix-chest-crop',
    input: 'realct/elastix-chest-crop/3DCT_lung.mha',
    reader: '~T2–T12, the crop edge cuts through the spine; no fracture seen',
    visible: span('T2', 'T12'),
    partial: [],
    source: 'realct/README.md: "a lung CT crop whose edge cuts through the spine, ~T2–T12"',
  },
  {
    name: 'totalseg-example',
    input: 'totalsegmentator/example_ct.nii.gz',
    reader: 'T12 (cut by the top edge)–L5 and S1; no fracture',
    visible: span('T12', 'L5'),
    partial: ['T12'],
    source: 'fixtures/README.md: "T11–S1 visible"; T11 has arch voxels only (totalseg_vertebrae_body)',
    reference: {
      files: ['totalsegmentator/spine_report/example_ct_report/totalseg.nii.gz', 'totalsegmentator/spine_report/example_ct_report/totalseg_vertebrae_body.nii.gz'],
      labels: 'spine_report totalseg.nii.gz (26 = S1 … 33 = T11) restricted to totalseg_vertebrae_body = 1',
      wholeVertebra: false,
      code: ([seg, body], i) => ((body as Volume).data[i] === 1 ? ((seg as Volume).data[i] as number) : 0),
      levels: TOTALSEG,
    },
  },
];

type Masks = NonNullable<Detection['debug']['masks']>;

export interface PlaneLevel {
  /** Reference level. */
  level: SpineLevel;
  /** The level we assigned to the paired component (null: not paired, or paired with an unlabelled component). */
  ours: SpineLevel | null;
  paired: boolean;
  dice: number;
  areaMm2: { ours: number; reference: number };
  /** Distance between the two components' centroids on the plane. */
  centroidOffsetMm: number | null;
  /** The reference body touches the first or last row inside the scan. */
  referenceCutByEdge: boolean;
  heightsOnOurMask: Heights | null;
  heightsOnReferenceMask: Heights | null;
}

/**
 * Our body components against a reference segmentation on the reformat's centre plane. `refCode(p)` is
 * the reference level code at an LPS point (body voxels only, unless `wholeVertebra`). Our components are
 * paired with reference bodies by overlap, one to one, best Dice first (≥ `minDice`). Our mask is read
 * along the detector's superior axis (from our neighbouring components), as the findings are; the
 * reference mask along the same axis with `upFrom: 'ours'` (isolates the segmentation: realCt), or along
 * its own (from the neighbouring reference bodies) with `upFrom: 'each'` (default).
 */
export function againstReferenceOnPlane(
  masks: Masks,
  refCode: (p: Vec3) => number,
  levels: Record<number, SpineLevel>,
  opts: { wholeVertebra?: boolean; upFrom?: 'ours' | 'each'; minDice?: number; refMinAreaMm2?: number; validRows?: [number, number] } = {},
): { levels: PlaneLevel[]; unpairedOurs: Array<{ level: SpineLevel | null; areaMm2: number }> } {
  const { slab, labels, components } = masks;
  const { rows, cols, spacing } = slab;
  const n = rows * cols;
  const valid = opts.validRows ?? [0, rows - 1];
  const ref = new Int32Array(n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) ref[r * cols + c] = refCode([slab.xAt[r] as number, slab.y0 + c * spacing, slab.zTop - r * spacing]);
  const binary = (keep: (i: number) => boolean): Float32Array => Float32Array.from({ length: n }, (_, i) => (keep(i) ? 1 : 0));
  const whole = { spacing, validRows: valid };
  // Reference bodies on the plane: per level code, the pixels taken as its body.
  const codes = [...new Set(ref)].filter((c) => c !== 0 && levels[c]).sort((a, b) => a - b);
  const refBodies = codes.flatMap((code) => {
    const found = findBodies(binary((i) => ref[i] === code), null, rows, cols, { ...whole, minAreaMm2: opts.refMinAreaMm2 ?? 80 });
    if (!found.components.length) return [];
    // Heights on the largest component; with whole-vertebra masks, on the most anterior sizeable one (the
    // canal separates the body from the arch on the midline), and that is also what Dice counts.
    const total = found.components.reduce((s, c) => s + c.pixels, 0);
    const comp = opts.wholeVertebra
      ? [...found.components].filter((c) => c.pixels >= 0.15 * total).sort((a, b) => a.centroid[1] - b.centroid[1])[0]!
      : [...found.components].sort((a, b) => b.pixels - a.pixels)[0]!;
    const inBody = opts.wholeVertebra ? (i: number) => found.labels[i] === comp.id : (i: number) => ref[i] === code;
    return [{ code, level: levels[code] as SpineLevel, comp, labels: found.labels, inBody }];
  });
  const ours = components.map((c) => {
    const f = findBodies(binary((i) => labels[i] === c.id), null, rows, cols, whole);
    return { id: c.id, level: c.level, comp: [...f.components].sort((a, b) => b.pixels - a.pixels)[0], labels: f.labels };
  });
  // Overlaps.
  const area = (keep: (i: number) => boolean): number => {
    let a = 0;
    for (let i = 0; i < n; i++) if (keep(i)) a++;
    return a;
  };
  const refArea = refBodies.map((b) => area(b.inBody));
  const ourArea = ours.map((o) => area((i) => labels[i] === o.id));
  const cand: Array<{ o: number; b: number; dice: number }> = [];
  ours.forEach((o, oi) =>
    refBodies.forEach((b, bi) => {
      let both = 0;
      for (let i = 0; i < n; i++) if (labels[i] === o.id && b.inBody(i)) both++;
      if (both) cand.push({ o: oi, b: bi, dice: (2 * both) / ((ourArea[oi] as number) + (refArea[bi] as number)) });
    }),
  );
  cand.sort((a, b) => b.dice - a.dice);
  const pairOf = new Map<number, { o: number; dice: number }>();
  const usedO = new Set<number>();
  for (const c of cand) {
    if (c.dice < (opts.minDice ?? 0.2) || usedO.has(c.o) || pairOf.has(c.b)) continue;
    usedO.add(c.o);
    pairOf.set(c.b, { o: c.o, dice: c.dice });
  }
  const upAt = (k: number, cents: Array<[number, number] | undefined>): [number, number] => {
    const self = cents[k] as [number, number];
    const prev = cents[k - 1] ?? self;
    const next = cents[k + 1] ?? self;
    const up: [number, number] = [prev[0] - next[0], prev[1] - next[1]];
    return up[0] === 0 && up[1] === 0 ? [-1, 0] : up;
  };
  const ourCents = ours.map((o) => o.comp?.centroid);
  const refCents = refBodies.map((b) => b.comp.centroid);
  const read = (fg: Float32Array, lab: Int32Array, cc: NonNullable<(typeof ours)[number]['comp']>, up: [number, number]): Heights => {
    const m = measureBody(fg, lab, cc, rows, cols, spacing, up);
    return { anterior: r3(m.heightsMm.anterior), middle: r3(m.heightsMm.middle), posterior: r3(m.heightsMm.posterior) };
  };
  // Reference bodies from the top of the plane down (rows run superior → inferior).
  const order = refBodies.map((_, i) => i).sort((a, b) => (refCents[a] as [number, number])[0] - (refCents[b] as [number, number])[0]);
  const sortedRefCents = order.map((i) => refCents[i]);
  const out: PlaneLevel[] = order.map((bi, rank) => {
    const b = refBodies[bi] as (typeof refBodies)[number];
    const p = pairOf.get(bi);
    const o = p ? ours[p.o] : undefined;
    const refUp = upAt(rank, sortedRefCents);
    const ourUp = p ? upAt(p.o, ourCents) : refUp;
    return {
      level: b.level,
      ours: o?.level ?? null,
      paired: !!p,
      dice: r3(p?.dice ?? 0),
      areaMm2: { ours: Math.round((p ? (ourArea[p.o] as number) : 0) * spacing * spacing), reference: Math.round((refArea[bi] as number) * spacing * spacing) },
      centroidOffsetMm: o?.comp ? r1(Math.hypot(o.comp.centroid[0] - b.comp.centroid[0], o.comp.centroid[1] - b.comp.centroid[1]) * spacing) : null,
      referenceCutByEdge: b.comp.touchesEdge,
      heightsOnOurMask: o?.comp ? read(binary((i) => labels[i] === o.id), o.labels, o.comp, ourUp) : null,
      heightsOnReferenceMask: read(binary(b.inBody), b.labels, b.comp, opts.upFrom === 'ours' ? ourUp : refUp),
    };
  });
  return {
    levels: out,
    unpairedOurs: ours.filter((_, i) => !usedO.has(i)).map((o) => ({ level: o.level, areaMm2: Math.round(area((i) => labels[i] === o.id) * spacing * spacing) })),
  };
}

/** Rows of the slab inside the scanned z range (as the detector computes them). */
function validRowsOf(masks: Masks, volume: Volume): [number, number] {
  const { slab } = masks;
  const b = volumeBounds(volume);
  return [Math.max(0, Math.ceil((slab.zTop - b.hi[2]) / slab.spacing - 1e-6)), Math.min(slab.rows - 1, Math.floor((slab.zTop - b.lo[2]) / slab.spacing + 1e-6))];
}

/** A reference segmentation as a level-code lookup at LPS points (nearest voxel). */
export function referenceLookup(vols: Volume[], code: (vols: Volume[], index: number) => number): (p: Vec3) => number {
  const g = vols[0] as Volume;
  const [nx, ny, nz] = g.dims;
  return (p) => {
    const v = lpsToVoxel(g, p).map(Math.round) as Vec3;
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[0] >= nx || v[1] >= ny || v[2] >= nz) return 0;
    return code(vols, v[0] + v[1] * nx + v[2] * nx * ny);
  };
}

const fmtFinding = (v: VertebraFinding): string => `${v.level}:${v.grade}${v.flags.includes('levelUncertain') ? '?' : ''}`;

/** The CLI's path: a research volume file, else a DICOM folder (detection then fills in the findings). */
export async function readAsTheCliDoes(input: string): Promise<{ analysis: StudyAnalysis; volume: Volume }> {
  return volumeFileFormat(input) ? ((await analyzeVolumeFile(input)) as unknown as { analysis: StudyAnalysis; volume: Volume }) : analyzeDirectory(input);
}

async function runCase(c: RealCase, imaging: string, model: ModelHandle, keyDir: string | undefined) {
  const input = join(imaging, c.input);
  if (!existsSync(input)) return { name: c.name, input: c.input, skipped: `not found: ${c.input}` };
  const t0 = performance.now();
  const analysed = await readAsTheCliDoes(input);
  const { analysis, keyImage } = await completeAnalysis(analysed, model, { keyImage: true });
  const ms = Math.round(performance.now() - t0);
  const keyImageFile = keyDir && keyImage ? join(keyDir, `real-${c.name}.png`) : null;
  if (keyImageFile && keyImage) writeFileSync(keyImageFile, keyImage);
  const found = analysis.vertebrae;
  const g2 = found.filter((v) => v.grade >= 2);
  const g1 = found.filter((v) => v.grade === 1);
  const capped = found.filter((v) => v.flags.includes('insufficientEvidence'));
  const uncertain = found.filter((v) => v.flags.includes('levelUncertain'));
  const base = {
    name: c.name,
    input: c.input,
    reader: c.reader,
    visibleLevels: c.visible,
    partialLevels: c.partial,
    visibleSource: c.source,
    volume: { dims: analysed.volume.dims, spacingMm: analysed.volume.spacing.map((s) => r3(s)) },
    ms,
    reported: found.map(fmtFinding),
    findings: found.map((v) => ({ level: v.level, grade: v.grade, morphology: v.morphology, heightLossPercent: v.heightLossPercent, heightsMm: v.heightsMm, centerMm: v.centerMm, flags: v.flags, gradingNotes: v.gradingNotes })),
    bodiesReported: found.length,
    bodiesVisible: c.visible.length,
    levelUncertain: uncertain.length,
    falseGrade2Plus: g2.map(fmtFinding),
    // Grade 1 is a fracture too for correlation (it gets outputs when unreported): also false here.
    falseGrade1: g1.map(fmtFinding),
    insufficientEvidenceCaps: capped.map((v) => ({ level: v.level, note: v.gradingNotes.find((g) => g.startsWith('measured grade')) ?? null })),
    notes: analysis.notes,
    keyImage: keyImageFile ? { file: keyImageFile, bytes: keyImage?.length ?? 0 } : null,
  };
  if (!c.reference) {
    const inRange = found.filter((v) => c.visible.includes(v.level)).length;
    return {
      ...base,
      truthLabelsKnown: false,
      // Without a mask, a reported body is not checked against anything: counted up to the visible number.
      bodiesFound: Math.min(found.length, c.visible.length),
      bodiesFoundVerified: false,
      labelsInReaderRange: `${inRange}/${found.length}`,
      labelAccuracy: null,
      reference: null,
    };
  }
  const ref = c.reference;
  const vols = ref.files.map((f) => decodeNiftiVolume(readFileSync(join(imaging, f))));
  // The masks come from a second detection run on the same volume (completeAnalysis does not return them);
  // `sameFindingsAsCli` checks that it is the same detection.
  const det = await detectVertebrae(analysed.volume, model, { keyImage: false, keepMasks: true });
  const masks = det.debug.masks as Masks;
  const plane = againstReferenceOnPlane(masks, referenceLookup(vols, ref.code), ref.levels, { wholeVertebra: ref.wholeVertebra, upFrom: 'each', refMinAreaMm2: 20, validRows: validRowsOf(masks, analysed.volume) });
  const reportedLevels = new Set(found.map((v) => v.level));
  const pairs = plane.levels.map((l) => ({
    truth: l.level,
    assigned: l.ours && reportedLevels.has(l.ours) ? l.ours : null,
    correct: !!l.ours && l.ours === l.level,
    dice: l.dice,
  }));
  const visiblePairs = pairs.filter((p) => c.visible.includes(p.truth));
  const foundPairs = visiblePairs.filter((p) => p.assigned);
  const heightDiffs = plane.levels
    .filter((l) => c.visible.includes(l.level) && l.paired && !l.referenceCutByEdge && l.heightsOnOurMask && l.heightsOnReferenceMask)
    .flatMap((l) => HEIGHTS.map((h) => (l.heightsOnOurMask as Heights)[h] - (l.heightsOnReferenceMask as Heights)[h]));
  const missingOnPlane = c.visible.filter((l) => !plane.levels.some((p) => p.level === l));
  return {
    ...base,
    truthLabelsKnown: true,
    bodiesFound: foundPairs.length,
    bodiesFoundVerified: true,
    labels: visiblePairs.map((p) => `${p.truth}→${p.assigned ?? '–'}`),
    labelAccuracy: foundPairs.length ? r3(foundPairs.filter((p) => p.correct).length / foundPairs.length) : null,
    labelsCorrect: foundPairs.filter((p) => p.correct).length,
    // What levelUncertain told a reader here: found bodies by flag and by whether the label is right.
    levelFlags: (() => {
      const isFlagged = (l: SpineLevel | null): boolean => found.some((v) => v.level === l && v.flags.includes('levelUncertain'));
      const fl = foundPairs.filter((p) => isFlagged(p.assigned));
      const un = foundPairs.filter((p) => !isFlagged(p.assigned));
      return { flagged: fl.length, flaggedWrong: fl.filter((p) => !p.correct).length, unflagged: un.length, unflaggedRight: un.filter((p) => p.correct).length };
    })(),
    // Reported vertebrae whose mask lies on no reference body (e.g. an arch taken for a body).
    reportedNotOnAReferenceBody: plane.unpairedOurs.filter((o) => o.level && reportedLevels.has(o.level)).map((o) => o.level),
    reference: {
      files: ref.files,
      labels: ref.labels,
      sameFindingsAsCli: JSON.stringify(det.vertebrae) === JSON.stringify(found),
      levelsOnPlane: plane.levels.map((l) => l.level),
      visibleButNotOnPlane: missingOnPlane,
      // Mean over the visible levels on the plane; an unpaired reference body counts 0.
      meanDice: r3(mean(plane.levels.filter((l) => c.visible.includes(l.level)).map((l) => l.dice)) ?? 0),
      // Our reported reading (our mask, our axis) minus our reading of the reference mask (its own axis), paired uncut bodies.
      heightsOursMinusReferenceMm: { meanAbs: heightDiffs.length ? r3(mean(heightDiffs.map(Math.abs)) as number) : null, bias: heightDiffs.length ? r3(mean(heightDiffs) as number) : null, n: heightDiffs.length },
      levels: plane.levels,
      unpairedOurs: plane.unpairedOurs,
    },
  };
}

export type RealDevCase = Awaited<ReturnType<typeof runCase>>;

/** The real cases the model trained on (its card's `training.realCases`): shown, never counted as measured. */
export function trainedOnCases(model: ModelHandle): string[] {
  const real = model.card.training.realCases;
  return Array.isArray(real) ? real.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * The real development set: per-case results and totals over the cases the model did not train on
 * (hold-out by source); `{ skipped }` without ../shared/fixtures.
 */
export async function realDevelopmentSet(model: ModelHandle, opts: { imaging: string; keyDir?: string }) {
  if (!existsSync(opts.imaging)) return { skipped: `fixtures not found at ${opts.imaging} (../shared/fixtures is absent)` };
  const trained = new Set(trainedOnCases(model));
  const cases: Array<RealDevCase & { trainedOn: boolean }> = [];
  for (const c of REAL_DEV_CASES) {
    try {
      cases.push({ ...(await runCase(c, opts.imaging, model, opts.keyDir)), trainedOn: trained.has(c.name) });
    } catch (err) {
      cases.push({ name: c.name, input: c.input, skipped: `not analysed: ${(err as Error).message}`, trainedOn: trained.has(c.name) });
    }
  }
  const done = cases.filter((c): c is Exclude<RealDevCase, { skipped: string }> & { trainedOn: boolean } => !('skipped' in c) && !c.trainedOn);
  const known = done.filter((c) => c.truthLabelsKnown);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const matched = sum(known.map((c) => c.bodiesFound));
  const correct = sum(known.map((c) => ('labelsCorrect' in c ? (c.labelsCorrect as number) : 0)));
  const withRef = done.filter((c) => c.reference);
  const dices = withRef.flatMap((c) => (c.reference ? c.reference.levels.filter((l) => c.visibleLevels.includes(l.level)).map((l) => l.dice) : []));
  const diffs = withRef.flatMap((c) => c.reference?.heightsOursMinusReferenceMm.meanAbs !== null && c.reference ? [[c.reference.heightsOursMinusReferenceMm.meanAbs as number, c.reference.heightsOursMinusReferenceMm.n] as const] : []);
  const totals = {
    cases: cases.length,
    trainedOnNotCounted: [...trained],
    analysed: done.length,
    bodiesVisible: sum(done.map((c) => c.bodiesVisible)),
    bodiesReported: sum(done.map((c) => c.bodiesReported)),
    // Masked cases: reference bodies that a reported vertebra overlaps; other cases: reported, up to the visible count (unverified).
    bodiesFound: sum(done.map((c) => c.bodiesFound)),
    bodiesFoundOnReferenceMasks: { found: matched, visible: sum(known.map((c) => c.bodiesVisible)) },
    bodiesFoundUnverified: sum(done.filter((c) => !c.truthLabelsKnown).map((c) => c.bodiesFound)),
    falseG2: sum(done.map((c) => c.falseGrade2Plus.length)),
    falseG1: sum(done.map((c) => c.falseGrade1.length)),
    insufficientEvidenceCaps: sum(done.map((c) => c.insufficientEvidenceCaps.length)),
    levelUncertain: { flagged: sum(done.map((c) => c.levelUncertain)), of: sum(done.map((c) => c.bodiesReported)) },
    labelAccuracyWhereKnown: matched ? r3(correct / matched) : null,
    levelUncertainInformationWhereKnown: (() => {
      const f = known.map((c) => ('levelFlags' in c ? c.levelFlags : { flagged: 0, flaggedWrong: 0, unflagged: 0, unflaggedRight: 0 }));
      return { unflaggedRight: `${sum(f.map((x) => x.unflaggedRight))}/${sum(f.map((x) => x.unflagged))}`, flaggedWrong: `${sum(f.map((x) => x.flaggedWrong))}/${sum(f.map((x) => x.flagged))}` };
    })(),
    labelsCorrectWhereKnown: `${correct}/${matched}`,
    labelsInReaderRangeWhereUnknown: (() => {
      const u = done.filter((c) => !c.truthLabelsKnown);
      const inR = sum(u.map((c) => c.reported.filter((f) => c.visibleLevels.includes(f.split(':')[0] as SpineLevel)).length));
      return `${inR}/${sum(u.map((c) => c.bodiesReported))}`;
    })(),
    meanDiceOnReferenceMasks: dices.length ? r3(mean(dices) as number) : null,
    heightsOursMinusReferenceMeanAbsMm: diffs.length ? r3(sum(diffs.map(([m, k]) => m * k)) / sum(diffs.map(([, k]) => k))) : null,
  };
  return { note: 'none of these scans is known to hold a fracture: every grade >= 2 call is false', cases, totals };
}

export type RealDev = Awaited<ReturnType<typeof realDevelopmentSet>>;

/** The per-case markdown table (and a totals line). */
export function realDevMarkdown(r: RealDev): string {
  if ('skipped' in r) return `real development set skipped: ${r.skipped}\n`;
  const head = ['case', 'a reader sees', 'reported (level:grade, ?=levelUncertain)', 'bodies found / visible', 'labels truth→ours', 'label accuracy', 'levelUncertain', 'grade ≥ 2 (all false)', 'grade 1 (all false)', 'insufficientEvidence caps', 'Dice vs reference (plane)', 'heights ours − on ref. mask, mean abs (mm)'];
  const rows = r.cases.map((c): string[] => {
    if ('skipped' in c) return [c.name, '', String(c.skipped), '', '', '', '', '', '', '', '', ''];
    const ref = c.reference;
    return [
      c.trainedOn ? `${c.name} (trained on: not counted)` : c.name,
      c.reader,
      c.reported.join(' ') || 'none',
      `${c.bodiesFound} / ${c.bodiesVisible}${c.bodiesFoundVerified ? '' : ' (unverified)'}`,
      'labels' in c ? (c.labels as string[]).join(' ') : `unknown (${c.labelsInReaderRange} in reader's range)`,
      c.labelAccuracy === null ? '–' : String(c.labelAccuracy),
      `${c.levelUncertain}/${c.bodiesReported}`,
      c.falseGrade2Plus.length ? `${c.falseGrade2Plus.length}: ${c.falseGrade2Plus.join(' ')}` : '0',
      c.falseGrade1.length ? `${c.falseGrade1.length}: ${c.falseGrade1.map((x) => x.split(':')[0]).join(' ')}` : '0',
      c.insufficientEvidenceCaps.length ? `${c.insufficientEvidenceCaps.length}: ${c.insufficientEvidenceCaps.map((x) => x.level).join(' ')}` : '0',
      ref ? `${ref.meanDice} (${ref.levels.filter((l) => c.visibleLevels.includes(l.level)).map((l) => `${l.level} ${l.dice}`).join(', ')})` : '–',
      ref && ref.heightsOursMinusReferenceMm.meanAbs !== null ? `${ref.heightsOursMinusReferenceMm.meanAbs} (n=${ref.heightsOursMinusReferenceMm.n})` : '–',
    ];
  });
  const t = r.totals;
  const line = (cells: string[]): string => `| ${cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    '',
    `Totals${t.trainedOnNotCounted.length ? ` (held-out cases; not counted: ${t.trainedOnNotCounted.join(', ')}, which trained the model)` : ''}: bodies found ${t.bodiesFound} / visible ${t.bodiesVisible} (on reference masks ${t.bodiesFoundOnReferenceMasks.found} / ${t.bodiesFoundOnReferenceMasks.visible}); ` +
      `label accuracy where known ${t.labelAccuracyWhereKnown ?? '–'} (${t.labelsCorrectWhereKnown}); labels in the reader's range where unknown ${t.labelsInReaderRangeWhereUnknown}; ` +
      `levelUncertain ${t.levelUncertain.flagged}/${t.levelUncertain.of}; false grade ≥ 2 ${t.falseG2}, grade 1 ${t.falseG1}; insufficientEvidence caps ${t.insufficientEvidenceCaps}; ` +
      `mean Dice ${t.meanDiceOnReferenceMasks ?? '–'}; heights ours − on reference masks ${t.heightsOursMinusReferenceMeanAbsMm ?? '–'} mm.`,
    '',
  ].join('\n');
}
