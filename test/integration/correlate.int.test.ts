/**
 * Correlation on real Redis and a real BullMQ worker, writing to the embedded FHIR store: the join in
 * both arrival orders and by patient + date, the report wait, corrections that retract or add outputs,
 * cancelled reports, uncertain levels, and replays that create nothing twice. Studies are seeded as the
 * study worker leaves them (findings stored, status awaiting-report), so no DICOM analysis runs here.
 */
import type { Observation, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { FhirWriter } from '../../src/emit/fhir/writer';
import { AppError } from '../../src/errors';
import { CorrelationHarness, TEST_PID, fracture } from '../helpers/correlation';
import { expectValidFhir } from '../helpers/fhir';
import { testPrefix } from '../helpers/service';

const SYSTEMS = { HOSP: 'urn:oid:1.2.3.4.5' };

describe('correlation: report × study → FHIR outputs (real Redis, BullMQ, embedded FHIR store)', () => {
  const reportWaitMs = 1500;
  /** Failures the writer throws on its next upserts (the FHIR server's answers, as the writers map them). */
  const failures: AppError[] = [];
  let h: CorrelationHarness;
  const analysedStudy = (...a: Parameters<CorrelationHarness['analysedStudy']>) => h.analysedStudy(...a);
  const report = (...a: Parameters<CorrelationHarness['report']>) => h.report(...a);
  const search = <T extends Resource>(type: T['resourceType'], query: Record<string, string> = {}) => h.search<T>(type, query);

  beforeAll(async () => {
    const failing = (fhir: FhirWriter): FhirWriter => ({
      upsert: (r) => {
        const failure = failures.shift();
        return failure ? Promise.reject(failure) : fhir.upsert(r);
      },
      search: (t, q) => fhir.search(t, q),
      close: async () => undefined,
    });
    h = await new CorrelationHarness({ prefix: testPrefix('correlate'), patientIdSystems: SYSTEMS, taskOwner: { reference: 'Organization/oncology' }, reportWaitMs, wrapWriter: failing }).start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function observations(uid: string): Promise<Observation[]> {
    return (await search<Observation>('Observation', {})).filter((o) => o.identifier?.[0]?.value?.startsWith(`${uid}:`));
  }

  it('study first, then its report (joined by accession): the unreported fracture becomes FHIR outputs, the reported one nothing', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.1';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], { accessionNumber: 'ACC-1' });
    let state = await h.studies.get(uid);
    expect(state).toMatchObject({ status: 'awaiting-report', correlation: { outcome: 'awaiting-report' } });

    await report({ accessionNumber: 'ACC-1', text: 'FINDINGS: Severe compression fracture of L1. IMPRESSION: L1 fracture.' });
    state = await h.studies.get(uid);
    expect(state?.status).toBe('done');
    expect(state?.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'accession-number', report: { version: 1, resultStatus: 'F', language: 'en' } });
    const [t12, l1] = state!.correlation!.fractures;
    expect(l1).toMatchObject({ level: 'L1', reported: true, reason: 'level-mentioned', outputs: null });
    expect(t12).toMatchObject({ level: 'T12', reported: false, reason: 'not-mentioned', outputs: { observation: expect.any(String), detectedIssue: expect.any(String) } });
    expect(Object.keys(t12!.outputs!.serviceRequests)).toEqual(['bone-health-workup']);

    const [obs, ...others] = await observations(uid);
    expect(others).toHaveLength(0);
    expect(obs).toMatchObject({
      status: 'preliminary',
      subject: { type: 'Patient', identifier: { system: 'urn:oid:1.2.3.4.5', value: 'MRN-1001' } },
      effectiveDateTime: '2026-03-01',
      bodySite: { coding: [{ system: 'http://snomed.info/sct', code: '23215003' }] },
      basedOn: [{ identifier: { value: 'ACC-1' } }],
      device: { reference: expect.stringMatching(/^Device\//) },
    });
    expect(obs!.code.coding!.map((c) => c.code)).toEqual(['42942008', 'RDES230']);
    expect(obs!.component!.find((c) => c.code.coding![0]!.code === 'RDES150')?.valueInteger).toBe(2);
    expect(obs!.note![0]!.text).toMatch(/not mentioned in the report of 2026-03-01/);
    const task = (await search<Task>('Task', {})).find((t) => t.focus?.reference === `ServiceRequest/${t12!.outputs!.serviceRequests['bone-health-workup']}`);
    expect(task).toMatchObject({ status: 'requested', owner: { reference: 'Organization/oncology' } });
    // Every resource written validates against FHIR R4 (Medplum's validator and the official JSON schema).
    for (const type of ['Observation', 'Device', 'DetectedIssue', 'ServiceRequest', 'Task'] as const) {
      for (const r of await search(type, {})) expectValidFhir(r);
    }
  });

  it('report first, then the study (joined by the Study Instance UID the report carries)', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.2';
    await report({ accessionNumber: 'ACC-2', studyInstanceUid: uid, text: 'FINDINGS: No fracture. Degenerative change.' });
    await analysedStudy(uid, [fracture('L2', 1)], { accessionNumber: null });
    const state = await h.studies.get(uid);
    expect(state?.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'study-instance-uid' });
    expect(state?.correlation?.fractures[0]).toMatchObject({ level: 'L2', reported: false });
    expect(await observations(uid)).toHaveLength(1);
  });

  it('joins by patient and date within the window, never outside it', async () => {
    const near = '1.2.826.0.1.3680043.10.999.3';
    const far = '1.2.826.0.1.3680043.10.999.4';
    await analysedStudy(near, [fracture('T8', 2)], { accessionNumber: 'OTHER-3', patientId: 'MRN-3', studyDate: '2026-04-10T09:00:00' });
    await analysedStudy(far, [fracture('T8', 2)], { accessionNumber: 'OTHER-4', patientId: 'MRN-3', studyDate: '2026-04-20T09:00:00' });
    await report({ accessionNumber: 'ACC-3', patient: { identifiers: [{ ...TEST_PID, value: 'MRN-3' }] }, observationDateTime: '2026-04-10T16:00:00', text: 'FINDINGS: Unremarkable.' });
    expect((await h.studies.get(near))?.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'patient-and-date' });
    expect((await h.studies.get(far))?.correlation).toMatchObject({ outcome: 'awaiting-report' });
  });

  it('a study with no report within the wait ends done, outcome no-report, with no outputs', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.5';
    await analysedStudy(uid, [fracture('T10', 2)], { accessionNumber: 'NEVER', patientId: 'NOBODY' });
    const waiting = await h.studies.get(uid);
    expect(waiting?.correlation?.outcome).toBe('awaiting-report');
    const jobs = await h.queue.getJobs(['delayed']);
    const wait = jobs.find((j) => j.data.trigger === 'report-wait' && j.data.studyInstanceUid === uid);
    expect(wait).toBeDefined();
    await h.settle(wait!.id!, reportWaitMs + 10_000);
    const state = await h.studies.get(uid);
    expect(state).toMatchObject({ status: 'done', correlation: { outcome: 'no-report', fractures: [] } });
    expect(await observations(uid)).toHaveLength(0);
  });

  it('a corrected report that now mentions the fracture retracts its outputs; one that drops a mention adds them', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.6';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], { accessionNumber: 'ACC-6' });
    await report({ accessionNumber: 'ACC-6', text: 'FINDINGS: Severe L1 compression fracture.' });
    const first = (await h.studies.get(uid))!.correlation!.fractures.find((f) => f.level === 'T12')!;
    expect(first.outputs).not.toBeNull();

    // Corrected (C): the radiologist adds T12 and no longer mentions L1.
    await report({ accessionNumber: 'ACC-6', resultStatus: 'C', text: 'FINDINGS: Moderate T12 wedge compression fracture. L1 is normal.' });
    const state = (await h.studies.get(uid))!;
    expect(state.correlation).toMatchObject({ outcome: 'evaluated', report: { version: 2, resultStatus: 'C' } });
    const t12 = state.correlation!.fractures.find((f) => f.level === 'T12')!;
    const l1 = state.correlation!.fractures.find((f) => f.level === 'L1')!;
    expect(t12).toMatchObject({ reported: true, retracted: true, outputs: null });
    expect(l1).toMatchObject({ reported: false, retracted: false });
    expect(Object.keys(l1.outputs!.serviceRequests).sort()).toEqual(['bone-health-workup', 'ir-augmentation-consult']);

    const byLevel = new Map((await observations(uid)).map((o) => [o.identifier![0]!.value!.split(':')[1], o]));
    expect(byLevel.get('T12')?.status).toBe('entered-in-error');
    expect(byLevel.get('L1')?.status).toBe('preliminary');
    const srs = await search<ServiceRequest>('ServiceRequest', {});
    expect(srs.find((s) => s.id === first.outputs!.serviceRequests['bone-health-workup'])?.status).toBe('revoked');
    const tasks = await search<Task>('Task', {});
    expect(tasks.find((t) => t.id === first.outputs!.tasks['bone-health-workup'])?.status).toBe('cancelled');
    const consult = srs.find((s) => s.id === l1.outputs!.serviceRequests['ir-augmentation-consult']);
    expect(consult).toMatchObject({ status: 'active', intent: 'proposal', priority: 'urgent' });
  });

  it('a cancelled report (X) retracts everything', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.7';
    await analysedStudy(uid, [fracture('T11', 2)], { accessionNumber: 'ACC-7' });
    await report({ accessionNumber: 'ACC-7', text: 'FINDINGS: No acute abnormality.' });
    expect((await observations(uid))[0]?.status).toBe('preliminary');
    await report({ accessionNumber: 'ACC-7', resultStatus: 'X', text: '' });
    const state = (await h.studies.get(uid))!;
    expect(state.correlation).toMatchObject({ outcome: 'report-cancelled', fractures: [{ level: 'T11', reason: 'report-cancelled', retracted: true }] });
    expect((await observations(uid))[0]?.status).toBe('entered-in-error');
  });

  it('an uncertain level counts as reported next to a mentioned level, and is named "or adjacent" otherwise', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.8';
    await analysedStudy(uid, [fracture('T11', 2, ['levelUncertain']), fracture('T7', 2, ['levelUncertain'])], { accessionNumber: 'ACC-8' });
    await report({ accessionNumber: 'ACC-8', text: 'FINDINGS: Moderate compression fracture of T12.' });
    const [t11, t7] = (await h.studies.get(uid))!.correlation!.fractures;
    expect(t11).toMatchObject({ level: 'T11', reported: true, reason: 'adjacent-level-mentioned', levelUncertain: true });
    expect(t7).toMatchObject({ level: 'T7', reported: false, levelText: 'T7 or adjacent' });
    const [obs] = await observations(uid);
    expect(obs?.bodySite?.text).toBe('T7 or adjacent (level uncertain)');
  });

  it('a fracture the measurement does not demonstrate (insufficientEvidence) is recorded, with no output', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.12';
    await analysedStudy(uid, [fracture('L4', 1, ['insufficientEvidence']), fracture('T9', 2)], { accessionNumber: 'ACC-12' });
    await report({ accessionNumber: 'ACC-12', text: 'FINDINGS: Unremarkable.' });
    const [l4, t9] = (await h.studies.get(uid))!.correlation!.fractures;
    expect(l4).toMatchObject({ level: 'L4', reported: false, reason: 'insufficient-evidence', outputs: null });
    expect(t9).toMatchObject({ level: 'T9', reason: 'not-mentioned', outputs: { observation: expect.any(String) } });
    expect((await observations(uid)).map((o) => o.bodySite?.text)).toEqual(['T9']);
  });

  it('replaying the study, the report and the jobs creates nothing twice', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.9';
    await analysedStudy(uid, [fracture('L3', 3, ['lytic'])], { accessionNumber: 'ACC-9' });
    await report({ accessionNumber: 'ACC-9', text: 'FINDINGS: Lytic lesion of the iliac bone.' });
    const count = async () => {
      const all = await Promise.all((['Observation', 'DetectedIssue', 'ServiceRequest', 'Task', 'Device'] as const).map((t) => search(t, {})));
      return all.map((a) => a.length);
    };
    const before = await count();
    const obsBefore = (await observations(uid))[0]!;
    // The same analysis finishing again (a retried study job), and the same report sent again.
    await h.replayStudy(uid);
    await report({ accessionNumber: 'ACC-9', text: 'FINDINGS: Lytic lesion of the iliac bone.' });
    expect(await count()).toEqual(before);
    const obsAfter = (await observations(uid))[0]!;
    expect(obsAfter.id).toBe(obsBefore.id);
    expect(obsAfter.meta?.versionId).toBe(obsBefore.meta?.versionId);
    // A lytic grade-3 fracture: oncology/spine review and the IR consult, not the osteoporosis framing.
    const kinds = Object.keys((await h.studies.get(uid))!.correlation!.fractures[0]!.outputs!.serviceRequests).sort();
    expect(kinds).toEqual(['ir-augmentation-consult', 'oncology-spine-review']);
  });

  it('a FHIR server refusing a resource fails the study visibly; an outage is retried and writes once', async () => {
    const refused = '1.2.826.0.1.3680043.10.999.10';
    await analysedStudy(refused, [fracture('L4', 2)], { accessionNumber: 'ACC-10' });
    failures.push(new AppError('FHIR_REJECTED', 'HTTP 422: Observation.subject: unknown identifier system'));
    await report({ accessionNumber: 'ACC-10', text: 'FINDINGS: Unremarkable.' });
    const failed = (await h.studies.get(refused))!;
    expect(failed.status).toBe('failed');
    expect(failed.errors.at(-1)).toMatchObject({ code: 'FHIR_REJECTED', retryable: false, message: expect.stringContaining('unknown identifier system') });
    // Once the server accepts again, the next report version correlates the study: failed is not a dead end.
    await report({ accessionNumber: 'ACC-10', resultStatus: 'A', text: 'FINDINGS: Unremarkable. Addendum: no change.' });
    expect((await h.studies.get(refused))?.status).toBe('done');
    expect(await observations(refused)).toHaveLength(1);

    const flaky = '1.2.826.0.1.3680043.10.999.11';
    await analysedStudy(flaky, [fracture('L4', 2)], { accessionNumber: 'ACC-11' });
    failures.push(new AppError('FHIR_UNAVAILABLE', 'HTTP 503 after 4 attempts'));
    await report({ accessionNumber: 'ACC-11', text: 'FINDINGS: Unremarkable.' });
    // The first attempt failed (recorded, retryable); BullMQ retried after its backoff and the second wrote.
    const jobs = await h.queue.getJobs(['completed', 'failed', 'delayed', 'active', 'waiting']);
    const job = jobs.find((j) => j.data.trigger === 'report' && j.data.accessionKey === 'HOSP|ACC-11');
    if (job) await h.settle(job.id!);
    const state = (await h.studies.get(flaky))!;
    expect(state.status).toBe('done');
    expect(state.errors).toEqual([expect.objectContaining({ code: 'FHIR_UNAVAILABLE', retryable: true, attempt: 1 })]);
    expect(await observations(flaky)).toHaveLength(1);
  });
});
