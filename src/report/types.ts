/**
 * Types of the `analyze-report` JSON (CONTRACT.md, section "analyze-report JSON").
 * The shapes here are the wire format: change them only together with the contract.
 * Levels, regions, grades and morphologies come from the one vocabulary (src/domain/vocabulary.ts).
 */
import type { Grade, Morphology, Region, ReportedRegion, VertebralLevel } from '../domain/vocabulary';

/** The vocabulary types the JSON uses, for code that imports the report API (`../report`) only. */
export type { Grade, Morphology, Region, ReportedRegion, VertebralLevel };

export type Assertion = 'present' | 'absent' | 'possible' | 'historical' | 'hypothetical';
export const ASSERTIONS: readonly Assertion[] = ['present', 'absent', 'possible', 'historical', 'hypothetical'];

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
  /**
   * For a mention that names a region but no level: the levels its words cover ("mid thoracic": T5–T8,
   * "thoracolumbar junction": T11–L2, "thoracic": T1–T12; none for a bare "spine"). Null with a level.
   */
  regionLevels: VertebralLevel[] | null;
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
  /**
   * The levels the reported region mentions cover, narrower than their regions where the words say so
   * ("mid thoracic compression fractures": T5–T8). A level here counts as reported by region.
   */
  regionLevels: VertebralLevel[];
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
