/**
 * The decision, per detected fracture: did the radiologist mention it? CONTRACT rule: a fracture found
 * at level X counts as reported when X is in the report's `reportedLevels` or X's region is in
 * `reportedRegions`. One addition for labels we are not sure of: a finding flagged `levelUncertain`
 * counts as reported when the report names a fracture within one level of it, because a clinician must
 * never be told "not in the report" when we merely numbered the spine differently from the radiologist.
 */
import type { VertebraFinding } from '../domain/findings';
import { type FractureGrade, type SpineLevel, type VertebralLevel, levelDistance, regionOfLevel } from '../domain/vocabulary';
import type { ReportAnalysis } from '../report/types';

/** A finding the detector graded 1 or more: what correlation decides on and the outputs describe. */
export type DetectedFracture = Omit<VertebraFinding, 'grade' | 'gradingNotes'> & { grade: FractureGrade; gradingNotes?: string[] };

export function isFracture(v: VertebraFinding): v is VertebraFinding & DetectedFracture {
  return v.grade >= 1;
}

export type DecisionReason =
  /** The level is in `reportedLevels`. */
  | 'level-mentioned'
  /** The level's region is in `reportedRegions` ("multiple thoracic compression fractures"). */
  | 'region-mentioned'
  /** Level uncertain, and the report names a fracture one level away. */
  | 'adjacent-level-mentioned'
  /** Level not anchored (counted from body sizes), and the report mentions a vertebral fracture anywhere. */
  | 'unanchored-level-fracture-mentioned'
  /** Nothing in the report covers it: outputs are written. */
  | 'not-mentioned'
  /**
   * Nothing in the report covers it, but the detector flagged it `insufficientEvidence` (a measured grade the
   * measurement does not demonstrate): no output, so no clinician is asked to act on it.
   */
  | 'insufficient-evidence'
  /** The report was cancelled (OBR-25 X): nothing stands, every output is retracted. */
  | 'report-cancelled';

export interface FractureDecision {
  level: SpineLevel;
  /** How outputs name the level: "T12", or "T12 or adjacent" when the label is uncertain. */
  levelText: string;
  levelUncertain: boolean;
  /** No anchor in the scan: the level is an estimate from body sizes (outputs say "level not determined"). */
  levelUnanchored: boolean;
  grade: FractureGrade;
  reported: boolean;
  reason: DecisionReason;
  /** One sentence for the study status, e.g. "T11 is named in the report (level uncertain: T12 ± 1)". */
  explanation: string;
}

/** What the decision reads of a report analysis; `regionLevels` is absent from analyses stored before it existed. */
export type ReportedSets = Pick<ReportAnalysis, 'reportedLevels' | 'reportedRegions'> & Partial<Pick<ReportAnalysis, 'regionLevels'>>;

/**
 * The CONTRACT rule: the mention that makes a fracture at `level` reported, or null. A region mention
 * covers the levels its words cover (`regionLevels`: "mid thoracic" is T5–T8, not T12); an analysis
 * stored without them falls back to the whole region. A bare "spine" mention ("multiple vertebral
 * compression fractures") names no region a level belongs to, so it does not cover a level.
 */
export function reportedBy(analysis: ReportedSets, level: VertebralLevel): 'level-mentioned' | 'region-mentioned' | null {
  if (analysis.reportedLevels.includes(level)) return 'level-mentioned';
  if (analysis.regionLevels) return analysis.regionLevels.includes(level) ? 'region-mentioned' : null;
  const region = regionOfLevel(level);
  return region !== 'sacral' && analysis.reportedRegions.includes(region) ? 'region-mentioned' : null;
}

export function isLevelReported(analysis: ReportedSets, level: VertebralLevel): boolean {
  return reportedBy(analysis, level) !== null;
}

/**
 * The CONTRACT rule, with its reason, for one detected fracture. A report cancelled (OBR-25 X) leaves nothing standing: the
 * caller retracts every output.
 */
export function decideFracture(f: DetectedFracture, analysis: ReportAnalysis, reportCancelled: boolean): FractureDecision {
  const levelUnanchored = f.flags.includes('levelUnanchored');
  const levelUncertain = levelUnanchored || f.flags.includes('levelUncertain');
  const levelText = levelUnanchored ? `vertebra ≈${f.level} (level not determined)` : levelUncertain ? `${f.level} or adjacent` : f.level;
  const base = { level: f.level, levelText, levelUncertain, levelUnanchored, grade: f.grade };
  if (reportCancelled) {
    return { ...base, reported: false, reason: 'report-cancelled', explanation: 'the report was cancelled: no output stands for this study' };
  }
  switch (reportedBy(analysis, f.level)) {
    case 'level-mentioned':
      return { ...base, reported: true, reason: 'level-mentioned', explanation: `${f.level} is named in the report` };
    case 'region-mentioned':
      return { ...base, reported: true, reason: 'region-mentioned', explanation: `the report mentions ${regionOfLevel(f.level)} fractures without naming a level` };
    case null:
      break;
  }
  // Without an anchor our count may be several levels off: any mention of a vertebral fracture may be it.
  if (levelUnanchored && (analysis.reportedLevels.length > 0 || analysis.reportedRegions.length > 0)) {
    return { ...base, reported: true, reason: 'unanchored-level-fracture-mentioned', explanation: `the report mentions a vertebral fracture and our level ${f.level} is not anchored (no sacrum or last rib in the scan)` };
  }
  if (levelUncertain) {
    const near = analysis.reportedLevels.find((l) => levelDistance(l, f.level) === 1);
    if (near) {
      return { ...base, reported: true, reason: 'adjacent-level-mentioned', explanation: `${near} is named in the report and our label ${f.level} is uncertain by one level` };
    }
  }
  if (f.flags.includes('insufficientEvidence')) {
    return { ...base, reported: false, reason: 'insufficient-evidence', explanation: `not in the report, but the measurement does not demonstrate a fracture at ${base.levelText}: no output` };
  }
  return { ...base, reported: false, reason: 'not-mentioned', explanation: `no mention in the report covers ${base.levelText}` };
}

/** Only a demonstrated fracture that the report does not cover becomes FHIR outputs (and a card). */
export function emitsOutputs(d: Pick<FractureDecision, 'reason'>): boolean {
  return d.reason === 'not-mentioned';
}
