import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../../src/queue/names';
import { messageId } from '../../src/queue/report-intake';
import { ReportStore, reportAccessionKey } from '../../src/store/reports';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, deletePrefix, startTestApp, testPrefix } from '../helpers/service';

describe('report store: latest version per accession, re-correlation on correction (worker on real Redis)', () => {
  const prefix = testPrefix('store');
  let app: Awaited<ReturnType<typeof startTestApp>>;
  let redis: Redis;
  let reports: Queue;
  let correlate: Queue;
  let store: ReportStore;

  beforeAll(async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix }, 'all');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    reports = new Queue(QUEUES.reports, { connection: redis, prefix });
    correlate = new Queue(QUEUES.correlate, { connection: redis, prefix });
    store = new ReportStore(redis, prefix);
  });
  afterAll(async () => {
    await app.stop();
    await reports.close();
    await correlate.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  /** Sends one ORU and waits until the worker has processed its job (natural id hl7-<messageId>). */
  async function deliver(controlId: string, status: string, text: string): Promise<void> {
    const { acks } = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId, accession: 'ACC-STORE', status, text: [text], studyInstanceUid: '1.2.3.4.5' }))], 1);
    expect(msa(acks[0]!).code).toBe('AA');
    const jobId = `hl7-${messageId({ sendingApplication: 'RIS', sendingFacility: 'HOSP', messageControlId: controlId })}`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await reports.getJobState(jobId)) === 'completed') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job for ${controlId} not completed`);
  }

  it('keeps F over a late P, lets C replace F, and queues a correlate job per stored version', async () => {
    await deliver('V1-P', 'P', 'Preliminary: no fracture.');
    await deliver('V2-F', 'F', 'Final: mild L1 wedge fracture.');
    await deliver('V3-P-LATE', 'P', 'Preliminary sent late.');
    let stored = await store.get(reportAccessionKey({ sender: { application: 'RIS', facility: 'HOSP' }, accessionNumber: 'ACC-STORE' }));
    expect(stored).toMatchObject({ version: 2, report: { resultStatus: 'F', text: 'Final: mild L1 wedge fracture.' } });

    await deliver('V4-C', 'C', 'Corrected: moderate L1 and mild T12 fractures.');
    stored = await store.get('HOSP|ACC-STORE');
    expect(stored).toMatchObject({ version: 3, report: { resultStatus: 'C', messageControlId: 'V4-C' } });
    // The analysis stored with the version is the corrected text's: L1 and T12 now reported.
    expect(stored!.analysis.reportedLevels).toEqual(['T12', 'L1']);
    expect(await store.accessionForStudy('1.2.3.4.5')).toBe('HOSP|ACC-STORE');
    expect(await store.accessionKeysForNumber('ACC-STORE')).toEqual(['HOSP|ACC-STORE']);

    // One correlate job per stored version (the worker consumes them: no study joins this report here).
    const jobs = await correlate.getJobs(['waiting', 'delayed', 'active', 'completed']);
    const versions = jobs.filter((j) => j.data.trigger === 'report').map((j) => j.data.version).sort();
    expect(versions).toEqual([1, 2, 3]);
  });
});
