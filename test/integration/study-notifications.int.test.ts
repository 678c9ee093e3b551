/**
 * Study notifications end to end: POST /notifications/studies → the study worker finds the series in a
 * real Orthanc (QIDO-RS), retrieves the chosen one (WADO-RS), assembles and analyses it → GET /studies/{uid}.
 * Synthetic phantoms (with a localizer and a dose screen in the same study) are uploaded with STOW-RS; the
 * real-world fixtures (JPEG 2000, Implicit VR) too, when ../shared/fixtures is present.
 * Skips, saying why, when Orthanc is absent.
 */
import fs from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { parseHeaders } from '../../src/imaging';
import { phantomBuffers, type GroundTruth } from '../../src/imaging/phantom/generate';
import { QUEUES } from '../../src/queue/names';
import type { StudyState } from '../../src/store/studies';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { describeUnless, fillEmptyUids, imagingFixturesSkipReason, implicitFiles, j2kFiles, uidFor } from '../helpers/imaging-fixtures';
import { orthancSkipReason, startOrthanc, stowRs, type OrthancInstance } from '../helpers/orthanc';
import { REDIS_URL, TestRedisServer, deletePrefix, freePort, startTestApp, testPrefix } from '../helpers/service';
import { signLink } from '../../src/http/signed-link';

type App = Awaited<ReturnType<typeof startTestApp>>;

const orthancSkip = orthancSkipReason();
const fixturesSkip = imagingFixturesSkipReason();
for (const reason of [orthancSkip, fixturesSkip]) if (reason) console.warn(`study-notifications.int: ${reason}`);
const describeOrthanc = describeUnless(orthancSkip);
const describeFixtures = describeUnless(orthancSkip ?? fixturesSkip);

jest.setTimeout(180_000);

const TERMINAL = new Set(['awaiting-report', 'done', 'failed']);
/** Small phantom: 128×128, 3 mm pixels, 4.5 mm slices over T1–S1 (116 slices). */
const SMALL = { size: 128, pixelSpacing: 3, sliceSpacing: 4.5 } as const;

/** Polls GET /studies/{uid} until `done(state)`; returns the final state and every state seen on the way. */
async function waitFor(
  base: string,
  uid: string,
  done: (s: StudyState) => boolean = (s) => TERMINAL.has(s.status),
  timeoutMs = 120_000,
): Promise<{ state: StudyState; seen: StudyState[] }> {
  const seen: StudyState[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(base).get(`/studies/${uid}`);
    if (res.status === 200) {
      const state = res.body as StudyState;
      seen.push(state);
      if (done(state)) return { state, seen };
    }
    if (Date.now() > deadline) throw new Error(`study did not settle: last ${JSON.stringify(seen.at(-1) ?? res.body).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function notify(base: string, body: unknown) {
  return request(base).post('/notifications/studies').send(body as object);
}

describeOrthanc('study notifications against a real Orthanc', () => {
  const prefix = testPrefix('studies');
  let orthanc: OrthancInstance;
  let app: App;
  let base: string;
  let redis: Redis;
  let studies: Queue;
  let correlate: Queue;
  let phantom: { truth: GroundTruth; files: { name: string; data: Buffer }[] };

  beforeAll(async () => {
    orthanc = await startOrthanc({ restartOnCrash: true });
    const deadPort = await freePort();
    app = await startTestApp({
      QUEUE_PREFIX: prefix,
      DICOMWEB_SOURCES: {
        default: { url: orthanc.dicomWebUrl },
        down: { url: `http://127.0.0.1:${deadPort}/dicom-web` },
      },
      DICOMWEB_RETRIES: 2,
      DICOMWEB_TIMEOUT_MS: 30_000,
      STUDY_JOB_ATTEMPTS: 3,
      STUDY_JOB_BACKOFF_MS: 300,
    });
    base = `http://127.0.0.1:${app.httpPort}`;
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    studies = new Queue(QUEUES.studies, { connection: redis, prefix });
    correlate = new Queue(QUEUES.correlate, { connection: redis, prefix });
    phantom = phantomBuffers({ seed: 11, ...SMALL, localizer: true, doseReport: true });
    await stowRs(orthanc, phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
  });

  afterAll(async () => {
    await app?.stop();
    await studies?.close();
    await correlate?.close();
    await deletePrefix(prefix);
    redis?.disconnect();
    await orthanc?.stop();
  });

  it('analyses the phantom: the axial CT is chosen over the localizer and the dose screen, with its geometry', async () => {
    const { truth } = phantom;
    const uid = truth.studyInstanceUid;
    const first = await notify(base, { studyInstanceUid: uid, accessionNumber: 'ACC-PHANTOM-11' });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ jobId: `study-${uid}`, status: 'queued' });
    expect(first.headers.location).toBe(`/studies/${uid}`);
    // A repeat while queued or running adds nothing.
    const repeat = await notify(base, { studyInstanceUid: uid });
    expect(repeat.status).toBe(202);
    expect(repeat.body).toMatchObject({ jobId: `study-${uid}`, duplicate: true });

    const { state, seen } = await waitFor(base, uid);
    expect(state.status).toBe('awaiting-report');
    const statuses = [...new Set(seen.map((s) => s.status))];
    expect(statuses.at(-1)).toBe('awaiting-report');
    expect(state).toMatchObject({ studyInstanceUid: uid, source: 'default', attempts: 1, errors: [] });
    // No report yet: the correlate job marks the study as waiting for one (until CORRELATE_REPORT_WAIT_H).
    const waiting = (await waitFor(base, uid, (s) => s.correlation?.outcome === 'awaiting-report')).state;
    expect(waiting.status).toBe('awaiting-report');
    expect(Date.parse(waiting.correlation!.waitUntil!)).toBeGreaterThan(Date.now() + 71 * 3_600_000);
    expect(state.fingerprint).toMatch(/^v2:[0-9a-f]{64}$/);
    // The worker ran the model: vertebrae found, and a key image served beside the state.
    expect(state.findings?.model).toMatchObject({ name: expect.any(String), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((state.findings?.vertebrae as unknown[]).length).toBeGreaterThan(10);
    const key = await request(base).get(`/studies/${uid}/key-image.png`).buffer(true);
    expect(key.status).toBe(200);
    expect(key.headers['content-type']).toBe('image/png');
    expect((key.body as Buffer).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(state.timingsMs?.total).toBeGreaterThanOrEqual(state.timingsMs!.retrieve + state.timingsMs!.analyse - 1);

    // Series chosen and why; the localizer and the dose screen rejected with their reasons.
    expect(state.series?.chosen).toMatchObject({ seriesInstanceUid: truth.seriesInstanceUid, frames: truth.geometry.slices });
    expect(state.series?.reasons.join(' ')).toMatch(/original axial CT/);
    const rejected = new Map(state.series?.rejected.map((r) => [r.seriesInstanceUid, r.reason]));
    const localizer = truth.extraSeries.find((s) => s.kind === 'localizer')!.seriesInstanceUid;
    const dose = truth.extraSeries.find((s) => s.kind === 'dose-report')!.seriesInstanceUid;
    expect(rejected.get(localizer)).toMatch(/localizer|scout/i);
    expect(rejected.get(dose)).toMatch(/secondary capture|dose|modality/i);

    // Geometry against the ground truth: dims, spacing, direction, and the origin at one end of the stack.
    const v = state.findings!.volume;
    const g = truth.geometry;
    expect(state.findings).toMatchObject({ studyInstanceUid: uid, seriesInstanceUid: truth.seriesInstanceUid });
    expect(v.dims).toEqual([g.columns, g.rows, g.slices]);
    expect(v.spacingMm[0]).toBeCloseTo(g.pixelSpacingMm[1], 3);
    expect(v.spacingMm[1]).toBeCloseTo(g.pixelSpacingMm[0], 3);
    expect(v.spacingMm[2]).toBeCloseTo(g.sliceSpacingMm, 2);
    const iop = g.imageOrientationPatient;
    v.direction[0].forEach((c, i) => expect(c).toBeCloseTo(iop[i]!, 5));
    v.direction[1].forEach((c, i) => expect(c).toBeCloseTo(iop[i + 3]!, 5));
    const ends = [g.firstPositionMm, g.lastPositionMm];
    const start = ends.find((p) => p.every((c, i) => Math.abs(c - v.originMm[i]!) < 0.01));
    expect(start).toBeDefined();
    const other = ends.find((p) => p !== start)!;
    const far = v.originMm.map((o, i) => o + (v.dims[2] - 1) * v.spacingMm[2] * v.direction[2][i]!);
    far.forEach((c, i) => expect(c).toBeCloseTo(other[i]!, 1));
    expect(v.orientation).toMatch(/^LP[SI]$/);

    // One job in all; it completed.
    expect(await studies.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 1, failed: 0 });
  });

  it('a repeat after completion with the study unchanged adds nothing, and says so', async () => {
    const uid = phantom.truth.studyInstanceUid;
    const before = (await request(base).get(`/studies/${uid}`)).body as StudyState;
    const res = await notify(base, { studyInstanceUid: uid });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ jobId: `study-${uid}`, status: 'awaiting-report', unchanged: true });
    expect(await studies.getJobCounts('waiting', 'active', 'delayed', 'completed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 1 });
    expect((await request(base).get(`/studies/${uid}`)).body).toEqual(before);
  });

  it('re-analyses once one more series arrives, and correlates at once when the report is already stored', async () => {
    const uid = phantom.truth.studyInstanceUid;
    const before = (await request(base).get(`/studies/${uid}`)).body as StudyState;
    // The report arrives over MLLP first (same accession as the notification, no Study Instance UID in it).
    const { acks } = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'STUDY-ORU-1', accession: 'ACC-PHANTOM-11' }))], 1);
    expect(msa(acks[0]!).code).toBe('AA');
    const reportKey = `${prefix}:report:HOSP|ACC-PHANTOM-11`;
    for (let i = 0; i < 200 && !(await redis.exists(reportKey)); i++) await new Promise((r) => setTimeout(r, 50));

    // Another reconstruction of the same acquisition (same study, sharp kernel): a new series.
    const bone = phantomBuffers({ seed: 11, ...SMALL, convolutionKernel: 'B60f' });
    expect(bone.truth.studyInstanceUid).toBe(uid);
    expect(bone.truth.seriesInstanceUid).not.toBe(phantom.truth.seriesInstanceUid);
    await stowRs(orthanc, bone.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));

    const res = await notify(base, { studyInstanceUid: uid, accessionNumber: 'ACC-PHANTOM-11' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ jobId: `study-${uid}`, status: 'queued' });
    const { state } = await waitFor(base, uid, (s) => s.status === 'done' && s.notifiedAt !== before.notifiedAt);
    expect(state.fingerprint).not.toBe(before.fingerprint);
    expect([phantom.truth.seriesInstanceUid, bone.truth.seriesInstanceUid]).toContain(state.findings?.seriesInstanceUid);
    expect(state.series?.reasons.join(' ')).toMatch(/preferred over/);
    // Joined by the notification's accession number; the report's version and status are shown, not its identifiers.
    expect(state.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'accession-number', report: { version: 1 } });
    // The identifiers of the notification are kept for correlation but never answered.
    expect(JSON.stringify(state)).not.toContain('ACC-PHANTOM-11');
  });

  it('pairs from the PACS: a notification with the UID alone takes the accession number and patient id from QIDO-RS, and says where they came from', async () => {
    // Another study (fresh UIDs), stored in the PACS with its own accession number and patient id.
    const other = phantomBuffers({ seed: 12, ...SMALL, uidSalt: 'pairing' });
    await stowRs(orthanc, other.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
    const uid = other.truth.studyInstanceUid;
    // The report names the accession number only (no Study Instance UID): it can meet its study only
    // through what the PACS says.
    const oru = makeOru({ controlId: 'PAIR-ORU-1', accession: other.truth.accessionNumber, patientId: other.truth.patientId });
    expect(msa((await sendRaw(app.mllpPort!, [frame(oru)], 1)).acks[0]!).code).toBe('AA');
    expect((await notify(base, { studyInstanceUid: uid })).status).toBe(202);
    const { state } = await waitFor(base, uid, (s) => s.status === 'done' || s.status === 'failed');
    expect(state.identifiers).toEqual({ accessionNumber: 'qido-rs', patientId: 'qido-rs' });
    expect(state.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'accession-number' });
    // The values themselves stay private.
    expect(JSON.stringify(state)).not.toContain(other.truth.accessionNumber);
  });

  it('records the notification as the source of identifiers it carried', async () => {
    const state = (await request(base).get(`/studies/${phantom.truth.studyInstanceUid}`)).body as StudyState;
    expect(state.identifiers).toEqual({ accessionNumber: 'notification', patientId: 'qido-rs' });
  });

  it('retries while the source is down, showing the error and attempt count, then fails visibly', async () => {
    const uid = '1.2.826.0.1.3680043.10.543.1';
    expect((await notify(base, { studyInstanceUid: uid, source: 'down' })).status).toBe(202);
    // A repeat while the job is running or waiting for its next attempt adds nothing.
    const during = (await waitFor(base, uid, (s) => s.errors.length > 0)).state;
    // While retrying, the state carries the error and the attempt count.
    expect(during.status).not.toBe('failed');
    expect(during.errors[0]).toMatchObject({ attempt: 1, code: 'DICOMWEB_UNAVAILABLE', retryable: true });
    expect(during.attempts).toBeGreaterThanOrEqual(1);
    const repeat = await notify(base, { studyInstanceUid: uid, source: 'down' });
    expect(repeat.status).toBe(202);
    expect(repeat.body).toMatchObject({ jobId: `study-${uid}`, duplicate: true });
    expect(['queued', 'retrieving']).toContain(repeat.body.status);
    const { state } = await waitFor(base, uid);
    expect(state.status).toBe('failed');
    expect(state.attempts).toBe(3);
    expect(state.errors.map((e) => [e.attempt, e.code, e.retryable])).toEqual([
      [1, 'DICOMWEB_UNAVAILABLE', true],
      [2, 'DICOMWEB_UNAVAILABLE', true],
      [3, 'DICOMWEB_UNAVAILABLE', true],
    ]);
    expect(state.errors[2]?.message).toMatch(/network error|ECONNREFUSED/);
    const job = await studies.getJob(`study-${uid}`);
    expect(job?.attemptsMade).toBe(3);
    expect(await job?.getState()).toBe('failed');
  });

  it('a study with only a localizer and a dose screen fails at once with the reason, without retrying', async () => {
    const p = phantomBuffers({ seed: 12, ...SMALL, slices: 4, localizer: true, doseReport: true });
    const uid = p.truth.studyInstanceUid;
    await stowRs(orthanc, p.files.filter((f) => f.name.startsWith('CT.1.') || f.name.startsWith('SC.')).map((f) => f.data));
    expect((await notify(base, { studyInstanceUid: uid })).status).toBe(202);
    const { state } = await waitFor(base, uid);
    expect(state.status).toBe('failed');
    expect(state.attempts).toBe(1);
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ attempt: 1, code: 'STUDY_UNUSABLE', retryable: false });
    expect(state.errors[0]?.message).toMatch(/no usable CT series/);
    expect(state.errors[0]?.message).toMatch(/localizer|scout/i);
    expect(state.errors[0]?.message).toMatch(/secondary capture/i);
    expect(state.series).toMatchObject({ chosen: null });
    const job = await studies.getJob(`study-${uid}`);
    expect(job?.attemptsMade).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(((await request(base).get(`/studies/${uid}`)).body as StudyState).attempts).toBe(1);
    expect(await job?.getState()).toBe('failed');
    // The same content notified again: it would fail the same way, so nothing is added.
    const again = await notify(base, { studyInstanceUid: uid });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'failed', unchanged: true });
  });

  it('a study the source does not hold is retried (it may not have arrived yet), then fails saying so', async () => {
    const uid = '1.2.826.0.1.3680043.10.543.2';
    expect((await notify(base, { studyInstanceUid: uid })).status).toBe(202);
    const { state } = await waitFor(base, uid);
    expect(state).toMatchObject({ status: 'failed', attempts: 3 });
    expect(state.errors.map((e) => e.code)).toEqual(['STUDY_NOT_FOUND', 'STUDY_NOT_FOUND', 'STUDY_NOT_FOUND']);
    expect(state.errors[2]?.message).toMatch(/no series of this study/);
  });

  it('answers bad notifications 400 JSON (415 for another media type, 413 when too large)', async () => {
    const post = (body: string, type = 'application/json') => request(base).post('/notifications/studies').set('content-type', type).send(body);
    const cases: Array<[string, number, string, RegExp?]> = [
      ['{', 400, 'BAD_REQUEST', /JSON/],
      ['{}', 400, 'BAD_REQUEST', /studyInstanceUid/],
      ['[]', 400, 'BAD_REQUEST'],
      ['"1.2.3"', 400, 'BAD_REQUEST'],
      [JSON.stringify({ studyInstanceUid: 12345 }), 400, 'BAD_REQUEST', /studyInstanceUid/],
      [JSON.stringify({ studyInstanceUid: '1.2.abc' }), 400, 'BAD_REQUEST', /DICOM UID/],
      [JSON.stringify({ studyInstanceUid: '1.2.x' }), 400, 'BAD_REQUEST', /DICOM UID/],
      [JSON.stringify({ studyInstanceUid: '1.2.' }), 400, 'BAD_REQUEST'],
      [JSON.stringify({ studyInstanceUid: `1.${'2'.repeat(63)}` }), 400, 'BAD_REQUEST', /64/],
      [JSON.stringify({ studyInstanceUid: '1.2.3', source: 'elsewhere' }), 400, 'DICOMWEB_SOURCE_UNKNOWN', /elsewhere/],
      [JSON.stringify({ studyInstanceUid: '1.2.3', accessionNumber: 7 }), 400, 'BAD_REQUEST', /accessionNumber/],
      [JSON.stringify({ studyInstanceUid: '1.2.3', pad: 'x'.repeat(20_000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await post(body);
      expect([body.slice(0, 40), res.status, res.body.error?.code]).toEqual([body.slice(0, 40), status, code]);
      if (message) expect(res.body.error.message).toMatch(message);
    }
    const text = await post(JSON.stringify({ studyInstanceUid: '1.2.3' }), 'text/plain');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    expect((await request(base).get('/studies/1.2.abc')).status).toBe(400);
    const unknown = await request(base).get('/studies/1.2.3.4.5.6.7.8');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
  });

  it('shows the study queue in /metrics', async () => {
    const metrics = await request(base).get('/metrics');
    expect(metrics.text).toMatch(/vcf_queue_jobs\{queue="studies",state="completed"\} \d+/);
    expect(metrics.text).toMatch(/vcf_jobs_processed_total\{queue="studies",outcome="failed"\} \d+/);
  });
});

describe('study notifications: bearer token and Redis outage', () => {
  it('needs the bearer token when API_TOKEN is set', async () => {
    const prefix = testPrefix('studies-auth');
    const app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: 'study-secret' }, 'api');
    try {
      const base = `http://127.0.0.1:${app.httpPort}`;
      const body = { studyInstanceUid: '1.2.826.0.1.3680043.10.543.3' };
      const none = await notify(base, body);
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe('UNAUTHORIZED');
      expect((await notify(base, body).set('authorization', 'Bearer wrong')).status).toBe(401);
      expect((await request(base).get(`/studies/${body.studyInstanceUid}`)).status).toBe(401);
      const ok = await notify(base, body).set('authorization', 'Bearer study-secret');
      expect(ok.status).toBe(202);
      const state = await request(base).get(`/studies/${body.studyInstanceUid}`).set('authorization', 'Bearer study-secret');
      expect(state.body).toMatchObject({ status: 'queued', attempts: 0, errors: [] });
      // The key image opens from a signed link (as a CDS card gives it) without the token: 404 here, since
      // nothing is analysed yet, where an unsigned, tampered, other-path or expired link is refused.
      const path = `/studies/${body.studyInstanceUid}/key-image.png`;
      const signed = signLink('study-secret', path);
      expect((await request(base).get(signed)).status).toBe(404);
      expect((await request(base).get(path)).status).toBe(401);
      expect((await request(base).get(signed.replace(/expires=(\d+)/, (_m, e: string) => `expires=${Number(e) + 60}`))).status).toBe(401);
      expect((await request(base).get(signed.replace(body.studyInstanceUid, '1.2.826.0.1.3680043.10.543.4'))).status).toBe(401);
      expect((await request(base).get(signLink('study-secret', path, -1))).status).toBe(401);
      expect((await request(base).get(`/studies/${body.studyInstanceUid}?${signed.split('?')[1]}`)).status).toBe(401);
    } finally {
      await app.stop();
      await deletePrefix(prefix);
    }
  });

  it('answers 503 QUEUE_UNAVAILABLE while Redis is down, so that the PACS retries', async () => {
    const server = new TestRedisServer(await freePort());
    await server.start();
    const app = await startTestApp({ QUEUE_PREFIX: testPrefix('studies-down'), REDIS_URL: server.url }, 'api');
    try {
      const base = `http://127.0.0.1:${app.httpPort}`;
      expect((await notify(base, { studyInstanceUid: '1.2.3.4' })).status).toBe(202);
      await server.stop();
      const res = await notify(base, { studyInstanceUid: '1.2.3.5' });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('QUEUE_UNAVAILABLE');
      expect((await request(base).get('/studies/1.2.3.4')).status).toBe(503);
    } finally {
      await app.stop();
      await server.stop();
    }
  }, 30_000);
});

describeFixtures('study notifications with real-world fixtures (JPEG 2000, Implicit VR)', () => {
  const prefix = testPrefix('studies-fixtures');
  let orthanc: OrthancInstance;
  let app: App;
  let base: string;
  const J2K_STUDY = uidFor('vcf-sentinel study-notification fixture totalsegmentator study');
  const J2K_SERIES = uidFor('vcf-sentinel study-notification fixture totalsegmentator series');

  beforeAll(async () => {
    orthanc = await startOrthanc({ restartOnCrash: true });
    // Orthanc+GDCM may crash while transcoding JPEG 2000 (see test/helpers/orthanc.ts): the client insists.
    app = await startTestApp({ QUEUE_PREFIX: prefix, DICOMWEB_SOURCES: { default: { url: orthanc.dicomWebUrl } }, DICOMWEB_RETRIES: 10, STUDY_JOB_ATTEMPTS: 3, STUDY_JOB_BACKOFF_MS: 500 });
    base = `http://127.0.0.1:${app.httpPort}`;
    await stowRs(orthanc, j2kFiles().map((f) => fillEmptyUids(fs.readFileSync(f), J2K_STUDY, J2K_SERIES)));
    await stowRs(orthanc, implicitFiles().map((f) => fs.readFileSync(f)));
  });
  afterAll(async () => {
    if (orthanc?.crashes) console.warn(`study-notifications.int: Orthanc crashed ${orthanc.crashes} time(s) transcoding JPEG 2000; restarted`);
    await app?.stop();
    await deletePrefix(prefix);
    await orthanc?.stop();
  });

  it('analyses the JPEG 2000 series end to end (decoded by Orthanc+GDCM), or fails saying it cannot be decoded', async () => {
    expect((await notify(base, { studyInstanceUid: J2K_STUDY })).status).toBe(202);
    const { state } = await waitFor(base, J2K_STUDY);
    if (!orthanc.gdcmPlugin) {
      console.warn('study-notifications.int: orthanc-gdcm absent: the JPEG 2000 series arrives compressed');
      expect(state.status).toBe('failed');
      expect(state.errors.at(-1)?.retryable).toBe(false);
      return;
    }
    expect(state.status).toBe('awaiting-report');
    expect(state.findings?.seriesInstanceUid).toBe(J2K_SERIES);
    expect(state.findings?.volume.dims).toEqual([512, 512, 20]);
    expect(state.findings?.volume.huRange[1]! - state.findings!.volume.huRange[0]!).toBeGreaterThan(1000);
  });

  it('the three Implicit VR slices: analysed as a short volume, or rejected with a clear reason', async () => {
    const uid = parseHeaders(fs.readFileSync(implicitFiles()[0]!)).frames[0]!.studyInstanceUid;
    expect(uid).toMatch(/^[0-9.]+$/);
    expect((await notify(base, { studyInstanceUid: uid })).status).toBe(202);
    const { state } = await waitFor(base, uid);
    console.log(`study-notifications.int: 3 Implicit VR slices → ${state.status}${state.status === 'failed' ? ` (${state.errors.at(-1)?.message})` : ` dims ${state.findings?.volume.dims}`}`);
    if (state.status === 'failed') {
      expect(state.attempts).toBe(1);
      expect(state.errors.at(-1)).toMatchObject({ retryable: false });
      expect(state.errors.at(-1)?.message.length).toBeGreaterThan(20);
    } else {
      expect(state.status).toBe('awaiting-report');
      expect(state.findings?.volume.dims[2]).toBe(3);
    }
  });
});
