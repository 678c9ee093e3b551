import type { Redis } from 'ioredis';
import type { Logger } from '../log';

/** Errors that mean "Redis cannot be reached" rather than "this command failed". */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

export function isConnectionError(err: Error & { code?: string }): boolean {
  return (err.code !== undefined && CONNECTION_CODES.has(err.code)) || /Connection is closed|connect ETIMEDOUT|ECONNREFUSED/.test(err.message);
}

/**
 * One view of Redis for the whole process, whatever number of connections it holds (ours and those
 * BullMQ duplicates for its workers). ioredis reports every failed reconnect on every connection: an
 * outage of a minute would be hundreds of lines. This logs state changes instead: down (once, with
 * the reason), still down (every `repeatMs`), back up (with how long it was down). /readyz asks
 * `reason()`.
 */
export class RedisHealth {
  private downSince: number | null = null;
  private lastCause = '';
  private repeat: NodeJS.Timeout | null = null;
  /** Our connections that are not ready now: up again when none is left. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly logger: Logger,
    /** Where Redis is, password redacted: named in every line so the reader knows which setting to check. */
    private readonly target: string,
    private readonly repeatMs = 60_000,
  ) {}

  /** Watches one of our connections (its 'ready' ends an outage). */
  watch(redis: Redis, name: string): void {
    redis.on('error', (err: NodeJS.ErrnoException) => this.failed(name, err));
    redis.on('ready', () => this.ready(name));
  }

  /**
   * An error from a BullMQ queue or worker: true when it is a connection failure, which this monitor
   * reports through our own connections (the caller then stays quiet); false when the caller should log it.
   */
  absorbs(err: Error & { code?: string }): boolean {
    if (!isConnectionError(err)) return false;
    if (this.downSince === null) this.logger.debug({ event: 'redis.connection_error', cause: causeOf(err) }, 'a queue connection failed');
    return true;
  }

  /** Why Redis is not usable now, for /readyz; null when it is. */
  reason(): string | null {
    if (this.downSince === null) return null;
    return `Redis at ${this.target} unreachable since ${new Date(this.downSince).toISOString()} (${this.lastCause}); retrying`;
  }

  /** A short description of the last failure ("ECONNREFUSED"), or null if none was seen. */
  lastError(): string | null {
    return this.lastCause || null;
  }

  close(): void {
    if (this.repeat) clearInterval(this.repeat);
    this.repeat = null;
  }

  private failed(name: string, err: NodeJS.ErrnoException): void {
    this.failing.add(name);
    if (this.downSince === null) this.markDown(causeOf(err));
    else this.lastCause = causeOf(err);
  }

  private markDown(cause: string): void {
    this.downSince = Date.now();
    this.lastCause = cause;
    this.logger.warn({ event: 'redis.down', target: this.target, cause }, `Redis at ${this.target} unreachable (${cause}); retrying`);
    this.repeat = setInterval(() => {
      const downForS = Math.round((Date.now() - (this.downSince ?? Date.now())) / 1000);
      this.logger.warn({ event: 'redis.still_down', target: this.target, cause: this.lastCause, downForS }, `Redis at ${this.target} still unreachable after ${downForS} s (${this.lastCause})`);
    }, this.repeatMs);
    this.repeat.unref();
  }

  private ready(name: string): void {
    this.failing.delete(name);
    if (this.downSince === null || this.failing.size > 0) return;
    const downForS = Math.round((Date.now() - this.downSince) / 1000);
    this.downSince = null;
    this.close();
    this.logger.info({ event: 'redis.up', target: this.target, downForS }, `Redis at ${this.target} reachable again after ${downForS} s`);
  }
}

function causeOf(err: Error & { code?: string }): string {
  return err.code ?? err.message.split('\n')[0]!.slice(0, 120);
}
