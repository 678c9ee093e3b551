/**
 * Correlation on real Redis and a real BullMQ worker, writing to the embedded FHIR store: the join in
 * both arrival orders and by patient + date, the report wait, corrections that retract or add outputs,
 * cancelled reports, uncertain levels, and replays that create nothing twice. Studies are seeded as the
 * study worker leaves them (findings stored, status awaiting-report), so no DICOM analysis runs here.
 */
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Bundle, Observation, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { Correlator } from '../../src/correlate/correlator';
import type { DetectedFracture } from '../../src/correlate/decide';
import { EmbeddedFhirWriter } from '../../src/emit/fhir/embedded';
import type { RadiologyReport } from '../../src/ingest/hl7/oru';
import { type CorrelateJobData, CORRELATE_QUEUE, enqueueCorrelate, processCorrelateJob } from '../../src/queue/correlate';
import { type ReportJobData, processReportJob } from '../../src/queue/reports';
import { LinkStore } from '../../src/store/links';
import { OutputStore } from '../../src/store/outputs';
import { ReportStore } from '../../src/store/reports';
import { type StoredStudy, StudyStore } from '../../src/store/studies';
import type { FhirWriter } from '../../src/emit/fhir/writer';
import { AppError } from '../../src/errors';
import { expectValidFhir } from '../helpers/fhir';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';

const MODEL = { name: 'vcf-test-model', version: '9.9.9', sha256: 'a'.repeat(64) };
const PID = { value: 'MRN-1001', assigningAuthority: 'HOSP', typeCode: 'MR' };
const SYSTEMS = { HOSP: 'urn:oid:1.2.3.4.5' };
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function fracture(level: DetectedFracture['level'], grade: DetectedFracture['grade'], flags: DetectedFracture['flags'] = []): DetectedFracture {
  return { level, grade, morphology: grade === 3 ? 'crush' : 'wedge', heightLossPercent: [0, 22, 31, 45][grade] as number, heightsMm: { anterior: 17, middle: 21, posterior: 25 }, centerMm: [0, 30, -200], confidence: 0.9, flags };
}

describe('correlation: report × study → FHIR outputs (real Redis, BullMQ, embedded FHIR store)', () => {
  const prefix = testPrefix('correlate');
  let redis: Redis;
  let queue: Queue<CorrelateJobData>;
  let events: QueueEvents;
  let worker: Worker<CorrelateJobData>;
  let studies: StudyStore;
  let reports: ReportStore;
  let links: LinkStore;
  let fhir: EmbeddedFhirWriter;
  /** Failures the writer throws on its next upserts (the FHIR server's answers, as the writers map them). */
  const failures: AppError[] = [];
  const connections: Redis[] = [];
  const reportWaitMs = 1500;
  let seq = 0;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(CORRELATE_QUEUE, { connection: redis, prefix });
    const dup = () => {
      const c = redis.duplicate();
      connections.push(c);
      return c;
    };
    events = new QueueEvents(CORRELATE_QUEUE, { connection: dup(), prefix });
    studies = new StudyStore(redis, prefix, 3600);
    reports = new ReportStore(redis, prefix);
    links = new LinkStore(redis, prefix, 3600);
    fhir = new EmbeddedFhirWriter({ redis, prefix });
    const writer: FhirWriter = {
      upsert: (r) => {
        const failure = failures.shift();
        return failure ? Promise.reject(failure) : fhir.upsert(r);
      },
      search: (t, q) => fhir.search(t, q),
      close: async () => undefined,
    };
    const correlator = new Correlator(
      { redis, prefix, studies, reports, links, outputs: new OutputStore(redis, prefix, 3600), fhir: writer, logger },
      { patientIdSystems: SYSTEMS, taskOwner: { reference: 'Organization/oncology' }, dateWindowMs: 24 * 3_600_000, reportWaitMs },
    );
    worker = new Worker(CORRELATE_QUEUE, (job) => processCorrelateJob(job, { correlator, studies, queue, reportWaitMs, logger }), { connection: dup(), prefix, concurrency: 2 });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await worker?.close();
    await events?.close();
    await queue?.close();
    await deletePrefix(prefix);
    for (const c of connections) c.disconnect();
    redis?.disconnect();
  });

  /** A study as the study worker leaves it: findings stored, identifiers kept and indexed, then the study trigger. */
  async function analysedStudy(uid: string, fractures: DetectedFracture[], ids: { accessionNumber?: string | null; patientId?: string | null; studyDate?: string } = {}): Promise<void> {
    const accessionNumber = ids.accessionNumber === undefined ? null : ids.accessionNumber;
    const patientId = ids.patientId === undefined ? PID.value : ids.patientId;
    const studyDate = ids.studyDate ?? '2026-03-01T10:00:00';
    await studies.markQueued(uid, { source: 'default', jobId: `study-${uid}`, maxAttempts: 1, accessionNumber, patientId, traceId: 't' });
    await studies.update(uid, {
      status: 'awaiting-report',
      studyDate,
      findings: { studyInstanceUid: uid, seriesInstanceUid: `${uid}.1`, model: MODEL, vertebrae: fractures, fractures } as unknown as StoredStudy['findings'],
    });
    await links.addStudy(uid, { accessionNumber, patientId, studyTimeMs: Date.parse(`${studyDate}Z`) });
    await settle(await enqueueCorrelate(queue, { trigger: 'study', studyInstanceUid: uid, analysisId: `a${++seq}`, traceId: 't' }));
  }

  /** A report through the report worker's own path (store, index, correlate job), then that job settles. */
  async function report(r: Partial<RadiologyReport> & Pick<RadiologyReport, 'accessionNumber' | 'text'>): Promise<void> {
    const full: RadiologyReport = {
      sender: { application: 'RIS', facility: 'HOSP' },
      messageControlId: `M${++seq}`,
      version: '2.5.1',
      patient: { identifiers: [PID] },
      placerOrderNumber: r.accessionNumber,
      fillerOrderNumber: r.accessionNumber,
      procedure: { code: 'CTCAP', text: 'CT chest abdomen pelvis', codingSystem: 'L' },
      observationDateTime: '2026-03-01T11:30:00',
      resultStatus: 'F',
      studyInstanceUid: null,
      ...r,
    };
    const messageId = `msg-${seq}`;
    await redis.set(`${prefix}:hl7:msg:${messageId}`, JSON.stringify([full]));
    const job = { id: `hl7-${messageId}`, data: { messageId, receivedAt: Date.now() + seq, traceId: 't' } } as Job<ReportJobData>;
    await processReportJob(job, { redis, prefix, store: reports, links, correlateQueue: queue, logger });
    const key = reports.accessionKey(full);
    const stored = await reports.get(key);
    await settle(`correlate-report-${(await import('node:crypto')).createHash('sha256').update(key).digest('hex').slice(0, 24)}-${stored!.version}`);
  }

  async function settle(jobId: string): Promise<void> {
    const job = await queue.getJob(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (!(await job.isCompleted())) await job.waitUntilFinished(events, 20_000).catch(() => undefined);
  }

  async function search<T extends Resource>(type: T['resourceType'], query: Record<string, string>): Promise<T[]> {
    const bundle = (await fhir.search(type, { _count: '1000', ...query })) as unknown as Bundle<T>;
    return (bundle.entry ?? []).map((e) => e.resource as T);
  }

  const ofStudy = (uid: string) => ({ identifier: `urn:vcf-sentinel:finding|${uid}:` });
  async function observations(uid: string): Promise<Observation[]> {
    return (await search<Observation>('Observation', {})).filter((o) => o.identifier?.[0]?.value?.startsWith(`${uid}:`));
  }

  it('study first, then its report (joined by accession): the unreported fracture becomes FHIR outputs, the reported one nothing', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.1';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], { accessionNumber: 'ACC-1' });
    let state = await studies.get(uid);
    expect(state).toMatchObject({ status: 'awaiting-report', correlation: { outcome: 'awaiting-report' } });

    await report({ accessionNumber: 'ACC-1', text: 'FINDINGS: Severe compression fracture of L1. IMPRESSION: L1 fracture.' });
    state = await studies.get(uid);
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
    const state = await studies.get(uid);
    expect(state?.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'study-instance-uid' });
    expect(state?.correlation?.fractures[0]).toMatchObject({ level: 'L2', reported: false });
    expect(await observations(uid)).toHaveLength(1);
  });

  it('joins by patient and date within the window, never outside it', async () => {
    const near = '1.2.826.0.1.3680043.10.999.3';
    const far = '1.2.826.0.1.3680043.10.999.4';
    await analysedStudy(near, [fracture('T8', 2)], { accessionNumber: 'OTHER-3', patientId: 'MRN-3', studyDate: '2026-04-10T09:00:00' });
    await analysedStudy(far, [fracture('T8', 2)], { accessionNumber: 'OTHER-4', patientId: 'MRN-3', studyDate: '2026-04-20T09:00:00' });
    await report({ accessionNumber: 'ACC-3', patient: { identifiers: [{ ...PID, value: 'MRN-3' }] }, observationDateTime: '2026-04-10T16:00:00', text: 'FINDINGS: Unremarkable.' });
    expect((await studies.get(near))?.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'patient-and-date' });
    expect((await studies.get(far))?.correlation).toMatchObject({ outcome: 'awaiting-report' });
  });

  it('a study with no report within the wait ends done, outcome no-report, with no outputs', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.5';
    await analysedStudy(uid, [fracture('T10', 2)], { accessionNumber: 'NEVER', patientId: 'NOBODY' });
    const waiting = await studies.get(uid);
    expect(waiting?.correlation?.outcome).toBe('awaiting-report');
    const jobs = await queue.getJobs(['delayed']);
    const wait = jobs.find((j) => j.data.trigger === 'report-wait' && j.data.studyInstanceUid === uid);
    expect(wait).toBeDefined();
    await wait!.waitUntilFinished(events, reportWaitMs + 10_000);
    const state = await studies.get(uid);
    expect(state).toMatchObject({ status: 'done', correlation: { outcome: 'no-report', fractures: [] } });
    expect(await observations(uid)).toHaveLength(0);
  });

  it('a corrected report that now mentions the fracture retracts its outputs; one that drops a mention adds them', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.6';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], { accessionNumber: 'ACC-6' });
    await report({ accessionNumber: 'ACC-6', text: 'FINDINGS: Severe L1 compression fracture.' });
    const first = (await studies.get(uid))!.correlation!.fractures.find((f) => f.level === 'T12')!;
    expect(first.outputs).not.toBeNull();

    // Corrected (C): the radiologist adds T12 and no longer mentions L1.
    await report({ accessionNumber: 'ACC-6', resultStatus: 'C', text: 'FINDINGS: Moderate T12 wedge compression fracture. L1 is normal.' });
    const state = (await studies.get(uid))!;
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
    const state = (await studies.get(uid))!;
    expect(state.correlation).toMatchObject({ outcome: 'report-cancelled', fractures: [{ level: 'T11', reason: 'report-cancelled', retracted: true }] });
    expect((await observations(uid))[0]?.status).toBe('entered-in-error');
  });

  it('an uncertain level counts as reported next to a mentioned level, and is named "or adjacent" otherwise', async () => {
    const uid = '1.2.826.0.1.3680043.10.999.8';
    await analysedStudy(uid, [fracture('T11', 2, ['levelUncertain']), fracture('T7', 2, ['levelUncertain'])], { accessionNumber: 'ACC-8' });
    await report({ accessionNumber: 'ACC-8', text: 'FINDINGS: Moderate compression fracture of T12.' });
    const [t11, t7] = (await studies.get(uid))!.correlation!.fractures;
    expect(t11).toMatchObject({ level: 'T11', reported: true, reason: 'adjacent-level-mentioned', levelUncertain: true });
    expect(t7).toMatchObject({ level: 'T7', reported: false, levelText: 'T7 or adjacent' });
    const [obs] = await observations(uid);
    expect(obs?.bodySite?.text).toBe('T7 or adjacent (level uncertain)');
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
    await studies.update(uid, { status: 'awaiting-report' });
    await settle(await enqueueCorrelate(queue, { trigger: 'study', studyInstanceUid: uid, analysisId: `replay-${++seq}`, traceId: 't' }));
    await report({ accessionNumber: 'ACC-9', text: 'FINDINGS: Lytic lesion of the iliac bone.' });
    expect(await count()).toEqual(before);
    const obsAfter = (await observations(uid))[0]!;
    expect(obsAfter.id).toBe(obsBefore.id);
    expect(obsAfter.meta?.versionId).toBe(obsBefore.meta?.versionId);
    // A lytic grade-3 fracture: oncology/spine review and the IR consult, not the osteoporosis framing.
    const kinds = Object.keys((await studies.get(uid))!.correlation!.fractures[0]!.outputs!.serviceRequests).sort();
    expect(kinds).toEqual(['ir-augmentation-consult', 'oncology-spine-review']);
    expect(ofStudy(uid).identifier).toContain(uid);
  });

  it('a FHIR server refusing a resource fails the study visibly; an outage is retried and writes once', async () => {
    const refused = '1.2.826.0.1.3680043.10.999.10';
    await analysedStudy(refused, [fracture('L4', 2)], { accessionNumber: 'ACC-10' });
    failures.push(new AppError('FHIR_REJECTED', 'HTTP 422: Observation.subject: unknown identifier system'));
    await report({ accessionNumber: 'ACC-10', text: 'FINDINGS: Unremarkable.' });
    const failed = (await studies.get(refused))!;
    expect(failed.status).toBe('failed');
    expect(failed.errors.at(-1)).toMatchObject({ code: 'FHIR_REJECTED', retryable: false, message: expect.stringContaining('unknown identifier system') });
    // Once the server accepts again, the next report version correlates the study: failed is not a dead end.
    await report({ accessionNumber: 'ACC-10', resultStatus: 'A', text: 'FINDINGS: Unremarkable. Addendum: no change.' });
    expect((await studies.get(refused))?.status).toBe('done');
    expect(await observations(refused)).toHaveLength(1);

    const flaky = '1.2.826.0.1.3680043.10.999.11';
    await analysedStudy(flaky, [fracture('L4', 2)], { accessionNumber: 'ACC-11' });
    failures.push(new AppError('FHIR_UNAVAILABLE', 'HTTP 503 after 4 attempts'));
    await report({ accessionNumber: 'ACC-11', text: 'FINDINGS: Unremarkable.' });
    // The first attempt failed (recorded, retryable); BullMQ retried after its backoff and the second wrote.
    const jobs = await queue.getJobs(['completed', 'failed', 'delayed', 'active', 'waiting']);
    const job = jobs.find((j) => j.data.trigger === 'report' && j.data.accessionKey === 'HOSP|ACC-11');
    if (job && !(await job.isCompleted())) await job.waitUntilFinished(events, 20_000);
    const state = (await studies.get(flaky))!;
    expect(state.status).toBe('done');
    expect(state.errors).toEqual([expect.objectContaining({ code: 'FHIR_UNAVAILABLE', retryable: true, attempt: 1 })]);
    expect(await observations(flaky)).toHaveLength(1);
  });
});
