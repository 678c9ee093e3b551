/**
 * Local imaging: DICOM → series selection → volume, research volume files (NIfTI, NRRD, MetaImage) →
 * volume, reformats, renders and the synthetic CT phantom.
 *
 * For the DICOMweb worker:  `selectSeriesUid` (inject as the fetcher's SelectSeries), then
 *                           `analyzeSeriesBuffers(buffers)` → { analysis (analyze-study JSON), volume }.
 * For the CLI:              `analyzeDirectory(dirOrDicomFile)`, `analyzeVolumeFile(path)` (async).
 * For the model:            `toCanonicalLps(volume, { spacingMm })`, `sagittalPlane`, `voxelToLps` / `lpsToVoxel`.
 * For tests and demos:      `phantomBuffers` / `writePhantom` with their `GroundTruth`.
 */
export { analyzeDirectory, analyzeSeriesBuffers, analyzeVolumeFile, DETECTION_UNAVAILABLE_NOTE, type StudyAnalysis, type VolumeFileAnalysis } from './analyze';
export { headersFromDicomJson, parseHeaders, readFrameHu, type SliceHeader } from './dicom';
export type { DicomJson } from './dicom-json';
export {
  classifyKernel,
  groupBySeries,
  selectSeries,
  selectSeriesUid,
  type SelectOptions,
  type SeriesCandidate,
  type SeriesSelection,
  type SeriesSummary,
  type SlicePlane,
} from './select-series';
export { readVolumeFile, volumeFileFormat, type VolumeFileFacts, type VolumeFileFormat, type VolumeFileResult } from './volume-file';
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
export { decodeNifti, decodeNiftiVolume, encodeNifti, parseNiftiHeader, type GridData, type NiftiHeader } from './nifti';
