import { Redis, type RedisOptions } from 'ioredis';

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
