/**
 * Vertebra detection and grading for one CT volume: localise the spine → curved sagittal reformat →
 * network (vertebral bodies) → components → labelling (sacrum up, last rib-bearing vertebra down) →
 * six-point heights → Genant grade and morphology → flags and confidence → the `analyze-study` findings.
 */
import { SPINE_LEVELS, type Grade, type Morphology, type SpineLevel, type VertebraFlag } from '../domain/vocabulary';
import type { Vec3, Volume } from '../imaging/volume';
import { findBodies, foreground, intensityFlags, measureBody, onTheColumn, splitMerged, type BodyComponent, type BodyMeasurement } from './bodies';
import { axialSamplingMm, supportedGrade } from './evidence';
import { expectedPosteriorHeight, genantGrade } from './grading';
import { renderKeyImage } from './key-image';
import { assignLevels } from './labelling';
import { localizeSpine, type SpineLine } from './localize';
import { curvedSagittal, slabToLps, volumeBounds, type SagittalSlab } from './reformat';
import { ribTest } from './ribs';
import { sacralTest, type SacralTest } from './sacrum';
import type { ModelHandle } from './session';

const { max, min, round } = Math;

/** One vertebra as the CONTRACT's `analyze-study` JSON has it. */
export interface VertebraFinding {
  level: SpineLevel;
  centerMm: Vec3;
  grade: Grade;
  morphology: Morphology | null;
  heightLossPercent: number;
  heightsMm: { anterior: number; middle: number; posterior: number };
  confidence: number;
  flags: VertebraFlag[];
  /** Why the vertebra is not graded, or graded lower than measured (empty when graded as measured). */
  gradingNotes: string[];
}

export interface Detection {
  model: { name: string; version: string; sha256: string };
  vertebrae: VertebraFinding[];
  fractures: VertebraFinding[];
  notes: string[];
  /** PNG of the sagittal reformat with every vertebra labelled and fractures outlined, when asked for. */
  keyImage: Buffer | null;
  timingsMs: { localize: number; reformat: number; inference: number; measure: number };
  /** Internals for debugging and the bench. */
  debug: {
    spine: Pick<SpineLine, 'zRange' | 'yRange' | 'lateralDeviationMm'>;
    labelling: string;
    bodies: Array<{ level: SpineLevel | null; zMm: number; areaMm2: number; s1Fraction: number; alae: [number, number] | null; ribBearing: boolean | null; edge: boolean; profileMm: number[] }>;
    /** The reformat and its body components (label image, component id per level), when asked for. */
    masks?: { slab: SagittalSlab; labels: Int32Array; components: Array<{ id: number; level: SpineLevel | null }> };
  };
}

export interface DetectOptions {
  /** Render the key image (default true). */
  keyImage?: boolean;
  /** Lateral deviation (mm) of the spine's centre line above which every vertebra is flagged `scoliosis` (default 8). */
  scoliosisMm?: number;
  /** Keep the reformat and the body label image in `debug.masks` (the bench compares them with a reference segmentation). */
  keepMasks?: boolean;
}

const r1 = (n: number): number => round(n * 10) / 10;
const r2 = (n: number): number => round(n * 100) / 100;
const sacralFractions = (t: SacralTest | null | undefined): [number, number] | null => (t ? [r2(t.left), r2(t.right)] : null);

/** Rows of the slab that lie inside the scanned z range. */
function validRows(slab: SagittalSlab, zLo: number, zHi: number): [number, number] {
  const first = max(0, Math.ceil((slab.zTop - zHi) / slab.spacing - 1e-6));
  const last = min(slab.rows - 1, Math.floor((slab.zTop - zLo) / slab.spacing + 1e-6));
  return [first, last];
}

/** Runs detection on one volume with a loaded model. */
export async function detectVertebrae(volume: Volume, model: ModelHandle, opts: DetectOptions = {}): Promise<Detection> {
  const card = model.card;
  const notes: string[] = [];
  let t = performance.now();
  const line = localizeSpine(volume);
  const tLocalize = performance.now() - t;
  t = performance.now();
  const bounds = volumeBounds(volume);
  // The localised centre sits between the body and the arch: leave room in front for the body.
  const slab = curvedSagittal(volume, {
    xAtZ: line.xAtZ,
    yRange: [line.yRange[0] - 80, line.yRange[1] + 45],
    zRange: [bounds.hi[2], bounds.lo[2]],
    spacingMm: card.input.spacingMm,
    offsetsMm: card.input.channelOffsetsMm,
    multipleOf: card.input.multipleOf,
  });
  const tReformat = performance.now() - t;
  t = performance.now();
  const probs = await model.predict(slab);
  const tInference = performance.now() - t;
  t = performance.now();
  const n = slab.rows * slab.cols;
  const bg = model.classIndex('background');
  const s1Idx = model.classIndex('s1-body');
  const fg = foreground(probs, n, bg);
  const s1 = s1Idx >= 0 ? probs.subarray(s1Idx * n, (s1Idx + 1) * n) : null;
  const valid = validRows(slab, bounds.lo[2], bounds.hi[2]);
  const found = findBodies(fg, s1, slab.rows, slab.cols, { spacing: slab.spacing, validRows: valid });
  const { labels } = found;
  const components = splitMerged(found.components, labels, fg, s1, slab.cols, valid);
  // Plausible vertebral bodies only: at least 8 mm tall and 10 mm deep, on the column.
  const bodies = onTheColumn(
    components.filter((c) => (c.rowRange[1] - c.rowRange[0] + 1) * slab.spacing >= 8 && (c.colRange[1] - c.colRange[0] + 1) * slab.spacing >= 10),
    slab.spacing,
  );
  const measures: BodyMeasurement[] = bodies.map((c, i) => {
    const prev = bodies[i - 1];
    const next = bodies[i + 1];
    const a = prev ? prev.centroid : c.centroid;
    const b = next ? next.centroid : c.centroid;
    const hint: [number, number] = prev || next ? [a[0] - b[0], a[1] - b[1]] : [-1, 0];
    return measureBody(fg, labels, c, slab.rows, slab.cols, slab.spacing, hint);
  });
  const centers: Vec3[] = measures.map((m) => slabToLps(slab, m.center[0], m.center[1]));
  const ribs = bodies.map((c, i) => {
    const m = measures[i] as BodyMeasurement;
    if (c.touchesEdge) return null;
    return ribTest(volume, centers[i] as Vec3, m.heightsMm.posterior, m.depthMm).ribBearing;
  });
  const sacra = bodies.map((c, i) => {
    const m = measures[i] as BodyMeasurement;
    return c.touchesEdge ? null : sacralTest(volume, centers[i] as Vec3, m.heightsMm.posterior, m.depthMm);
  });
  const lab = assignLevels(
    bodies.map((c, i) => ({
      z: (centers[i] as Vec3)[2],
      s1Fraction: s1 ? c.s1Fraction : null,
      sacral: sacra[i]?.sacral ?? null,
      ribBearing: ribs[i] ?? null,
      posteriorMm: c.touchesEdge ? null : (measures[i] as BodyMeasurement).heightsMm.posterior,
    })),
  );
  notes.push(...lab.notes);
  const scoliotic = line.lateralDeviationMm > (opts.scoliosisMm ?? 8);
  const sampling = axialSamplingMm(volume);
  if (scoliotic) notes.push(`spine deviates ${r1(line.lateralDeviationMm)} mm laterally: reformat curved along it`);
  // Crush compares direct posterior readings (the wall fit serves the wedge and biconcave ratios).
  const items = bodies.map((c, i) => {
    const m = measures[i] as BodyMeasurement;
    return { level: lab.levels[i] ?? null, heights: { ...m.heightsMm, posterior: m.posteriorDirectMm }, usable: !c.touchesEdge };
  });
  const vertebrae: VertebraFinding[] = [];
  const outlines: Array<{ comp: BodyComponent; finding: VertebraFinding }> = [];
  bodies.forEach((c, i) => {
    const level = lab.levels[i];
    if (!level) return;
    const m = measures[i] as BodyMeasurement;
    const flags: VertebraFlag[] = [];
    const inten = intensityFlags(slab, labels, c);
    if (inten.sclerotic) flags.push('sclerotic');
    if (inten.lytic) flags.push('lytic');
    if (scoliotic) flags.push('scoliosis');
    if (lab.uncertain) flags.push('levelUncertain');
    if (c.touchesEdge) flags.push('partialCoverage');
    // Genant grading applies T4–L5; S1 and cut-off bodies are located but not graded.
    const gradingNotes: string[] = [];
    if (c.touchesEdge) gradingNotes.push('not graded: the body is cut by the edge of the scan');
    else if (SPINE_LEVELS.indexOf(level) < SPINE_LEVELS.indexOf('T4')) gradingNotes.push('not graded: Genant grading applies from T4 to L5');
    const graded = gradingNotes.length === 0 && level !== 'S1';
    const expected = expectedPosteriorHeight(items, i);
    const measured = graded ? genantGrade(m.heightsMm, expected, m.posteriorDirectMm) : null;
    const supported = measured
      ? supportedGrade(measured, { heights: m.heightsMm, crushPosterior: m.posteriorDirectMm, depthMm: m.depthMm, endplatesFound: m.endplatesFound, expectedPosterior: expected, axialSamplingMm: sampling })
      : null;
    if (measured && supported && supported.grade < measured.grade) {
      flags.push('insufficientEvidence');
      gradingNotes.push(`measured grade ${measured.grade} ${measured.morphology}, reported as at most grade 1: ${supported.reasons.join('; ')}`);
    }
    const g = measured && supported ? { ...measured, grade: supported.grade } : null;
    let confidence = c.meanProbability * (g ? 0.8 + 0.2 * g.margin : 1);
    if (lab.uncertain) confidence *= 0.8;
    if (c.touchesEdge) confidence *= 0.6;
    if (inten.sclerotic || inten.lytic) confidence *= 0.85;
    const finding: VertebraFinding = {
      level,
      centerMm: (centers[i] as Vec3).map(r1) as Vec3,
      grade: g ? g.grade : 0,
      morphology: g ? g.morphology : null,
      heightLossPercent: g ? g.heightLossPercent : 0,
      heightsMm: { anterior: r1(m.heightsMm.anterior), middle: r1(m.heightsMm.middle), posterior: r1(m.heightsMm.posterior) },
      confidence: r2(min(1, max(0, confidence))),
      flags,
      gradingNotes,
    };
    // S1 anchors the count and is drawn on the key image; the findings list T1–L5 (CLINICAL.md).
    if (level !== 'S1') vertebrae.push(finding);
    outlines.push({ comp: c, finding });
  });
  const tMeasure = performance.now() - t;
  const keyImage = opts.keyImage === false ? null : renderKeyImage(slab, labels, outlines);
  return {
    model: { name: card.name, version: card.version, sha256: card.sha256 },
    vertebrae,
    fractures: vertebrae.filter((v) => v.grade >= 1),
    notes,
    keyImage,
    timingsMs: { localize: round(tLocalize), reformat: round(tReformat), inference: round(tInference), measure: round(tMeasure) },
    debug: { spine: { zRange: line.zRange, yRange: line.yRange, lateralDeviationMm: r1(line.lateralDeviationMm) }, labelling: lab.method,
      bodies: bodies.map((c, i) => ({ level: lab.levels[i] ?? null, zMm: r1((centers[i] as Vec3)[2]), areaMm2: round(c.pixels * slab.spacing ** 2), s1Fraction: r2(c.s1Fraction), alae: sacralFractions(sacra[i]), ribBearing: ribs[i] ?? null, edge: c.touchesEdge, profileMm: (measures[i] as BodyMeasurement).profileMm.map(r1) })),
      ...(opts.keepMasks ? { masks: { slab, labels, components: bodies.map((c, i) => ({ id: c.id, level: lab.levels[i] ?? null })) } } : {}),
    },
  };
}
