/**
 * Types of the `analyze-report` JSON (CONTRACT.md, section "analyze-report JSON").
 * The shapes here are the wire format: change them only together with the contract.
 */

/** Vertebral levels in anatomical (cranio-caudal) order; `reportedLevels` is sorted in this order. */
export const LEVELS = [
  'C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7',
  'T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8', 'T9', 'T10', 'T11', 'T12',
  'L1', 'L2', 'L3', 'L4', 'L5',
  'S1',
] as const;
export type VertebralLevel = (typeof LEVELS)[number];

/** Region of a mention. `sacral` only ever appears with level S1 (a sacrum fracture is not a VCF). */
export type Region = 'cervical' | 'thoracic' | 'lumbar' | 'sacral' | 'spine';
/** Regions that can appear in `reportedRegions` (CONTRACT). */
export type ReportedRegion = Exclude<Region, 'sacral'>;
export const REPORTED_REGIONS: readonly ReportedRegion[] = ['cervical', 'thoracic', 'lumbar', 'spine'];

export type Assertion = 'present' | 'absent' | 'possible' | 'historical' | 'hypothetical';
export const ASSERTIONS: readonly Assertion[] = ['present', 'absent', 'possible', 'historical', 'hypothetical'];

/** Genant semi-quantitative grade (CLINICAL.md). */
export type Grade = 0 | 1 | 2 | 3;
export type Morphology = 'wedge' | 'biconcave' | 'crush';
export type Language = 'en' | 'fr';

/**
 * Report section a mention was found in. `findings` and `impression` are read as the radiologist's own
 * findings; the others are read for what they are (see assertions.ts `applySection`).
 */
export type Section = 'findings' | 'impression' | 'indication' | 'history' | 'technique' | 'comparison';

export interface Evidence {
  /** UTF-16 offsets into the ORIGINAL text, end exclusive. */
  start: number;
  end: number;
  text: string;
}

export interface FractureMention {
  /** `null` when the text names only a region ("multiple thoracic compression fractures"). */
  level: VertebralLevel | null;
  region: Region;
  assertion: Assertion;
  grade: Grade | null;
  morphology: Morphology | null;
  heightLossPercent: number | null;
  section: Section;
  evidence: Evidence;
}

export interface ReportAnalysis {
  language: Language;
  mentions: FractureMention[];
  /** Levels with a present, possible or historical mention, in anatomical order. */
  reportedLevels: VertebralLevel[];
  /** Regions with a present, possible or historical mention that names no level. */
  reportedRegions: ReportedRegion[];
}

export interface AnalyzeOptions {
  /** Report language; detected from the text when omitted (default for empty text: `en`). */
  language?: Language;
}

/** Assertions that make a fracture "reported" (CONTRACT: present, possible or historical). */
export function isReportedAssertion(a: Assertion): boolean {
  switch (a) {
    case 'present':
    case 'possible':
    case 'historical':
      return true;
    case 'absent':
    case 'hypothetical':
      return false;
    default:
      return a satisfies never;
  }
}

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

export function levelIndex(level: VertebralLevel): number {
  return LEVELS.indexOf(level);
}
