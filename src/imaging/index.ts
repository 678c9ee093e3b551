/**
 * Local imaging: DICOM → series selection → volume, reformats, renders and the synthetic CT phantom.
 *
 * For the DICOMweb worker:  `selectSeriesUid` (inject as the fetcher's SelectSeries), then
 *                           `analyzeSeriesBuffers(buffers)` → { analysis (analyze-study JSON), volume }.
 * For the model:            `toCanonicalLps(volume, { spacingMm })`, `sagittalPlane`, `voxelToLps` / `lpsToVoxel`.
 * For tests and demos:      `phantomBuffers` / `writePhantom` with their `GroundTruth`.
 */
export { analyzeDirectory, analyzeSeriesBuffers, DETECTION_UNAVAILABLE_NOTE, type StudyAnalysis } from './analyze';
export { headersFromDicomJson, parseHeaders, readFrameHu, type SliceHeader } from './dicom';
export type { DicomJson } from './dicom-json';
export { classifyKernel, groupBySeries, selectSeries, selectSeriesUid, type SeriesCandidate, type SeriesSelection, type SeriesSummary } from './select-series';
export {
  assembleVolume,
  axialPlane,
  bufferFrameSource,
  huRange,
  lpsToVoxel,
  orientationCode,
  planVolume,
  sagittalPlane,
  sampleTrilinear,
  toCanonicalLps,
  voxelToLps,
  type AssemblyReport,
  type FrameSource,
  type Vec3,
  type Volume,
} from './volume';
export { planeToPng, renderVolumePngs, WINDOWS } from './render';
export { decodeNifti, decodeNiftiVolume, encodeNifti, type GridData } from './nifti';
