/**
 * bench:detection — vertebra detection, labelling and Genant grading on a held-out phantom set (seeds and
 * parameter ranges the reference model never saw), on the real CT fixture, and end-to-end speed on a
 * 512×512×400 study. Prints one JSON document (and writes it with --json).
 *
 *   npm run bench:detection                       # 100 studies + real CT + speed
 *   npm run bench:detection -- --studies 10 --no-speed
 *   npm run bench:detection -- --update-card      # also writes the metrics into the model card
 *   npm run bench:detection -- --contrast portal-venous --no-real --no-speed   # the same studies with contrast
 *   npm run bench:detection -- --rib-pairs mixed --no-real --no-speed   # transitional anatomy: 11, 12 or 13
 *                                                 # rib pairs by seed (or --rib-pairs 11|13 for all)
 *   npm run bench:detection -- --sacralised-l5 --no-real --no-speed   # every L5 carries sacral alae
 *   npm run bench:detection -- --lumbarised-s1 --no-real --no-speed   # six lumbar-type vertebrae: S1 free, sacrum from S2
 *   npm run bench:detection -- --anatomy alternate --no-real --no-speed   # the generator's second anatomy
 *                                                 # (spine.ts): anatomy the model was not trained on
 *   npm run bench:detection -- --real --table     # also the six real development scans (bench/real-ct.ts),
 *                                                 # per case in `realDev`, and a markdown table on stderr
 *
 * `--real` runs each real development scan (../shared/fixtures/imaging: realct/ and the TotalSegmentator
 * example) through analyze-study's own path; `--update-card` runs them too (unless --no-real) and writes
 * them to the card as `metrics.realDevelopmentSet`. `--key-images <dir>` also saves their key images
 * (real-<case>.png). Without ../shared/fixtures the real parts are skipped, saying so.
 *
 * Held-out recipe: `randomPhantomOptions(seed)` for seeds from 700000 (training: 1000–1099), at a fixed
 * 320 matrix with 0.95–1.25 mm pixels (training: 0.8–1.6 mm at 380 mm FOV), with more confounders:
 * sclerotic metastases in 45% of studies (1–3 levels, often without a fracture), scoliosis 12–30 mm in
 * 30%, noise 8–30 HU.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load';
import { SPINE_LEVELS, type SpineLevel } from '../src/domain/vocabulary';
import { analyzeSeriesBuffers } from '../src/imaging/analyze';
import { decodeNiftiVolume } from '../src/imaging/nifti';
import { phantomBuffers, randomPhantomOptions, type GroundTruth, type PhantomOptions, type TruthVertebra } from '../src/imaging/phantom/generate';
import { CONTRAST_PHASES, isContrastPhase } from '../src/imaging/phantom/anatomy';
import { ANATOMIES, isAnatomy } from '../src/imaging/phantom/spine';
import { Prng } from '../src/imaging/phantom/prng';
import type { Vec3, Volume } from '../src/imaging/volume';
import { againstReferenceOnPlane, realDevelopmentSet, realDevMarkdown, referenceLookup } from './real-ct';
import { cardPathFor, detectVertebrae, sha256Of, startModel, type ModelHandle, type VertebraFinding } from '../src/inference';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '100' },
    seed0: { type: 'string', default: '700000' },
    model: { type: 'string' },
    json: { type: 'string' },
    'no-real': { type: 'boolean', default: false },
    real: { type: 'boolean', default: false },
    table: { type: 'boolean', default: false },
    contrast: { type: 'string', default: 'none' },
    'rib-pairs': { type: 'string', default: '12' },
    'sacralised-l5': { type: 'boolean', default: false },
    'lumbarised-s1': { type: 'boolean', default: false },
    anatomy: { type: 'string', default: 'reference' },
    'no-speed': { type: 'boolean', default: false },
    'update-card': { type: 'boolean', default: false },
    'key-images': { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

const GRADED = new Set<SpineLevel>(SPINE_LEVELS.slice(SPINE_LEVELS.indexOf('T4'), SPINE_LEVELS.indexOf('L5') + 1));
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** The held-out recipe (see the header). */
export function benchPhantomOptions(seed: number): Partial<PhantomOptions> {
  const base = randomPhantomOptions(seed);
  const r = new Prng(seed).fork('bench-heldout');
  const graded = [...GRADED];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)] as T;
  const sclerotic = r.next() < 0.45 ? [...new Set(Array.from({ length: 1 + Math.floor(r.next() * 3) }, () => pick(graded)))] : (base.sclerotic ?? []);
  return {
    ...base,
    size: 320,
    pixelSpacing: Math.round(r.range(0.95, 1.25) * 1000) / 1000,
    sclerotic,
    scoliosisMm: r.next() < 0.3 ? Math.round(r.range(12, 30)) : 0,
    noiseSigma: Math.round(r.range(8, 30)),
    localizer: false,
    doseReport: false,
  };
}

interface Pair {
  truth: TruthVertebra;
  pred: VertebraFinding | null;
}

/** One-to-one matching of truth and predicted vertebrae by centre distance (≤ 15 mm), closest first. */
function match(truth: TruthVertebra[], preds: VertebraFinding[]): { pairs: Pair[]; unmatched: VertebraFinding[] } {
  const cand: Array<{ t: number; p: number; d: number }> = [];
  truth.forEach((t, ti) =>
    preds.forEach((p, pi) => {
      const d = Math.hypot(t.centerMm[0] - p.centerMm[0], t.centerMm[1] - p.centerMm[1], t.centerMm[2] - p.centerMm[2]);
      if (d <= 15) cand.push({ t: ti, p: pi, d });
    }),
  );
  cand.sort((a, b) => a.d - b.d);
  const usedT = new Set<number>();
  const usedP = new Set<number>();
  const pairs: Pair[] = truth.map((t) => ({ truth: t, pred: null }));
  for (const c of cand) {
    if (usedT.has(c.t) || usedP.has(c.p)) continue;
    usedT.add(c.t);
    usedP.add(c.p);
    (pairs[c.t] as Pair).pred = preds[c.p] as VertebraFinding;
  }
  return { pairs, unmatched: preds.filter((_, i) => !usedP.has(i)) };
}

class Counts {
  tp = 0;
  fp = 0;
  tn = 0;
  fn = 0;
  summary() {
    const div = (a: number, b: number): number | null => (b > 0 ? r3(a / b) : null);
    return { sensitivity: div(this.tp, this.tp + this.fn), specificity: div(this.tn, this.tn + this.fp), ppv: div(this.tp, this.tp + this.fp), tp: this.tp, fp: this.fp, tn: this.tn, fn: this.fn };
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return { mean: Math.round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)), median: Math.round(q(0.5)), p95: Math.round(q(0.95)), max: Math.round(s[s.length - 1] ?? 0) };
}

async function realCt(model: ModelHandle, keyDir: string | undefined) {
  const dir = join(__dirname, '..', '..', 'shared', 'fixtures', 'imaging', 'totalsegmentator');
  const ctPath = join(dir, 'example_ct.nii.gz');
  const segPath = join(dir, 'spine_report', 'example_ct_report', 'totalseg.nii.gz');
  const reportPath = join(dir, 'spine_report', 'example_ct_report', 'spine_report.json');
  if (!existsSync(ctPath) || !existsSync(segPath)) return { skipped: `fixture not found at ${dir}` };
  const volume = decodeNiftiVolume(readFileSync(ctPath));
  const seg = decodeNiftiVolume(readFileSync(segPath));
  // Vertebral-body voxels (value 1) of the same report: the whole-vertebra centroid sits ~9 mm behind the body's.
  const bodyPath = join(dir, 'spine_report', 'example_ct_report', 'totalseg_vertebrae_body.nii.gz');
  const bodyMask = existsSync(bodyPath) ? decodeNiftiVolume(readFileSync(bodyPath)) : null;
  const t0 = performance.now();
  const det = await detectVertebrae(volume, model, { keyImage: !!keyDir, keepMasks: true });
  const ms = performance.now() - t0;
  if (keyDir && det.keyImage) writeFileSync(join(keyDir, 'real-ct.png'), det.keyImage);
  // The same CT with the network's S1 class hidden, as a drop-in model without `s1-body` would run:
  // the sacrum anchor then rests on the sacral alae alone.
  const withoutS1: ModelHandle = { ...model, classIndex: (name) => (name === 's1-body' ? -1 : model.classIndex(name)) };
  const detNoS1 = await detectVertebrae(volume, withoutS1, { keyImage: false });
  // Reference centres: centroids of TotalSegmentator labels 26 (S1) … 33 (T11).
  const names: Record<number, SpineLevel> = { 26: 'S1', 27: 'L5', 28: 'L4', 29: 'L3', 30: 'L2', 31: 'L1', 32: 'T12', 33: 'T11' };
  const acc = new Map<number, [number, number, number, number]>();
  const [nx, ny, nz] = seg.dims;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const l = seg.data[i + j * nx + k * nx * ny] as number;
        if (!names[l] || (bodyMask && bodyMask.data[i + j * nx + k * nx * ny] !== 1)) continue;
        const a = acc.get(l) ?? [0, 0, 0, 0];
        acc.set(l, [a[0] + i, a[1] + j, a[2] + k, a[3] + 1]);
      }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { results: Record<string, number> };
  const levels = Object.entries(names).map(([lab, level]) => {
    const a = acc.get(Number(lab));
    if (!a) return { level, present: false, note: 'no vertebral-body voxels in the scan (only posterior elements, or absent)' };
    const ijk = [a[0] / a[3], a[1] / a[3], a[2] / a[3]];
    const c: Vec3 = [0, 1, 2].map((r) => seg.origin[r]! + ijk.reduce((s, v, col) => s + v * seg.spacing[col]! * seg.direction[col]![r]!, 0)) as Vec3;
    let best: VertebraFinding | null = null;
    let bd = Infinity;
    for (const p of det.vertebrae) {
      const d = Math.hypot(p.centerMm[0] - c[0], p.centerMm[1] - c[1], p.centerMm[2] - c[2]);
      if (d < bd) {
        bd = d;
        best = p;
      }
    }
    const ref = ['anterior', 'middle', 'posterior'].map((h) => report.results[`vertebrae_${level}_height_${h}_mm`]);
    const found = best && bd <= 15 ? best : null;
    const profile = found ? det.debug.bodies.find((b) => b.level === found.level)?.profileMm : undefined;
    return {
      level,
      voxels: a[3],
      found: !!found,
      labelledAs: found?.level ?? null,
      centreErrorMm: found ? Math.round(bd * 10) / 10 : null,
      grade: found?.grade ?? null,
      heightsMm: found?.heightsMm ?? null,
      referenceHeightsMm: ref[0] !== undefined ? { anterior: ref[0], middle: ref[1], posterior: ref[2] } : null,
      heightErrorMm: found && ref[0] !== undefined ? { anterior: r3(found.heightsMm.anterior - ref[0]!), middle: r3(found.heightsMm.middle - ref[1]!), posterior: r3(found.heightsMm.posterior - ref[2]!) } : null,
      // The same endplates read where spine_report draws its lines (~20%, 50% and 80% of the depth).
      atReportLinesErrorMm: profile && ref[0] !== undefined ? { anterior: r3(profile[8]! - ref[0]!), middle: r3(profile[5]! - ref[1]!), posterior: r3(profile[2]! - ref[2]!) } : null,
      flags: found?.flags ?? null,
    };
  });
  const onPlane = det.debug.masks ? againstTotalSegmentator(det.debug.masks, seg, bodyMask, names) : null;
  const l1l5 = levels.filter((l) => l.level.startsWith('L') && 'heightErrorMm' in l && l.heightErrorMm);
  const signedErrs = l1l5.flatMap((l) => Object.values((l as { heightErrorMm: Record<string, number> }).heightErrorMm));
  const errs = signedErrs.map(Math.abs);
  const lineErrs = l1l5.flatMap((l) => Object.values((l as { atReportLinesErrorMm: Record<string, number> | null }).atReportLinesErrorMm ?? {}));
  const summary = (xs: number[]) => ({
    maeMm: xs.length ? r3(xs.reduce((a, b) => a + Math.abs(b), 0) / xs.length) : null,
    biasMm: xs.length ? r3(xs.reduce((a, b) => a + b, 0) / xs.length) : null,
    within2mm: `${xs.filter((e) => Math.abs(e) <= 2).length}/${xs.length}`,
  });
  // Levels whose body is in the scan (T11 contributes only posterior-element voxels at the top edge).
  const t11l5 = levels.filter((l) => l.level !== 'S1' && !('present' in l));
  return {
    volume: { dims: volume.dims, spacingMm: volume.spacing },
    ms: Math.round(ms),
    found: det.vertebrae.map((v) => v.level),
    notes: det.notes,
    labelling: det.debug.labelling,
    withoutModelS1Class: {
      found: detNoS1.vertebrae.map((v) => v.level),
      labelling: detNoS1.debug.labelling,
      sameLevelsAtSameCentres: JSON.stringify(detNoS1.vertebrae.map((v) => [v.level, v.centerMm])) === JSON.stringify(det.vertebrae.map((v) => [v.level, v.centerMm])),
    },
    // Every body on the column, top to bottom, with what the labelling saw (including sacral segments below S1).
    bodies: det.debug.bodies.map(({ profileMm: _p, ...b }) => b),
    levelsWithBodyInScan: t11l5.map((l) => l.level),
    t11ToL5FoundAndLabelled: t11l5.every((l) => 'found' in l && l.found && l.labelledAs === l.level),
    l1ToL5HeightsWithin2mm: errs.length === 15 && errs.every((e) => e <= 2),
    l1ToL5HeightMaeMm: errs.length ? r3(errs.reduce((a, b) => a + b, 0) / errs.length) : null,
    l1ToL5Heights: { sixPointCorners: summary(signedErrs), atReportLines: summary(lineErrs) },
    // How our masks compare with TotalSegmentator's, and what our reading gives on theirs (see againstTotalSegmentator).
    onReformatPlane: onPlane && {
      meanDiceL1L5: r3(mean(l1l5.map((l) => (onPlane[l.level] as { dice: number } | undefined)?.dice ?? 0))),
      ourReadingOnTheirMaskVsSpineReport: summary(
        l1l5.flatMap((l) => {
          const h = (onPlane[l.level] as { heightsOnTheirMask: Record<string, number> } | undefined)?.heightsOnTheirMask;
          const ref = (l as { referenceHeightsMm: Record<string, number> }).referenceHeightsMm;
          return h ? (['anterior', 'middle', 'posterior'] as const).map((k) => (h[k] as number) - (ref[k] as number)) : [];
        }),
      ),
      levels: onPlane,
    },
    levels,
  };
}

/**
 * Our body masks against TotalSegmentator's on the reformat's centre plane, level by level: Dice, and the
 * heights our six-point measurement reads on each mask (with the detector's superior axis). Equal heights
 * on both masks mean a difference from spine_report lies in the reading convention; different heights
 * mean it lies in the segmentation. The general comparison is `againstReferenceOnPlane` (bench/real-ct.ts).
 */
function againstTotalSegmentator(
  masks: NonNullable<Awaited<ReturnType<typeof detectVertebrae>>['debug']['masks']>,
  seg: Volume,
  bodyMask: Volume | null,
  names: Record<number, SpineLevel>,
) {
  const at = referenceLookup(bodyMask ? [seg, bodyMask] : [seg], (vols, i) => (vols[1] && vols[1].data[i] !== 1 ? 0 : (vols[0] as Volume).data[i] as number));
  const { levels } = againstReferenceOnPlane(masks, at, names, { upFrom: 'ours', minDice: 0.2 });
  const out: Record<string, { dice: number; areaMm2: Record<string, number>; heightsOnOurMask: Record<string, number>; heightsOnTheirMask: Record<string, number> }> = {};
  for (const l of levels) {
    if (!l.paired || !l.heightsOnOurMask || !l.heightsOnReferenceMask) continue;
    out[l.level] = { dice: l.dice, areaMm2: { ours: l.areaMm2.ours, totalSegmentator: l.areaMm2.reference }, heightsOnOurMask: l.heightsOnOurMask, heightsOnTheirMask: l.heightsOnReferenceMask };
  }
  return out;
}

async function speed(model: ModelHandle) {
  const { truth, files } = phantomBuffers({ seed: 4242, size: 512, pixelSpacing: 0.75, sliceSpacing: 1.25, slices: 400, fractures: [{ level: 'L1', grade: 3, morphology: 'wedge' }] });
  const t0 = performance.now();
  const { volume } = analyzeSeriesBuffers(files.filter((f) => f.name.startsWith('CT.')).map((f) => f.data));
  const load = performance.now() - t0;
  const det = await detectVertebrae(volume, model);
  const total = performance.now() - t0;
  return {
    study: `512×512×${volume.dims[2]} (${truth.geometry.zRangeMm.join('..')} mm)`,
    ms: { load: Math.round(load), ...det.timingsMs, total: Math.round(total) },
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    threads: 2,
    foundL1Grade: det.vertebrae.find((v) => v.level === 'L1')?.grade ?? null,
  };
}

async function main(): Promise<void> {
  const modelPath = values.model ?? loadConfig().MODEL_PATH;
  const model = await startModel(modelPath, { threads: 2 });
  const n = Number(values.studies);
  const ribArg = values['rib-pairs'] as string;
  if (!['11', '12', '13', 'mixed'].includes(ribArg)) throw new Error('--rib-pairs must be 11, 12, 13 or mixed');
  const ribPairsFor = (seed: number): 11 | 12 | 13 => (ribArg === 'mixed' ? ([11, 12, 13] as const)[seed % 3] : (Number(ribArg) as 11 | 12 | 13)) as 11 | 12 | 13;
  const contrast = values.contrast;
  if (!isContrastPhase(contrast)) throw new Error(`--contrast must be one of ${CONTRAST_PHASES.join(', ')}`);
  const anatomy = values.anatomy as string;
  if (!isAnatomy(anatomy)) throw new Error(`--anatomy must be one of ${ANATOMIES.join(', ')}`);
  const sacralisedL5 = values['sacralised-l5'] === true;
  const lumbarisedS1 = values['lumbarised-s1'] === true;
  const seed0 = Number(values.seed0);
  const keyDir = values['key-images'];
  if (keyDir) mkdirSync(keyDir, { recursive: true });
  const vert = { 1: new Counts(), 2: new Counts() };
  const study = { 1: new Counts(), 2: new Counts() };
  const studyLocated = { 1: new Counts(), 2: new Counts() };
  let gradePairs = 0;
  let gradeExact = 0;
  let gradeWithin1 = 0;
  let levelPairs = 0;
  let levelOk = 0;
  let truthInFov = 0;
  let detected = 0;
  let sclerNoLoss = 0;
  let sclerNoLossCalled = 0;
  let sclerFlagged = 0;
  let sclerTotal = 0;
  let fpUnmatched = 0;
  // Studies per labelling method: 'both-agree' is the only one without `levelUncertain`.
  const labelling: Record<string, number> = {};
  // What `levelUncertain` tells a reader: matched vertebrae by flag and by whether the label is right.
  const flagged = { unflagged: 0, unflaggedRight: 0, flagged: 0, flaggedWrong: 0 };
  // The sacral test's weaker side (min of left and right fractions) per body, by assigned level: how far
  // S1 stands from the bodies above it.
  const alae = { S1: [] as number[], L1L5: [] as number[], T1T12: [] as number[] };
  const heightErr: number[] = [];
  const signed = { normal: { anterior: [] as number[], middle: [] as number[], posterior: [] as number[] }, fractured: { anterior: [] as number[], middle: [] as number[], posterior: [] as number[] } };
  const lossErr: number[] = [];
  // Fractured vertebrae by true morphology: signed height-loss error (points) and the heights' signed errors.
  const byMorphology: Record<string, { loss: number[]; anterior: number[]; middle: number[]; posterior: number[] }> = {};
  const times = { load: [] as number[], detect: [] as number[], total: [] as number[] };
  const failures: Array<Record<string, unknown>> = [];
  for (let s = seed0; s < seed0 + n; s++) {
    const opts = { ...benchPhantomOptions(s), contrast, ribPairs: ribPairsFor(s), sacralisedL5, lumbarisedS1, anatomy };
    const { truth, files } = phantomBuffers(opts);
    const t0 = performance.now();
    const { volume } = analyzeSeriesBuffers(files.filter((f) => f.name.startsWith('CT.')).map((f) => f.data));
    const t1 = performance.now();
    const det = await detectVertebrae(volume, model, { keyImage: !!keyDir });
    const t2 = performance.now();
    times.load.push(t1 - t0);
    times.detect.push(t2 - t1);
    times.total.push(t2 - t0);
    labelling[det.debug.labelling] = (labelling[det.debug.labelling] ?? 0) + 1;
    if (det.debug.labelling === 'disagree-sacrum') failures.push({ seed: s, kind: 'anchors-disagree', notes: det.notes.filter((t) => /disagree|alae/.test(t)) });
    for (const b of det.debug.bodies) if (b.level && b.alae) alae[b.level === 'S1' ? 'S1' : b.level.startsWith('L') ? 'L1L5' : 'T1T12'].push(Math.min(...b.alae));
    if (keyDir && det.keyImage) writeFileSync(join(keyDir, `study-${s}.png`), det.keyImage);
    const inFov = truth.vertebrae.filter((v) => v.inFieldOfView && v.level !== 'S1');
    const { pairs, unmatched } = match(inFov, det.vertebrae);
    truthInFov += inFov.length;
    for (const p of pairs) {
      if (p.pred) {
        detected++;
        levelPairs++;
        const right = p.pred.level === p.truth.level;
        if (right) levelOk++;
        else failures.push({ seed: s, kind: 'level', truth: p.truth.level, predicted: p.pred.level, method: det.debug.labelling });
        if (p.pred.flags.includes('levelUncertain')) {
          flagged.flagged++;
          if (!right) flagged.flaggedWrong++;
        } else {
          flagged.unflagged++;
          if (right) flagged.unflaggedRight++;
        }
      }
      if (!GRADED.has(p.truth.level)) continue;
      if (p.pred && GRADED.has(p.pred.level)) {
        gradePairs++;
        if (p.pred.grade === p.truth.grade) gradeExact++;
        if (Math.abs(p.pred.grade - p.truth.grade) <= 1) gradeWithin1++;
        heightErr.push(...(['anterior', 'middle', 'posterior'] as const).map((h) => Math.abs((p.pred as VertebraFinding).heightsMm[h] - p.truth.heightsMm[h])));
        for (const h of ['anterior', 'middle', 'posterior'] as const) signed[p.truth.grade > 0 ? 'fractured' : 'normal'][h].push((p.pred as VertebraFinding).heightsMm[h] - p.truth.heightsMm[h]);
        if (p.truth.grade > 0) {
          lossErr.push(p.pred.heightLossPercent - p.truth.heightLossPercent);
          const m = (byMorphology[p.truth.morphology ?? 'unknown'] ??= { loss: [], anterior: [], middle: [], posterior: [] });
          m.loss.push(p.pred.heightLossPercent - p.truth.heightLossPercent);
          for (const h of ['anterior', 'middle', 'posterior'] as const) m[h].push(p.pred.heightsMm[h] - p.truth.heightsMm[h]);
        }
      }
      if (p.truth.flags.includes('sclerotic')) {
        sclerTotal++;
        if (p.pred?.flags.includes('sclerotic')) sclerFlagged++;
        if (p.truth.grade === 0) {
          sclerNoLoss++;
          if ((p.pred?.grade ?? 0) >= 1) sclerNoLossCalled++;
        }
      }
      for (const g of [1, 2] as const) {
        const tPos = p.truth.grade >= g;
        const pPos = (p.pred?.grade ?? 0) >= g;
        const c = vert[g];
        if (tPos && pPos) c.tp++;
        else if (tPos) {
          c.fn++;
          if (g === 2) failures.push({ seed: s, kind: 'missed', level: p.truth.level, truth: `${p.truth.grade} ${p.truth.morphology} ${p.truth.heightLossPercent}%`, predicted: p.pred ? `${p.pred.grade} ${p.pred.morphology} ${p.pred.heightLossPercent}%` : 'not found', flags: p.truth.flags });
        } else if (pPos) {
          c.fp++;
          if (g === 2) failures.push({ seed: s, kind: 'false-positive', level: p.truth.level, truth: `${p.truth.grade} ${p.truth.heightLossPercent}%`, predicted: `${(p.pred as VertebraFinding).grade} ${(p.pred as VertebraFinding).morphology} ${(p.pred as VertebraFinding).heightLossPercent}%`, flags: p.truth.flags, predictedFlags: (p.pred as VertebraFinding).flags });
        } else c.tn++;
      }
    }
    for (const u of unmatched) {
      if (u.grade >= 1) {
        fpUnmatched++;
        for (const g of [1, 2] as const) if (u.grade >= g) vert[g].fp++;
      }
    }
    for (const g of [1, 2] as const) {
      const tPos = inFov.some((v) => GRADED.has(v.level) && v.grade >= g);
      const pPos = det.vertebrae.some((v) => GRADED.has(v.level) && v.grade >= g);
      // Found where it is: a call of grade ≥ g on the fractured body itself (matched by position), not on a
      // misplaced body that happens to carry a fracture's label.
      const located = pairs.some((p) => GRADED.has(p.truth.level) && p.truth.grade >= g && (p.pred?.grade ?? 0) >= g);
      for (const [c, found] of [
        [study[g], pPos],
        [studyLocated[g], located],
      ] as const) {
        if (tPos && found) c.tp++;
        else if (tPos) c.fn++;
        else if (pPos) c.fp++;
        else c.tn++;
      }
    }
    if (values.verbose) process.stderr.write(`study ${s}: ${det.vertebrae.length} vertebrae, fractures ${det.fractures.map((f) => `${f.level}:${f.grade}`).join(',') || '-'} (truth ${truth.fractures.map((f) => `${f.level}:${f.grade}`).join(',') || '-'}) ${Math.round(t2 - t0)} ms\n`);
  }
  const real = values['no-real'] ? { skipped: '--no-real' } : await realCt(model, keyDir);
  const wantRealDev = values.real || (values['update-card'] && !values['no-real']);
  const realDev = wantRealDev
    ? await realDevelopmentSet(model, { imaging: join(__dirname, '..', '..', 'shared', 'fixtures', 'imaging'), keyDir })
    : { skipped: 'not asked for (--real)' };
  if (values.table) process.stderr.write(wantRealDev ? realDevMarkdown(realDev) : 'real development set: not run (add --real)\n');
  else if (wantRealDev && 'skipped' in realDev) process.stderr.write(`bench:detection: real development set skipped: ${realDev.skipped}\n`);
  const speedResult = values['no-speed'] ? { skipped: '--no-speed' } : await speed(model);
  const result = {
    bench: 'detection',
    model: { name: model.card.name, version: model.card.version, sha256: model.card.sha256 },
    heldOut: {
      studies: n,
      seeds: [seed0, seed0 + n - 1],
      recipe: 'benchPhantomOptions (bench/detection.ts): randomPhantomOptions(seed) at 320 matrix, 0.95–1.25 mm pixels, sclerotic 45%, scoliosis 12–30 mm 30%, noise 8–30 HU',
      contrast,
      ribPairs: ribArg,
      sacralisedL5,
      lumbarisedS1,
      anatomy,
      truthVertebraeInFov: truthInFov,
      detectionRate: r3(detected / Math.max(1, truthInFov)),
      levelAccuracy: r3(levelOk / Math.max(1, levelPairs)),
      labellingMethods: labelling,
      levelUncertainInformation: {
        unflaggedRight: `${flagged.unflaggedRight}/${flagged.unflagged}`,
        unflaggedRightRate: flagged.unflagged ? r3(flagged.unflaggedRight / flagged.unflagged) : null,
        flaggedWrong: `${flagged.flaggedWrong}/${flagged.flagged}`,
        flaggedWrongRate: flagged.flagged ? r3(flagged.flaggedWrong / flagged.flagged) : null,
      },
      sacralAlaeFraction: {
        S1: { bodies: alae.S1.length, min: alae.S1.length ? Math.min(...alae.S1) : null },
        L1L5: { bodies: alae.L1L5.length, max: alae.L1L5.length ? Math.max(...alae.L1L5) : null },
        T1T12: { bodies: alae.T1T12.length, max: alae.T1T12.length ? Math.max(...alae.T1T12) : null },
      },
      perVertebra: { grade1plus: vert[1].summary(), grade2plus: vert[2].summary(), unmatchedPositives: fpUnmatched },
      // perStudy: a fractured study counts as found by any call of the grade; perStudyLocated only by one on the
      // fractured body (the targets use it).
      perStudy: { grade1plus: study[1].summary(), grade2plus: study[2].summary() },
      perStudyLocated: { grade1plus: studyLocated[1].summary(), grade2plus: studyLocated[2].summary() },
      gradeAgreement: { pairs: gradePairs, exact: r3(gradeExact / Math.max(1, gradePairs)), within1: r3(gradeWithin1 / Math.max(1, gradePairs)) },
      heightAbsErrorMm: { mean: r3(heightErr.reduce((a, b) => a + b, 0) / Math.max(1, heightErr.length)), p95: r3([...heightErr].sort((a, b) => a - b)[Math.floor(0.95 * heightErr.length)] ?? 0) },
      heightBiasMm: Object.fromEntries(Object.entries(signed).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([h, xs]) => [h, r3(mean(xs))]))])),
      fracturedLossBiasPercent: r3(mean(lossErr)),
      // Mean signed errors per true morphology: how a systematic misreading of one fracture shape shows.
      fracturedBiasByMorphology: Object.fromEntries(Object.entries(byMorphology).map(([k, v]) => [k, { vertebrae: v.loss.length, ...Object.fromEntries(Object.entries(v).map(([h, xs]) => [h === 'loss' ? 'lossPercent' : `${h}Mm`, r3(mean(xs))])) }])),
      scleroticWithoutHeightLoss: { vertebrae: sclerNoLoss, calledFracture: sclerNoLossCalled, rate: r3(sclerNoLossCalled / Math.max(1, sclerNoLoss)) },
      scleroticFlagRecall: r3(sclerFlagged / Math.max(1, sclerTotal)),
      timePerStudyMs: { load: stats(times.load), detect: stats(times.detect), total: stats(times.total) },
    },
    targets: {
      perStudySensitivityG2: { target: 0.95, met: (studyLocated[2].summary().sensitivity ?? 0) >= 0.95 },
      perStudyPpvG2: { target: 0.9, met: (studyLocated[2].summary().ppv ?? 0) >= 0.9 },
      levelAccuracy: { target: 0.97, met: levelOk / Math.max(1, levelPairs) >= 0.97 },
      scleroticFalseFractureRate: { target: 0.05, met: sclerNoLossCalled / Math.max(1, sclerNoLoss) <= 0.05 },
    },
    realCt: real,
    realDev,
    speed: speedResult,
    failures: failures.slice(0, 60),
    failureCount: failures.length,
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  process.stdout.write(json);
  if (values.json) writeFileSync(values.json, json);
  if (values['update-card']) {
    const cardPath = cardPathFor(modelPath);
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { sha256: string; metrics: Record<string, unknown> };
    if (card.sha256 !== sha256Of(readFileSync(modelPath))) throw new Error('model changed during the bench');
    const { failures: _f, ...summary } = result;
    // Only the parts this run measured replace what the card had.
    const metrics: Record<string, unknown> = { ...card.metrics };
    if (n > 0) {
      // Each phantom variant has its own entry: a variant run never replaces the plain held-out bench.
      const variants: Array<[string, string]> = [];
      if (contrast !== 'none') variants.push([` --contrast ${contrast}`, `Contrast-${contrast}`]);
      if (ribArg !== '12') variants.push([` --rib-pairs ${ribArg}`, `RibPairs-${ribArg}`]);
      if (sacralisedL5) variants.push([' --sacralised-l5', 'SacralisedL5']);
      if (lumbarisedS1) variants.push([' --lumbarised-s1', 'LumbarisedS1']);
      if (anatomy !== 'reference') variants.push([` --anatomy ${anatomy}`, `Anatomy-${anatomy}`]);
      const key = `heldOutBench${variants.map(([, k]) => k).join('')}`;
      metrics[key] = { command: `npm run bench:detection -- --studies ${n}${variants.map(([flag]) => flag).join('')}`, date: new Date().toISOString().slice(0, 10), ...summary.heldOut, targets: summary.targets };
    }
    if (!('skipped' in summary.realCt)) metrics.realCt = summary.realCt;
    if (!('skipped' in summary.realDev)) {
      // Per case without the full findings and plane levels (they are in the bench's JSON).
      const slim = summary.realDev.cases.map((c) => {
        if ('skipped' in c) return c;
        const { findings: _f, notes: _n, keyImage: _k, reference, ...rest } = c;
        return { ...rest, reference: reference && { ...reference, levels: reference.levels.map(({ level, ours, dice, heightsOnOurMask, heightsOnReferenceMask }) => ({ level, ours, dice, heightsOnOurMask, heightsOnReferenceMask })) } };
      });
      metrics.realDevelopmentSet = { command: 'npm run bench:detection -- --real', date: new Date().toISOString().slice(0, 10), note: summary.realDev.note, totals: summary.realDev.totals, cases: slim };
    }
    if (!('skipped' in summary.speed)) metrics.speed = summary.speed;
    card.metrics = metrics;
    writeFileSync(cardPath, `${JSON.stringify(card, null, 2)}\n`);
  }
  await model.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:detection: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
