import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../errors';

/**
 * Redis connections by use. Producers (HL7 and HTTP intake) must fail fast when Redis is down so the
 * sender gets AR / 503 at once and retries, instead of waiting on ioredis's offline queue. Workers use
 * blocking commands and must wait forever (BullMQ requires maxRetriesPerRequest: null).
 */
export type RedisRole = 'producer' | 'worker';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const common: RedisOptions = {
    connectTimeout: 2000,
    // Keep reconnecting (capped backoff) so the service recovers by itself when Redis comes back.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: false,
    ...extra,
  };
  const options: RedisOptions =
    role === 'producer'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
  return new Redis(url, options);
}

/**
 * A Redis write on an intake path: any failure or stall longer than `timeoutMs` becomes
 * QUEUE_UNAVAILABLE (AR / 503, retryable), so the sender tries again instead of waiting.
 */
export async function queueStep<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await withTimeout(work, timeoutMs, () => new AppError('QUEUE_UNAVAILABLE', 'queue unavailable (Redis did not answer), retry later'));
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('QUEUE_UNAVAILABLE', 'queue unavailable (Redis error), retry later', { cause: err });
  }
}

/** Resolves with the promise's value, or rejects with `onTimeout()` after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deletes every key under `<prefix>:` (BullMQ keys and ours): for tests, demos and benchmarks. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Releases a lock only if it still holds our token (KEYS[1] the lock, ARGV[1] the token): a lock that
 * expired while we worked and was taken by someone else is theirs, not ours to delete.
 */
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Takes a short Redis lock (SET NX PX) with a token of this call alone; null when someone else holds it. */
export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<string | null> {
  const token = randomUUID();
  return (await redis.set(key, token, 'PX', ttlMs, 'NX')) === null ? null : token;
}

/** Releases a lock taken by `acquireLock`, if it is still ours; never throws (the lock expires anyway). */
export async function releaseLock(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(RELEASE_LOCK, 1, key, token).catch(() => undefined);
}

/**
 * Throws the first error of a MULTI/EXEC: ioredis resolves a transaction whose commands failed with the
 * errors inside the result array, so a write that must not be lost has to look.
 */
export function checkExec(results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('Redis transaction aborted');
  for (const [err] of results) if (err) throw err;
}
