/**
 * Traces (OpenTelemetry): one trace per HL7 message or study notification, through every job it causes
 * to the FHIR writes; one per CDS Hooks call. Spans are made by hand at our own boundaries (intake, each
 * job and its stages, each FHIR write, DICOMweb calls): auto-instrumenting ioredis and http would add
 * thousands of spans per message and say less.
 *
 * The trace id is also the `traceId` of every log line, so it must exist when tracing is off: a root span
 * that the (no-op) API leaves without ids gets a random W3C trace id instead, and children inherit it.
 * Across processes the context travels in the job data (`traceparent`, W3C Trace Context), written and
 * read here rather than through the global propagator, which is a no-op while tracing is off.
 */
import { randomBytes } from 'node:crypto';
import {
  type Attributes,
  type Context,
  type Span,
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  TraceFlags,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { AppError, toAppError } from '../errors';
import { jobFailureCode } from '../queue/job-failure';

export { SpanKind };

export const tracer = trace.getTracer('vcf-sentinel');

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of a span (version 00). */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** A context whose parent is the remote span a `traceparent` names; null for a missing or malformed one. */
export function contextFromTraceparent(value: string | undefined): Context | null {
  const m = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : null;
}

const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * Starts a span under `parent` (default: the active context). When no tracer is registered the API
 * answers a span without ids for a root: it is given a random trace id, so logs still join.
 */
export function startSpan(name: string, attributes: Attributes, options: { parent?: Context; kind?: SpanKind } = {}): Span {
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, options.parent ?? context.active());
  if (isSpanContextValid(span.spanContext())) return span;
  return trace.wrapSpanContext({ traceId: randomHex(16), spanId: randomHex(8), traceFlags: TraceFlags.NONE });
}

/**
 * Runs `work` inside a child span of the active one (the span is active within it): status ERROR with
 * the error's code (never its message: it may quote patient data) when it throws.
 */
export async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, options: { parent?: Context; kind?: SpanKind } = {}): Promise<T> {
  const span = startSpan(name, attributes, options);
  try {
    return await context.with(trace.setSpan(options.parent ?? context.active(), span), () => work(span));
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * `work` inside the root span of an arrival (a notification, a replay, a CDS Hooks call): a child of the
 * caller's span when its `traceparent` header names one, else the first span of a new trace.
 */
export function inRootSpan<T>(name: string, attributes: Attributes, incomingTraceparent: string | undefined, work: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(name, attributes, work, { parent: contextFromTraceparent(incomingTraceparent) ?? ROOT_CONTEXT, kind: SpanKind.SERVER });
}

/** Marks a span failed with the error's code and type (no message: it may quote the input). */
export function failSpan(span: Span, err: unknown): void {
  // A job's failure carries its code at the head of the message (queue/job-failure.ts).
  const code = err instanceof AppError ? null : jobFailureCode(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? toAppError(err).code });
  span.setAttribute('error.type', err instanceof Error ? err.name : typeof err);
}

/** What job data carries of its trace: the trace id (also in logs) and, when known, the parent span. */
export interface TracedJobData {
  traceId: string;
  traceparent?: string;
}

/**
 * The job's parent: its `traceparent`, else (a job queued without one: by an older version, or from a
 * process without an active span) a remote parent with the job's trace id, so the job stays in its trace.
 */
export function jobParentContext(data: TracedJobData): Context {
  const fromParent = contextFromTraceparent(data.traceparent);
  if (fromParent) return fromParent;
  const traceId = data.traceId.replace(/-/g, '').toLowerCase(); // a UUID from before traces is 32 hex digits too
  return contextFromTraceparent(`00-${traceId}-${randomHex(8)}-01`) ?? ROOT_CONTEXT;
}

/** `{ traceparent }` of the active span when it belongs to `traceId`'s trace, for the job data a producer adds. */
export function traceparentFor(traceId: string): { traceparent?: string } {
  const span = trace.getActiveSpan();
  return span && span.spanContext().traceId === traceId && isSpanContextValid(span.spanContext()) ? { traceparent: traceparentOf(span) } : {};
}

/** `{ traceparent }` of the active span, if any: for a record that a later trace will link to. */
export function activeTraceparent(): { traceparent?: string } {
  const span = trace.getActiveSpan();
  return span && isSpanContextValid(span.spanContext()) ? { traceparent: traceparentOf(span) } : {};
}

/** Links `span` to the span a stored `traceparent` names (the trace that produced what it serves). */
export function linkTo(span: Span, traceparent: string | undefined): void {
  const spanContext = trace.getSpanContext(contextFromTraceparent(traceparent) ?? ROOT_CONTEXT);
  if (spanContext) span.addLink({ context: spanContext });
}

/** The trace id of the active span, if any (log lines of code that was not handed one). */
export function activeTraceId(): string | undefined {
  const c = trace.getActiveSpan()?.spanContext();
  return c && isSpanContextValid(c) ? c.traceId : undefined;
}
