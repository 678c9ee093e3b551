/**
 * Inference: the ONNX model behind its card, and vertebra detection/grading on a CT volume.
 *
 *   const model = await startModel(config.MODEL_PATH);   // once per process; MODEL_INVALID if off-contract
 *   const det = await detectVertebrae(volume, model);    // → { vertebrae, fractures, model, keyImage, ... }
 *   await stopModel(model);
 */
export { detectVertebrae } from './detect';
export type { Detection, DetectOptions, ModelIdentity, VertebraFinding } from './detection';
export { startModel, stopModel, type ModelHandle, type StartModelOptions } from './session';
export { cardPathFor, modelCardSchema, parseModelCard, readModel, sha256Of, type ModelCard } from './model-card';
export { genantGrade, gradeForLoss, expectedPosteriorHeight, REFERENCE_POSTERIOR_MM } from './grading';
export { assignLevels, stepPositions, type LabelInput, type LabelResult } from './labelling';
export { localizeSpine, type SpineLine } from './localize';
export { curvedSagittal, slabToLps, type SagittalSlab } from './reformat';
export { renderKeyImage } from './key-image';
export { completeAnalysis, type DetectedStudy } from './study';
export { AnalysisThreads, analyseInProcess, type AnalysedSeries, type StudyAnalyser } from './study-analyser';
