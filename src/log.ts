import pino from 'pino';

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
