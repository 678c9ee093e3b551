import { sha256Hex } from '../domain/digest';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import type { MessageHeader, RadiologyReport } from '../ingest/hl7/oru';
import type { Logger } from '../log';
import type { IntakeDurability } from './redis-durability';
import { type ReportJobData, REPORTS_QUEUE, reportJobId, reportJobOptions } from './reports';
import { queueStep } from './redis';
import { traceparentFor } from '../observability/trace-context';

export interface IntakeOptions {
  prefix: string;
  /** How long (sender, MSH-10) is remembered, in seconds. */
  duplicateWindowS: number;
  /** Longest wait for Redis before answering AR; senders retry on AR. */
  timeoutMs?: number;
  /** Where a reused MSH-10 is reported (warn); none in some tests. */
  logger?: Logger;
  /** What REDIS_DURABILITY asks of each write (see RedisDurability.intake); always 'ok' when not given. */
  durability?: () => IntakeDurability;
}

type Sender = Pick<MessageHeader, 'sendingApplication' | 'sendingFacility' | 'messageControlId'>;

/** The natural id of a message: a sender's MSH-10 is unique per sender, not across senders. */
export function messageId(header: Sender): string {
  return sha256Hex(`${header.sendingApplication}\u0000${header.sendingFacility}\u0000${header.messageControlId}`, 32);
}

/**
 * The natural id of a message whose sender reused an MSH-10 already taken by a different message: the
 * content hash makes it another message (and a retry of it the same one again).
 */
export function reusedMessageId(header: Sender, contentHash: string): string {
  return sha256Hex(`${header.sendingApplication}\u0000${header.sendingFacility}\u0000${header.messageControlId}\u0000${contentHash}`, 32);
}

/**
 * The content of a message, as a short hash: the parsed reports (patients, accessions, statuses, texts),
 * so a resend whose MSH-7 or wrapping changed is still the same message. Not identifying (logged).
 */
export function contentHash(body: string): string {
  return sha256Hex(body, 16);
}

/** How long the intake waits for one replica to confirm the write (REDIS_DURABILITY=require, no AOF). */
const REPLICA_WAIT_MS = 1000;

/**
 * Keeps the body under the first free natural id, in one step (so two copies arriving at once cannot
 * both win): KEYS[1] = hl7:msg:<messageId>, KEYS[2] = hl7:msg:<reusedMessageId>, ARGV[1] the body,
 * ARGV[2] the duplicate window (s). Returns {which key (1|2), 'new'|'duplicate', first body if KEYS[1]
 * holds another one}. The body is compared whole: a hash of it would also do, but comparing is exact.
 */
const ACCEPT_LUA = `
local first = redis.call('GET', KEYS[1])
if not first then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return {1, 'new', false}
end
if first == ARGV[1] then return {1, 'duplicate', false} end
if redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2], 'NX') then return {2, 'new', first} end
return {2, 'duplicate', first}
`;

/**
 * The durable write behind every AA: the parsed reports are stored, then a BullMQ job with the natural
 * id `hl7-<messageId>` is added. Both are idempotent, so a sender retrying after an AR (or a lost ACK)
 * gets AA again and the message is processed once.
 *
 * Whether a repeated (sender, MSH-10) is a retry is decided by content: the same body is the duplicate
 * (AA, processed once); a different body (another patient, another accession) is a new message that a
 * sender reused the control id for. The first keeps the plain id (as before this rule, so messages
 * accepted by an older version are still recognised); a different one gets `reusedMessageId`.
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

  async accept(header: MessageHeader, reports: RadiologyReport[], traceId: string): Promise<{ duplicate: boolean; messageId: string; reused: boolean }> {
    const durability = this.options.durability?.() ?? 'ok';
    if (durability === 'refuse') {
      // REDIS_DURABILITY=require and Redis lost its AOF and replicas since start: an AA now could be lost.
      throw new AppError('QUEUE_UNAVAILABLE', 'Redis does not persist acknowledged messages now (REDIS_DURABILITY=require), retry later');
    }
    const body = JSON.stringify(reports);
    const hash = contentHash(body);
    const firstId = messageId(header);
    const reusedId = reusedMessageId(header, hash);
    const key = (id: string) => `${this.options.prefix}:hl7:msg:${id}`;
    const receivedAt = Date.now();
    return queueStep(
      (async () => {
        const [which, outcome, first] = (await this.redis.eval(ACCEPT_LUA, 2, key(firstId), key(reusedId), body, String(this.options.duplicateWindowS))) as [
          number,
          'new' | 'duplicate',
          string | null,
        ];
        const id = which === 1 ? firstId : reusedId;
        if (first && outcome === 'new') {
          // A sender bug worth fixing at the source; both messages are kept and processed. Hashes only: no PHI.
          this.options.logger?.warn(
            {
              event: 'hl7.control_id_reused', traceId, sendingApplication: header.sendingApplication, sendingFacility: header.sendingFacility,
              controlId: header.messageControlId, firstContentHash: contentHash(first), contentHash: hash, messageId: id,
            },
            `MSH-10 ${header.messageControlId} from ${header.sendingApplication}^${header.sendingFacility} reused for a different message: accepted as a new message`,
          );
        }
        // Added on a duplicate too: the job of a first attempt that failed between the two writes is added now.
        // The active span (the message's enqueue span) becomes the report job's parent.
        await this.queue.add(REPORTS_QUEUE, { messageId: id, receivedAt, traceId, ...traceparentFor(traceId) }, { ...reportJobOptions(this.options.duplicateWindowS), jobId: reportJobId(id) });
        if (durability === 'wait-replica') {
          // No AOF: the write is durable once a replica holds it. WAIT covers every earlier write of this
          // connection, and the queue writes on the same one (BullMQ uses the connection it is given).
          const acked = await this.redis.wait(1, REPLICA_WAIT_MS);
          if (acked < 1) throw new AppError('QUEUE_UNAVAILABLE', `no Redis replica confirmed the write within ${REPLICA_WAIT_MS} ms (REDIS_DURABILITY=require), retry later`);
        }
        return { duplicate: outcome === 'duplicate', messageId: id, reused: which === 2 };
      })(),
      this.timeoutMs,
    );
  }
}
