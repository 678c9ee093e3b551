/**
 * The join between imaging and inference: an analysed study (series facts + volume) → the same
 * `analyze-study` JSON with `model`, `vertebrae` and `fractures` filled in, plus the key image.
 * The CLI calls it after `analyzeDirectory`; the worker after `analyzeSeriesBuffers`.
 */
import { DETECTION_UNAVAILABLE_NOTE, type StudyAnalysis } from '../imaging/analyze';
import type { Volume } from '../imaging/volume';
import { detectVertebrae } from './detect';
import type { DetectOptions } from './detection';
import type { ModelHandle } from './session';

/** What detection fills in; a DICOM study's analysis and a research volume file's both have it. */
type Completable = Pick<StudyAnalysis, 'model' | 'vertebrae' | 'fractures' | 'notes' | 'timingsMs'>;

export interface DetectedStudy<A extends Completable = StudyAnalysis> {
  analysis: A;
  keyImage: Buffer | null;
}

/** Runs detection on the analysed volume and completes the analysis in place (also returned). */
export async function completeAnalysis<A extends Completable>(
  result: { analysis: A; volume: Volume },
  model: ModelHandle,
  opts: DetectOptions = {},
): Promise<DetectedStudy<A>> {
  const started = performance.now();
  const det = await detectVertebrae(result.volume, model, opts);
  const a = result.analysis;
  a.model = det.model;
  a.vertebrae = det.vertebrae;
  a.fractures = det.fractures;
  a.notes = [...a.notes.filter((n) => n !== DETECTION_UNAVAILABLE_NOTE), ...det.notes];
  const spent = performance.now() - started;
  a.timingsMs = { ...a.timingsMs, inference: Math.round(spent), total: Math.round(a.timingsMs.total + spent) };
  return { analysis: a, keyImage: det.keyImage };
}
