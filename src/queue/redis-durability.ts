import { type Redis, ReplyError } from 'ioredis';
import { AppError } from '../errors';
import type { Logger } from '../log';
import { withTimeout } from './redis';

/**
 * REDIS_DURABILITY: what to do when Redis would lose acknowledged messages. An AA means "durably queued in
 * Redis", so it is only as durable as Redis: without AOF a restart loses every message acknowledged since
 * the last RDB snapshot (704 of 2,000 in the issue-16 test). `require` refuses to start (and makes /readyz
 * fail, and the intake answer AR) unless Redis persists with AOF or has a replica the intake can WAIT for;
 * `warn` says so at start and on /readyz; `off` does not look.
 */
export type DurabilityMode = 'require' | 'warn' | 'off';

/** What Redis says about its own persistence. */
export interface RedisPersistence {
  /** AOF on: CONFIG GET appendonly, else INFO persistence aof_enabled; null when neither could be read. */
  appendonly: boolean | null;
  /** Replicas connected now (INFO replication connected_slaves); 0 when unreadable. */
  replicas: number;
}

/** A field of an INFO reply ("connected_slaves:1\r\n"), or null. */
function infoField(info: string, field: string): string | null {
  const m = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return m ? m[1]!.trim() : null;
}

/** A command Redis refused (CONFIG renamed, an ACL without @admin): not a connection failure. */
const refused = (err: unknown): string => {
  if (err instanceof ReplyError) return '';
  throw err;
};

/**
 * Reads AOF and replicas. Managed Redis services often forbid CONFIG (renamed, or an ACL without @admin):
 * INFO persistence says the same (aof_enabled). A refused INFO leaves the value unknown (null / 0); a
 * connection failure throws (the answer is not "no persistence" but "no answer").
 */
export async function readPersistence(redis: Redis): Promise<RedisPersistence> {
  let appendonly: boolean | null = null;
  const reply = (await redis.config('GET', 'appendonly').catch(refused)) as string[] | '';
  if (reply.length >= 2) appendonly = reply[1] === 'yes';
  if (appendonly === null) {
    const aof = infoField(await redis.info('persistence').catch(refused), 'aof_enabled');
    if (aof !== null) appendonly = aof === '1';
  }
  const slaves = infoField(await redis.info('replication').catch(refused), 'connected_slaves');
  return { appendonly, replicas: slaves === null ? 0 : Number(slaves) || 0 };
}

/** Null when an AA is durable with this persistence (AOF, or a replica to WAIT for), else why not. */
export function durabilityProblem(p: RedisPersistence, target: string): string | null {
  if (p.appendonly === true || p.replicas > 0) return null;
  const aof = p.appendonly === false ? 'appendonly no' : 'appendonly unknown: CONFIG GET and INFO persistence refused or unanswered';
  return (
    `REDIS_URL=${target}: Redis does not persist acknowledged HL7 messages (${aof}, no connected replica), so a Redis restart loses them; ` +
    'set appendonly yes in Redis (redis.conf, or CONFIG SET appendonly yes + CONFIG REWRITE), or add a replica with failover (REDIS_DURABILITY=require then WAITs for it before each AA)'
  );
}

/** How the intake must write before it answers AA. */
export type IntakeDurability = 'ok' | 'wait-replica' | 'refuse';

/** The longest a durability read may take (a stalled Redis must not hold /readyz; the last answer stands). */
const READ_TIMEOUT_MS = 1500;

/**
 * The durability of Redis as last seen (at start and on every /readyz), and what it means for the intake
 * and for readiness under REDIS_DURABILITY.
 */
export class RedisDurability {
  private last: RedisPersistence | null = null;

  constructor(
    private readonly redis: Redis,
    readonly mode: DurabilityMode,
    /** REDIS_URL, password redacted. */
    private readonly target: string,
  ) {}

  /**
   * At start: `require` throws (one line naming REDIS_URL and what to set), `warn` logs one warn line and
   * returns the warning for /readyz; null when all is well or the mode is off.
   */
  async atStart(logger: Logger): Promise<string | null> {
    if (this.mode === 'off') return null;
    try {
      this.last = await withTimeout(readPersistence(this.redis), READ_TIMEOUT_MS * 4, () => new Error('no answer'));
    } catch (err) {
      // Unknown rather than wrong: only `require` stops for it.
      this.last = { appendonly: null, replicas: 0 };
      logger.debug({ event: 'durability.read_failed', reason: (err as Error).message }, 'could not read Redis persistence');
    }
    const problem = durabilityProblem(this.last, this.target);
    if (problem === null) {
      logger.info({ event: 'durability.ok', appendonly: this.last.appendonly, replicas: this.last.replicas, mode: this.mode }, 'Redis persistence checked');
      return null;
    }
    if (this.mode === 'require') throw new AppError('QUEUE_UNAVAILABLE', `${problem} (REDIS_DURABILITY=require; =warn starts anyway)`);
    logger.warn({ event: 'durability.warning', appendonly: this.last.appendonly, replicas: this.last.replicas, mode: this.mode }, problem);
    return problem;
  }

  /**
   * The /readyz check: re-reads Redis (bounded; on a timeout or error the last answer stands, the redis
   * check reports the outage). `require`: the problem fails readiness; `warn`: it is listed as a warning.
   */
  async readiness(): Promise<string | null | { warning: string }> {
    if (this.mode === 'off') return null;
    try {
      this.last = await withTimeout(readPersistence(this.redis), READ_TIMEOUT_MS, () => new Error('timeout'));
    } catch {
      // Keep the last answer.
    }
    const problem = this.last ? durabilityProblem(this.last, this.target) : null;
    if (problem === null) return null;
    return this.mode === 'require' ? problem : { warning: problem };
  }

  /**
   * For the intake, from the last answer: under `require`, AOF → write as usual; only replicas → WAIT for
   * one after the write; neither → refuse (AR: the sender retries). `warn` and `off` never hold an AA.
   */
  intake(): IntakeDurability {
    if (this.mode !== 'require' || this.last === null || this.last.appendonly === true) return 'ok';
    return this.last.replicas > 0 ? 'wait-replica' : 'refuse';
  }
}
