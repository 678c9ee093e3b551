/**
 * Genant semi-quantitative grading from six-point heights (CLINICAL.md): wedge = 1 − Ha/Hp, biconcave =
 * 1 − Hm/Hp, crush = 1 − Hp / expected Hp (from the adjacent normal vertebrae, scaled by how heights grow
 * caudally). Grade by the largest reduction: < 20% normal, 20–25% mild, 25–40% moderate, > 40% severe.
 */
import type { Grade, Morphology, SpineLevel } from '../domain/vocabulary';

export interface Heights {
  anterior: number;
  middle: number;
  posterior: number;
}

/** Adult posterior body heights (mm) by level: only their ratios are used (expected growth caudally). */
export const REFERENCE_POSTERIOR_MM: Record<SpineLevel, number> = {
  T1: 14.5, T2: 15.5, T3: 16.3, T4: 17.2, T5: 17.8, T6: 18.4, T7: 19.0, T8: 19.6, T9: 20.2, T10: 21.0,
  T11: 22.0, T12: 23.0, L1: 24.5, L2: 25.5, L3: 26.5, L4: 27.5, L5: 27.5, S1: 26.0,
};

export function gradeForLoss(loss: number): Grade {
  if (loss < 0.2) return 0;
  if (loss <= 0.25) return 1;
  if (loss <= 0.4) return 2;
  return 3;
}

export interface GenantResult {
  grade: Grade;
  morphology: Morphology | null;
  /** The largest reduction, %. */
  heightLossPercent: number;
  reductions: { wedge: number; biconcave: number; crush: number | null };
  /** How far the reduction is from the nearest grade boundary (0 on it, 1 at ≥ 5 points away). */
  margin: number;
}

/**
 * Grades one vertebra; `expectedPosterior` is null when no normal neighbour is available (no crush test).
 * `crushPosterior` is the posterior height compared with it (default `h.posterior`; the detector passes a
 * direct reading, measured the same way as the neighbours' it is compared with).
 */
export function genantGrade(h: Heights, expectedPosterior: number | null, crushPosterior: number = h.posterior): GenantResult {
  const wedge = h.posterior > 0 ? 1 - h.anterior / h.posterior : 0;
  const biconcave = h.posterior > 0 ? 1 - h.middle / h.posterior : 0;
  const crush = expectedPosterior && expectedPosterior > 0 ? 1 - crushPosterior / expectedPosterior : null;
  let loss = wedge;
  let morphology: Morphology = 'wedge';
  if (biconcave > loss) {
    loss = biconcave;
    morphology = 'biconcave';
  }
  if (crush !== null && crush > loss) {
    loss = crush;
    morphology = 'crush';
  }
  loss = Math.max(0, loss);
  const grade = gradeForLoss(loss);
  const nearest = [0.2, 0.25, 0.4].reduce((m, b) => Math.min(m, Math.abs(loss - b)), Infinity);
  return {
    grade,
    morphology: grade === 0 ? null : morphology,
    heightLossPercent: Math.round(loss * 1000) / 10,
    reductions: { wedge, biconcave, crush },
    margin: Math.min(1, nearest / 0.05),
  };
}

/**
 * Expected posterior height of vertebra i from its neighbours (up to two on each side) that look normal
 * by their own ratios, each scaled by the reference growth between levels; the median resists one
 * fractured neighbour. Null when there is none.
 */
export function expectedPosteriorHeight(
  items: Array<{ level: SpineLevel | null; heights: Heights | null; usable: boolean }>,
  i: number,
): number | null {
  const me = items[i];
  if (!me) return null;
  const est: number[] = [];
  for (const j of [i - 2, i - 1, i + 1, i + 2]) {
    const n = items[j];
    if (!n || !n.usable || !n.heights) continue;
    const h = n.heights;
    if (1 - h.anterior / h.posterior >= 0.2 || 1 - h.middle / h.posterior >= 0.2) continue;
    const scale = me.level && n.level ? REFERENCE_POSTERIOR_MM[me.level] / REFERENCE_POSTERIOR_MM[n.level] : 1;
    est.push(h.posterior * scale);
  }
  if (est.length === 0) return null;
  est.sort((a, b) => a - b);
  const m = est.length >> 1;
  return est.length % 2 ? (est[m] as number) : ((est[m - 1] as number) + (est[m] as number)) / 2;
}

/**
 * The best-preserved adjacent body's `which` height (the taller of the two next to body i, scaled to its
 * level), or null when neither is usable: what a wedge's anterior or a biconcave middle height is compared
 * with to tell a local loss from a reading the column shares. A neighbour whose own measurement grades 1 or
 * more is no comparator (adjacent fractures are common).
 */
export function adjacentHeight(
  items: Array<{ level: SpineLevel | null; heights: Heights | null; usable: boolean; fractured?: boolean }>,
  i: number,
  which: keyof Heights,
): number | null {
  const me = items[i];
  if (!me) return null;
  let best: number | null = null;
  for (const j of [i - 1, i + 1]) {
    const n = items[j];
    if (!n || !n.usable || !n.heights || n.fractured) continue;
    const scale = me.level && n.level ? REFERENCE_POSTERIOR_MM[me.level] / REFERENCE_POSTERIOR_MM[n.level] : 1;
    best = Math.max(best ?? 0, n.heights[which] * scale);
  }
  return best;
}
