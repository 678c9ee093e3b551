import { sha256Hex } from '../domain/digest';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MessageHeader, RadiologyReport } from '../ingest/hl7/oru';
import { type ReportJobData, REPORTS_QUEUE, reportJobId, reportJobOptions } from './reports';
import { queueStep } from './redis';

export interface IntakeOptions {
  prefix: string;
  /** How long (sender, MSH-10) is remembered, in seconds. */
  duplicateWindowS: number;
  /** Longest wait for Redis before answering AR; senders retry on AR. */
  timeoutMs?: number;
}

/** The natural id of a message: a sender's MSH-10 is unique per sender, not across senders. */
export function messageId(header: Pick<MessageHeader, 'sendingApplication' | 'sendingFacility' | 'messageControlId'>): string {
  return sha256Hex(`${header.sendingApplication}\u0000${header.sendingFacility}\u0000${header.messageControlId}`, 32);
}

/**
 * The durable write behind every AA: the parsed reports are stored, then a BullMQ job with the natural
 * id `hl7-<messageId>` is added. Both are idempotent, so a sender retrying after an AR (or a lost ACK)
 * gets AA again and the message is processed once.
 */
export class ReportIntake {
  private readonly timeoutMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly queue: Queue<ReportJobData>,
    private readonly options: IntakeOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async accept(header: MessageHeader, reports: RadiologyReport[], traceId: string): Promise<{ duplicate: boolean; messageId: string }> {
    const id = messageId(header);
    const key = `${this.options.prefix}:hl7:msg:${id}`;
    const receivedAt = Date.now();
    return queueStep(
      (async () => {
        // NX keeps the first content if a sender reuses an MSH-10 for another message.
        const set = await this.redis.set(key, JSON.stringify(reports), 'EX', this.options.duplicateWindowS, 'NX');
        await this.queue.add(REPORTS_QUEUE, { messageId: id, receivedAt, traceId }, { ...reportJobOptions(this.options.duplicateWindowS), jobId: reportJobId(id) });
        return { duplicate: set === null, messageId: id };
      })(),
      this.timeoutMs,
    );
  }
}
