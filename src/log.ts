import pino from 'pino';

/**
 * Paths that may carry PHI. Log lines use stable event names and ids (traceId, jobId, hashes), never
 * names, identifiers or report text; redaction is the safety net when someone logs an object whole.
 */
const PHI_PATHS = [
  'patient', 'patientId', 'patientName', 'identifiers', 'name', 'birthDate', 'text', 'reportText', 'raw', 'message',
  'body', 'accession', 'accessionNumber', 'mrn',
  '*.patient', '*.patientId', '*.patientName', '*.identifiers', '*.name', '*.birthDate', '*.text', '*.reportText',
  '*.raw', '*.body', '*.accession', '*.accessionNumber', '*.mrn',
  'req.headers.authorization', 'req.headers.cookie',
];

export type Logger = pino.Logger;

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'vcf-sentinel', pid: process.pid },
      redact: { paths: PHI_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
