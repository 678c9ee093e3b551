/**
 * ReportIntake on the Redis at REDIS_URL (the Lua script and BullMQ are the unit under test): a repeated
 * (sender, MSH-10) is a duplicate only when its content is the same.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Er7Message } from '../../../src/ingest/hl7/er7';
import { type MessageHeader, type RadiologyReport, parseOru, readHeader } from '../../../src/ingest/hl7/oru';
import { ReportIntake, contentHash, messageId, reusedMessageId } from '../../../src/queue/report-intake';
import { type ReportJobData, REPORTS_QUEUE } from '../../../src/queue/reports';
import { makeOru } from '../../helpers/hl7';
import { REDIS_URL, deletePrefix, testPrefix } from '../../helpers/service';
import { capturingLogger } from '../../helpers/logs';

function parse(er7: string): { header: MessageHeader; reports: RadiologyReport[] } {
  const msg = Er7Message.parse(Buffer.from(er7, 'utf8'));
  return { header: readHeader(msg), reports: parseOru(msg) };
}

describe('ReportIntake (real Redis)', () => {
  const prefix = testPrefix('intake');
  let redis: Redis;
  let queue: Queue<ReportJobData>;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    queue = new Queue<ReportJobData>(REPORTS_QUEUE, { connection: redis, prefix });
  });
  afterAll(async () => {
    await queue.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  const body = (id: string) => redis.get(`${prefix}:hl7:msg:${id}`);

  it('the same (sender, MSH-10) with the same content is a duplicate: AA again, one job, the body kept for the window', async () => {
    const { logger, lines } = capturingLogger();
    const intake = new ReportIntake(redis, queue, { prefix, duplicateWindowS: 600, logger });
    const m = parse(makeOru({ controlId: 'SAME-1', accession: 'ACC-S1' }));
    const first = await intake.accept(m.header, m.reports, 't1');
    const again = await intake.accept(m.header, m.reports, 't2');
    expect(first).toEqual({ duplicate: false, messageId: messageId(m.header), reused: false });
    expect(again).toEqual({ duplicate: true, messageId: messageId(m.header), reused: false });
    expect((await queue.getJobs(['waiting'])).filter((j) => j.data.messageId === first.messageId)).toHaveLength(1);
    const ttl = await redis.ttl(`${prefix}:hl7:msg:${first.messageId}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('the same (sender, MSH-10) with different content is a new message: stored and queued, warn-logged with both hashes, no PHI', async () => {
    const { logger, lines } = capturingLogger();
    const intake = new ReportIntake(redis, queue, { prefix, duplicateWindowS: 600, logger });
    const a = parse(makeOru({ controlId: 'REUSED-1', accession: 'ACC-FIRST', patientId: 'MRN-FIRST' }));
    const b = parse(makeOru({ controlId: 'REUSED-1', accession: 'ACC-OTHER', patientId: 'MRN-OTHER', text: ['IMPRESSION: T12 fracture.'] }));
    const first = await intake.accept(a.header, a.reports, 't1');
    const second = await intake.accept(b.header, b.reports, 't2');
    const secondAgain = await intake.accept(b.header, b.reports, 't3');
    const firstAgain = await intake.accept(a.header, a.reports, 't4');

    const hashB = contentHash(JSON.stringify(b.reports));
    expect(first).toEqual({ duplicate: false, messageId: messageId(a.header), reused: false });
    expect(second).toEqual({ duplicate: false, messageId: reusedMessageId(b.header, hashB), reused: true });
    expect(second.messageId).not.toBe(first.messageId);
    // Retries of either are duplicates of the one they repeat.
    expect(secondAgain).toEqual({ ...second, duplicate: true });
    expect(firstAgain).toEqual({ ...first, duplicate: true });
    // Both bodies kept, each under its own id; one job each.
    expect(JSON.parse((await body(first.messageId))!)[0]).toMatchObject({ accessionNumber: 'ACC-FIRST' });
    expect(JSON.parse((await body(second.messageId))!)[0]).toMatchObject({ accessionNumber: 'ACC-OTHER' });
    const jobs = await queue.getJobs(['waiting']);
    expect(jobs.filter((j) => j.data.messageId === first.messageId)).toHaveLength(1);
    expect(jobs.filter((j) => j.data.messageId === second.messageId)).toHaveLength(1);

    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toEqual([
      expect.objectContaining({
        event: 'hl7.control_id_reused', controlId: 'REUSED-1', sendingApplication: 'RIS', sendingFacility: 'HOSP',
        firstContentHash: contentHash(JSON.stringify(a.reports)), contentHash: hashB, messageId: second.messageId,
      }),
    ]);
    expect(JSON.stringify(warnings)).not.toMatch(/MRN-|ACC-|fracture/);
  });

  it('REDIS_DURABILITY=require without AOF or replica now: AR (QUEUE_UNAVAILABLE) and nothing written', async () => {
    const intake = new ReportIntake(redis, queue, { prefix, duplicateWindowS: 600, durability: () => 'refuse' });
    const m = parse(makeOru({ controlId: 'REFUSED-1' }));
    await expect(intake.accept(m.header, m.reports, 't')).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE', message: expect.stringMatching(/REDIS_DURABILITY=require/) });
    expect(await body(messageId(m.header))).toBeNull();
  });

  it('REDIS_DURABILITY=require with a replica only: AA waits for WAIT 1; no replica confirming means AR (the sender retries)', async () => {
    // This Redis has no replica, so WAIT 1 answers 0 after its timeout: the AA must not be given.
    const intake = new ReportIntake(redis, queue, { prefix, duplicateWindowS: 600, durability: () => 'wait-replica' });
    const m = parse(makeOru({ controlId: 'WAIT-1' }));
    await expect(intake.accept(m.header, m.reports, 't')).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE', message: expect.stringMatching(/no Redis replica confirmed/) });
  });
});
