/**
 * Property-based hostile input for POST /notifications/studies (issue 16), through the real HTTP app
 * (createHttpApp + studyRouter) over a real StudyIntake on Redis and BullMQ: random JSON values and
 * shapes, huge strings, invalid UIDs, prototype-pollution keys (`__proto__`, `constructor`), deep
 * nesting, broken JSON, odd content types. The answer is always JSON: 202/200 for a valid notification,
 * 400 (BAD_REQUEST, DICOMWEB_SOURCE_UNKNOWN), 413 or 415 otherwise; never a 5xx, and only valid
 * notifications reach the queue. Runs are few and each property stops after a time limit; a failure
 * prints the seed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import pino from 'pino';
import request from 'supertest';
import { createHttpApp } from '../../../../src/http/app';
import { UID_MAX_LENGTH, UID_PATTERN } from '../../../../src/ingest/dicomweb/constants';
import { NOTIFICATION_MAX_BYTES, studyRouter } from '../../../../src/ingest/dicomweb/notifications';
import { createMetrics } from '../../../../src/observability/metrics';
import { StudyIntake, type StudyNotification } from '../../../../src/queue/study-intake';
import { STUDIES_QUEUE, type StudyJobData } from '../../../../src/queue/studies';
import { StudyStore } from '../../../../src/store/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../../../helpers/service';

/** Per property: stop generating new cases after this long (what ran is still checked). */
const TIME_LIMIT_MS = 2000;
const settings = (numRuns: number) => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

const SOURCES = ['default', 'pacs2'];
const TOKEN = 'notify-secret';

describe('POST /notifications/studies under hostile bodies (real Redis, BullMQ)', () => {
  const prefix = testPrefix('notify-prop');
  let redis: Redis;
  let queue: Queue<StudyJobData>;
  let server: http.Server;
  let base: string;
  /** What the intake was handed: only valid notifications may get there. */
  const accepted: StudyNotification[] = [];

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    queue = new Queue<StudyJobData>(STUDIES_QUEUE, { connection: redis, prefix });
    const store = new StudyStore(redis, prefix, 600);
    const intake = new StudyIntake(redis, queue, store, { prefix, attempts: 1, backoffMs: 100, currentFingerprint: async () => 'v1:property' });
    const logger = pino({ level: 'silent' });
    const app = createHttpApp({
      logger,
      metrics: createMetrics(),
      readiness: {},
      routers: [
        studyRouter({
          apiToken: TOKEN,
          sources: SOURCES,
          accept: (n, traceId) => {
            accepted.push(n);
            return intake.accept(n, traceId);
          },
          getStudy: (uid) => intake.getStudy(uid),
          getKeyImage: (uid) => intake.getKeyImage(uid),
          logger,
        }),
      ],
    });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await queue.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  /** Posts raw bytes; checks the answer is a JSON body with an allowed status, and returns it. */
  async function post(body: string | Buffer, contentType: string | null = 'application/json') {
    const req = request(base).post('/notifications/studies').set('authorization', `Bearer ${TOKEN}`);
    if (contentType !== null) req.set('content-type', contentType);
    const res = await req.send(body);
    expect([200, 202, 400, 413, 415]).toContain(res.status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    if (res.status >= 400) {
      expect(res.body.error.code).toEqual(expect.any(String));
      expect(res.body.error.code).not.toBe('INTERNAL');
    } else {
      expect(res.body.jobId).toEqual(expect.any(String));
    }
    return res;
  }

  const isUid = (v: unknown) => typeof v === 'string' && v.length <= UID_MAX_LENGTH && UID_PATTERN.test(v);
  const optionalText = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.length >= 1 && v.length <= 64);
  /** What the CONTRACT accepts; members that are not own properties of the parsed JSON do not count. */
  function valid(body: unknown): boolean {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const own = (k: string) => (Object.hasOwn(body, k) ? (body as Record<string, unknown>)[k] : undefined);
    const source = own('source');
    return (
      isUid(own('studyInstanceUid')) &&
      optionalText(source) &&
      optionalText(own('accessionNumber')) &&
      optionalText(own('patientId')) &&
      SOURCES.includes((source as string | null | undefined) ?? 'default')
    );
  }

  const uid = fc.oneof(
    fc.array(fc.nat({ max: 99999 }), { minLength: 1, maxLength: 14 }).map((parts) => parts.join('.')),
    fc.constantFrom('1.2.840.10008.5.1.4.1.1.2', '1..2', '1.2.', '.1', '1.2.a', '', ' 1.2', '1.2\n', `1.${'2'.repeat(62)}`, `1.${'2'.repeat(63)}`, '١.٢'),
    fc.string({ maxLength: 80 }),
  );
  const text = fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom('', 'x'.repeat(64), 'x'.repeat(65), 'default', 'pacs2', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'http://evil.test/dicom-web'));
  const member = fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: fc.constant(null) });
  /** Notification-shaped objects: the CONTRACT's members (or not), wrong types, extra and dangerous keys. */
  const notificationLike = fc.record(
    {
      studyInstanceUid: fc.oneof({ weight: 4, arbitrary: uid }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
      source: member,
      accessionNumber: member,
      patientId: member,
      url: fc.constantFrom('http://127.0.0.1:1/dicom-web', 'file:///etc/passwd'),
      extra: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: [] },
  );
  /** `__proto__`, `constructor` and `prototype` as JSON keys, at the top and nested (JSON.parse makes them own properties). */
  const pollutionKeys = fc.constantFrom(
    '{"__proto__":{"polluted":"yes","studyInstanceUid":"1.2.3"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}},"studyInstanceUid":"1.2.3"}',
    '{"studyInstanceUid":"1.2.3","__proto__":{"source":"evil"}}',
    '{"studyInstanceUid":"1.2.3","source":"__proto__"}',
    '{"studyInstanceUid":{"__proto__":{"toString":"1.2"}}}',
    '{"__proto__":null,"studyInstanceUid":"1.2.3"}',
    '{"studyInstanceUid":"1.2.3","constructor":"x","prototype":"y","hasOwnProperty":1}',
  );

  afterEach(() => {
    // Nothing may have reached Object.prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).source).toBeUndefined();
    expect(({} as Record<string, unknown>).studyInstanceUid).toBeUndefined();
  });

  it('random JSON values: 202/200 exactly for valid notifications, else 400; the intake sees only valid ones', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 4 }), notificationLike), async (body) => {
        const json = JSON.stringify(body) ?? 'null';
        fc.pre(Buffer.byteLength(json) <= NOTIFICATION_MAX_BYTES);
        const before = accepted.length;
        const res = await post(json);
        const ok = valid(JSON.parse(json));
        expect(res.status < 400).toBe(ok);
        if (ok) expect(accepted.length).toBe(before + 1);
        else expect([400]).toContain(res.status);
      }),
      settings(250),
    );
    for (const n of accepted) {
      expect(isUid(n.studyInstanceUid)).toBe(true);
      expect(SOURCES).toContain(n.source);
      expect(Object.keys(n).sort()).toEqual(['accessionNumber', 'patientId', 'source', 'studyInstanceUid']);
    }
  });

  it('prototype-pollution keys are plain data: an own "__proto__" member is ignored, nothing leaks into objects', async () => {
    await fc.assert(
      fc.asyncProperty(pollutionKeys, async (json) => {
        const before = accepted.length;
        const res = await post(json);
        expect(res.status < 400).toBe(valid(JSON.parse(json)));
        for (const n of accepted.slice(before)) expect(n.source).toBe('default');
      }),
      settings(30),
    );
  });

  it('broken JSON, random text, huge strings and deep nesting: 400 or 413, never a 5xx', async () => {
    const deep = fc.integer({ min: 100, max: 20_000 }).chain((depth) =>
      fc.constantFrom(`${'['.repeat(depth)}${']'.repeat(depth)}`, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, `{"studyInstanceUid":${'['.repeat(depth)}"1.2"${']'.repeat(depth)}}`, '['.repeat(depth)),
    );
    const huge = fc.integer({ min: 1, max: 200_000 }).map((n) => JSON.stringify({ studyInstanceUid: '1.2.3', patientId: 'P'.repeat(n) }));
    const cut = fc.tuple(fc.constantFrom('{"studyInstanceUid":"1.2.3","source":"default"}', '{"studyInstanceUid":"1.2.840.113619.2.55.3","accessionNumber":"A1"}'), fc.nat()).map(([s, n]) => s.slice(0, n % s.length));
    await fc.assert(
      fc.asyncProperty(fc.oneof(deep, huge, cut, fc.string({ maxLength: 500 }), fc.uint8Array({ maxLength: 500 }).map((a) => Buffer.from(a))), async (body) => {
        const res = await post(body);
        if (Buffer.byteLength(body) > NOTIFICATION_MAX_BYTES) expect(res.status).toBe(413);
      }),
      settings(150),
    );
  });

  it('odd content types: 415 unless JSON, then as any JSON body', async () => {
    const type = fc.oneof(
      fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/fhir+json', 'APPLICATION/JSON', 'application/jsonx', ''),
      fc.string({ maxLength: 60 }).filter((s) => !/[\r\n]/.test(s) && /^[\x20-\x7e]*$/.test(s)),
    );
    await fc.assert(
      fc.asyncProperty(type, async (ct) => {
        await post('{"studyInstanceUid":"1.2.3"}', ct);
      }),
      settings(100),
    );
  });
});
