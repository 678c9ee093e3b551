/**
 * The correlate queue: its name, job data, natural ids, options, producer and processor in one place
 * (as Medplum's server keeps one module per job kind). Three triggers:
 *
 * - `report`: a report version was stored (new, final, corrected, amended or cancelled): evaluate every
 *   analysed study it joins; a study not analysed yet will find the report itself.
 * - `study`: a study's analysis finished: evaluate it with its report, or wait for one (a delayed
 *   `report-wait` job ends the wait after CORRELATE_REPORT_WAIT_H).
 * - `report-wait`: the wait is over: a study still without a report ends `done`, outcome `no-report`.
 */
import { sha256Hex, uidTag } from '../domain/digest';
import { type Job, type JobsOptions, type Queue } from 'bullmq';
import { type Correlator, type ReportLink, StudyBusyError } from '../correlate/correlator';
import { toAppError } from '../errors';
import { jobFailure } from './job-failure';
import type { Logger } from '../log';
import type { StudyCorrelation, StudyStore } from '../store/studies';
import { inSpan, traceparentFor } from '../observability/trace-context';

export const CORRELATE_QUEUE = 'correlate';

/** Each carries its trace: `traceId` (32 hex, in log lines) and the `traceparent` of the span that queued it. */
export type CorrelateJobData = (
  | { trigger: 'report'; accessionKey: string; version: number }
  | { trigger: 'study'; studyInstanceUid: string; analysisId: string }
  | { trigger: 'report-wait'; studyInstanceUid: string; analysisId: string }
) & { traceId: string; traceparent?: string };

const tag = (s: string) => sha256Hex(s, 24);

/**
 * Natural ids (BullMQ ids may not contain ':'): one job per report version, one per finished analysis
 * (`analysisId` is the study job and attempt that produced it), one wait per analysis.
 */
export function correlateJobId(data: CorrelateJobData): string {
  switch (data.trigger) {
    case 'report':
      return `correlate-report-${tag(data.accessionKey)}-${data.version}`;
    case 'study':
      return `correlate-study-${tag(`${data.studyInstanceUid}\n${data.analysisId}`)}`;
    case 'report-wait':
      return `correlate-wait-${tag(`${data.studyInstanceUid}\n${data.analysisId}`)}`;
    default:
      return data satisfies never;
  }
}

/** Retries ride out FHIR server outages and lock contention (2 s doubling: ~8.5 min over 8 attempts). */
export const CORRELATE_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/** Adds the job under its natural id (a second add of the same id is a no-op); returns the id. */
export async function enqueueCorrelate(queue: Queue<CorrelateJobData>, data: CorrelateJobData, delayMs = 0): Promise<string> {
  const jobId = correlateJobId(data);
  // The active span (the report, study or correlate job that asks) becomes this job's parent.
  await queue.add(CORRELATE_QUEUE, { ...data, ...traceparentFor(data.traceId) }, { ...CORRELATE_JOB_OPTIONS, jobId, ...(delayMs > 0 ? { delay: delayMs } : {}) });
  return jobId;
}

export interface CorrelateWorkerDeps {
  correlator: Correlator;
  studies: StudyStore;
  queue: Queue<CorrelateJobData>;
  reportWaitMs: number;
  logger: Logger;
}

export type CorrelateJobResult = { evaluated: number; outcome?: string };

export async function processCorrelateJob(job: Job<CorrelateJobData>, deps: CorrelateWorkerDeps): Promise<CorrelateJobResult> {
  const data = job.data;
  const log = deps.logger.child({ traceId: data.traceId, jobId: job.id, trigger: data.trigger });
  // A failing evaluation shows in its study's status (e.g. the FHIR server's OperationOutcome).
  const evaluate = async (uid: string, link: ReportLink) => {
    try {
      // A span per study evaluated (a report may join several): the FHIR writes are its children.
      const c = await inSpan('correlate evaluate', { 'vcf.study': uidTag(uid), 'vcf.correlate.joined_by': link.joinedBy }, () => deps.correlator.evaluate(uid, link));
      log.info({ event: 'correlate.evaluated', outcome: c?.outcome, unreported: c?.fractures.filter((f) => f.outputs).length, joinedBy: link.joinedBy }, 'study correlated');
      return c;
    } catch (err) {
      if (!(err instanceof StudyBusyError)) await recordStudyError(deps.studies, uid, toAppError(err), job).catch(() => undefined);
      throw err;
    }
  };
  try {
    return await run(data, deps, evaluate, log);
  } catch (err) {
    if (err instanceof StudyBusyError) throw err;
    const e = toAppError(err);
    log.warn({ event: 'correlate.failed', code: e.code, retryable: e.spec.retryable, attempt: job.attemptsMade + 1 }, 'correlation attempt failed');
    throw jobFailure(e.code, e.message, e.spec.retryable, err);
  }
}

type Evaluate = (uid: string, link: ReportLink) => Promise<StudyCorrelation | null>;

async function run(data: CorrelateJobData, deps: CorrelateWorkerDeps, evaluate: Evaluate, log: Logger): Promise<CorrelateJobResult> {
  const { correlator, studies } = deps;
  switch (data.trigger) {
    case 'report': {
      const stored = await correlator.reportFor(data.accessionKey);
      // A newer version has its own job; evaluating with the latest is still right, so go on.
      if (!stored) return { evaluated: 0 };
      const joined = await correlator.findStudies(stored, data.accessionKey);
      for (const { uid, joinedBy } of joined) await evaluate(uid, { accessionKey: data.accessionKey, joinedBy });
      return { evaluated: joined.length };
    }
    case 'study': {
      const study = await studies.get(data.studyInstanceUid);
      if (!study || study.status !== 'awaiting-report') return { evaluated: 0 };
      const link = await correlator.findReport(study);
      if (link) {
        const c = await evaluate(data.studyInstanceUid, link);
        return { evaluated: 1, ...(c ? { outcome: c.outcome } : {}) };
      }
      // Null: a report was evaluated between the search and now; nothing to wait for.
      if ((await correlator.markAwaiting(data.studyInstanceUid)) === null) return { evaluated: 0 };
      await enqueueCorrelate(deps.queue, { ...data, trigger: 'report-wait' }, deps.reportWaitMs);
      log.info({ event: 'correlate.awaiting_report' }, 'no report yet; waiting');
      return { evaluated: 0, outcome: 'awaiting-report' };
    }
    case 'report-wait': {
      const outcome = await correlator.expireWait(data.studyInstanceUid, evaluate);
      log.info({ event: 'correlate.wait_over', outcome }, 'report wait over');
      return { evaluated: outcome === 'joined' ? 1 : 0, outcome };
    }
    default:
      return data satisfies never;
  }
}

/** A failing correlation shows in the study's status (the job's error, e.g. the FHIR server's OperationOutcome). */
async function recordStudyError(studies: StudyStore, uid: string, e: ReturnType<typeof toAppError>, job: Job<CorrelateJobData>): Promise<void> {
  const last = !e.spec.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  await studies.recordError(
    uid,
    { at: new Date().toISOString(), attempt: job.attemptsMade + 1, code: e.code, message: e.code === 'INTERNAL' ? 'internal error while correlating' : `correlation: ${e.message}`, retryable: e.spec.retryable },
    last ? { status: 'failed' } : {},
  );
}
