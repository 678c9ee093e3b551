/**
 * The results queue (RESULTS_TO_PACS): after an analysis, send the key image (Secondary Capture) and the
 * findings (TID 1500 Structured Report) to the PACS the study came from, with STOW-RS. Name, job data,
 * natural id, options, producer and processor in one place, as for the other queues.
 *
 * A job of its own, not a step of the study job: a PACS that is down or refuses the instances must not fail
 * the analysis, delay its correlation or make the study be fetched and analysed again. The job retries with
 * backoff and records its outcome in the study state (`resultsToPacs`), apart from the study's status.
 *
 * Safe to run twice: the instances' UIDs derive from the study and the analysis (src/emit/dicom/uids.ts),
 * so a retry, a replayed job or a re-analysis that finds the same sends the same instances again, which
 * the PACS stores once.
 */
import { type Job, type JobsOptions, type Queue } from 'bullmq';
import { sha256Hex, uidTag } from '../domain/digest';
import { type ResultKind, type ResultsContext, buildResultInstances, fetchSeriesInstances, fetchStudyAttributes, patientStudyAttributes } from '../emit/dicom';
import { AppError, toAppError } from '../errors';
import { jobFailure } from './job-failure';
import type { DicomwebClient } from '../ingest/dicomweb';
import type { Logger } from '../log';
import type { ResultsToPacs, StudyStore } from '../store/studies';
import { traceparentFor } from '../observability/trace-context';

export const RESULTS_QUEUE = 'results';

export interface ResultsJobData {
  studyInstanceUid: string;
  /** The DICOMWEB_SOURCES key the study was fetched from: the only place its results are sent to. */
  source: string;
  /** The analysis that asked for it (the study job and attempt), as for its correlate job. */
  analysisId: string;
  /** When the analysis finished (ISO): the instances' Content Date/Time, the same on every retry. */
  analysedAt: string;
  /** The study's trace, as in its study job. */
  traceId: string;
  traceparent?: string;
}

/** One job per finished analysis (BullMQ ids may not contain ':'). */
function resultsJobId(data: Pick<ResultsJobData, 'studyInstanceUid' | 'analysisId'>): string {
  return `results-${sha256Hex(`${data.studyInstanceUid}\n${data.analysisId}`, 24)}`;
}

/** Rides out a PACS outage of about four hours (30 s doubling over 10 attempts). */
const RESULTS_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 30_000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/** Adds the job under its natural id (a second add is a no-op) and shows it queued in the study state. */
export async function enqueueResults(queue: Queue<ResultsJobData>, store: StudyStore, data: ResultsJobData, kinds: readonly ResultKind[]): Promise<string> {
  const jobId = resultsJobId(data);
  await queue.add(RESULTS_QUEUE, { ...data, ...traceparentFor(data.traceId) }, { ...RESULTS_JOB_OPTIONS, jobId });
  await store.update(data.studyInstanceUid, { resultsToPacs: outcome('queued', kinds, 0) });
  return jobId;
}

/** RESULTS_TO_PACS as the kinds it sends (none when off). */
export function resultKinds(setting: 'off' | 'sc' | 'sr' | 'sc+sr'): ResultKind[] {
  switch (setting) {
    case 'off':
      return [];
    case 'sc':
      return ['sc'];
    case 'sr':
      return ['sr'];
    case 'sc+sr':
      return ['sc', 'sr'];
    default:
      return setting satisfies never;
  }
}

export interface ResultsWorkerDeps {
  store: StudyStore;
  /** The client bound to a configured source; an unknown name throws DICOMWEB_SOURCE_UNKNOWN. */
  clientFor(source: string): DicomwebClient;
  kinds: readonly ResultKind[];
  logger: Logger;
}

type ResultsJobResult = Pick<ResultsToPacs, 'status' | 'sopInstanceUids'>;

export async function processResultsJob(job: Job<ResultsJobData>, deps: ResultsWorkerDeps): Promise<ResultsJobResult> {
  const { studyInstanceUid: uid } = job.data;
  const attempt = job.attemptsMade + 1;
  const log = deps.logger.child({ traceId: job.data.traceId, study: uidTag(uid) });
  try {
    return await sendResults(job.data, attempt, deps, log);
  } catch (err) {
    const e = toAppError(err);
    const last = !e.spec.retryable || attempt >= (job.opts.attempts ?? 1);
    // INTERNAL hides its text (it may quote anything); the others are our own messages or HTTP statuses.
    const message = e.code === 'INTERNAL' ? `internal error (${(err as Error)?.name ?? 'unknown'})` : e.message;
    await deps.store
      .update(uid, { resultsToPacs: { ...outcome(last ? 'failed' : 'retrying', deps.kinds, attempt), error: { code: e.code, message } } })
      .catch(() => undefined);
    log[last ? 'warn' : 'info']({ event: last ? 'results.failed' : 'results.retry', code: e.code, attempt, retryable: e.spec.retryable }, last ? 'results not sent to PACS' : 'sending results to PACS failed; will retry');
    throw jobFailure(e.code, message, e.spec.retryable, err);
  }
}

async function sendResults(data: ResultsJobData, attempt: number, deps: ResultsWorkerDeps, log: Logger): Promise<ResultsJobResult> {
  const uid = data.studyInstanceUid;
  const state = await deps.store.get(uid);
  const findings = state?.findings;
  // A newer notification reset the state (its own analysis asks again), or the study was never analysed here.
  const reanalysing = state?.status === 'queued' || state?.status === 'retrieving' || state?.status === 'analysing';
  if (!state || !findings?.model || reanalysing) {
    log.info({ event: 'results.skipped', reason: 'no current analysis' }, 'no analysis to send to PACS');
    return { status: 'skipped', sopInstanceUids: [] };
  }
  await deps.store.update(uid, { resultsToPacs: outcome('sending', deps.kinds, attempt) });
  const client = deps.clientFor(data.source);
  const [studyAttributes, analysedInstances, keyImage] = await Promise.all([
    fetchStudyAttributes(client, uid),
    fetchSeriesInstances(client, uid, findings.seriesInstanceUid),
    deps.kinds.includes('sc') ? deps.store.getKeyImage(uid) : Promise.resolve(null),
  ]);
  if (!studyAttributes) throw new AppError('STUDY_NOT_FOUND', `the source "${data.source}" no longer finds the study`);
  const ctx: ResultsContext = {
    studyInstanceUid: uid,
    analysedSeriesInstanceUid: findings.seriesInstanceUid,
    analysedInstances,
    // The notification's identifiers stand in only where the source's answer lacks them.
    patientStudy: patientStudyAttributes(studyAttributes, { patientId: state.patientId, accessionNumber: state.accessionNumber }),
    model: findings.model,
    vertebrae: findings.vertebrae,
    analysedAt: new Date(data.analysedAt),
  };
  const instances = buildResultInstances(ctx, deps.kinds, keyImage);
  if (instances.length === 0) {
    await deps.store.update(uid, { resultsToPacs: outcome('skipped', deps.kinds, attempt) });
    log.info({ event: 'results.skipped', reason: 'no key image' }, 'nothing to send to PACS');
    return { status: 'skipped', sopInstanceUids: [] };
  }
  const answer = await client.storeInstances(uid, instances.map((i) => i.buffer));
  const held = new Set(answer.stored.map((s) => s.sopInstanceUid));
  const missing = instances.filter((i) => !held.has(i.sopInstanceUid));
  if (missing.length > 0) {
    throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb storeInstances: the server did not list ${missing.length} of ${instances.length} instances as stored`);
  }
  const sent: ResultsToPacs = {
    ...outcome('sent', deps.kinds, attempt),
    seriesInstanceUids: instances.map((i) => i.seriesInstanceUid),
    sopInstanceUids: instances.map((i) => i.sopInstanceUid),
  };
  await deps.store.update(uid, { resultsToPacs: sent });
  const warnings = answer.stored.filter((s) => s.warningReason !== null).map((s) => s.warningReason);
  log.info({ event: 'results.sent', kinds: instances.map((i) => i.kind), attempt, httpStatus: answer.status, warnings }, 'results sent to PACS');
  return { status: 'sent', sopInstanceUids: sent.sopInstanceUids };
}

function outcome(status: ResultsToPacs['status'], kinds: readonly ResultKind[], attempt: number): ResultsToPacs {
  return { status, kinds: [...kinds], at: new Date().toISOString(), attempt, seriesInstanceUids: [], sopInstanceUids: [], error: null };
}
