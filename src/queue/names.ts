import { CORRELATE_QUEUE } from './correlate';

/** Queue names and job data: small, typed references, never payloads (STYLE 5). */
export const QUEUES = {
  /** An accepted HL7 message whose reports must be stored, analysed and correlated. */
  reports: 'reports',
  /** Report × study → outputs (queue/correlate.ts owns its job data, ids and options). */
  correlate: CORRELATE_QUEUE,
  /** A notified study to fetch over DICOMweb and analyse (one job per Study Instance UID). */
  studies: 'studies',
} as const;

export interface ReportJobData {
  /** Key suffix of the stored parsed message: sha256 of (sender, MSH-10). */
  messageId: string;
  receivedAt: number;
  traceId: string;
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
