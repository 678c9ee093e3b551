/**
 * The one vocabulary of the service: vertebral levels, regions, Genant grades, fracture morphologies and
 * finding flags. Report understanding, detection, correlation, the FHIR outputs and the phantom all
 * import these; nothing else defines them (MONAI Deploy keeps its domain types apart the same way).
 */

/** Every level a report can name, in anatomical (cranio-caudal) order: the order of `reportedLevels`. */
export const VERTEBRAL_LEVELS = [
  'C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7',
  'T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8', 'T9', 'T10', 'T11', 'T12',
  'L1', 'L2', 'L3', 'L4', 'L5',
  'S1',
] as const;
export type VertebralLevel = (typeof VERTEBRAL_LEVELS)[number];

/** The levels the detector labels (and the phantom builds): T1 to the sacrum's first segment. */
export const SPINE_LEVELS = [
  'T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8', 'T9', 'T10', 'T11', 'T12',
  'L1', 'L2', 'L3', 'L4', 'L5', 'S1',
] as const satisfies readonly VertebralLevel[];
export type SpineLevel = (typeof SPINE_LEVELS)[number];

export function isVertebralLevel(s: string): s is VertebralLevel {
  return (VERTEBRAL_LEVELS as readonly string[]).includes(s);
}

export function isSpineLevel(s: string): s is SpineLevel {
  return (SPINE_LEVELS as readonly string[]).includes(s);
}

/** Position in the whole column (C1 = 0): differences between two levels count vertebrae. */
export function levelIndex(level: VertebralLevel): number {
  return VERTEBRAL_LEVELS.indexOf(level);
}

/** Position among the detector's levels (T1 = 0). */
export function spineLevelIndex(level: SpineLevel): number {
  return SPINE_LEVELS.indexOf(level);
}

/** How many vertebrae apart two levels are (0 for the same level). */
export function levelDistance(a: VertebralLevel, b: VertebralLevel): number {
  return Math.abs(levelIndex(a) - levelIndex(b));
}

/** Region of a level or of a mention. `sacral` only ever goes with S1 (a sacrum fracture is not a VCF). */
export type Region = 'cervical' | 'thoracic' | 'lumbar' | 'sacral' | 'spine';
/** Regions that can appear in a report's `reportedRegions` (CONTRACT). */
export type ReportedRegion = Exclude<Region, 'sacral'>;
export const REPORTED_REGIONS: readonly ReportedRegion[] = ['cervical', 'thoracic', 'lumbar', 'spine'];

export function regionOfLevel(level: VertebralLevel): Region {
  switch (level[0]) {
    case 'C':
      return 'cervical';
    case 'T':
      return 'thoracic';
    case 'L':
      return 'lumbar';
    default:
      return 'sacral';
  }
}

/** Every level from `a` to `b`, both included, in anatomical order (just the two when b is above a). */
export function levelRange(a: VertebralLevel, b: VertebralLevel): VertebralLevel[] {
  const i = levelIndex(a);
  const j = levelIndex(b);
  if (j <= i) return [a, b];
  return VERTEBRAL_LEVELS.slice(i, j + 1);
}

/** The levels of a region (none for `spine`: a bare "spine" names no region a level belongs to). */
export function levelsOfRegion(region: Region): VertebralLevel[] {
  return region === 'spine' ? [] : VERTEBRAL_LEVELS.filter((l) => regionOfLevel(l) === region);
}

/** Genant semi-quantitative grade (CLINICAL.md): 0 normal, 1 mild, 2 moderate, 3 severe. */
export const GRADES = [0, 1, 2, 3] as const;
export type Grade = (typeof GRADES)[number];
/** A grade that makes a vertebra a fracture. */
export type FractureGrade = Exclude<Grade, 0>;

/** Which height is reduced (CLINICAL.md): anterior (wedge), middle (biconcave) or posterior (crush). */
export const MORPHOLOGIES = ['wedge', 'biconcave', 'crush'] as const;
export type Morphology = (typeof MORPHOLOGIES)[number];

/**
 * What lowers trust in a finding (CONTRACT `flags`). `insufficientEvidence`: the measured grade was 2 or
 * 3 but the measurement does not demonstrate it (resolution, size, neighbours, endplates), so it is
 * graded at most 1, or a measured grade 1 on slices too thick for morphometry; `gradingNotes` says why.
 * `levelUnanchored`: neither the sacrum nor the last rib-bearing vertebra is in the scan, so the level is a
 * count from body sizes, not a number a reader could check (it always goes with `levelUncertain`, which
 * alone means "one anchor, or anchors disagree").
 */
export const VERTEBRA_FLAGS = ['sclerotic', 'lytic', 'scoliosis', 'levelUncertain', 'partialCoverage', 'insufficientEvidence', 'levelUnanchored'] as const;
export type VertebraFlag = (typeof VERTEBRA_FLAGS)[number];

/** A lytic or sclerotic body: the fracture may be pathologic (metastatic), not a fragility fracture (CLINICAL.md). */
export function isPossiblyPathologic(f: { flags: readonly string[] }): boolean {
  return f.flags.includes('lytic') || f.flags.includes('sclerotic');
}
