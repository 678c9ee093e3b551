import pino from 'pino';
import { uidTag } from './domain/digest';

/**
 * Paths that may carry PHI. Log lines use stable event names and ids (traceId, jobId, hashes), never
 * names, identifiers or report text; redaction is the safety net when someone logs an object whole.
 */
const PHI_PATHS = [
  'patient', 'patientId', 'patientName', 'identifiers', 'name', 'birthDate', 'text', 'reportText', 'raw',
  'body', 'accession', 'accessionNumber', 'mrn',
  '*.patient', '*.patientId', '*.patientName', '*.identifiers', '*.name', '*.birthDate', '*.text', '*.reportText',
  '*.raw', '*.body', '*.accession', '*.accessionNumber', '*.mrn',
  'req.headers.authorization', 'req.headers.cookie',
];

export type Logger = pino.Logger;

/** A DICOM UID in free text: digits in four or more dot-separated components (1.2.840.10008...). */
const UID_IN_TEXT = /\b\d+(?:\.\d+){3,}\b/g;
/** Four components up to 255 are an IPv4 address (Redis at 10.0.0.1:6379), which a reader needs. */
const isIpv4 = (s: string): boolean => s.split('.').length === 4 && s.split('.').every((c) => Number(c) <= 255);

/**
 * Text from libraries (BullMQ's "Missing lock for job <id>", Redis key names) may carry a Study Instance
 * UID, which CONTRACT allows only at debug level: each becomes `uid#` + its hash tag (the `study` field of
 * the study's own log lines), so the line can still be matched to them.
 */
export function withoutUids(text: string): string {
  return text.replace(UID_IN_TEXT, (uid) => (isIpv4(uid) ? uid : `uid#${uidTag(uid)}`));
}

/**
 * Errors are logged by type, code and stack frames, without their message: messages of errors we did
 * not make may quote the input (JSON.parse quotes the text it failed on). Our own AppError messages
 * never carry PHI, so they are kept.
 */
function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const e = err as Error & { code?: unknown };
  const frames = (e.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 12).join('\n');
  return {
    type: e.name,
    ...(e.code !== undefined ? { code: e.code } : {}),
    ...(e.name === 'AppError' ? { message: e.message } : {}),
    stack: frames,
  };
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'vcf-sentinel', pid: process.pid },
      redact: { paths: PHI_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
