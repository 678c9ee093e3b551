/**
 * Vertebra detection and grading for one CT volume, in stages (MONAI Deploy's operators), each in
 * stages/ with the type it produces:
 *
 *   pre-process   localise the spine, reformat the curved sagittal slab  stages/preprocess.ts  SpineSlab
 *   predict       the network on the slab                                 stages/predict.ts     SlabPrediction
 *   post-process  bodies: components, six-point measurement               stages/bodies.ts      VertebralBodies
 *                 levels: rib and sacral tests, labelling                 stages/levels.ts      LevelAssignment
 *                 grades: Genant, evidence check, flags, confidence       stages/grades.ts      Grading
 *                 findings: the CONTRACT's vertebrae and fractures        stages/findings.ts    Findings
 *
 * then the key image (key-image.ts). `detectVertebrae` only composes them and times them.
 */
import type { Volume } from '../imaging/volume';
import type { Detection, DetectOptions } from './detection';
import { renderKeyImage } from './key-image';
import { localizeSpine } from './localize';
import type { ModelHandle } from './session';
import { findVertebralBodies, type VertebralBodies } from './stages/bodies';
import { collectFindings } from './stages/findings';
import { gradeVertebrae } from './stages/grades';
import { labelLevels, type LevelAssignment } from './stages/levels';
import { predictSlab } from './stages/predict';
import { reformatAlongSpine, type SpineSlab } from './stages/preprocess';

const { round } = Math;
const r1 = (n: number): number => round(n * 10) / 10;
const r2 = (n: number): number => round(n * 100) / 100;

/** Milliseconds since the previous lap (or since the stopwatch started). */
function stopwatch(): () => number {
  let t = performance.now();
  return () => {
    const now = performance.now();
    const spent = now - t;
    t = now;
    return spent;
  };
}

/** Runs detection on one volume with a loaded model. */
export async function detectVertebrae(volume: Volume, model: ModelHandle, opts: DetectOptions = {}): Promise<Detection> {
  const lap = stopwatch();
  const spine = localizeSpine(volume);
  const tLocalize = lap();
  const pre = reformatAlongSpine(volume, spine, model.card.input);
  const tReformat = lap();
  const prediction = await predictSlab(model, pre.slab);
  const tInference = lap();
  const found = findVertebralBodies(volume, pre, prediction);
  const levels = labelLevels(volume, found);
  const grading = gradeVertebrae(volume, pre, found, levels, opts);
  const findings = collectFindings(grading.vertebrae);
  const tMeasure = lap();
  const { name, version, sha256 } = model.card;
  return {
    model: { name, version, sha256 },
    vertebrae: findings.vertebrae,
    fractures: findings.fractures,
    notes: [...levels.notes, ...grading.notes],
    keyImage: opts.keyImage === false ? null : renderKeyImage(pre.slab, found.labels, findings.outlines),
    timingsMs: { localize: round(tLocalize), reformat: round(tReformat), inference: round(tInference), measure: round(tMeasure) },
    debug: debugRecord(pre, found, levels, opts.keepMasks === true),
  };
}

/** The stages' internals the bench and debugging read. */
function debugRecord(pre: SpineSlab, found: VertebralBodies, levels: LevelAssignment, keepMasks: boolean): Detection['debug'] {
  const { spine, slab } = pre;
  return {
    spine: { zRange: spine.zRange, yRange: spine.yRange, lateralDeviationMm: r1(spine.lateralDeviationMm) },
    labelling: levels.method,
    bodies: found.bodies.map(({ component: c, measurement: m, centerMm }, i) => {
      const alae = levels.sacral[i];
      return {
        level: levels.levels[i] ?? null,
        zMm: r1(centerMm[2]),
        areaMm2: round(c.pixels * slab.spacing ** 2),
        s1Fraction: r2(c.s1Fraction),
        alae: alae ? [r2(alae.left), r2(alae.right)] : null,
        ribBearing: levels.ribs[i]?.ribBearing ?? null,
        ribMm3: levels.ribs[i] ? [levels.ribs[i].leftMm3, levels.ribs[i].rightMm3] : null,
        edge: c.touchesEdge,
        profileMm: m.profileMm.map(r1),
      };
    }),
    ...(keepMasks ? { masks: { slab, labels: found.labels, components: found.bodies.map((b, i) => ({ id: b.component.id, level: levels.levels[i] ?? null })) } } : {}),
  };
}
