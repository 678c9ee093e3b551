import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import pino from 'pino';
import { AppError } from '../../../src/errors';
import type { StudyAnalysis } from '../../../src/imaging';
import { type DicomwebClient, type DicomJson, DicomwebHttpError, type RetrievedInstances } from '../../../src/ingest/dicomweb';
import type { CorrelateJobData } from '../../../src/queue/correlate';
import { type StudyJobData, type StudyWorkerDeps, processStudyJob } from '../../../src/queue/studies';
import type { LinkStore } from '../../../src/store/links';
import type { StoredStudy, StudyError, StudyStore } from '../../../src/store/studies';

const UID = '1.2.826.0.1.3680043.10.543.7';
const CT = '1.2.826.0.1.3680043.10.543.7.1';
const SC = '1.2.826.0.1.3680043.10.543.7.2';

const series = (uid: string, modality: string, count: number): DicomJson => ({
  '0020000E': { vr: 'UI', Value: [uid] },
  '00080060': { vr: 'CS', Value: [modality] },
  '00201209': { vr: 'IS', Value: [count] },
});

/** The store as a record of what was written, in order. */
class FakeStore {
  state: Partial<StoredStudy> = {};
  errors: StudyError[] = [];
  statuses: string[] = [];
  async update(_uid: string, patch: Partial<StoredStudy>) {
    Object.assign(this.state, patch);
    if (patch.status) this.statuses.push(patch.status);
  }
  async get() {
    return this.state;
  }
  async recordError(_uid: string, error: StudyError, patch: Partial<StoredStudy>) {
    this.errors.push(error);
    await this.update(_uid, patch);
  }
}

function job(attemptsMade: number, attempts = 3, data: Partial<StudyJobData> = {}): Job<StudyJobData> {
  return { id: 'study-x', timestamp: 1700000000000, data: { studyInstanceUid: UID, source: 'default', traceId: 't-1', ...data }, attemptsMade, opts: { attempts } } as unknown as Job<StudyJobData>;
}

function setup(client: Partial<DicomwebClient>) {
  const store = new FakeStore();
  const added: Array<{ data: CorrelateJobData; jobId: string | undefined }> = [];
  const analyzed: Buffer[][] = [];
  const linked: Array<{ uid: string; ids: unknown }> = [];
  const deps: StudyWorkerDeps = {
    store: store as unknown as StudyStore,
    links: { addStudy: async (uid: string, ids: unknown) => void linked.push({ uid, ids }) } as unknown as LinkStore,
    correlateQueue: { add: async (_n: string, data: CorrelateJobData, o: { jobId?: string }) => void added.push({ data, jobId: o.jobId }) } as unknown as Queue<CorrelateJobData>,
    clientFor: () => client as DicomwebClient,
    logger: pino({ level: 'silent' }),
    selectSeries: (candidates) => ({ chosen: candidates[0]?.seriesInstanceUid ?? null, reasons: ['first'], rejected: [] }),
    analyse: async (buffers) => {
      analyzed.push([...buffers]);
      const analysis = {
        seriesInstanceUid: CT,
        series: { chosen: { seriesInstanceUid: CT }, reasons: ['assembled'], rejected: [] },
        volume: { dims: [2, 2, 2] },
      } as unknown as StudyAnalysis;
      return { analysis, keyImage: null };
    },
  };
  return { deps, store, added, analyzed, linked };
}

const healthyClient: Partial<DicomwebClient> = {
  searchStudies: async () => [],
  searchSeries: async () => [series(CT, 'CT', 2), series(SC, 'OT', 1)],
  retrieveSeriesMetadata: async () => [{}, {}],
  retrieveSeries: async () =>
    ({ instances: [{ buffer: Buffer.from('a'), transferSyntaxUid: '1.2.840.10008.1.2.1', sopInstanceUid: '1.1' }, { buffer: Buffer.from('b'), transferSyntaxUid: '1.2.840.10008.1.2.1', sopInstanceUid: '1.2' }], bytes: 2, transcodingRefused: false }) as RetrievedInstances,
};

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('study worker', () => {
  it('retrieving → analysing → awaiting-report, with the findings, the series reasons and the settled fingerprint', async () => {
    const { deps, store, analyzed, added } = setup(healthyClient);
    const result = await processStudyJob(job(0), deps);
    expect(store.statuses).toEqual(['retrieving', 'analysing', 'awaiting-report']);
    expect(analyzed).toEqual([[Buffer.from('a'), Buffer.from('b')]]);
    expect(store.state).toMatchObject({ attempts: 1, maxAttempts: 3, findings: { seriesInstanceUid: CT }, correlation: null });
    expect(store.state.series?.reasons).toEqual(['first', 'assembled']);
    expect(store.state.series?.rejected).toEqual([{ seriesInstanceUid: SC, reason: 'modality OT is not CT' }]);
    expect(store.state.settledFingerprint).toMatch(/^v2:/);
    expect(store.state.settledFingerprint).toBe(store.state.fingerprint);
    expect(result).toMatchObject({ status: 'awaiting-report', seriesInstanceUid: CT });
    expect(added).toEqual([{ data: { trigger: 'study', studyInstanceUid: UID, analysisId: 'study-x:1700000000000:1', traceId: 't-1' }, jobId: result.correlateJobId }]);
  });

  it('searches the study\'s series once: the fingerprint\'s QIDO list serves the fetch', async () => {
    let searches = 0;
    const { deps, store } = setup({
      ...healthyClient,
      searchSeries: async (...args) => {
        searches += 1;
        return healthyClient.searchSeries!(...args);
      },
    });
    await processStudyJob(job(0), deps);
    expect(searches).toBe(1);
    expect(store.state.status).toBe('awaiting-report');
  });

  it('keeps the study identifiers for the join: the notification\'s win, DICOM fills the rest, and they are indexed', async () => {
    const withIds: Partial<DicomwebClient> = {
      ...healthyClient,
      retrieveSeriesMetadata: async (): Promise<DicomJson[]> => [
        { '00080050': { vr: 'SH', Value: ['DICOM-ACC'] }, '00100020': { vr: 'LO', Value: ['PID-7'] }, '00080020': { vr: 'DA', Value: ['20260301'] }, '00080030': { vr: 'TM', Value: ['140500.123'] } },
        {},
      ],
    };
    const { deps, store, linked } = setup(withIds);
    store.state.accessionNumber = 'NOTIFIED-ACC';
    await processStudyJob(job(0), deps);
    expect(store.state).toMatchObject({ accessionNumber: 'NOTIFIED-ACC', patientId: 'PID-7', studyDate: '2026-03-01T14:05:00', issuerOfPatientId: null });
    expect(linked).toEqual([{ uid: UID, ids: { accessionNumber: 'NOTIFIED-ACC', patientId: 'PID-7', studyTimeMs: Date.UTC(2026, 2, 1, 14, 5, 0) } }]);
    expect(store.state.identifiers).toEqual({ accessionNumber: 'notification', patientId: 'instance-metadata' });
  });

  it('prefers the source\'s QIDO-RS study attributes to instance metadata, and falls back when QIDO-RS refuses', async () => {
    const qidoStudy: DicomJson = { '00080050': { vr: 'SH', Value: ['QIDO-ACC'] }, '00100020': { vr: 'LO', Value: ['QIDO-PID'] }, '00100021': { vr: 'LO', Value: ['HOSP'] } };
    const metadata = async (): Promise<DicomJson[]> => [{ '00080050': { vr: 'SH', Value: ['META-ACC'] }, '00100020': { vr: 'LO', Value: ['META-PID'] } }, {}];
    const asked: unknown[] = [];
    const fromQido = setup({ ...healthyClient, retrieveSeriesMetadata: metadata, searchStudies: async (q) => (asked.push(q), [qidoStudy]) });
    await processStudyJob(job(0), fromQido.deps);
    expect(asked).toEqual([expect.objectContaining({ StudyInstanceUID: UID })]);
    expect(fromQido.store.state).toMatchObject({ accessionNumber: 'QIDO-ACC', patientId: 'QIDO-PID', issuerOfPatientId: 'HOSP', identifiers: { accessionNumber: 'qido-rs', patientId: 'qido-rs' } });

    const refused = setup({ ...healthyClient, retrieveSeriesMetadata: metadata, searchStudies: async () => Promise.reject(new DicomwebHttpError('searchStudies', 400)) });
    await processStudyJob(job(0), refused.deps);
    expect(refused.store.state).toMatchObject({ accessionNumber: 'META-ACC', patientId: 'META-PID', identifiers: { accessionNumber: 'instance-metadata', patientId: 'instance-metadata' } });
  });

  it('source unavailable: retryable while attempts remain (status queued with the error), failed after the last', async () => {
    const client = { searchSeries: async () => Promise.reject(new AppError('DICOMWEB_UNAVAILABLE', 'DICOMweb searchSeries failed: network error (ECONNREFUSED)')) };
    const first = setup(client);
    const err = await rejection(processStudyJob(job(0), first.deps));
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(err.message).toMatch(/^DICOMWEB_UNAVAILABLE: /);
    expect(first.store.state.status).toBe('queued');
    expect(first.store.errors).toEqual([expect.objectContaining({ attempt: 1, code: 'DICOMWEB_UNAVAILABLE', retryable: true })]);
    expect(first.store.state.settledFingerprint).toBeUndefined();

    const last = setup(client);
    await rejection(processStudyJob(job(2), last.deps));
    expect(last.store.state).toMatchObject({ status: 'failed', attempts: 3 });
    expect(last.store.errors[0]).toMatchObject({ attempt: 3, retryable: true });
  });

  it('a refusal by the server is unrecoverable: failed at once', async () => {
    const { deps, store } = setup({ searchSeries: async () => Promise.reject(new AppError('DICOMWEB_CLIENT_ERROR', 'DICOMweb searchSeries refused: HTTP 403')) });
    const err = await rejection(processStudyJob(job(0), deps));
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(store.state.status).toBe('failed');
    expect(store.errors[0]).toMatchObject({ code: 'DICOMWEB_CLIENT_ERROR', retryable: false, message: 'DICOMweb searchSeries refused: HTTP 403' });
  });

  it('no usable series: STUDY_UNUSABLE, unrecoverable, with the rejections, and settled at that fingerprint', async () => {
    const { deps, store } = setup({ ...healthyClient, searchSeries: async () => [series(SC, 'OT', 1)] });
    const err = await rejection(processStudyJob(job(0), deps));
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(err.message).toMatch(/^STUDY_UNUSABLE: no usable CT series: the study has no CT series; a series: modality OT is not CT$/);
    expect(store.state).toMatchObject({ status: 'failed', series: { chosen: null } });
    expect(store.state.settledFingerprint).toMatch(/^v2:/);
  });

  it('a study not (yet) on the source is retried: STUDY_NOT_FOUND', async () => {
    const { deps, store } = setup({ searchSeries: async () => [] });
    const err = await rejection(processStudyJob(job(0), deps));
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(store.errors[0]).toMatchObject({ code: 'STUDY_NOT_FOUND', retryable: true });
  });

  it('a volume that cannot be assembled is unrecoverable; an unexpected error is internal and retried, without its text', async () => {
    const bad = setup(healthyClient);
    bad.deps.analyse = async () => {
      throw new AppError('VOLUME_INVALID', 'slices are not evenly spaced');
    };
    expect(await rejection(processStudyJob(job(0), bad.deps))).toBeInstanceOf(UnrecoverableError);
    expect(bad.store.errors[0]).toMatchObject({ code: 'VOLUME_INVALID', message: 'slices are not evenly spaced' });

    const compressed = setup({
      ...healthyClient,
      retrieveSeries: async () =>
        ({ instances: [{ buffer: Buffer.from('a'), transferSyntaxUid: '1.2.840.10008.1.2.4.90', sopInstanceUid: '1.1' }], bytes: 1, transcodingRefused: true }) as RetrievedInstances,
    });
    compressed.deps.analyse = async () => {
      throw new AppError('STUDY_UNUSABLE', 'no usable CT series');
    };
    await rejection(processStudyJob(job(0), compressed.deps));
    expect(compressed.store.errors[0]?.message).toBe('no usable CT series (the source sent compressed pixel data it did not transcode: transfer syntax 1.2.840.10008.1.2.4.90)');

    const bug = setup(healthyClient);
    bug.deps.analyse = async () => {
      throw new TypeError('cannot read properties of undefined (PATIENT NAME)');
    };
    const err = await rejection(processStudyJob(job(0), bug.deps));
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(bug.store.errors[0]).toMatchObject({ code: 'INTERNAL', retryable: true, message: 'internal error (TypeError)' });
  });
});
