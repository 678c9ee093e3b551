import { type Job, type JobsOptions, type Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RadiologyReport } from '../ingest/hl7/oru';
import type { Logger } from '../log';
import { analyzeReport } from '../report';
import { localTimeMs } from '../correlate/time';
import type { LinkStore } from '../store/links';
import type { ReportStore } from '../store/reports';
import { type CorrelateJobData, enqueueCorrelate } from './correlate';

/** An accepted HL7 message whose reports must be stored, analysed and correlated. */
export const REPORTS_QUEUE = 'reports';

export interface ReportJobData {
  /** Key suffix of the stored parsed message: sha256 of (sender, MSH-10), plus the content hash for a reused MSH-10. */
  messageId: string;
  receivedAt: number;
  /** The message's trace: its id (32 hex, the `traceId` of log lines) and the W3C traceparent of the span that queued the job. */
  traceId: string;
  traceparent?: string;
}

/** One job per accepted message: a sender retrying after a lost ACK adds nothing. */
export function reportJobId(messageId: string): string {
  return `hl7-${messageId}`;
}

/** Completed jobs are kept for the duplicate window: BullMQ ignores an add with a known id. */
export function reportJobOptions(duplicateWindowS: number): JobsOptions {
  return {
    removeOnComplete: { age: duplicateWindowS },
    removeOnFail: { age: duplicateWindowS },
    attempts: 8,
    backoff: { type: 'exponential', delay: 1000 },
  };
}

/**
 * Lock settings of the reports worker. Analysing a report is fast (a multi-megabyte one holds the event
 * loop about a second), so a short lock is safe: BullMQ renews it every lockDuration / 2 (7.5 s) while the
 * job runs, and a worker that dies (SIGKILL, OOM, node lost) stops renewing it. Another worker's stalled
 * check (every stalledInterval) then finds the expired lock and moves the job back to wait: a killed
 * worker's report is picked up within lockDuration + stalledInterval (30 s) instead of the 120 s lock + 30 s
 * check it used to take. A job that stalls again (maxStalledCount 1, BullMQ's default) fails, so a report
 * that kills its worker every time cannot take the workers down one after the other. Processing a job
 * twice after a false stall is harmless: the store and the correlate jobs are idempotent.
 */
export const REPORT_WORKER_LOCK = { lockDuration: 15_000, stalledInterval: 15_000, maxStalledCount: 1 } as const;

export interface ReportWorkerDeps {
  redis: Redis;
  prefix: string;
  store: ReportStore;
  links: LinkStore;
  correlateQueue: Queue<CorrelateJobData>;
  logger: Logger;
}

/**
 * Stores each report of an accepted message as the latest version of its accession and asks for
 * (re-)correlation of the version it stored. Safe to run twice: the store ignores a version it holds,
 * and correlate jobs have natural ids (accession + version).
 */
export async function processReportJob(job: Job<ReportJobData>, deps: ReportWorkerDeps): Promise<{ stored: number }> {
  const { messageId, receivedAt, traceId } = job.data;
  const json = await deps.redis.get(`${deps.prefix}:hl7:msg:${messageId}`);
  if (json === null) throw new UnrecoverableError('the accepted message expired before it was processed');
  const reports = JSON.parse(json) as RadiologyReport[];
  let stored = 0;
  for (const report of reports) {
    // Analysed before the store so a version and its analysis are written together.
    const analysis = analyzeReport(report.text);
    const { outcome, version, accessionKey } = await deps.store.upsert(report, analysis, receivedAt, messageId);
    deps.logger.info(
      { event: 'report.stored', traceId, jobId: job.id, outcome, version, status: report.resultStatus, language: analysis.language, mentions: analysis.mentions.length },
      'report stored',
    );
    if (outcome === 'stale') continue;
    if (outcome !== 'same') stored++;
    await deps.links.addReport(accessionKey, report.patient.identifiers.map((id) => id.value), localTimeMs(report.observationDateTime));
    // Also on 'same': a retry after a failure between the store and this add must still queue the job;
    // the natural id (accession + version) makes the second add a no-op.
    await enqueueCorrelate(deps.correlateQueue, { trigger: 'report', accessionKey, version, traceId });
  }
  return { stored };
}
