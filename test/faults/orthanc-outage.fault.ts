/**
 * Fault 3 (issue 16 item 2): the PACS (a real Orthanc) stopped while the worker retrieves a study. The
 * study must be retried with backoff (each attempt and its error visible in GET /studies/{uid}), fail
 * visibly once its attempts are spent, and, replayed from the API once Orthanc is back, end done.
 *
 * Two ways to replay from the API: a new notification (`POST /notifications/studies` queues a study whose
 * job failed again: the fingerprint check applies only to studies that settled for good), and the
 * operator's `POST /studies/{uid}/replay` (409 while the job is pending). Both are exercised here; the
 * replay route's other answers are in test/integration/study-replay.int.test.ts.
 *
 * Real processes: `serve --role api` and `serve --role worker`, Orthanc (SIGKILLed and restarted on its
 * ports and storage), the shared Redis under this test's prefix.
 */
import { type OrthancInstance, orthancSkipReason, startOrthanc } from '../../src/dev/orthanc';
import type { StudyState } from '../../src/store/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';
import { MllpSender, ServiceProcess, phantomStudy, postJson, waitForStudy } from './support';

const skip = orthancSkipReason();
const ATTEMPTS = 3;
const BACKOFF_MS = 1000;

(skip ? describe.skip : describe)(`fault: Orthanc stopped mid-retrieval${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const prefix = testPrefix('fault-pacs');
  let orthanc: OrthancInstance;
  let api: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    orthanc = await startOrthanc();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await deletePrefix(prefix);
    await orthanc?.stop();
  }, 60_000);

  it('retries with backoff, fails visibly when the attempts are spent, and a replay once Orthanc is back ends done', async () => {
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      REDIS_DURABILITY: 'off',
      DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
      DICOMWEB_RETRIES: '1',
      STUDY_JOB_ATTEMPTS: String(ATTEMPTS),
      STUDY_JOB_BACKOFF_MS: String(BACKOFF_MS),
      PATIENT_ID_SYSTEMS: JSON.stringify({ HOSP: 'urn:oid:2.999.16.2' }),
    };
    worker = await ServiceProcess.start('worker', env);
    api = await ServiceProcess.start('api', env);
    // Thin slices (about 420 instances): a retrieval long enough that the poll below sees it under load.
    const { truth, oru, controlId } = await phantomStudy(orthanc, `pacs-${prefix}`, { sliceSpacing: 1.25 });
    const uid = truth.studyInstanceUid;
    const sender = new MllpSender(() => api!.mllpPort!);
    expect(await sender.send(oru, controlId)).toBe('AA');
    sender.close();
    const notification = { studyInstanceUid: uid, accessionNumber: truth.accessionNumber };
    expect((await postJson(api.base, '/notifications/studies', notification)).status).toBe(202);

    // Orthanc goes down while the worker retrieves the study.
    const during = await waitForStudy(api.base, uid, (s) => s.status !== 'queued', 60_000, 10);
    expect(during.state.status).toBe('retrieving');
    await orthanc.halt();

    // Between attempts the study waits, queued, showing why and how many attempts were made.
    const waiting = (await waitForStudy(api.base, uid, (s) => s.errors.length > 0, 60_000)).state;
    expect(waiting.status).toBe('queued');
    expect(waiting).toMatchObject({ attempts: 1, maxAttempts: ATTEMPTS, errors: [{ attempt: 1, code: 'DICOMWEB_UNAVAILABLE', retryable: true }] });

    const { state: failed, statuses } = await waitForStudy(api.base, uid, (s) => s.status === 'failed' || s.status === 'done', 60_000);
    expect(failed).toMatchObject({ status: 'failed', attempts: ATTEMPTS, findings: null, correlation: null });
    expect(failed.errors.map((e) => [e.attempt, e.code, e.retryable])).toEqual([
      [1, 'DICOMWEB_UNAVAILABLE', true],
      [2, 'DICOMWEB_UNAVAILABLE', true],
      [3, 'DICOMWEB_UNAVAILABLE', true],
    ]);
    expect(failed.errors.at(-1)!.message).toMatch(/network error|ECONNREFUSED|unavailable/i);
    // Exponential backoff: the queue waited at least BACKOFF_MS, then twice that, between attempts.
    const at = failed.errors.map((e) => Date.parse(e.at));
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(BACKOFF_MS);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(2 * BACKOFF_MS);
    console.log(`fault 3: statuses ${statuses.join(' → ')}; errors ${at[1]! - at[0]!} ms then ${at[2]! - at[1]!} ms apart`);
    expect(await worker.eventsAtLeast('study.failed', 1)).toHaveLength(1);

    // Replayed by a new notification while Orthanc is still down: queued again (not "unchanged"), the
    // operator's replay refused meanwhile (409: the job is pending), and failed again, with fresh attempts.
    const renotified = await postJson(api.base, '/notifications/studies', notification);
    expect(renotified).toEqual({ status: 202, body: { jobId: `study-${uid}`, status: 'queued' } });
    const pending = await postJson(api.base, `/studies/${uid}/replay`);
    expect(pending).toEqual({ status: 409, body: { error: { code: 'CONFLICT', message: expect.stringMatching(/still queued, running or waiting for a retry/) } } });
    const { state: again } = await waitForStudy(api.base, uid, (s) => s.status === 'failed' && s.notifiedAt !== failed.notifiedAt, 60_000);
    expect(again.errors.map((e) => [e.attempt, e.code])).toEqual([[1, 'DICOMWEB_UNAVAILABLE'], [2, 'DICOMWEB_UNAVAILABLE'], [3, 'DICOMWEB_UNAVAILABLE']]);

    // Orthanc is back (same storage): the operator's replay brings the study to done.
    await orthanc.resume();
    const replay = await postJson(api.base, `/studies/${uid}/replay`);
    expect(replay).toEqual({ status: 202, body: { jobId: `study-${uid}`, status: 'queued' } });
    const { state: done } = await waitForStudy(api.base, uid, (s: StudyState) => s.status === 'done' || s.status === 'failed', 120_000, 250);
    expect(done).toMatchObject({ status: 'done', attempts: 1, errors: [], correlation: { outcome: 'evaluated', joinedBy: 'accession-number' } });
    expect(done.series?.chosen).toMatchObject({ seriesInstanceUid: truth.seriesInstanceUid });
    expect(await worker.eventsAtLeast('study.failed', 2)).toHaveLength(2);
    expect(await worker.eventsAtLeast('study.analysed', 1)).toHaveLength(1);
    console.log(`fault 3: the replayed study's retrieval took ${done.timingsMs?.retrieve} ms (the window Orthanc was stopped in)`);
  });
});
