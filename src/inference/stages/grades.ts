/**
 * Post-process, grades: each labelled body → its Genant grade and morphology (../grading.ts), lowered to at
 * most 1 when the measurement does not carry the evidence for 2 or 3 (../evidence.ts), its flags and its
 * confidence. Numbers are left unrounded; the findings stage rounds them for the CONTRACT.
 */
import { SPINE_LEVELS, type Grade, type Morphology, type SpineLevel, type VertebraFlag } from '../../domain/vocabulary';
import type { Volume } from '../../imaging/volume';
import { intensityFlags } from '../bodies';
import { axialSamplingMm, supportedGrade } from '../evidence';
import { adjacentHeight, expectedPosteriorHeight, genantGrade, REFERENCE_POSTERIOR_MM, type GenantResult } from '../grading';
import type { VertebralBodies, VertebralBody } from './bodies';
import type { LevelAssignment } from './levels';
import type { SpineSlab } from './preprocess';

/** Lateral deviation (mm) of the spine's centre line above which every vertebra is flagged `scoliosis`. */
export const SCOLIOSIS_MM = 8;

/** One labelled body, graded. */
export interface GradedVertebra {
  body: VertebralBody;
  level: SpineLevel;
  /** The grade reported (0 when not graded): at most the measured one. */
  grade: Grade;
  morphology: Morphology | null;
  heightLossPercent: number;
  flags: VertebraFlag[];
  gradingNotes: string[];
  /** Unclamped, unrounded. */
  confidence: number;
}

export interface Grading {
  /** Every labelled body (S1 too, located but never graded), top to bottom. */
  vertebrae: GradedVertebra[];
  notes: string[];
}

export interface GradeOptions {
  /** Scoliosis threshold (mm, default `SCOLIOSIS_MM`). */
  scoliosisMm?: number;
}

const r1 = (n: number): number => Math.round(n * 10) / 10;

export function gradeVertebrae(volume: Volume, pre: SpineSlab, found: VertebralBodies, levels: LevelAssignment, opts: GradeOptions = {}): Grading {
  const { spine, slab } = pre;
  const { bodies, labels } = found;
  const notes: string[] = [];
  const scoliotic = spine.lateralDeviationMm > (opts.scoliosisMm ?? SCOLIOSIS_MM);
  const sampling = axialSamplingMm(volume);
  if (scoliotic) notes.push(`spine deviates ${r1(spine.lateralDeviationMm)} mm laterally: reformat curved along it`);
  // Crush compares direct posterior readings (the wall fit serves the wedge and biconcave ratios).
  const items = bodies.map(({ component: c, measurement: m }, i) => ({
    level: levels.levels[i] ?? null,
    heights: { ...m.heightsMm, posterior: m.posteriorDirectMm },
    usable: !c.touchesEdge,
  }));
  // Every body's measured grade, once (before the evidence check): the graded ones report it, and a body
  // that measures as fractured is no comparator for a neighbour's local loss.
  const expectedAll = items.map((_, i) => expectedPosteriorHeight(items, i));
  const measuredAll = bodies.map(({ measurement: m }, i) => genantGrade(m.heightsMm, expectedAll[i] ?? null, m.posteriorDirectMm));
  const compared = items.map((item, i) => ({ ...item, fractured: (measuredAll[i] as GenantResult).grade >= 1 }));
  const vertebrae: GradedVertebra[] = [];
  bodies.forEach((body, i) => {
    const level = levels.levels[i];
    if (!level) return;
    const { component: c, measurement: m } = body;
    const flags: VertebraFlag[] = [];
    const inten = intensityFlags(slab, labels, c);
    if (inten.sclerotic) flags.push('sclerotic');
    if (inten.lytic) flags.push('lytic');
    if (scoliotic) flags.push('scoliosis');
    if (levels.uncertain) flags.push('levelUncertain');
    if (levels.method === 'size') flags.push('levelUnanchored');
    if (c.touchesEdge) flags.push('partialCoverage');
    // Genant grading applies T4–L5; S1 and cut-off bodies are located but not graded.
    const gradingNotes: string[] = [];
    if (c.touchesEdge) gradingNotes.push('not graded: the body is cut by the edge of the scan');
    else if (SPINE_LEVELS.indexOf(level) < SPINE_LEVELS.indexOf('T4')) gradingNotes.push('not graded: Genant grading applies from T4 to L5');
    const graded = gradingNotes.length === 0 && level !== 'S1';
    const expected = expectedAll[i] ?? null;
    const measured = graded ? (measuredAll[i] as GenantResult) : null;
    const supported = measured
      ? supportedGrade(measured, {
          heights: m.heightsMm,
          crushPosterior: m.posteriorDirectMm,
          depthMm: m.depthMm,
          endplatesFound: m.endplatesFound,
          expectedPosterior: expected,
          axialSamplingMm: sampling,
          level: { name: level, referencePosteriorMm: REFERENCE_POSTERIOR_MM[level] },
          adjacent: { anterior: adjacentHeight(compared, i, 'anterior'), middle: adjacentHeight(compared, i, 'middle') },
        })
      : null;
    if (measured && supported && supported.reasons.length > 0) {
      flags.push('insufficientEvidence');
      const reported = supported.grade < measured.grade ? 'reported as at most grade 1' : 'not evidenced';
      gradingNotes.push(`measured grade ${measured.grade} ${measured.morphology}, ${reported}: ${supported.reasons.join('; ')}`);
    }
    const g = measured && supported ? { ...measured, grade: supported.grade } : null;
    let confidence = c.meanProbability * (g ? 0.8 + 0.2 * g.margin : 1);
    if (levels.uncertain) confidence *= 0.8;
    if (c.touchesEdge) confidence *= 0.6;
    if (inten.sclerotic || inten.lytic) confidence *= 0.85;
    vertebrae.push({
      body,
      level,
      grade: g ? g.grade : 0,
      morphology: g ? g.morphology : null,
      heightLossPercent: g ? g.heightLossPercent : 0,
      flags,
      gradingNotes,
      confidence,
    });
  });
  return { vertebrae, notes };
}
