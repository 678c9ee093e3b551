/** DICOMweb ingest: the client bound to a configured source, and the study fetcher the worker calls. */
export { createDicomwebClient, DicomwebClient, DicomwebHttpError, DicomwebUnavailableError } from './client';
export type { DicomwebClientOptions, DicomwebConfig, QidoQuery, RequestOptions, RetryEvent, StoredInstances } from './client';
export { fetchStudySeriesForAnalysis, studyFingerprint, studyIdentityFromQido } from './fetch-study';
export type { FetchStudyOptions, RetrievalMode, StudyFingerprint, StudyForAnalysis, StudyIdentity } from './fetch-study';
export { readPart10Meta } from './part10';
export type { Part10Meta } from './part10';
export * from './constants';
export type * from './types';
