/**
 * Fault 1 (issue 16 item 2): the worker process SIGKILLed while it analyses a study. The study's job
 * must be taken over by another worker once the dead one's lock lapses, and the study must end with
 * exactly one set of outputs: one correlation, one FHIR resource per identifier in the embedded store.
 *
 * Real processes: `serve --role api` and `serve --role worker` from the compiled CLI, a real Orthanc
 * holding a phantom CT, the shared Redis under a prefix of this test's own.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type OrthancInstance, orthancSkipReason, startOrthanc } from '../../src/dev/orthanc';
import { QUEUES } from '../../src/queue/names';
import { STUDY_WORKER_LOCK } from '../../src/queue/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';
import { MllpSender, ServiceProcess, getJson, phantomStudy, postJson, waitForStudy } from './support';
import { OUTPUT_TYPES, expectedOutputs, tally } from './support-fhir';

const skip = orthancSkipReason();

(skip ? describe.skip : describe)(`fault: worker SIGKILLed mid-analysis${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const prefix = testPrefix('fault-kill');
  let orthanc: OrthancInstance;
  let api: ServiceProcess;
  const workers: ServiceProcess[] = [];
  let redis: Redis;
  let studies: Queue;
  let correlate: Queue;

  beforeAll(async () => {
    orthanc = await startOrthanc();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    studies = new Queue(QUEUES.studies, { connection: redis, prefix });
    correlate = new Queue(QUEUES.correlate, { connection: redis, prefix });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await studies?.close();
    await correlate?.close();
    await deletePrefix(prefix);
    redis?.disconnect();
    await orthanc?.stop();
  }, 60_000);

  it('the study is taken over by the next worker and ends done with one correlation and one resource per identifier', async () => {
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      REDIS_DURABILITY: 'off',
      DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
      PATIENT_ID_SYSTEMS: JSON.stringify({ HOSP: 'urn:oid:2.999.16.2' }),
    };
    workers[0] = await ServiceProcess.start('worker', env);
    api = await ServiceProcess.start('api', env);
    const { truth, oru, controlId } = await phantomStudy(orthanc, `kill-${prefix}`);
    const uid = truth.studyInstanceUid;

    // The report first (it mentions no fracture), so that the study correlates as soon as it is analysed.
    const sender = new MllpSender(() => api.mllpPort!);
    expect(await sender.send(oru, controlId)).toBe('AA');
    sender.close();
    expect((await postJson(api.base, '/notifications/studies', { studyInstanceUid: uid, accessionNumber: truth.accessionNumber })).status).toBe(202);

    // SIGKILL while the worker holds the job and analyses (about 3 s at this size: plenty of 25 ms polls).
    const seen = await waitForStudy(api.base, uid, (s) => s.status === 'analysing' || s.status === 'awaiting-report' || s.status === 'done', 60_000, 25);
    expect(seen.state.status).toBe('analysing');
    expect(await workers[0]!.signal('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();
    const job = await studies.getJob(`study-${uid}`);
    // The dead worker still holds it: only the lapse of its lock frees it.
    expect(await job?.getState()).toBe('active');

    workers[1] = await ServiceProcess.start('worker', env);
    const { state } = await waitForStudy(api.base, uid, (s) => s.status === 'done' || s.status === 'failed', 200_000, 250);
    const { lockDuration, stalledInterval } = STUDY_WORKER_LOCK;
    console.log(`fault 1: study done ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the worker's SIGKILL (study lock ${lockDuration / 1000} s, stalled check every ${stalledInterval / 1000} s)`);
    expect(state).toMatchObject({ status: 'done', correlation: { outcome: 'evaluated', joinedBy: 'accession-number' }, errors: [] });

    // Retried by the stalled-job check (not a failed attempt): stalled once, run to completion by the second worker.
    const finished = await studies.getJob(`study-${uid}`);
    expect(await finished?.getState()).toBe('completed');
    expect({ stalled: finished?.stalledCounter, attemptsMade: finished?.attemptsMade }).toEqual({ stalled: 1, attemptsMade: 1 });
    expect(workers[0]!.events('study.analysed')).toHaveLength(0);
    expect(await workers[1]!.eventsAtLeast('study.analysed', 1)).toHaveLength(1);

    // One correlation of the study: one study-triggered correlate job, one evaluation.
    const correlations = (await correlate.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed'])).filter((j) => j.data.studyInstanceUid === uid && j.data.trigger === 'study');
    expect(correlations).toHaveLength(1);
    expect(await workers[1]!.eventsAtLeast('correlate.evaluated', 1)).toHaveLength(1);

    // One set of outputs in the embedded FHIR store (this prefix's alone), one resource per identifier.
    const expected = expectedOutputs(state);
    expect(expected.Observation).toBeGreaterThan(0); // the phantom's fractures made outputs: there is something to count
    const resources: Resource[] = [];
    for (const type of OUTPUT_TYPES) {
      const bundle = await getJson<Bundle>(api.base, `/fhir/R4/${type}?_count=1000`);
      resources.push(...(bundle?.entry ?? []).map((e) => e.resource!));
    }
    const { counts, duplicates } = tally(resources);
    expect(duplicates).toEqual([]);
    expect(counts).toEqual(expected);
  });
});
