/**
 * Fault 4 (issue 16 item 2): the external FHIR server (FHIR_BASE_URL) answering 500, then timing out
 * after it wrote, while the worker writes a study's outputs. Each write is retried (by the writer, then by
 * the correlate job once the writer's attempts are spent) and no resource is created twice: one per
 * identifier at the end, as many as the correlation says it wrote.
 *
 * End to end through the worker: `serve --role api` and `serve --role worker` as child processes, a
 * phantom CT in a real Orthanc and its report over MLLP; the FHIR server (fhir-router over node:http)
 * runs in the test process so that its faults can be scripted.
 */
import { type OrthancInstance, orthancSkipReason, startOrthanc } from '../../src/dev/orthanc';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';
import { MllpSender, ServiceProcess, phantomStudy, postJson, waitForStudy } from './support';
import type { Fault, TestFhirServer } from '../helpers/fhir-server';
import { expectedOutputs, faultyFhirServer, outputResources, tally } from './support-fhir';

const skip = orthancSkipReason();
/** More failures in a row than the writer's 4 attempts: the correlate job must retry too. */
const FAILED_WRITES = 6;
const FHIR_TIMEOUT_MS = 1500;

(skip ? describe.skip : describe)(`fault: the external FHIR server failing and timing out${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const prefix = testPrefix('fault-fhir');
  let orthanc: OrthancInstance;
  let fhir: TestFhirServer;
  let api: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    orthanc = await startOrthanc();
    fhir = faultyFhirServer();
    await fhir.start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await deletePrefix(prefix);
    await fhir?.stop();
    await orthanc?.stop();
  }, 60_000);

  it('retries every failed write and ends with one resource per identifier, as many as the correlation wrote', async () => {
    // The first writes fail with 500 (more than one job attempt's worth), then one write stalls after
    // it was applied, well past FHIR_TIMEOUT_MS.
    const stall: Fault = { kind: 'stall', ms: 3 * FHIR_TIMEOUT_MS };
    fhir.faults.push(...Array.from({ length: FAILED_WRITES }, (): Fault => ({ kind: 'status', status: 500 })), null, null, stall);
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      REDIS_DURABILITY: 'off',
      DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
      FHIR_BASE_URL: fhir.fhirBase,
      FHIR_TIMEOUT_MS: String(FHIR_TIMEOUT_MS),
      PATIENT_ID_SYSTEMS: JSON.stringify({ HOSP: 'urn:oid:2.999.16.2' }),
    };
    worker = await ServiceProcess.start('worker', env);
    api = await ServiceProcess.start('api', env);
    const { truth, oru, controlId } = await phantomStudy(orthanc, `fhir-${prefix}`);
    const uid = truth.studyInstanceUid;
    const sender = new MllpSender(() => api!.mllpPort!);
    expect(await sender.send(oru, controlId)).toBe('AA');
    sender.close();
    expect((await postJson(api.base, '/notifications/studies', { studyInstanceUid: uid, accessionNumber: truth.accessionNumber })).status).toBe(202);

    const { state } = await waitForStudy(api.base, uid, (s) => s.status === 'done' || s.status === 'failed', 150_000, 250);
    expect(state).toMatchObject({ status: 'done', correlation: { outcome: 'evaluated' } });
    // The writer's attempts ran out once: the correlate job failed one attempt, visibly, and was retried.
    expect(state.errors.map((e) => [e.attempt, e.code, e.retryable])).toEqual([[1, 'FHIR_UNAVAILABLE', true]]);
    expect(await worker.eventsAtLeast('correlate.failed', 1)).toHaveLength(1);
    expect(await worker.eventsAtLeast('correlate.evaluated', 1)).toHaveLength(1);
    // Every scripted fault was met: 6 × 500, and the stalled write the writer gave up on and sent again.
    expect(fhir.faults).toEqual([]);
    expect(fhir.requests.filter((r) => r.method === 'PUT' && r.status === 500)).toHaveLength(FAILED_WRITES);
    expect(fhir.requests.filter((r) => r.status === 'stalled')).toHaveLength(1);
    expect((await worker.eventsAtLeast('fhir.retry', FAILED_WRITES)).length).toBeGreaterThanOrEqual(FAILED_WRITES);

    // No duplicates: one resource per identifier, exactly as many as the correlation wrote.
    const expected = expectedOutputs(state);
    expect(expected.Observation).toBeGreaterThan(0); // the phantom's fractures made outputs: there is something to count
    const resources = await outputResources(fhir);
    const { counts, duplicates } = tally(resources);
    expect(duplicates).toEqual([]);
    expect(counts).toEqual(expected);
    // Each resource the correlation names is one the server holds.
    const ids = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
    for (const f of state.correlation!.fractures.filter((x) => x.outputs)) {
      expect(ids.has(`Observation/${f.outputs!.observation}`)).toBe(true);
      expect(ids.has(`DetectedIssue/${f.outputs!.detectedIssue}`)).toBe(true);
    }
    console.log(`fault 4: ${resources.length} resources, ${fhir.fhirRequests('PUT')} PUTs (${FAILED_WRITES} answered 500, 1 stalled past FHIR_TIMEOUT_MS and sent again)`);
  });
});
