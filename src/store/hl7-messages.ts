import { sha256Hex } from '../domain/digest';
import type { Redis } from 'ioredis';
import type { AckCode } from '../ingest/hl7/ack';
import type { ErrorCode } from '../errors';

/**
 * What an integration engineer asks about one HL7 message: did it arrive, what did we answer and why,
 * and what did it become. No report text and no patient identifiers: the accession numbers name the
 * reports the message carried (look them up with GET /reports/{accessionNumber}).
 */
export interface Hl7MessageRecord {
  receivedAt: string;
  transport: 'mllp' | 'http';
  /** Remote address:port of the connection or request. */
  peer: string | null;
  /** MSH-3 and MSH-4 (namespace ids). */
  sender: { application: string; facility: string };
  /** MSH-9 as sent ("ORU^R01"), null when the header could not be read. */
  messageType: string | null;
  controlId: string;
  version: string | null;
  ack: AckCode;
  /** Why the ACK was not AA (the ERR segment's code and text), else null. */
  error: { code: ErrorCode; message: string; location: string | null } | null;
  /** AA for a (sender, MSH-10) already accepted within HL7_DUPLICATE_WINDOW_S: nothing new was queued. */
  duplicate: boolean;
  /** Receipt of the complete message to the ACK built (the durable enqueue included). */
  durationMs: number;
  /** The reports it became, by the key the report store uses (sending facility | accession number). */
  reports: Array<{ accessionNumber: string; reportKey: string }>;
  traceId: string;
}

/** Receptions kept per MSH-10 (a sender retrying after AR adds one each time). */
const PER_CONTROL_ID = 20;

/**
 * Adds a reception and keeps the log bounded: ARGV[1] JSON, ARGV[2] now (ms), ARGV[3] max age (s),
 * ARGV[4] max control ids. KEYS[1] this control id's list, KEYS[2] the index of lists by last use.
 * The oldest lists beyond the count go at once; those past the age expire by themselves (EXPIRE) and
 * leave the index here.
 */
const RECORD_LUA = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, ${PER_CONTROL_ID - 1})
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]) * 1000)
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  for _, k in ipairs(old) do redis.call('DEL', k) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return 1`;

/**
 * A bounded log of HL7 receptions in Redis, looked up by MSH-10: at most `maxControlIds` distinct
 * control ids (oldest dropped first), each kept `maxAgeS` after its last reception.
 */
export class Hl7MessageLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: { maxControlIds: number; maxAgeS: number },
  ) {}

  /** Control ids are the sender's text, of any length: the key holds a hash of it. */
  private key(controlId: string): string {
    return `${this.prefix}:hl7-log:${sha256Hex(controlId, 32)}`;
  }

  async record(r: Hl7MessageRecord): Promise<void> {
    await this.redis.eval(RECORD_LUA, 2, this.key(r.controlId), `${this.prefix}:hl7-log-index`, JSON.stringify(r), String(Date.now()), String(this.limits.maxAgeS), String(this.limits.maxControlIds));
  }

  /** How many control ids the log holds (one ZCARD; the console's overview). */
  async count(): Promise<number> {
    return this.redis.zcard(`${this.prefix}:hl7-log-index`);
  }

  /**
   * The most recently received control ids, newest first, each with its latest reception and how many
   * receptions the log keeps for it (the integration console's message list). At most `limit` ids; ids
   * whose list expired since the index last trimmed are skipped.
   */
  async recent(limit: number): Promise<Array<{ latest: Hl7MessageRecord; receptions: number }>> {
    const keys = await this.redis.zrevrange(`${this.prefix}:hl7-log-index`, 0, Math.max(0, limit - 1));
    if (keys.length === 0) return [];
    const tx = this.redis.pipeline();
    for (const k of keys) tx.lindex(k, 0).llen(k);
    const replies = (await tx.exec()) ?? [];
    const out: Array<{ latest: Hl7MessageRecord; receptions: number }> = [];
    for (let i = 0; i + 1 < replies.length; i += 2) {
      const [err, json] = replies[i] as [Error | null, string | null];
      const [err2, count] = replies[i + 1] as [Error | null, number];
      if (err || err2) throw err ?? err2;
      if (json) out.push({ latest: JSON.parse(json) as Hl7MessageRecord, receptions: count });
    }
    return out;
  }

  /**
   * Receptions of this MSH-10, newest first; `sender` narrows them to one sender, given as MSH-3, or
   * MSH-3^MSH-4 (as in the message).
   */
  async find(controlId: string, sender?: string): Promise<Hl7MessageRecord[]> {
    const all = (await this.redis.lrange(this.key(controlId), 0, -1)).map((j) => JSON.parse(j) as Hl7MessageRecord);
    const mine = all.filter((r) => r.controlId === controlId);
    if (sender === undefined) return mine;
    return mine.filter((r) => sender === r.sender.application || sender === `${r.sender.application}^${r.sender.facility}`);
  }
}
