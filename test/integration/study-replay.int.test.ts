/**
 * POST /studies/{studyInstanceUid}/replay on real Redis and BullMQ: the route (studyRouter in the HTTP app)
 * over a real StudyIntake and StudyStore. A replay queues a known, settled study again (a failed one
 * included) whatever its fingerprint says; 409 while its job is pending, 404 for a study never notified.
 * The fault test test/faults/orthanc-outage.fault.ts replays a study that failed while its PACS was down.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import request from 'supertest';
import { studyRouter } from '../../src/ingest/dicomweb/notifications';
import { createHttpApp } from '../../src/http/app';
import { createMetrics } from '../../src/observability/metrics';
import { StudyIntake } from '../../src/queue/study-intake';
import { STUDIES_QUEUE, type StudyJobData } from '../../src/queue/studies';
import { StudyStore } from '../../src/store/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';

const FINGERPRINT = 'v1:replay-test';

describe('POST /studies/{uid}/replay (real Redis, BullMQ)', () => {
  const prefix = testPrefix('replay');
  let redis: Redis;
  let queue: Queue<StudyJobData>;
  let store: StudyStore;
  let server: http.Server;
  let base: string;
  const token = 'replay-secret';

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    queue = new Queue<StudyJobData>(STUDIES_QUEUE, { connection: redis, prefix });
    store = new StudyStore(redis, prefix, 600);
    // The source always answers with the fingerprint the failed study settled with: a notification sees
    // nothing new, a replay does not ask.
    const intake = new StudyIntake(redis, queue, store, { prefix, attempts: 3, backoffMs: 100, currentFingerprint: async () => FINGERPRINT });
    const logger = pino({ level: 'silent' });
    const app = createHttpApp({
      logger,
      metrics: createMetrics(),
      readiness: {},
      routers: [
        studyRouter({
          apiToken: token,
          sources: ['default'],
          accept: (n, traceId) => intake.accept(n, traceId),
          getStudy: (uid) => intake.getStudy(uid),
          getKeyImage: (uid) => intake.getKeyImage(uid),
          replay: (uid, traceId) => intake.replay(uid, traceId),
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

  const post = (path: string, body?: object) => request(base).post(path).set('authorization', `Bearer ${token}`).send(body);
  const state = async (uid: string) => (await request(base).get(`/studies/${uid}`).set('authorization', `Bearer ${token}`)).body;

  /** Runs the study's waiting job to a non-retryable failure, as the study worker records one. */
  async function failPendingJob(uid: string): Promise<void> {
    const worker = new Worker<StudyJobData>(
      STUDIES_QUEUE,
      async (job) => {
        // As the worker leaves a study whose patient id it read from the PACS (the accession came with the notification).
        await store.update(uid, { fingerprint: FINGERPRINT, patientId: 'MRN-FROM-PACS', identifiers: { accessionNumber: 'notification', patientId: 'qido-rs' } });
        await store.recordError(uid, { at: new Date().toISOString(), attempt: job.attemptsMade + 1, code: 'STUDY_UNUSABLE', message: 'no usable CT series', retryable: false }, { status: 'failed', settledFingerprint: FINGERPRINT });
        throw new UnrecoverableError('STUDY_UNUSABLE');
      },
      { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix },
    );
    try {
      for (let i = 0; i < 200 && (await queue.getJob(`study-${uid}`).then((j) => j?.getState())) !== 'failed'; i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await worker.close();
      await worker.disconnect();
    }
    expect(await (await queue.getJob(`study-${uid}`))?.getState()).toBe('failed');
  }

  it('404 JSON for a study never notified; 400 for a bad UID; 401 without the bearer token', async () => {
    const unknown = await post('/studies/1.2.826.0.1.3680043.10.777.1/replay');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/no notification/) } });
    expect((await post('/studies/1.2.abc/replay')).status).toBe(400);
    const anonymous = await request(base).post('/studies/1.2.826.0.1.3680043.10.777.1/replay');
    expect(anonymous.status).toBe(401);
    expect(await queue.getJobCounts('waiting', 'failed')).toEqual({ waiting: 0, failed: 0 });
  });

  it('409 JSON while the job is pending (nothing added); once failed, a notification sees the same content (200) but a replay queues it again (202)', async () => {
    const uid = '1.2.826.0.1.3680043.10.777.2';
    const notified = await post('/notifications/studies', { studyInstanceUid: uid, accessionNumber: 'ACC-777-2' });
    expect(notified.status).toBe(202);

    const pending = await post(`/studies/${uid}/replay`);
    expect(pending.status).toBe(409);
    expect(pending.body).toEqual({ error: { code: 'CONFLICT', message: expect.stringMatching(/still queued.*status queued/) } });
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });

    await failPendingJob(uid);
    expect(await state(uid)).toMatchObject({ status: 'failed', errors: [{ code: 'STUDY_UNUSABLE' }] });
    // The PACS notifying again changes nothing: the content that failed is still the same.
    const again = await post('/notifications/studies', { studyInstanceUid: uid });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ jobId: `study-${uid}`, status: 'failed', unchanged: true });

    const replayed = await post(`/studies/${uid}/replay`);
    expect(replayed.status).toBe(202);
    // The same answer as an accepted notification, and where to follow it.
    expect(replayed.body).toEqual({ jobId: `study-${uid}`, status: 'queued' });
    expect(replayed.headers.location).toBe(`/studies/${uid}`);
    const job = await queue.getJob(`study-${uid}`);
    expect(await job?.getState()).toBe('waiting');
    expect(job?.data).toEqual({ studyInstanceUid: uid, source: 'default', traceId: expect.any(String) });
    expect(await state(uid)).toMatchObject({ status: 'queued', attempts: 0, errors: [], fingerprint: null, identifiers: { accessionNumber: 'notification', patientId: null } });
    // What the notification said is kept for pairing; what the worker read from the PACS it reads again.
    const stored = await store.get(uid);
    expect(stored).toMatchObject({ accessionNumber: 'ACC-777-2', patientId: null, source: 'default' });

    // Pending again: a second replay adds nothing.
    expect((await post(`/studies/${uid}/replay`)).status).toBe(409);
    expect(await queue.getJobCounts('waiting', 'failed')).toEqual({ waiting: 1, failed: 0 });
  });
});
