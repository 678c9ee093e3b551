import pino from 'pino';
import { uidTag } from './domain/digest';
import { activeTraceId } from './observability/trace-context';

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
 * A run of at least three dot-separated numbers (not the tail of a longer run). Two components are never
 * a UID worth hiding, and "2.5 s" or "0.944" must stay readable.
 */
const DOTTED_NUMBERS = /(?<!\d\.?)\d+(?:\.\d+){2,}/g;
/** The DICOM standard's own root: transfer syntaxes and SOP classes (PS3.6 Annex A), never a patient's. */
const DICOM_REGISTRY_ROOT = '1.2.840.10008.';

/**
 * Whether a dotted number is shaped like an instance UID rather than a version, a date or an address.
 * Every UID is an OID, so its first arc is 0, 1 or 2 (ISO/IEC 9834-1), which rules out most versions
 * (bullmq 6.7.0, node 20.19.43) and dates (2026.01.01). Past that: five or more components is a UID;
 * four is one unless it reads as an IPv4 address (Redis at 10.0.0.1:6379, 1.2.3.4), which a reader needs;
 * three is one only with a component of 8 or more digits, the UUID-derived form 2.25.<integer> (PS3.5
 * B.2, what our phantoms use), since a version (0.2.0, 2.5.1) never has one.
 */
function isUidShaped(run: string): boolean {
  if (run.startsWith(DICOM_REGISTRY_ROOT)) return false;
  const parts = run.split('.');
  if (!['0', '1', '2'].includes(parts[0]!)) return false;
  if (parts.length >= 5) return true;
  if (parts.length === 4) return !parts.every((p) => p.length <= 3 && Number(p) <= 255);
  return parts.some((p) => p.length >= 8);
}

/**
 * Every DICOM UID in a text becomes `uid#` + its hash tag (the `study` field of the study's own lines),
 * so that a line can still be matched to the study without naming it. Idempotent.
 */
export function withoutUids(text: string): string {
  // Most strings have no digit-dot-digit at all: skip the regex machinery for them.
  if (!/\d\.\d/.test(text)) return text;
  return text.replace(DOTTED_NUMBERS, (run) => (isUidShaped(run) ? `uid#${uidTag(run)}` : run));
}

/** Errors already serialized by the logger's hook (to scrub their message): the serializer keeps them. */
const serializedErrors = new WeakSet<object>();

/**
 * Errors are logged by type, code and stack frames, without their message: messages of errors we did
 * not make may quote the input (JSON.parse quotes the text it failed on). Our own AppError messages
 * never carry PHI, so they are kept.
 */
function serializeError(err: unknown): Record<string, unknown> {
  if (typeof err === 'object' && err !== null && serializedErrors.has(err)) return err as Record<string, unknown>;
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

/** Log objects are shallow; past this depth values are written as they are (and a cycle cannot loop). */
const MAX_DEPTH = 8;

/** A copy of a logged value with every string passed through `withoutUids`; the caller's object is untouched. */
function scrubbed(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return withoutUids(value);
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (value instanceof Error) {
    const out = scrubbed(serializeError(value), depth + 1) as object;
    serializedErrors.add(out);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => scrubbed(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value; // Buffers, Dates, class instances: as pino writes them
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubbed(v, depth + 1);
  return out;
}

/**
 * Top-level fields that hold what the operator configured (PATIENT_ID_SYSTEMS maps authorities to
 * `urn:oid:` systems shaped like UIDs), never a patient's: left as they are so the settings stay readable.
 */
const OPERATOR_FIELDS = new Set(['config']);

const INFO = 30;

/**
 * The one place UIDs leave info-level lines (CONTRACT: UIDs only at debug), whoever logs them: our own
 * fields, a library's error message (BullMQ's "Missing lock for job study-<UID>"), an AppError message
 * quoting an instance. At info and above every string of the message and of the logged object becomes
 * UID-free (see `withoutUids`). At every level, an Error logged without a message no longer lends pino
 * its raw message (which may quote the input) as the line's `msg`.
 */
function logMethod(this: pino.Logger, inputArgs: Parameters<pino.LogFn>, method: pino.LogFn, level: number): void {
  let args = [...inputArgs] as unknown[];
  if (args[0] instanceof Error) args[0] = { err: args[0] };
  // Without a message pino would use the error's own message as the line's msg: its type instead.
  const err = (args[0] as { err?: unknown } | null | undefined)?.err;
  if (err !== undefined && args[1] === undefined) args[1] = err instanceof Error ? err.name : 'error';
  if (level >= INFO) args = args.map((a, i) => (i === 0 ? scrubbedFields(a) : scrubbed(a)));
  method.apply(this, args as Parameters<pino.LogFn>);
}

/** The logged object, scrubbed but for the operator's own fields. */
function scrubbedFields(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return scrubbed(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = OPERATOR_FIELDS.has(k) ? v : scrubbed(v, 1);
  return out;
}

/**
 * The active span's trace id as `traceId`, for lines written by code that was not handed one (a FHIR
 * retry, a DICOMweb retry inside a job). A line that names its own `traceId`, or a child logger bound to
 * one, keeps it (and is not given a second key).
 */
function traceIdMixin(mergeObject: object, _level: number, logger: pino.Logger): object {
  // A new object each time: pino assigns the line's own fields into it.
  if ('traceId' in mergeObject) return {};
  const traceId = activeTraceId();
  if (traceId === undefined) return {};
  const bindings = (logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym];
  return typeof bindings === 'string' && bindings.includes('"traceId":') ? {} : { traceId };
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'vcf-sentinel', pid: process.pid },
      redact: { paths: PHI_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { logMethod },
      mixin: traceIdMixin,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
  // A child's bindings go on every line it writes, whatever the level, and pino serializes them once, when
  // the child is made (its bindings formatter sees only the root's): scrubbed there. Children inherit
  // `child` from this logger, so grandchildren are covered too.
  const pinoChild = logger.child;
  logger.child = function child<L extends string = never>(this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions<L>): pino.Logger<L> {
    return Reflect.apply(pinoChild, this, [scrubbed(bindings), options]) as pino.Logger<L>;
  };
  return logger;
}
