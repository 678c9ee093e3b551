/**
 * Correlation on real Redis for integration tests: the stores, the embedded FHIR store, the real
 * Correlator behind a real BullMQ correlate worker, and the two arrivals as the service makes them:
 * an analysed study (findings stored as the study worker leaves them, then its correlate trigger) and a
 * report through the report worker's own path. Every helper waits until the correlate job it caused is
 * finished, so a test reads the outcome right after.
 */
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { Correlator, type CorrelatorOptions } from '../../src/correlate/correlator';
import type { DetectedFracture } from '../../src/correlate/decide';
import { EmbeddedFhirWriter } from '../../src/emit/fhir/embedded';
import type { FhirWriter } from '../../src/emit/fhir/writer';
import type { RadiologyReport } from '../../src/ingest/hl7/oru';
import { type CorrelateJobData, CORRELATE_QUEUE, correlateJobId, enqueueCorrelate, processCorrelateJob } from '../../src/queue/correlate';
import { type ReportJobData, processReportJob } from '../../src/queue/reports';
import type { CdsStore } from '../../src/store/cds';
import { LinkStore } from '../../src/store/links';
import { OutputStore } from '../../src/store/outputs';
import { ReportStore, reportAccessionKey } from '../../src/store/reports';
import { type StoredStudy, StudyStore } from '../../src/store/studies';
import { REDIS_URL, deletePrefix } from './service';

export const TEST_MODEL = { name: 'vcf-test-model', version: '9.9.9', sha256: 'a'.repeat(64) };
export const TEST_PID = { value: 'MRN-1001', assigningAuthority: 'HOSP', typeCode: 'MR' };
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A detected fracture as the detector reports it (heights and centre are placeholders). */
export function fracture(level: DetectedFracture['level'], grade: DetectedFracture['grade'], flags: DetectedFracture['flags'] = []): DetectedFracture {
  return { level, grade, morphology: grade === 3 ? 'crush' : 'wedge', heightLossPercent: [0, 22, 31, 45][grade] as number, heightsMm: { anterior: 17, middle: 21, posterior: 25 }, centerMm: [0, 30, -200], confidence: 0.9, flags };
}

export interface HarnessOptions extends Pick<CorrelatorOptions, 'patientIdSystems' | 'taskOwner' | 'reportWaitMs'> {
  prefix: string;
  /** The CDS index the correlator keeps, when the test needs it (made on the harness's connection). */
  cds?: (redis: Redis) => CdsStore;
  /** Wraps the embedded writer (e.g. to inject a FHIR server's failures). */
  wrapWriter?: (writer: FhirWriter) => FhirWriter;
}

export interface StudyIds {
  accessionNumber?: string | null;
  patientId?: string | null;
  studyDate?: string;
  keyImage?: Buffer;
}

export class CorrelationHarness {
  readonly redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  readonly studies: StudyStore;
  readonly reports: ReportStore;
  readonly links: LinkStore;
  readonly fhir: EmbeddedFhirWriter;
  readonly cds: CdsStore | null;
  readonly correlator: Correlator;
  readonly queue: Queue<CorrelateJobData>;
  private readonly events: QueueEvents;
  private readonly worker: Worker<CorrelateJobData>;
  private readonly connections: Redis[] = [];
  private seq = 0;

  constructor(private readonly options: HarnessOptions) {
    const { prefix } = options;
    const dup = () => {
      const c = this.redis.duplicate();
      this.connections.push(c);
      return c;
    };
    this.studies = new StudyStore(this.redis, prefix, 3600);
    this.reports = new ReportStore(this.redis, prefix);
    this.links = new LinkStore(this.redis, prefix, 3600);
    this.fhir = new EmbeddedFhirWriter({ redis: this.redis, prefix });
    this.cds = options.cds?.(this.redis) ?? null;
    this.correlator = new Correlator(
      {
        redis: this.redis, prefix, studies: this.studies, reports: this.reports, links: this.links,
        outputs: new OutputStore(this.redis, prefix, 3600), fhir: options.wrapWriter?.(this.fhir) ?? this.fhir, logger,
        ...(this.cds ? { cds: this.cds } : {}),
      },
      { patientIdSystems: options.patientIdSystems, taskOwner: options.taskOwner, dateWindowMs: 24 * 3_600_000, reportWaitMs: options.reportWaitMs },
    );
    this.queue = new Queue(CORRELATE_QUEUE, { connection: this.redis, prefix });
    this.events = new QueueEvents(CORRELATE_QUEUE, { connection: dup(), prefix });
    const deps = { correlator: this.correlator, studies: this.studies, queue: this.queue, reportWaitMs: options.reportWaitMs, logger };
    this.worker = new Worker(CORRELATE_QUEUE, (job) => processCorrelateJob(job, deps), { connection: dup(), prefix, concurrency: 2 });
  }

  async start(): Promise<this> {
    await this.events.waitUntilReady();
    return this;
  }

  async stop(): Promise<void> {
    await this.worker.close();
    await this.events.close();
    await this.queue.close();
    await deletePrefix(this.options.prefix);
    for (const c of this.connections) c.disconnect();
    this.redis.disconnect();
  }

  /** A study as the study worker leaves it: findings stored, identifiers kept and indexed, then the study trigger. */
  async analysedStudy(uid: string, fractures: DetectedFracture[], ids: StudyIds = {}): Promise<void> {
    const accessionNumber = ids.accessionNumber ?? null;
    const patientId = ids.patientId === undefined ? TEST_PID.value : ids.patientId;
    const studyDate = ids.studyDate ?? '2026-03-01T10:00:00';
    await this.studies.markQueued(uid, { source: 'default', jobId: `study-${uid}`, maxAttempts: 1, accessionNumber, patientId, traceId: 't' });
    await this.studies.update(uid, {
      status: 'awaiting-report',
      studyDate,
      findings: { studyInstanceUid: uid, seriesInstanceUid: `${uid}.1`, model: TEST_MODEL, vertebrae: fractures, fractures } as unknown as StoredStudy['findings'],
    });
    if (ids.keyImage) await this.studies.setKeyImage(uid, ids.keyImage);
    await this.links.addStudy(uid, { accessionNumber, patientId, studyTimeMs: Date.parse(`${studyDate}Z`) });
    await this.replayStudy(uid);
  }

  /** The same analysis finishing again (a retried study job): its correlate trigger under a new analysis id. */
  async replayStudy(uid: string): Promise<void> {
    await this.studies.update(uid, { status: 'awaiting-report' });
    await this.settle(await enqueueCorrelate(this.queue, { trigger: 'study', studyInstanceUid: uid, analysisId: `a${++this.seq}`, traceId: 't' }));
  }

  /** A report through the report worker's own path (store, index, correlate job); waits for that job. */
  async report(r: Partial<RadiologyReport> & Pick<RadiologyReport, 'accessionNumber' | 'text'>): Promise<void> {
    const full: RadiologyReport = {
      sender: { application: 'RIS', facility: 'HOSP' },
      messageControlId: `M${++this.seq}`,
      version: '2.5.1',
      patient: { identifiers: [TEST_PID] },
      placerOrderNumber: r.accessionNumber,
      fillerOrderNumber: r.accessionNumber,
      procedure: { code: 'CTCAP', text: 'CT chest abdomen pelvis', codingSystem: 'L' },
      observationDateTime: '2026-03-01T11:30:00',
      resultStatus: 'F',
      studyInstanceUid: null,
      ...r,
    };
    const messageId = `msg-${this.seq}`;
    await this.redis.set(`${this.options.prefix}:hl7:msg:${messageId}`, JSON.stringify([full]));
    const job = { id: `hl7-${messageId}`, data: { messageId, receivedAt: Date.now() + this.seq, traceId: 't' } } as Job<ReportJobData>;
    await processReportJob(job, { redis: this.redis, prefix: this.options.prefix, store: this.reports, links: this.links, correlateQueue: this.queue, logger });
    const accessionKey = reportAccessionKey(full);
    const stored = await this.reports.get(accessionKey);
    await this.settle(correlateJobId({ trigger: 'report', accessionKey, version: stored!.version, traceId: 't' }));
  }

  /** Waits until the job is finished (completed, or failed for good); a failed one is for the test to read. */
  async settle(jobId: string, timeoutMs = 20_000): Promise<void> {
    const job = await this.queue.getJob(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (!(await job.isCompleted())) await job.waitUntilFinished(this.events, timeoutMs).catch(() => undefined);
  }

  /** Every resource of a type in the embedded store. */
  async search<T extends Resource>(type: T['resourceType'], query: Record<string, string> = {}): Promise<T[]> {
    const bundle = (await this.fhir.search(type, { _count: '1000', ...query })) as unknown as Bundle<T>;
    return (bundle.entry ?? []).map((e) => e.resource as T);
  }
}
