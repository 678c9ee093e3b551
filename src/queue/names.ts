/** Queue names and job data: small, typed references, never payloads (STYLE 5). */
export const QUEUES = {
  /** An accepted HL7 message whose reports must be stored, analysed and correlated. */
  reports: 'reports',
  /** A report version to correlate with the study's findings (new or corrected report). */
  correlate: 'correlate',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

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
}
