/** Queue names and job data: small, typed references, never payloads (STYLE 5). */
export const QUEUES = {
  /** An accepted HL7 message whose reports must be stored, analysed and correlated. */
  reports: 'reports',
  /** A report version to correlate with the study's findings (new or corrected report). */
  correlate: 'correlate',
  /** A notified study to fetch over DICOMweb and analyse (one job per Study Instance UID). */
  studies: 'studies',
} as const;

export interface ReportJobData {
  /** Key suffix of the stored parsed message: sha256 of (sender, MSH-10). */
  messageId: string;
  receivedAt: number;
  traceId: string;
}

export interface CorrelateJobData {
  accessionKey: string;
  version: number;
  /** 'replaced': a later version (final over preliminary, corrected or amended over final). */
  reason: 'new' | 'replaced';
  traceId: string;
  /** Set when the job was asked for by a study's analysis (the report was already stored): the study to pair. */
  studyInstanceUid?: string;
}

export interface StudyJobData {
  studyInstanceUid: string;
  /** A key of DICOMWEB_SOURCES: the only place the worker fetches this study from. */
  source: string;
  /** From the notification, when sent: pairs the study with a stored report by accession. */
  accessionNumber?: string;
  traceId: string;
}

/** BullMQ ids may not contain ':'; a UID never does, so one study always maps to the same job. */
export function studyJobId(studyInstanceUid: string): string {
  return `study-${studyInstanceUid}`;
}
