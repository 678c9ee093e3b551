/**
 * The recent-studies index of the study store (the console lists studies from it and opens them by tag),
 * on the Redis at REDIS_URL: written with every state write, newest first, capped, trimmed by age with the
 * state's TTL, and expiring with the last write.
 */
import { Redis } from 'ioredis';
import { uidTag } from '../../../src/domain/digest';
import { StudyStore } from '../../../src/store/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../../helpers/service';

const TTL_S = 3000;
const uid = (n: number) => `1.2.826.0.1.3680043.10.4242.${n}`;
const queued = { source: 'default', jobId: 'j', maxAttempts: 1, accessionNumber: null, patientId: null, traceId: 't' };

describe('StudyStore recent-studies index (real Redis)', () => {
  const prefix = testPrefix('study-index');
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('lists the studies whose state changed last, newest first, and resolves each tag to its UID', async () => {
    const store = new StudyStore(redis, `${prefix}-a`, TTL_S);
    await store.markQueued(uid(1), queued);
    await store.markQueued(uid(2), queued);
    await new Promise((r) => setTimeout(r, 5)); // distinct millisecond scores
    await store.update(uid(1), { status: 'retrieving' });
    await new Promise((r) => setTimeout(r, 5));
    await store.recordError(uid(2), { at: new Date().toISOString(), attempt: 1, code: 'STUDY_NOT_FOUND', message: 'x', retryable: true }, { status: 'queued' });
    expect(await store.recent(10)).toEqual([
      { tag: uidTag(uid(2)), studyInstanceUid: uid(2) },
      { tag: uidTag(uid(1)), studyInstanceUid: uid(1) },
    ]);
    expect(await store.recent(1)).toHaveLength(1);
    expect(await store.uidByTag(uidTag(uid(1)))).toBe(uid(1));
    expect(await store.uidByTag('000000000000')).toBeNull();
    // Both index keys expire with the state they index.
    for (const k of [`${prefix}-a:study-index`, `${prefix}-a:study-index-tags`]) {
      const ttl = await redis.ttl(k);
      expect(ttl).toBeGreaterThan(TTL_S - 10);
      expect(ttl).toBeLessThanOrEqual(TTL_S);
    }
  });

  it('keeps at most its cap: the oldest leave the list and their tags stop resolving', async () => {
    const store = new StudyStore(redis, `${prefix}-b`, TTL_S, 3);
    for (let n = 1; n <= 5; n++) {
      await store.markQueued(uid(n), queued);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect((await store.recent(10)).map((s) => s.studyInstanceUid)).toEqual([uid(5), uid(4), uid(3)]);
    expect(await store.count()).toBe(3);
    expect(await store.uidByTag(uidTag(uid(1)))).toBeNull();
    expect(await store.uidByTag(uidTag(uid(2)))).toBeNull();
    expect(await redis.hlen(`${prefix}-b:study-index-tags`)).toBe(3);
  });

  it('drops entries older than the state TTL (their state has expired) on the next write', async () => {
    const store = new StudyStore(redis, `${prefix}-c`, TTL_S);
    // An entry last touched longer ago than the TTL, as a study not written for STUDY_STATE_TTL_S leaves it.
    const oldTag = uidTag(uid(9));
    await redis.zadd(`${prefix}-c:study-index`, Date.now() - (TTL_S + 60) * 1000, oldTag);
    await redis.hset(`${prefix}-c:study-index-tags`, oldTag, uid(9));
    await store.markQueued(uid(1), queued);
    expect(await store.recent(10)).toEqual([{ tag: uidTag(uid(1)), studyInstanceUid: uid(1) }]);
    expect(await store.uidByTag(oldTag)).toBeNull();
  });
});
