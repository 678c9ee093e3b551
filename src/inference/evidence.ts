/**
 * Specificity first: a moderate or severe grade is only reported when the measurement carries evidence a
 * radiologist would accept. Otherwise the vertebra is flagged `insufficientEvidence`, graded at most 1, and
 * the finding says why. The checks:
 *
 * - both endplates found (the robust endplate fits exist);
 * - slices no thicker than 5 mm along the spine (a sagittal reformat of thicker slices is not read for
 *   morphometry); between 3 and 5 mm, a grade that survives the sampling: each height may then be off by
 *   a quarter of the slice spacing, so the reduction is recomputed with the reduced height raised and
 *   the reference height lowered by that much. Up to 3 mm the bench's own measurement stands (heights
 *   to 0.7 mm MAE on 0.8–3 mm slices, grades 95% exact);
 * - a body the size and shape of a vertebral body (not two bodies merged, not a body and its arch, not
 *   a fragment of mask whose middle stands far above both walls), compared with a height a whole body
 *   has (not a few millimetres of mask read as the neighbours' height);
 * - a reference height consistent with the neighbours: the wedge and biconcave ratios divide by the
 *   posterior height, so a posterior wall well above the neighbours' (a pedicle merged into the mask)
 *   manufactures a wedge; and at least one usable neighbour to compare with;
 * - a crush that lowers the whole body: Genant's crush is a reduction of the posterior (and usually every)
 *   height against the neighbours; a posterior reading low under anterior and middle heights that stand at
 *   the neighbours' height is a mask cut at its posterior corner (a disc or the next body's share), not a
 *   fracture;
 * - a local loss: a wedge's anterior height (a biconcave body's middle) must stand below LOCAL_LOSS_MAX of the
 *   same height of the better-preserved adjacent body. A fracture lowers one body; where the neighbours
 *   read as low the reading is the column's (physiological thoracic wedging, the network under-reading
 *   small heart-shaped upper thoracic bodies at 3 mm slices on the alternate phantom), not a fracture;
 * - a reference height the size of the level's: adult posterior heights vary by ~8% (one SD) about the
 *   reference for the level (grading.ts), and a fracture leaves that wall (wedge, biconcave) or the
 *   neighbours' (crush) standing, so a reference more than 25% off is a mask or a label gone wrong —
 *   e.g. a lumbar body counted as mid-thoracic on a scan with no anchor, or one with holes from a bone mask.
 */
import type { Grade } from '../domain/vocabulary';
import type { Vec3, Volume } from '../imaging/volume';
import { type GenantResult, type Heights, gradeForLoss } from './grading';

/** Adult posterior body heights run ~14–30 mm (CLINICAL.md: T4 17–20 to L4 27–30); beyond this it is not one body. */
export const MAX_BODY_HEIGHT_MM = 36;
/** The smallest adult body (T1) stands ~14 mm: a reference height below this is not a whole vertebral body. */
export const MIN_REFERENCE_HEIGHT_MM = 12;
/** Adult body depths run ~16–38 mm (T1 to L5); beyond this the mask holds more than the body. */
export const MAX_BODY_DEPTH_MM = 50;
/** Slices thicker than this along the spine are not read for morphometry. */
export const MAX_SAMPLING_MM = 5;
/** Up to this sampling the grade stands as measured (what the phantom bench covers). */
export const BENCHED_SAMPLING_MM = 3;
/**
 * A posterior wall this much above what the neighbours predict is not trusted as the reference height:
 * adjacent posterior heights differ by a few percent once scaled for the level, and a wedge or biconcave
 * fracture leaves the posterior wall standing.
 */
export const MAX_POSTERIOR_EXCESS = 1.2;
/** No vertebral body, whole or fractured, has its middle this much taller than both its walls. */
export const MAX_MIDDLE_OVER_WALLS = 1.5;
/** A crush's anterior and middle heights stand below this fraction of the neighbours' posterior height. */
export const CRUSH_MAX_OTHER_HEIGHTS = 0.9;
/** A reference height may differ from the level's reference posterior height by at most this fraction. */
export const MAX_LEVEL_SIZE_DEVIATION = 0.25;
/**
 * A grade-2 wedge leaves the anterior height at ≤ 75% of the posterior; a normal thoracic neighbour stands at
 * 88–100% of its own posterior in front, so a true fracture's anterior is ≤ 0.75 / 0.88 ≈ 85% of the
 * neighbour's. 90% leaves room for measurement noise.
 */
export const LOCAL_LOSS_MAX = 0.9;

export interface EvidenceInput {
  heights: Heights;
  /** The posterior height the crush ratio uses (a direct reading). */
  crushPosterior: number;
  depthMm: number;
  /** False when the robust fit of either endplate failed. */
  endplatesFound: boolean;
  /** Posterior height predicted from the normal-looking neighbours, or null when none is usable. */
  expectedPosterior: number | null;
  /** Millimetres between samples along the patient's superior–inferior axis. */
  axialSamplingMm: number;
  /** The level and its reference posterior height (grading.ts `REFERENCE_POSTERIOR_MM`). */
  level: { name: string; referencePosteriorMm: number };
  /**
   * The better-preserved adjacent body's anterior and middle heights, scaled to this level (grading.ts
   * `adjacentHeight`), or null when neither neighbour is usable.
   */
  adjacent: { anterior: number | null; middle: number | null };
}

/**
 * The grade the evidence supports (at most the measured one), and why the measured one is not evidenced:
 * any reason flags the vertebra `insufficientEvidence`. A mild (grade 1) reading is held only to the
 * sampling: a reformat of slices thicker than MAX_SAMPLING_MM is not read for morphometry at any grade (an
 * 8 mm chest gave grade-1 readings on normal bodies), while the other checks are calibrated on the 25% of
 * grade 2 and would take most true grade-1 wedges of the thoracic spine for the column's own wedging.
 */
export function supportedGrade(g: GenantResult, e: EvidenceInput): { grade: Grade; reasons: string[] } {
  if (g.grade === 0) return { grade: 0, reasons: [] };
  const coarse = e.axialSamplingMm > MAX_SAMPLING_MM ? `${r1(e.axialSamplingMm)} mm sampling along the spine is too coarse for morphometry (at most ${MAX_SAMPLING_MM} mm)` : null;
  if (g.grade === 1) return { grade: 1, reasons: coarse ? [coarse] : [] };
  const reasons: string[] = [];
  const h = e.heights;
  if (!e.endplatesFound) reasons.push('the endplates were not both found');
  const tallest = Math.max(h.anterior, h.middle, h.posterior);
  if (tallest > MAX_BODY_HEIGHT_MM || e.depthMm > MAX_BODY_DEPTH_MM) {
    reasons.push(`a ${r1(tallest)} × ${r1(e.depthMm)} mm body is not the size of one vertebral body`);
  }
  if (h.middle > MAX_MIDDLE_OVER_WALLS * Math.max(h.anterior, h.posterior)) {
    reasons.push(`its middle height (${r1(h.middle)} mm) stands far above both walls (${r1(h.anterior)} and ${r1(h.posterior)} mm): not the shape of a vertebral body`);
  }
  if (e.expectedPosterior === null) reasons.push('no normal-looking neighbour to compare its heights with');
  else if (g.morphology !== 'crush' && h.posterior > MAX_POSTERIOR_EXCESS * e.expectedPosterior) {
    reasons.push(`its posterior height (${r1(h.posterior)} mm) is more than ${Math.round((MAX_POSTERIOR_EXCESS - 1) * 100)}% above what its neighbours predict (${r1(e.expectedPosterior)} mm)`);
  }
  if (g.morphology === 'crush' && e.expectedPosterior !== null && Math.max(h.anterior, h.middle) > CRUSH_MAX_OTHER_HEIGHTS * e.expectedPosterior) {
    reasons.push(
      `a crush lowers the whole body, but its anterior (${r1(h.anterior)} mm) and middle (${r1(h.middle)} mm) heights stand at its neighbours' (${r1(e.expectedPosterior)} mm): only the posterior reading is low`,
    );
  }
  const local = g.morphology === 'wedge' ? ({ name: 'anterior', own: h.anterior, adjacent: e.adjacent.anterior } as const) : g.morphology === 'biconcave' ? ({ name: 'middle', own: h.middle, adjacent: e.adjacent.middle } as const) : null;
  if (local && local.adjacent !== null && local.own >= LOCAL_LOSS_MAX * local.adjacent) {
    reasons.push(`its ${local.name} height (${r1(local.own)} mm) is not lower than the adjacent vertebra's (${r1(local.adjacent)} mm at this level's size): a fracture is a local loss`);
  }
  const reference = g.morphology === 'crush' ? e.expectedPosterior : h.posterior;
  if (reference !== null && reference < MIN_REFERENCE_HEIGHT_MM) {
    reasons.push(`the height it is compared with (${r1(reference)} mm) is too small for a whole vertebral body`);
  } else if (reference !== null && Math.abs(reference / e.level.referencePosteriorMm - 1) > MAX_LEVEL_SIZE_DEVIATION) {
    reasons.push(`the height it is compared with (${r1(reference)} mm) is not the size of ${e.level.name} (about ${r1(e.level.referencePosteriorMm)} mm): the mask or the level is wrong`);
  }
  if (coarse) reasons.push(coarse);
  if (e.axialSamplingMm > BENCHED_SAMPLING_MM) {
    const u = e.axialSamplingMm / 4;
    const reduced = g.morphology === 'wedge' ? h.anterior : g.morphology === 'biconcave' ? h.middle : e.crushPosterior;
    const against = reference ?? e.crushPosterior;
    const worstLoss = against - u > 0 ? 1 - (reduced + u) / (against - u) : 0;
    if (gradeForLoss(Math.max(0, worstLoss)) < 2) {
      reasons.push(`at ${r1(e.axialSamplingMm)} mm sampling along the spine the ${r1(g.heightLossPercent)}% loss could be under 25%`);
    }
  }
  return reasons.length === 0 ? { grade: g.grade, reasons } : { grade: 1, reasons };
}

/** Sampling along the patient's superior–inferior axis: the spacing of the volume axis closest to it. */
export function axialSamplingMm(v: Pick<Volume, 'spacing' | 'direction'>): number {
  let best = 0;
  let spacing = v.spacing[2];
  v.direction.forEach((d: Vec3, i) => {
    if (Math.abs(d[2]) > best) {
      best = Math.abs(d[2]);
      spacing = v.spacing[i] as number;
    }
  });
  return spacing;
}

const r1 = (n: number) => Math.round(n * 10) / 10;
