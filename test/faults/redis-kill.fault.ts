/**
 * Fault 2 (issue 16 item 2): Redis, run as production should run it (`appendonly yes`), SIGKILLed and
 * restarted on its directory in the middle of an HL7 burst over MLLP. Every message answered AA must be
 * stored and processed exactly once; every message answered AR (or left without an answer) is resent by
 * the sender, as an interface engine does, and is then processed once too.
 *
 * Real processes: `serve --role api` and `serve --role worker` (REDIS_DURABILITY=require, so the AA is
 * the AOF-backed one of production), a redis-server of the test's own.
 */
import { Redis } from 'ioredis';
import { TestRedisServer, deletePrefix, freePort, testPrefix } from '../helpers/service';
import { type BurstMessage, MllpSender, ServiceProcess, burstMessages, deliverInOrder, expectEachStoredAndProcessedOnce, getJson, sleep, spread } from './support';

const MESSAGES = 200;
const CONNECTIONS = 4;
/** The kill comes once this many messages were acknowledged: well inside the burst. */
const KILL_AFTER_AA = 50;
const DOWN_MS = 1500;

describe('fault: Redis (appendonly yes) SIGKILLed and restarted during an HL7 burst', () => {
  const prefix = testPrefix('fault-redis');
  let redisServer: TestRedisServer;
  let api: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;
  let redis: Redis;

  beforeAll(async () => {
    redisServer = new TestRedisServer(await freePort(), { appendonly: true });
    await redisServer.start();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    redis?.disconnect();
    await deletePrefix(prefix, redisServer.url).catch(() => undefined);
    await redisServer.stop();
  }, 60_000);

  it('every AA is stored and processed once; every AR or unanswered message is resent and processed once', async () => {
    const env = { REDIS_URL: redisServer.url, QUEUE_PREFIX: prefix, REDIS_DURABILITY: 'require' };
    worker = await ServiceProcess.start('worker', env);
    api = await ServiceProcess.start('api', env);
    const messages = burstMessages('RK', MESSAGES);
    const senders = Array.from({ length: CONNECTIONS }, () => new MllpSender(() => api!.mllpPort!));

    let acked = 0;
    let ackedBeforeKill = 0;
    let outage: Promise<void> | null = null;
    const onResult = (_m: BurstMessage, r: string) => {
      if (r !== 'AA') return;
      acked++;
      if (acked === KILL_AFTER_AA) {
        outage = (async () => {
          await redisServer.stop({ keepData: true }); // SIGKILL: no chance to flush or rewrite anything
          ackedBeforeKill = acked;
          await sleep(DOWN_MS);
          await redisServer.start();
        })();
        outage.catch(() => undefined); // awaited after the burst; no unhandled rejection meanwhile
      }
    };
    const deadline = Date.now() + 90_000;
    await Promise.all(spread(messages, CONNECTIONS).map((list, i) => deliverInOrder(senders[i]!, list, { retryDelayMs: 200, deadline, onResult })));
    await outage;
    senders.forEach((s) => s.close());

    const refused = messages.filter((m) => m.results.some((r) => r !== 'AA'));
    console.log(
      `fault 2: ${MESSAGES} messages over ${CONNECTIONS} connections; Redis SIGKILLed after ${ackedBeforeKill} AA, down ${DOWN_MS} ms; ` +
        `${refused.length} messages resent (${messages.reduce((n, m) => n + m.results.filter((r) => r === 'AR').length, 0)} AR, ` +
        `${messages.reduce((n, m) => n + m.results.filter((r) => r === 'none').length, 0)} unanswered)`,
    );
    // The fault hit the burst: messages were acknowledged before it and refused during it.
    expect(ackedBeforeKill).toBeGreaterThanOrEqual(KILL_AFTER_AA);
    expect(refused.length).toBeGreaterThan(0);
    expect(messages.every((m) => m.results.at(-1) === 'AA' && !m.results.includes('AE'))).toBe(true);
    expect(senders.map((s) => s.strayAcks)).toEqual(senders.map(() => 0));

    const { sameRuns } = await expectEachStoredAndProcessedOnce(messages, api, worker, redis, prefix);
    console.log(`fault 2: every report stored once; ${sameRuns} report jobs ran again after the outage (the store ignores a version it holds)`);

    // What the message log tells an integration engineer about a resent message: answered AA in the end, and what it became.
    const resent = refused[0]!;
    const log = await getJson<{ receptions: Array<{ ack: string; reports: Array<{ accessionNumber: string }> }> }>(api.base, `/hl7/messages/${resent.controlId}`);
    expect(log?.receptions.at(-1)).toMatchObject({ ack: 'AA', reports: [{ accessionNumber: resent.accession }] });
  });
});
