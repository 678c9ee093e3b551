/**
 * The findings of one study as the CONTRACT's `analyze-study` JSON states them: the detector writes them
 * (inference/stages/findings.ts), the analysis carries them (imaging/analyze.ts `StudyAnalysis`), the store
 * keeps them and correlation reads them. A plain shape built from the vocabulary, so that every layer can
 * name it without importing the layer that produces it.
 */
import type { Grade, Morphology, SpineLevel, VertebraFlag } from './vocabulary';

/** The model that produced the findings, as its card names it. */
export interface ModelIdentity {
  name: string;
  version: string;
  sha256: string;
}

/** One vertebra (T1–L5) as the CONTRACT's `analyze-study` JSON has it. */
export interface VertebraFinding {
  level: SpineLevel;
  /** Centre of the vertebral body, patient LPS (mm). */
  centerMm: [number, number, number];
  grade: Grade;
  morphology: Morphology | null;
  heightLossPercent: number;
  heightsMm: { anterior: number; middle: number; posterior: number };
  confidence: number;
  flags: VertebraFlag[];
  /** Why the vertebra is not graded, or graded lower than measured (empty when graded as measured). */
  gradingNotes: string[];
}
