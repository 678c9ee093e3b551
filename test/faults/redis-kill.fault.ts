/**
 * Fault 2 (issue 16 item 2): Redis, run as production should run it (`appendonly yes`), SIGKILLed and
 * restarted on its directory in the middle of an HL7 burst over MLLP. Every message answered AA must be
 * stored and processed exactly once; every message answered AR (or left without an answer) is resent by
 * the sender, as an interface engine does, and is then processed once too.
 *
 * Real processes: `serve --role api` and `serve --role worker` (REDIS_DURABILITY=require, so the AA is
 * the AOF-backed one of production), a redis-server of the test's own.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../../src/queue/names';
import { TestRedisServer, deletePrefix, freePort, testPrefix } from '../helpers/service';
import { type BurstMessage, MllpSender, type ReportLookup, ServiceProcess, burstMessages, deliverInOrder, eventually, getJson, sleep, spread } from './support';

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
    [api, worker] = await Promise.all([ServiceProcess.start('api', env), ServiceProcess.start('worker', env)]);
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

    // Stored: every accession has one report, version 1, carried by one message (GET /reports/{accession}).
    const lookups = new Map<string, ReportLookup>();
    await eventually(
      async () => {
        for (const m of messages) {
          if (!lookups.has(m.accession)) {
            const found = await getJson<ReportLookup>(api!.base, `/reports/${m.accession}`);
            if (found) lookups.set(m.accession, found);
          }
        }
        return lookups.size === messages.length ? true : null;
      },
      90_000,
      500,
    );
    const missing = messages.filter((m) => !lookups.has(m.accession)).map((m) => `${m.controlId} (${m.results.join(' ')})`);
    expect(missing).toEqual([]);
    for (const m of messages) {
      const { reports } = lookups.get(m.accession)!;
      expect({ controlId: m.controlId, reports: reports.map((r) => ({ version: r.version, versions: r.versions.map((v) => [v.version, v.outcome, v.controlId]) })) }).toEqual({
        controlId: m.controlId,
        reports: [{ version: 1, versions: [[1, 'new', m.controlId]] }],
      });
    }

    // Processed once: one report job per message, all completed; the worker stored each report once;
    // one correlate job per report.
    const reportsQueue = new Queue(QUEUES.reports, { connection: redis, prefix });
    const correlateQueue = new Queue(QUEUES.correlate, { connection: redis, prefix });
    try {
      expect(await reportsQueue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed')).toEqual({ completed: MESSAGES, failed: 0, waiting: 0, active: 0, delayed: 0 });
      const stored = worker.events('report.stored');
      const byOutcome = (o: string) => stored.filter((l) => l.outcome === o);
      console.log(`fault 2: report.stored lines: ${byOutcome('new').length} new, ${byOutcome('same').length} same (a job run again after the outage; the store ignores a version it holds)`);
      expect(byOutcome('new')).toHaveLength(MESSAGES);
      expect(new Set(byOutcome('new').map((l) => l.jobId)).size).toBe(MESSAGES);
      expect(byOutcome('replaced')).toHaveLength(0);
      const correlations = (await correlateQueue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed'])).filter((j) => j.data.trigger === 'report');
      expect(correlations).toHaveLength(MESSAGES);
      expect(new Set(correlations.map((j) => j.data.accessionKey)).size).toBe(MESSAGES);
    } finally {
      await reportsQueue.close();
      await correlateQueue.close();
    }

    // What the message log tells an integration engineer about a resent message: answered AA in the end, and what it became.
    const resent = refused[0]!;
    const log = await getJson<{ receptions: Array<{ ack: string; reports: Array<{ accessionNumber: string }> }> }>(api.base, `/hl7/messages/${resent.controlId}`);
    expect(log?.receptions.at(-1)).toMatchObject({ ack: 'AA', reports: [{ accessionNumber: resent.accession }] });
  });
});
