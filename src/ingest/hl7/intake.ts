import { randomUUID } from 'node:crypto';
import { AppError, toAppError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../observability/metrics';
import { type AckCode, type AckTarget, ackTargetFromRaw, buildAck } from './ack';
import { Er7Message } from './er7';
import { type MessageHeader, type RadiologyReport, parseOru, readHeader } from './oru';

/** HL7 versions whose ORU^R01 we read (CONTRACT: v2.3–v2.8). */
const SUPPORTED_VERSIONS = /^2\.(3|3\.1|4|5|5\.1|6|7|7\.1|8|8\.1|8\.2)$/;

export type Transport = 'mllp' | 'http';

export interface Hl7IntakeDeps {
  enqueue(header: MessageHeader, reports: RadiologyReport[], traceId: string): Promise<{ duplicate: boolean }>;
  /** Answer for message types other than ORU^R01. */
  otherMessageAck: AckCode;
  logger: Logger;
  metrics: Metrics;
}

export interface Hl7Outcome {
  code: AckCode;
  ack: string;
  error?: AppError;
  duplicate?: boolean;
}

/**
 * One HL7 message in, one ACK out. Never throws: every failure becomes AE or AR with an ERR segment,
 * and AA is only returned after the durable enqueue.
 */
export async function handleHl7Message(raw: Buffer, transport: Transport, deps: Hl7IntakeDeps): Promise<Hl7Outcome> {
  const traceId = randomUUID();
  deps.metrics.hl7Received.inc({ transport });
  let target: AckTarget = ackTargetFromRaw(raw);
  let outcome: Hl7Outcome;
  try {
    if (isBatch(raw)) {
      throw new AppError('HL7_BATCH_UNSUPPORTED', 'batch files (FHS/BHS) are not accepted: send one message per frame', {
        location: 'BHS',
      });
    }
    const msg = Er7Message.parse(raw);
    const header = readHeader(msg);
    target = { ...header, delimiters: msg.delimiters };
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
      const reports = parseOru(msg);
      const { duplicate } = await deps.enqueue(header, reports, traceId);
      if (duplicate) deps.metrics.hl7Duplicates.inc();
      outcome = { code: 'AA', ack: buildAck(target, 'AA'), duplicate };
      deps.logger.info(
        { event: 'hl7.accepted', traceId, transport, reports: reports.length, duplicate, version: header.version },
        'ORU^R01 accepted',
      );
    }
  } catch (err) {
    const error = toAppError(err);
    if (error.code === 'INTERNAL') deps.logger.error({ event: 'hl7.internal_error', traceId, err }, 'unexpected error');
    if (error.code !== 'QUEUE_UNAVAILABLE' && error.code !== 'INTERNAL') deps.metrics.hl7ParseErrors.inc({ error: error.code });
    const code = error.spec.ack;
    outcome = { code, ack: buildAck(target, code, error), error };
    deps.logger.warn({ event: 'hl7.rejected', traceId, transport, ack: code, error: error.code, reason: error.message }, 'HL7 message rejected');
  }
  return outcome;
}

function otherMessage(target: AckTarget, header: MessageHeader, deps: Hl7IntakeDeps): Hl7Outcome {
  const type = `${header.messageType}^${header.triggerEvent}`.slice(0, 16);
  deps.logger.info({ event: 'hl7.other_message', type, ack: deps.otherMessageAck }, 'message type not processed');
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
