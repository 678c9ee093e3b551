import { ROOT_CONTEXT, type Span, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { AppError, toAppError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../observability/metrics';
import { SpanKind, failSpan, inSpan, startSpan } from '../../observability/trace-context';
import { type AckCode, type AckTarget, ackTargetFromRaw, buildAck } from './ack';
import { Er7Message } from './er7';
import { MAX_CONTROL_ID_LENGTH, type MessageHeader, type RadiologyReport, parseOru, readHeader } from './oru';
import { type Hl7MessageRecord, type Hl7MessageLog } from '../../store/hl7-messages';
import { reportAccessionKey } from '../../store/reports';

/** HL7 versions whose ORU^R01 we read (CONTRACT: v2.3–v2.8). */
const SUPPORTED_VERSIONS = /^2\.(3|3\.1|4|5|5\.1|6|7|7\.1|8|8\.1|8\.2)$/;

export type Transport = 'mllp' | 'http';

/** Where a message came from: the transport and the remote address:port (for the trace line and log). */
export interface Hl7Source {
  transport: Transport;
  peer: string | null;
}

export interface Hl7IntakeDeps {
  enqueue(header: MessageHeader, reports: RadiologyReport[], traceId: string): Promise<{ duplicate: boolean }>;
  /** Answer for message types other than ORU^R01. */
  otherMessageAck: AckCode;
  logger: Logger;
  metrics: Metrics;
  /** Where receptions are kept for GET /hl7/messages/{MSH-10}; none in unit tests. */
  messageLog?: Pick<Hl7MessageLog, 'record'>;
}

export interface Hl7Outcome {
  code: AckCode;
  ack: string;
  error?: AppError;
  duplicate?: boolean;
}

/**
 * One HL7 message in, one ACK out. Never throws: every failure becomes AE or AR with an ERR segment,
 * and AA is only returned after the durable enqueue. Each message leaves one trace line and one entry
 * in the message log.
 */
export async function handleHl7Message(raw: Buffer, source: Hl7Source, deps: Hl7IntakeDeps): Promise<Hl7Outcome> {
  // Each message starts its own trace (never a child of the connection's): the report job, its correlate
  // job and the FHIR writes join it through the job data. Its id is the message's traceId in every log line.
  const span = startSpan('hl7 message', { 'vcf.hl7.transport': source.transport }, { parent: ROOT_CONTEXT, kind: SpanKind.SERVER });
  try {
    const outcome = await context.with(trace.setSpan(ROOT_CONTEXT, span), () => handle(raw, source, deps, span));
    if (outcome.code !== 'AA') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error?.code ?? outcome.code });
    return outcome;
  } finally {
    span.end();
  }
}

async function handle(raw: Buffer, source: Hl7Source, deps: Hl7IntakeDeps, span: Span): Promise<Hl7Outcome> {
  const started = performance.now();
  const { transport } = source;
  const traceId = span.spanContext().traceId;
  deps.metrics.hl7Received.inc({ transport });
  let target: AckTarget = ackTargetFromRaw(raw);
  let outcome: Hl7Outcome;
  let reports: RadiologyReport[] = [];
  try {
    if (isBatch(raw)) {
      throw new AppError('HL7_BATCH_UNSUPPORTED', 'batch files (FHS/BHS) are not accepted: send one message per frame', {
        location: 'BHS',
      });
    }
    const parseSpan = startSpan('hl7 parse', {});
    let msg: Er7Message;
    let header: MessageHeader;
    try {
      msg = Er7Message.parse(raw);
      header = readHeader(msg);
    } catch (err) {
      failSpan(parseSpan, err);
      throw err;
    } finally {
      parseSpan.end();
    }
    target = { ...header, delimiters: msg.delimiters };
    // Message identifiers only (MSH-3/4/9/10): never the patient's or the report's.
    span.setAttributes({
      'vcf.hl7.message_type': clip(`${header.messageType}^${header.triggerEvent}`),
      'vcf.hl7.control_id': header.messageControlId.slice(0, MAX_CONTROL_ID_LENGTH),
      'vcf.hl7.sending_application': clip(header.sendingApplication),
      'vcf.hl7.sending_facility': clip(header.sendingFacility),
    });
    if (header.messageControlId === '') {
      throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'MSH-10 message control ID is empty', { location: 'MSH^1^10' });
    }
    if (header.messageType !== 'ORU' || header.triggerEvent !== 'R01') {
      outcome = otherMessage(target, header, deps);
    } else if (!SUPPORTED_VERSIONS.test(header.version)) {
      throw new AppError('HL7_UNSUPPORTED_VERSION', `HL7 version "${header.version.slice(0, 10)}" is not supported (2.3 to 2.8)`, {
        location: 'MSH^1^12',
      });
    } else {
      reports = parseOru(msg);
      // The durable write the AA waits for; the report job's span is its child.
      const { duplicate } = await inSpan('hl7 enqueue', { 'vcf.hl7.reports': reports.length }, () => deps.enqueue(header, reports, traceId), { kind: SpanKind.PRODUCER });
      if (duplicate) deps.metrics.hl7Duplicates.inc();
      outcome = { code: 'AA', ack: buildAck(target, 'AA'), duplicate };
    }
  } catch (err) {
    const error = toAppError(err);
    if (error.code === 'INTERNAL') deps.logger.error({ event: 'hl7.internal_error', traceId, err }, 'unexpected error');
    if (error.code !== 'QUEUE_UNAVAILABLE' && error.code !== 'INTERNAL') deps.metrics.hl7ParseErrors.inc({ error: error.code });
    const code = error.spec.ack;
    outcome = { code, ack: buildAck(target, code, error), error };
  }
  span.setAttributes({ 'vcf.hl7.ack': outcome.code, 'vcf.hl7.duplicate': outcome.duplicate ?? false, ...(outcome.error ? { 'vcf.error.code': outcome.error.code } : {}) });
  const record = receptionRecord(target, source, outcome, reports, traceId, performance.now() - started);
  traceLine(deps.logger, record);
  if (deps.messageLog && record.controlId !== '') {
    // Best effort and off the ACK's path: a log that cannot be written must not change the answer.
    void deps.messageLog.record(record).catch((err: unknown) => deps.logger.debug({ event: 'hl7.log_failed', traceId, reason: (err as Error).message }, 'message log not written'));
  }
  return outcome;
}

/** "address:port" of a connection, as the trace line and the message log show it. */
export function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | null {
  if (!socket.remoteAddress) return null;
  const ip = socket.remoteAddress.replace(/^::ffff:(?=\d+\.)/, ''); // IPv4 seen through a dual-stack socket
  const address = ip.includes(':') ? `[${ip}]` : ip;
  return `${address}:${socket.remotePort ?? 0}`;
}

/** Header fields as logged: bounded, so a hostile header cannot flood the log or the message log. */
const clip = (v: string | undefined) => (v ?? '').slice(0, 64);

function receptionRecord(target: AckTarget, source: Hl7Source, outcome: Hl7Outcome, reports: RadiologyReport[], traceId: string, ms: number): Hl7MessageRecord {
  return {
    receivedAt: new Date(Date.now() - ms).toISOString(),
    transport: source.transport,
    peer: source.peer,
    sender: { application: clip(target.sendingApplication), facility: clip(target.sendingFacility) },
    messageType: target.messageType ? clip(`${target.messageType}^${target.triggerEvent ?? ''}`) : null,
    // Whole up to the length the intake accepts, so GET /hl7/messages/{MSH-10} finds every accepted id.
    controlId: (target.messageControlId ?? '').slice(0, MAX_CONTROL_ID_LENGTH),
    version: target.version ? clip(target.version) : null,
    ack: outcome.code,
    error: outcome.error ? { code: outcome.error.code, message: outcome.error.message, location: outcome.error.location ?? null } : null,
    duplicate: outcome.duplicate ?? false,
    durationMs: Math.round(ms * 10) / 10,
    reports: reports.map((r) => ({ accessionNumber: r.accessionNumber, reportKey: reportAccessionKey(r) })),
    traceId,
  };
}

/**
 * The one line per message an integration engineer greps for: who sent what, what we answered and why,
 * how long it took. Identifiers of the message only (MSH-3/4/9/10), never of the patient or the report.
 */
function traceLine(logger: Logger, r: Hl7MessageRecord): void {
  const fields = {
    event: 'hl7.message', traceId: r.traceId, transport: r.transport, peer: r.peer, sendingApplication: r.sender.application, sendingFacility: r.sender.facility,
    messageType: r.messageType, controlId: r.controlId, ack: r.ack, error: r.error?.code ?? null, reason: r.error?.message ?? null, duplicate: r.duplicate, reports: r.reports.length, ms: r.durationMs,
  };
  const text = `${r.transport} ${r.messageType ?? '?'} ${r.controlId || '(no MSH-10)'} from ${r.sender.application}^${r.sender.facility}: ${r.ack}${r.error ? ` ${r.error.code}` : ''}`;
  if (r.ack === 'AA') logger.info(fields, text);
  else logger.warn(fields, text);
}

function otherMessage(target: AckTarget, header: MessageHeader, deps: Hl7IntakeDeps): Hl7Outcome {
  const type = `${header.messageType}^${header.triggerEvent}`.slice(0, 16);
  if (deps.otherMessageAck === 'AA') return { code: 'AA', ack: buildAck(target, 'AA') };
  const error = new AppError('HL7_UNSUPPORTED_MESSAGE_TYPE', `message type ${type} is not processed: send ORU^R01`, {
    location: 'MSH^1^9',
  });
  return { code: deps.otherMessageAck, ack: buildAck(target, deps.otherMessageAck, error), error };
}

function isBatch(raw: Buffer): boolean {
  const head = raw.subarray(0, 8).toString('latin1').trimStart();
  return head.startsWith('FHS') || head.startsWith('BHS');
}

/**
 * Counts an ACK once it is written, with the time since its message was complete (queueing behind
 * earlier messages on the connection and the durable enqueue included). Called by each transport.
 */
export function recordAckSent(metrics: Metrics, transport: Transport, code: AckCode, startedAt: bigint): void {
  metrics.hl7Acks.inc({ code, transport });
  metrics.hl7AckLatency.observe({ transport }, Number(process.hrtime.bigint() - startedAt) / 1e9);
}
