import { Client, Message } from 'node-hl7-client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { QUEUES } from '../../src/queue/names';
import { errSegment, frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, TestRedisServer, deletePrefix, freePort, startTestApp, testPrefix } from '../helpers/service';

type App = Awaited<ReturnType<typeof startTestApp>>;

/** Sends messages with node-hl7-client (the test client the issue names), one at a time, and returns the ACKs. */
async function sendWithClient(port: number, messages: string[]): Promise<string[]> {
  const client = new Client({ host: '127.0.0.1' });
  const acks: string[] = [];
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  let timer: NodeJS.Timeout | undefined;
  const conn = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 3 }, async (res) => {
    acks.push(res.getMessage().toString());
    if (acks.length === messages.length) done();
  });
  try {
    for (const m of messages) await conn.sendMessage(new Message({ text: m }));
    await Promise.race([all, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`only ${acks.length} ACKs`)), 10_000)))]);
  } finally {
    clearTimeout(timer);
    await conn.close();
    client.closeAll?.();
  }
  return acks;
}

describe('HL7 ingestion over real TCP and real Redis', () => {
  const prefix = testPrefix('hl7');
  let app: App;
  let redis: Redis;
  let reports: Queue;
  let correlate: Queue;

  beforeAll(async () => {
    // api role: nothing consumes the queue, so the test sees exactly what an AA left in Redis.
    app = await startTestApp({ QUEUE_PREFIX: prefix, MLLP_MAX_FRAME_BYTES: 4 * 1024 * 1024 }, 'api');
    redis = new Redis(REDIS_URL);
    reports = new Queue(QUEUES.reports, { connection: redis, prefix });
    correlate = new Queue(QUEUES.correlate, { connection: redis, prefix });
  });
  afterAll(async () => {
    await app.stop();
    await reports.close();
    await correlate.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('answers AA only once the job is in Redis (node-hl7-client)', async () => {
    const acks = await sendWithClient(app.mllpPort!, [makeOru({ controlId: 'AA-1', accession: 'ACC-AA-1' })]);
    expect(msa(acks[0]!)).toMatchObject({ code: 'AA', controlId: 'AA-1' });
    const jobs = await reports.getJobs(['waiting']);
    const job = jobs.find((j) => j.id?.startsWith('hl7-'));
    expect(job).toBeDefined();
    const stored = await redis.get(`${prefix}:hl7:msg:${job!.data.messageId}`);
    expect(JSON.parse(stored!)[0]).toMatchObject({ accessionNumber: 'ACC-AA-1', messageControlId: 'AA-1' });
  });

  it('acknowledges a repeated MSH-10 from the same sender again and queues it once', async () => {
    const before = await reports.getJobCountByTypes('waiting');
    const m = makeOru({ controlId: 'DUP-1', accession: 'ACC-DUP' });
    // Raw socket: node-hl7-client waits forever when two ACKs carry the same MSA-2.
    const { acks } = await sendRaw(app.mllpPort!, [frame(m), frame(m), frame(m)], 3);
    expect(acks.map((a) => msa(a).code)).toEqual(['AA', 'AA', 'AA']);
    expect(await reports.getJobCountByTypes('waiting')).toBe(before + 1);
    // The same MSH-10 from another sender is another message.
    await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'DUP-1', sendingFacility: 'OTHER' }))], 1);
    expect(await reports.getJobCountByTypes('waiting')).toBe(before + 2);
  });

  it('handles partial frames and many frames in one chunk, ACKs in order', async () => {
    const stream = Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(makeOru({ controlId: `BULK-${i}`, accession: `B${i}` }))));
    const oneChunk = await sendRaw(app.mllpPort!, [stream], 20);
    expect(oneChunk.acks.map((a) => msa(a).controlId)).toEqual(Array.from({ length: 20 }, (_, i) => `BULK-${i}`));
    const pieces: Buffer[] = [];
    const split = Buffer.concat([frame(makeOru({ controlId: 'SPLIT-1' })), frame(makeOru({ controlId: 'SPLIT-2' }))]);
    for (let i = 0; i < split.length; i += 7) pieces.push(split.subarray(i, i + 7));
    const partial = await sendRaw(app.mllpPort!, pieces, 2);
    expect(partial.acks.map((a) => [msa(a).code, msa(a).controlId])).toEqual([['AA', 'SPLIT-1'], ['AA', 'SPLIT-2']]);
  });

  it('accepts a 2 MB report and rejects a frame over the limit with AE, echoing MSH-10', async () => {
    const line = 'Vertebral body heights are maintained. '.repeat(50);
    const big = makeOru({ controlId: 'BIG-1', accession: 'ACC-BIG', text: Array.from({ length: Math.ceil((2 * 1024 * 1024) / line.length) }, () => line) });
    expect(Buffer.byteLength(big)).toBeGreaterThan(2 * 1024 * 1024);
    const ok = await sendRaw(app.mllpPort!, [frame(big)], 1);
    expect(msa(ok.acks[0]!)).toMatchObject({ code: 'AA', controlId: 'BIG-1' });
    const huge = makeOru({ controlId: 'HUGE-1', text: Array.from({ length: 1400 }, () => line + line) });
    const rejected = await sendRaw(app.mllpPort!, [frame(huge), frame(makeOru({ controlId: 'AFTER-HUGE' }))], 2);
    expect(msa(rejected.acks[0]!)).toMatchObject({ code: 'AE', controlId: 'HUGE-1' });
    expect(errSegment(rejected.acks[0]!)).toContain('exceeds');
    expect(msa(rejected.acks[1]!)).toMatchObject({ code: 'AA', controlId: 'AFTER-HUGE' });
  }, 60_000);

  it('survives a garbage byte stream: the connection closes cleanly and the server still answers', async () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251).filter((b) => b !== 0x0b));
    const res = await sendRaw(app.mllpPort!, [junk], 0);
    expect(res.closed).toBe(true);
    const acks = await sendWithClient(app.mllpPort!, [makeOru({ controlId: 'AFTER-GARBAGE' })]);
    expect(msa(acks[0]!).code).toBe('AA');
  });

  it('answers malformed messages AE and other message types with the configured AR, with ERR', async () => {
    const noPid = 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|20260101||ORU^R01|BAD-1|P|2.5.1\rOBR|1||A\r';
    const adt = 'MSH|^~\\&|ADT|HOSP|VCF|HOSP|20260101||ADT^A01|ADT-1|P|2.5.1\rPID|||1\r';
    const oldVersion = 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|20260101||ORU^R01|OLD-1|P|2.1\rPID|||1\rOBR|1||A\r';
    const { acks } = await sendRaw(app.mllpPort!, [frame(noPid), frame(adt), frame(oldVersion)], 3);
    expect(acks.map((a) => [msa(a).code, msa(a).controlId])).toEqual([['AE', 'BAD-1'], ['AR', 'ADT-1'], ['AR', 'OLD-1']]);
    expect(errSegment(acks[0]!)).toMatch(/^ERR\|\|PID\^?.*\|101\^/);
    expect(errSegment(acks[1]!)).toContain('|200^');
    // A pre-2.5 sender gets the error in ERR-1 (ELD): location ^ code as subcomponents.
    expect(errSegment(acks[2]!)).toBe('ERR|MSH^1^12^203&unsupported version&HL70357');
  });

  it('POST /hl7 answers with the ACK, and 4xx JSON when asked for JSON', async () => {
    const agent = request(`http://127.0.0.1:${app.httpPort}`);
    const ok = await agent.post('/hl7').set('content-type', 'x-application/hl7-v2+er7').send(makeOru({ controlId: 'HTTP-1' }));
    expect(ok.status).toBe(200);
    expect(msa(ok.text)).toMatchObject({ code: 'AA', controlId: 'HTTP-1' });
    const bad = await agent.post('/hl7').set('accept', 'application/json').set('content-type', 'text/plain').send('not hl7');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ ack: 'AE', error: { code: 'HL7_MALFORMED' } });
  });

  it('reports metrics and readiness', async () => {
    const agent = request(`http://127.0.0.1:${app.httpPort}`);
    await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'METRICS-1' }))], 1);
    const metrics = await agent.get('/metrics');
    expect(metrics.text).toMatch(/vcf_hl7_acks_total\{code="AA",transport="mllp"\} \d+/);
    expect(metrics.text).toMatch(/vcf_queue_jobs\{queue="reports",state="waiting"\} \d+/);
    expect(metrics.text).toContain('vcf_hl7_ack_latency_seconds_bucket');
    expect((await agent.get('/readyz')).body).toMatchObject({ status: 'ready' });
  });
});

describe('HL7 ingestion while Redis is down', () => {
  const prefix = testPrefix('hl7-down');
  let server: TestRedisServer;
  let app: App;

  beforeAll(async () => {
    server = new TestRedisServer(await freePort());
    await server.start();
    app = await startTestApp({ QUEUE_PREFIX: prefix, REDIS_URL: server.url }, 'api');
  });
  afterAll(async () => {
    await app.stop();
    await server.stop();
  });

  it('answers AR while Redis is unavailable, and AA again once it is back', async () => {
    const first = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'UP-1' }))], 1);
    expect(msa(first.acks[0]!).code).toBe('AA');
    await server.stop();
    const down = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'DOWN-1' }))], 1);
    expect(msa(down.acks[0]!)).toMatchObject({ code: 'AR', controlId: 'DOWN-1' });
    expect(errSegment(down.acks[0]!)).toContain('retry');
    const ready = await request(`http://127.0.0.1:${app.httpPort}`).get('/readyz');
    expect(ready.status).toBe(503);
    await server.start();
    const deadline = Date.now() + 10_000;
    let code = '';
    while (Date.now() < deadline && code !== 'AA') {
      code = msa((await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'DOWN-1' }))], 1)).acks[0]!).code;
      if (code !== 'AA') await new Promise((r) => setTimeout(r, 200));
    }
    expect(code).toBe('AA');
  }, 30_000);
});

describe('POST /hl7 with API_TOKEN set', () => {
  const prefix = testPrefix('hl7-auth');
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: 'tok-123' }, 'api');
  });
  afterAll(async () => {
    await app.stop();
    await deletePrefix(prefix);
  });

  it('answers 401 JSON without the bearer token, and the ACK with it', async () => {
    const agent = request(`http://127.0.0.1:${app.httpPort}`);
    const body = makeOru({ controlId: 'AUTH-1' });
    const denied = await agent.post('/hl7').send(body);
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required' } });
    expect((await agent.post('/hl7').set('authorization', 'Bearer wrong').send(body)).status).toBe(401);
    const ok = await agent.post('/hl7').set('authorization', 'Bearer tok-123').set('content-type', 'text/plain').send(body);
    expect(msa(ok.text)).toMatchObject({ code: 'AA', controlId: 'AUTH-1' });
  });
});
