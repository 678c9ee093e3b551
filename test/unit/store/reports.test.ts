/**
 * Retention of the report path (issue 16 item 12), on the Redis at REDIS_URL: every key a report job
 * writes expires (REPORT_TTL_S for the report and its indexes, HL7_DUPLICATE_WINDOW_S for the message
 * body), and each write gives the keys their full retention again.
 */
import type { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { Er7Message } from '../../../src/ingest/hl7/er7';
import { parseOru } from '../../../src/ingest/hl7/oru';
import type { CorrelateJobData } from '../../../src/queue/correlate';
import { type ReportJobData, processReportJob } from '../../../src/queue/reports';
import { LinkStore } from '../../../src/store/links';
import { DEFAULT_REPORT_TTL_S, ReportStore } from '../../../src/store/reports';
import { makeOru } from '../../helpers/hl7';
import { REDIS_URL, deletePrefix, testPrefix } from '../../helpers/service';

const REPORT_TTL_S = 5000;
const STUDY_TTL_S = 3000;
const WINDOW_S = 600;

describe('report retention (REPORT_TTL_S), real Redis', () => {
  const prefix = testPrefix('retention');
  let redis: Redis;
  const correlated: CorrelateJobData[] = [];
  const correlateQueue = { add: async (_n: string, data: CorrelateJobData) => void correlated.push(data) } as unknown as Queue<CorrelateJobData>;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });

  /** What the intake and then the report worker write for one ORU. */
  async function receive(controlId: string, status: string): Promise<void> {
    const er7 = makeOru({ controlId, accession: 'ACC-TTL', status, studyInstanceUid: '1.2.826.0.1.3680043.10.543.99', patientId: 'MRN-TTL' });
    const reports = parseOru(Er7Message.parse(Buffer.from(er7)));
    await redis.set(`${prefix}:hl7:msg:${controlId}`, JSON.stringify(reports), 'EX', WINDOW_S);
    const job = { id: `hl7-${controlId}`, data: { messageId: controlId, receivedAt: Date.now(), traceId: 't' } } as unknown as Job<ReportJobData>;
    await processReportJob(job, {
      redis, prefix, correlateQueue, logger: pino({ level: 'silent' }),
      store: new ReportStore(redis, prefix, REPORT_TTL_S),
      links: new LinkStore(redis, prefix, STUDY_TTL_S, REPORT_TTL_S),
    });
  }

  async function ttls(): Promise<Record<string, number>> {
    const keys = await redis.keys(`${prefix}:*`);
    const out: Record<string, number> = {};
    for (const k of keys.sort()) out[k.slice(prefix.length + 1).replace(/:[^:]*$/, ':*')] = await redis.ttl(k);
    return out;
  }

  it('every key the report path writes expires: the report and its indexes after REPORT_TTL_S, the body after the duplicate window', async () => {
    await receive('TTL-F', 'F');
    const t = await ttls();
    expect(Object.keys(t).sort()).toEqual(['accession-index:*', 'hl7:msg:*', 'link:report-by-patient:*', 'report-history:*', 'report:*', 'study-report:*']);
    for (const family of ['accession-index:*', 'link:report-by-patient:*', 'report-history:*', 'report:*', 'study-report:*']) {
      expect([family, t[family]! > REPORT_TTL_S - 60 && t[family]! <= REPORT_TTL_S]).toEqual([family, true]);
    }
    expect(t['hl7:msg:*']).toBeGreaterThan(0);
    expect(t['hl7:msg:*']).toBeLessThanOrEqual(WINDOW_S);
    expect(correlated).toHaveLength(1);
  });

  it('each later message for the accession (replacing or stale) gives the keys their full retention again', async () => {
    const families = ['accession-index', 'report', 'report-history', 'study-report'];
    const keyOf = async (family: string) => (await redis.keys(`${prefix}:${family}:*`))[0]!;
    for (const f of families) await redis.expire(await keyOf(f), 10);
    await receive('TTL-C', 'C');
    for (const f of families) expect([f, (await redis.ttl(await keyOf(f))) > 10]).toEqual([f, true]);
    // A late preliminary is not stored, but it is remembered in the history: the report lives on too.
    for (const f of ['report', 'report-history']) await redis.expire(await keyOf(f), 10);
    await receive('TTL-P-LATE', 'P');
    for (const f of ['report', 'report-history']) expect([f, (await redis.ttl(await keyOf(f))) > 10]).toEqual([f, true]);
    expect(await new ReportStore(redis, prefix).get('HOSP|ACC-TTL')).toMatchObject({ version: 2, report: { resultStatus: 'C' } });
  });

  it('a store made without a TTL (readers, tools) still writes with the default retention, 400 days', async () => {
    expect(DEFAULT_REPORT_TTL_S).toBe(400 * 24 * 3600);
    const p2 = `${prefix}-default`;
    const reports = parseOru(Er7Message.parse(Buffer.from(makeOru({ controlId: 'D-1', accession: 'ACC-D' }))));
    await new ReportStore(redis, p2).upsert(reports[0]!, { language: 'en', mentions: [], reportedLevels: [], reportedRegions: [] } as never, Date.now(), 'm1');
    const ttl = await redis.ttl(`${p2}:report:HOSP|ACC-D`);
    expect(ttl).toBeGreaterThan(DEFAULT_REPORT_TTL_S - 60);
    await deletePrefix(p2);
  });
});
