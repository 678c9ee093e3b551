/**
 * Issue 16: what an AA is worth, and what happens when Redis or a worker fails.
 *  1. a reused MSH-10 with different content is a new message (both stored), the same content a duplicate;
 *  2. REDIS_DURABILITY: Redis persistence checked at start and on /readyz, WAIT for a replica;
 *  5. /readyz and /metrics answer while Redis is paused (SIGSTOP);
 *  6. a report whose worker is SIGKILLed mid-job is stored by another worker well within a minute.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { Er7Message } from '../../src/ingest/hl7/er7';
import { parseOru, readHeader } from '../../src/ingest/hl7/oru';
import { ReportIntake } from '../../src/queue/report-intake';
import { REPORT_WORKER_LOCK, type ReportJobData, REPORTS_QUEUE } from '../../src/queue/reports';
import { ReportStore } from '../../src/store/reports';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, TestRedisServer, deletePrefix, freePort, startTestApp, testPrefix } from '../helpers/service';
import { capturingLogger } from '../helpers/logs';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'vcf-sentinel.js');

/** Polls `probe` until it returns a value (not null), or gives up after `ms` and returns null. */
async function eventually<T>(probe: () => Promise<T | null>, ms = 15_000, everyMs = 100): Promise<T | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function ackCode(port: number, er7: string): Promise<string> {
  return msa((await sendRaw(port, [frame(er7)], 1)).acks[0]!).code;
}

/** Runs one command on a short-lived connection (CONFIG SET, REPLICAOF, INFO on a test Redis). */
async function redisCall(url: string, ...args: string[]): Promise<unknown> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await r.call(args[0]!, ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

describe('1. a sender reusing an MSH-10 for a different message (role all, real Redis)', () => {
  const prefix = testPrefix('reuse');
  let app: Awaited<ReturnType<typeof startTestApp>>;
  const { logger, lines } = capturingLogger();
  let redis: Redis;

  beforeAll(async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix }, 'all', logger);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await app.stop();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('stores and processes both messages (AA each), warns once with both content hashes and no PHI; a resend of either stays a duplicate', async () => {
    const first = makeOru({ controlId: 'REUSE-1', accession: 'ACC-REUSE-A', patientId: 'MRN-REUSE-A' });
    const second = makeOru({ controlId: 'REUSE-1', accession: 'ACC-REUSE-B', patientId: 'MRN-REUSE-B', text: ['IMPRESSION: T12 compression fracture.'] });
    const { acks } = await sendRaw(app.mllpPort!, [frame(first), frame(second), frame(second), frame(first)], 4);
    expect(acks.map((a) => msa(a).code)).toEqual(['AA', 'AA', 'AA', 'AA']);

    const store = new ReportStore(redis, prefix);
    const a = await eventually(() => store.get('HOSP|ACC-REUSE-A'));
    const b = await eventually(() => store.get('HOSP|ACC-REUSE-B'));
    expect(a).toMatchObject({ version: 1, report: { messageControlId: 'REUSE-1', patient: { identifiers: [expect.objectContaining({ value: 'MRN-REUSE-A' })] } } });
    expect(b).toMatchObject({ version: 1, report: { messageControlId: 'REUSE-1', patient: { identifiers: [expect.objectContaining({ value: 'MRN-REUSE-B' })] } } });
    expect(a!.messageId).not.toBe(b!.messageId);

    // Processed once each: two report jobs, and the resends were counted as duplicates.
    const reports = new Queue(REPORTS_QUEUE, { connection: redis, prefix });
    const jobs = await reports.getJobs(['waiting', 'active', 'completed']);
    await reports.close();
    expect(jobs.map((j) => j.id).sort()).toEqual([`hl7-${a!.messageId}`, `hl7-${b!.messageId}`].sort());
    const metrics = await request(`http://127.0.0.1:${app.httpPort}`).get('/metrics');
    expect(metrics.text).toMatch(/^vcf_hl7_duplicates_total 2$/m);

    const reused = lines.filter((l) => l.event === 'hl7.control_id_reused');
    expect(reused).toEqual([expect.objectContaining({ level: 'warn', controlId: 'REUSE-1', firstContentHash: expect.stringMatching(/^[0-9a-f]{16}$/), contentHash: expect.stringMatching(/^[0-9a-f]{16}$/) })]);
    expect(reused[0]!.firstContentHash).not.toBe(reused[0]!.contentHash);
    expect(JSON.stringify(reused)).not.toMatch(/MRN-|ACC-|fracture/);
  }, 30_000);
});

describe('2. REDIS_DURABILITY: Redis persistence at start and on /readyz', () => {
  let primary: TestRedisServer;
  beforeEach(async () => {
    primary = new TestRedisServer(await freePort());
    await primary.start();
  });
  afterEach(async () => {
    await primary.stop();
  });

  it('warn (the default): one warn line at start and a /readyz warning, still ready; gone once appendonly is yes', async () => {
    const { logger, lines } = capturingLogger();
    const app = await startTestApp({ QUEUE_PREFIX: testPrefix('dur-warn'), REDIS_URL: primary.url }, 'api', logger);
    try {
      expect(app.config.REDIS_DURABILITY).toBe('warn');
      const warned = lines.filter((l) => l.event === 'durability.warning');
      expect(warned).toEqual([expect.objectContaining({ level: 'warn', appendonly: false, replicas: 0 })]);
      expect(warned[0]!.msg).toMatch(new RegExp(`^REDIS_URL=${primary.url.replace(/[/.]/g, '\\$&')}: .*appendonly no.*set appendonly yes`));
      const agent = request(`http://127.0.0.1:${app.httpPort}`);
      const ready = await agent.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.warnings).toEqual(expect.arrayContaining([warned[0]!.msg]));
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'WARN-1' }))).toBe('AA');
      await redisCall(primary.url, 'CONFIG', 'SET', 'appendonly', 'yes');
      const after = await agent.get('/readyz');
      expect(after.status).toBe(200);
      expect(JSON.stringify(after.body.warnings ?? [])).not.toMatch(/appendonly/);
    } finally {
      await app.stop();
    }
  });

  it('require without AOF or replica: start-up refuses with one line naming REDIS_URL (CLI: exit 1)', async () => {
    await expect(startTestApp({ QUEUE_PREFIX: testPrefix('dur-req'), REDIS_URL: primary.url, REDIS_DURABILITY: 'require' }, 'api')).rejects.toMatchObject({
      code: 'QUEUE_UNAVAILABLE',
      message: expect.stringMatching(/^REDIS_URL=redis:\/\/127\.0\.0\.1:\d+: .*appendonly no.*set appendonly yes.*add a replica/),
    });
    const proc = spawn(process.execPath, [BIN, 'serve', '--role', 'api'], {
      env: { ...process.env, REDIS_URL: primary.url, REDIS_DURABILITY: 'require', LOG_LEVEL: 'error', HTTP_PORT: '0', MLLP_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    expect(err.trim().split('\n').at(-1)).toMatch(/^vcf-sentinel: REDIS_URL=redis:\/\/127\.0\.0\.1:\d+: Redis does not persist .*appendonly yes.*\(REDIS_DURABILITY=require; =warn starts anyway\)$/);
  }, 20_000);

  it('require with AOF: ready and AA; AOF turned off later makes /readyz fail with the reason and the intake answer AR until it is back', async () => {
    await redisCall(primary.url, 'CONFIG', 'SET', 'appendonly', 'yes');
    const app = await startTestApp({ QUEUE_PREFIX: testPrefix('dur-aof'), REDIS_URL: primary.url, REDIS_DURABILITY: 'require' }, 'api');
    try {
      const agent = request(`http://127.0.0.1:${app.httpPort}`);
      expect((await agent.get('/readyz')).status).toBe(200);
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'AOF-1' }))).toBe('AA');
      await redisCall(primary.url, 'CONFIG', 'SET', 'appendonly', 'no');
      const unready = await agent.get('/readyz');
      expect(unready.status).toBe(503);
      expect(unready.body.checks.redisDurability).toMatch(/^REDIS_URL=.*appendonly no/);
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'AOF-2' }))).toBe('AR');
      await redisCall(primary.url, 'CONFIG', 'SET', 'appendonly', 'yes');
      expect((await agent.get('/readyz')).status).toBe(200);
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'AOF-2' }))).toBe('AA');
    } finally {
      await app.stop();
    }
  });

  it('require with a replica and no AOF: AA only once the replica has the message (WAIT 1); replica gone → AR and /readyz fails', async () => {
    const replica = new TestRedisServer(await freePort());
    await replica.start();
    const prefix = testPrefix('dur-replica');
    let app: Awaited<ReturnType<typeof startTestApp>> | undefined;
    try {
      await redisCall(primary.url, 'CONFIG', 'SET', 'repl-diskless-sync-delay', '0'); // sync at once (default: 5 s)
      await redisCall(replica.url, 'REPLICAOF', '127.0.0.1', String(primary.port));
      // Linked and in sync (a replica still loading the primary's snapshot acknowledges nothing yet).
      const linked = await eventually(async () => (/master_link_status:up/.test(String(await redisCall(replica.url, 'INFO', 'replication'))) ? true : null));
      expect(linked).toBe(true);
      app = await startTestApp({ QUEUE_PREFIX: prefix, REDIS_URL: primary.url, REDIS_DURABILITY: 'require' }, 'api');
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'REPL-1' }))).toBe('AA');
      // WAIT returned before the AA: the replica already holds the message body.
      expect(await redisCall(replica.url, 'KEYS', `${prefix}:hl7:msg:*`)).toHaveLength(1);

      await replica.stop();
      await eventually(async () => (/connected_slaves:0/.test(String(await redisCall(primary.url, 'INFO', 'replication'))) ? true : null));
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'REPL-2' }))).toBe('AR');
      const unready = await request(`http://127.0.0.1:${app.httpPort}`).get('/readyz');
      expect(unready.status).toBe(503);
      expect(unready.body.checks.redisDurability).toMatch(/no connected replica/);
    } finally {
      await app?.stop();
      await replica.stop();
    }
  }, 30_000);
});

describe('5. /readyz and /metrics while Redis is paused (SIGSTOP)', () => {
  it('/readyz answers 503 naming the check that timed out; /metrics answers with the last queue depths', async () => {
    const server = new TestRedisServer(await freePort());
    await server.start();
    const pid = Number(/process_id:(\d+)/.exec(String(await redisCall(server.url, 'INFO', 'server')))![1]);
    const app = await startTestApp({ QUEUE_PREFIX: testPrefix('paused'), REDIS_URL: server.url }, 'api');
    let paused = false;
    try {
      const agent = request(`http://127.0.0.1:${app.httpPort}`);
      expect(await ackCode(app.mllpPort!, makeOru({ controlId: 'PAUSE-1' }))).toBe('AA');
      expect((await agent.get('/metrics')).text).toMatch(/^vcf_queue_jobs\{queue="reports",state="waiting"\} 1$/m);

      process.kill(pid, 'SIGSTOP');
      paused = true;
      // Before the fix both requests hung for as long as Redis was paused: supertest's timeout fails them.
      const ready = await agent.get('/readyz').timeout(10_000);
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ redis: 'no answer within 2000 ms' });
      const metrics = await agent.get('/metrics').timeout(10_000);
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^vcf_queue_jobs\{queue="reports",state="waiting"\} 1$/m);

      process.kill(pid, 'SIGCONT');
      paused = false;
      expect(await eventually(async () => ((await agent.get('/readyz')).status === 200 ? true : null))).toBe(true);
    } finally {
      if (paused) process.kill(pid, 'SIGCONT');
      await app.stop();
      await server.stop();
    }
  }, 30_000);
});

describe('6. a reports worker killed mid-job (SIGKILL)', () => {
  const prefix = testPrefix('killed');
  let child: ChildProcess | undefined;
  let survivor: Awaited<ReturnType<typeof startTestApp>> | undefined;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await survivor?.stop();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('another worker stores the report well within a minute (not after the old 120 s lock)', async () => {
    // The doomed worker: a separate process with the reports worker's lock settings whose job never ends
    // (so it is surely mid-job when killed); it says when it holds the job.
    const doomed = `
      const { Worker } = require('bullmq');
      const { Redis } = require('ioredis');
      const [url, prefix, lock] = process.argv.slice(1);
      const connection = new Redis(url, { maxRetriesPerRequest: null });
      new Worker('${REPORTS_QUEUE}', async (job) => { process.stdout.write('active ' + job.id + '\\n'); await new Promise(() => {}); },
        { connection, prefix, ...JSON.parse(lock) });`;
    child = spawn(process.execPath, ['-e', doomed, REDIS_URL, prefix, JSON.stringify(REPORT_WORKER_LOCK)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const active = new Promise<string>((resolve) => child!.stdout!.on('data', (d: Buffer) => /active/.test(d.toString()) && resolve(d.toString().trim())));

    const er7 = makeOru({ controlId: 'KILLED-1', accession: 'ACC-KILLED' });
    const msg = Er7Message.parse(Buffer.from(er7));
    const queue = new Queue<ReportJobData>(REPORTS_QUEUE, { connection: redis, prefix });
    await new ReportIntake(redis, queue, { prefix, duplicateWindowS: 600 }).accept(readHeader(msg), parseOru(msg), 'trace-killed');
    await queue.close();
    expect(await active).toMatch(/^active hl7-/);

    // The other worker: the service itself (role worker), running while the first one dies.
    survivor = await startTestApp({ QUEUE_PREFIX: prefix }, 'worker');
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const store = new ReportStore(redis, prefix);
    const stored = await eventually(() => store.get('HOSP|ACC-KILLED'), 90_000, 250);
    const seconds = (Date.now() - killedAt) / 1000;
    console.log(`issue 16 item 6: report stored by the surviving worker ${seconds.toFixed(1)} s after SIGKILL (lock ${REPORT_WORKER_LOCK.lockDuration} ms, stalled check every ${REPORT_WORKER_LOCK.stalledInterval} ms)`);
    expect(stored).toMatchObject({ version: 1, report: { messageControlId: 'KILLED-1' } });
    // Generous bound (expected ≤ ~30 s: lock expiry + one stalled check); the old lock took ~130-150 s.
    expect(seconds).toBeLessThan(60);
  }, 120_000);
});
