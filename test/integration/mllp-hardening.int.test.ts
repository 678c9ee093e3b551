/**
 * Issue 16 over real TCP and real Redis: what unauthenticated MLLP peers can make the service hold,
 * burn and acknowledge. A global cap on buffered MLLP bytes with connection shedding, a deadline per
 * frame, bounded parsing (AE 207), one message per frame (MLLP and HTTP), MSH-10 at most 199 characters.
 */
import net from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MLLP_END, MLLP_END_CR, MLLP_START, MllpFramer } from '../../src/ingest/hl7/mllp';
import { QUEUES } from '../../src/queue/names';
import { errSegment, frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, deletePrefix, startTestApp, testPrefix } from '../helpers/service';
import { capturingLogger } from '../helpers/logs';

type App = Awaited<ReturnType<typeof startTestApp>>;

/** One client connection: what it sent is up to the test; ACKs and the close are collected. */
function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  const framer = new MllpFramer(1 << 20);
  const acks: string[] = [];
  let closed = false;
  const whenClosed = new Promise<void>((resolve) => socket.on('close', () => {
    closed = true;
    resolve();
  }));
  socket.on('error', () => undefined); // a reset from the server is what some tests expect
  socket.on('data', (d) => {
    for (const e of framer.push(d)) if (e.kind === 'frame') acks.push(e.payload.toString('utf8'));
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return {
    socket,
    acks,
    whenClosed,
    get closed() {
      return closed;
    },
    async send(data: Buffer | string) {
      await connected;
      await new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
    },
    async ack(n = 1): Promise<string> {
      await until(() => acks.length >= n || closed);
      return acks[n - 1] ?? '';
    },
  };
}

/** Waits for a condition (polling); the test's own timeout bounds it. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 10));
}

const gauge = async (app: App) => (await app.metrics.mllpBufferedBytes.get()).values[0]?.value ?? 0;
async function shedCount(app: App, reason: string): Promise<number> {
  const m = await app.metrics.mllpConnectionsShed.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('MLLP hardening (issue 16) over real TCP and Redis', () => {
  const prefix = testPrefix('mllp-hard');
  const KB = 1024;
  let app: App;
  let logs: ReturnType<typeof capturingLogger>;
  let redis: Redis;
  let reports: Queue;

  beforeAll(async () => {
    logs = capturingLogger();
    app = await startTestApp({ QUEUE_PREFIX: prefix, MLLP_MAX_FRAME_BYTES: 256 * KB, MLLP_MAX_BUFFERED_BYTES: 400 * KB }, 'api', logs.logger);
    redis = new Redis(REDIS_URL);
    reports = new Queue(QUEUES.reports, { connection: redis, prefix });
  });
  afterAll(async () => {
    await app.stop();
    await reports.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  it('item 4: past MLLP_MAX_BUFFERED_BYTES the connection with the largest unfinished frame is closed, logged and counted; the others go on', async () => {
    const start = Buffer.of(MLLP_START);
    const end = Buffer.of(MLLP_END, MLLP_END_CR);
    const a = connect(app.mllpPort!);
    const b = connect(app.mllpPort!);
    const c = connect(app.mllpPort!);
    // A: 200 KB of a frame that never ends, carrying a patient id that must not reach the log.
    await a.send(Buffer.concat([start, Buffer.from(`MSH|^~\\&|RIS|HOSP|VCF|HOSP|2026||ORU^R01|SHED-A|P|2.5.1\rPID|1||SECRET-MRN-16\rOBX|1|TX|||${'a'.repeat(200 * KB)}`)]));
    await until(async () => (await gauge(app)) >= 200 * KB);
    // B: a real report, all but its last bytes (150 KB held).
    const reportB = Buffer.from(makeOru({ controlId: 'SHED-B', accession: 'ACC-SHED-B', text: ['b'.repeat(150 * KB)] }));
    await b.send(Buffer.concat([start, reportB.subarray(0, reportB.length - 10)]));
    await until(async () => (await gauge(app)) >= 350 * KB);
    expect(a.closed || b.closed).toBe(false);
    // C: 100 KB more takes the total past 400 KB: A, the largest, is shed.
    await c.send(Buffer.concat([start, Buffer.from('c'.repeat(100 * KB))]));
    await a.whenClosed;
    expect(a.acks).toEqual([]);
    expect(await shedCount(app, 'buffer_limit')).toBe(1);

    // B finishes its report and gets its AA; C is still connected.
    await b.send(Buffer.concat([reportB.subarray(reportB.length - 10), end]));
    expect(msa(await b.ack())).toMatchObject({ code: 'AA', controlId: 'SHED-B' });
    expect(c.closed).toBe(false);
    b.socket.destroy();
    c.socket.destroy();
    await until(async () => (await gauge(app)) === 0);

    const shed = logs.lines.filter((l) => l.event === 'mllp.connection_shed');
    expect(shed).toHaveLength(1);
    expect(shed[0]).toMatchObject({ level: 'warn', reason: 'buffer_limit', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), maxBufferedBytes: 400 * KB });
    expect(shed[0]!.frameBytes).toBeGreaterThanOrEqual(200 * KB);
    expect(JSON.stringify(logs.lines)).not.toContain('SECRET-MRN-16');
  });

  it('item 3: a message past the parsing bounds (an escape storm) is answered AE 207 and the connection goes on', async () => {
    const storm = makeOru({ controlId: 'STORM-1', text: ['\\X41\\'.repeat(25_000)] });
    const { acks } = await sendRaw(app.mllpPort!, [frame(storm), frame(makeOru({ controlId: 'AFTER-STORM' }))], 2);
    expect(msa(acks[0]!)).toMatchObject({ code: 'AE', controlId: 'STORM-1' });
    expect(errSegment(acks[0]!)).toMatch(/\|207\^.*more than 20000 escape sequences/);
    expect(msa(acks[1]!)).toMatchObject({ code: 'AA', controlId: 'AFTER-STORM' });
  });

  it('item 8: two messages in one frame or one HTTP body are refused, never AA, and nothing is queued', async () => {
    const before = await reports.getJobCountByTypes('waiting');
    const two = makeOru({ controlId: 'PAIR-1', accession: 'ACC-P1' }) + makeOru({ controlId: 'PAIR-2', accession: 'ACC-P2' });
    const { acks } = await sendRaw(app.mllpPort!, [frame(two), frame(makeOru({ controlId: 'AFTER-PAIR', accession: 'ACC-P3' }))], 2);
    expect(msa(acks[0]!)).toMatchObject({ code: 'AE', controlId: 'PAIR-1' });
    expect(errSegment(acks[0]!)).toBe('ERR||MSH^7|100^malformed HL7 message^HL70357|E||||one message per frame: a second MSH at segment 7');
    expect(msa(acks[1]!)).toMatchObject({ code: 'AA', controlId: 'AFTER-PAIR' });
    const res = await fetch(`http://127.0.0.1:${app.httpPort}/hl7`, { method: 'POST', body: two, headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ ack: 'AE', error: { code: 'HL7_MALFORMED', message: 'one message per frame: a second MSH at segment 7' } });
    expect(await reports.getJobCountByTypes('waiting')).toBe(before + 1); // AFTER-PAIR only
  });

  it('item 9: an MSH-10 over 199 characters is answered AE at MSH^1^10, its echo cut to 199', async () => {
    const id = 'L'.repeat(100_000);
    const { acks } = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: id }))], 1);
    expect(msa(acks[0]!)).toMatchObject({ code: 'AE', controlId: 'L'.repeat(199) });
    expect(errSegment(acks[0]!)).toMatch(/^ERR\|\|MSH\^1\^10\|207\^/);
  });
});

describe('MLLP frame deadline (issue 16 item 4, MLLP_FRAME_TIMEOUT_MS)', () => {
  const prefix = testPrefix('mllp-deadline');
  let app: App;
  let logs: ReturnType<typeof capturingLogger>;

  beforeAll(async () => {
    logs = capturingLogger();
    app = await startTestApp({ QUEUE_PREFIX: prefix, MLLP_FRAME_TIMEOUT_MS: 300 }, 'api', logs.logger);
  });
  afterAll(async () => {
    await app.stop();
    await deletePrefix(prefix);
  });

  it('closes a connection still mid-frame at the deadline, however steadily it trickles bytes', async () => {
    const slow = connect(app.mllpPort!);
    await slow.send(Buffer.from('\x0bMSH|^~\\&|RIS|HOSP|VCF|HOSP|2026||ORU^R01|SLOW-1|P|2.5.1\r'));
    // A byte every 50 ms: never idle, so only a deadline from the frame's start can end it.
    const trickle = setInterval(() => {
      if (!slow.closed) slow.socket.write('x');
    }, 50);
    try {
      await slow.whenClosed;
    } finally {
      clearInterval(trickle);
    }
    expect(slow.acks).toEqual([]);
    expect(await shedCount(app, 'frame_timeout')).toBe(1);
    expect(logs.lines.filter((l) => l.event === 'mllp.connection_shed')).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'frame_timeout', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), frameTimeoutMs: 300 }),
    ]);
  });

  it('does not apply between frames: a connection idle longer than the deadline keeps working', async () => {
    const client = connect(app.mllpPort!);
    await client.send(frame(makeOru({ controlId: 'IDLE-1' })));
    expect(msa(await client.ack(1)).code).toBe('AA');
    await new Promise((r) => setTimeout(r, 600)); // twice the deadline, between frames
    await client.send(frame(makeOru({ controlId: 'IDLE-2' })));
    expect(msa(await client.ack(2))).toMatchObject({ code: 'AA', controlId: 'IDLE-2' });
    expect(client.closed).toBe(false);
    client.socket.destroy();
    expect(await shedCount(app, 'frame_timeout')).toBe(1);
  });
});
