import { type Job, type JobsOptions, type Queue } from 'bullmq';
import { AppError, toAppError } from '../errors';
import { jobFailure } from './job-failure';
import { selectSeriesUid, type StudyAnalysis } from '../imaging';
import type { AnalysedSeries, StudyAnalyser } from '../inference';
import { type DicomwebClient, type SelectSeries, type StudyForAnalysis, type StudyIdentity, fetchStudySeriesForAnalysis, studyFingerprint, studyIdentityFromQido } from '../ingest/dicomweb';
import { localTimeMs } from '../correlate/time';
import type { Logger } from '../log';
import type { LinkStore } from '../store/links';
import { uidTag } from '../domain/digest';
import { inSpan } from '../observability/trace-context';
import { type IdentifierSource, type StudySeries, type StudyStore } from '../store/studies';
import { type CorrelateJobData, enqueueCorrelate } from './correlate';
import type { ResultKind } from '../emit/dicom';
import { type ResultsJobData, enqueueResults } from './results';

/** A notified study to fetch over DICOMweb and analyse (one job per Study Instance UID). */
export const STUDIES_QUEUE = 'studies';

export interface StudyJobData {
  studyInstanceUid: string;
  /** A key of DICOMWEB_SOURCES: the only place the worker fetches this study from. */
  source: string;
  /** The notification's trace: its id (32 hex, the `traceId` of log lines) and the W3C traceparent of the span that queued the job. */
  traceId: string;
  traceparent?: string;
}

/** BullMQ ids may not contain ':'; a UID never does, so one study always maps to the same job. */
export function studyJobId(studyInstanceUid: string): string {
  return `study-${studyInstanceUid}`;
}

/** Retries only help while the source is unavailable; the attempts and first delay are configured. */
export function studyJobOptions(attempts: number, backoffMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * Analysis runs on a worker thread (`AnalysisThreads`), so the event loop renews the lock while a study is
 * analysed and the lock can be short: a killed worker's study is taken over by another within ~30 s. A
 * study that stalls its worker twice (it kills the process each time, e.g. out of memory) fails.
 */
export const STUDY_WORKER_LOCK = { lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 1 } as const;

export interface StudyWorkerDeps {
  store: StudyStore;
  links: LinkStore;
  correlateQueue: Queue<CorrelateJobData>;
  /** The client bound to a configured source; an unknown name throws DICOMWEB_SOURCE_UNKNOWN. */
  clientFor(source: string): DicomwebClient;
  logger: Logger;
  /** Default: imaging's `selectSeriesUid`. */
  selectSeries?: SelectSeries;
  /** Volume assembly and detection: the service runs them on worker threads (`AnalysisThreads`). */
  analyse: StudyAnalyser;
  /** RESULTS_TO_PACS: where each finished analysis asks for its results to be sent, and what; absent when off. */
  results?: { queue: Queue<ResultsJobData>; kinds: readonly ResultKind[] };
}

export interface StudyJobResult {
  status: 'awaiting-report';
  seriesInstanceUid: string;
  fingerprint: string;
  correlateJobId: string;
}


/**
 * Fingerprint → fetch the chosen series → assemble and analyse → store the findings and the study's
 * identifiers → ask the correlate queue to join it with its report. Status stays `awaiting-report`
 * (correlation finishes it).
 *
 * Errors steer the queue: transient ones (source unavailable, study not there yet, internal) are rethrown
 * for BullMQ's exponential backoff while attempts remain; anything else becomes an UnrecoverableError.
 * Each failure is recorded in the study's state with its attempt, so a retrying study shows why.
 * Safe to run twice: every write replaces the previous one, and the correlate job id is natural.
 */
export async function processStudyJob(job: Job<StudyJobData>, deps: StudyWorkerDeps): Promise<StudyJobResult> {
  const run: Run = {
    uid: job.data.studyInstanceUid,
    attempt: job.attemptsMade + 1,
    maxAttempts: job.opts.attempts ?? 1,
    fingerprint: null,
    // The job id is the study's (one per Study Instance UID), reused by every notification that changes the
    // study: its creation time tells this analysis from the last one, the attempt a retry from the first try.
    analysisId: `${job.id}:${job.timestamp}:${job.attemptsMade + 1}`,
    traceId: job.data.traceId,
    log: deps.logger.child({ traceId: job.data.traceId, study: uidTag(job.data.studyInstanceUid) }),
  };
  try {
    return await analyseStudy(job.data, run, deps);
  } catch (err) {
    throw await recordFailure(err, run, deps);
  }
}

interface Run {
  uid: string;
  attempt: number;
  maxAttempts: number;
  fingerprint: string | null;
  /** This job attempt: the correlate job it asks for is one per finished analysis. */
  analysisId: string;
  traceId: string;
  log: Logger;
}

async function analyseStudy(data: StudyJobData, run: Run, deps: StudyWorkerDeps): Promise<StudyJobResult> {
  const { uid, log } = run;
  const started = performance.now();
  await deps.store.update(uid, { status: 'retrieving', attempts: run.attempt, maxAttempts: run.maxAttempts });
  log.debug({ event: 'study.retrieving', studyInstanceUid: uid, attempt: run.attempt }, 'retrieving study');
  const client = deps.clientFor(data.source);
  // Three stages, each a span of the job's trace: retrieve (QIDO-RS, WADO-RS), analyse (inference), store.
  const { fp, fetched, chosen } = await inSpan('study retrieve', { 'vcf.dicomweb.source': data.source }, async (span) => {
    const fp = await studyFingerprint(client, uid);
    run.fingerprint = fp.fingerprint;
    await deps.store.update(uid, { fingerprint: fp.fingerprint });
    if (fp.seriesCount === 0) throw new AppError('STUDY_NOT_FOUND', `the source "${data.source}" has no series of this study (yet)`);

    // The fingerprint's series query serves the fetch too: one QIDO-RS series search per job.
    const fetched = await fetchStudySeriesForAnalysis(client, uid, deps.selectSeries ?? selectSeriesUid, { seriesList: fp.seriesList });
    span.setAttributes({ 'vcf.study.series': fp.seriesCount, 'vcf.dicomweb.instances': fetched.instanceCount, 'vcf.dicomweb.bytes': fetched.bytes });
    if (fetched.chosen === null) {
      await deps.store.update(uid, { series: { chosen: null, reasons: fetched.reasons, rejected: fetched.rejected } });
      throw new AppError('STUDY_UNUSABLE', unusableReason(fetched));
    }
    return { fp, fetched, chosen: fetched.chosen };
  });
  const retrievedMs = performance.now() - started;
  await deps.store.update(uid, {
    status: 'analysing',
    series: { chosen: { seriesInstanceUid: chosen }, reasons: fetched.reasons, rejected: fetched.rejected },
  });
  const { analysis, series, keyImage } = await inSpan('study analyse', {}, async (span) => {
    const analysed = await analyseBuffers(fetched, deps);
    span.setAttribute('vcf.model.version', analysed.analysis.model?.version ?? 'none');
    return analysed;
  });
  const analysedMs = performance.now() - started;

  const facts = { instances: fetched.instanceCount, bytes: fetched.bytes, compressed: fetched.compressed };
  return inSpan('study store', {}, async () => {
    if (keyImage) await deps.store.setKeyImage(uid, keyImage);
    const identity = await rememberIdentity(uid, { 'qido-rs': await studyIdentityFromQido(client, uid), 'instance-metadata': fetched.identity }, deps);
    const timingsMs = { retrieve: Math.round(retrievedMs), analyse: Math.round(analysedMs - retrievedMs), total: Math.round(performance.now() - started) };
    // The findings first, then the correlate job: the correlation reads them.
    await deps.store.update(uid, { status: 'awaiting-report', series, findings: analysis, correlation: null, timingsMs, settledFingerprint: fp.fingerprint });
    const correlateJobId = await enqueueCorrelate(deps.correlateQueue, { trigger: 'study', studyInstanceUid: uid, analysisId: run.analysisId, traceId: run.traceId });
    // Results go back to the PACS in a job of their own: an outage there must not fail this analysis.
    if (deps.results) {
      const results = { studyInstanceUid: uid, source: data.source, analysisId: run.analysisId, analysedAt: new Date().toISOString(), traceId: run.traceId };
      await enqueueResults(deps.results.queue, deps.store, results, deps.results.kinds);
    }
    log.info(
      { event: 'study.analysed', attempt: run.attempt, ...facts, dims: analysis.volume.dims, timingsMs, accessionKnown: identity.accessionNumber !== null, patientKnown: identity.patientId !== null },
      'study analysed; correlating with its report',
    );
    return { status: 'awaiting-report', seriesInstanceUid: analysis.seriesInstanceUid, fingerprint: fp.fingerprint, correlateJobId };
  });
}

/**
 * Keeps what joins the study with its report, each identifier from the first place that has it: the
 * notification (the PACS said so explicitly), the source's QIDO-RS study attributes, the analysed
 * series' instance metadata; records where each came from, and indexes them for reports arriving later.
 */
async function rememberIdentity(
  uid: string,
  dicom: Record<Exclude<IdentifierSource, 'notification'>, StudyIdentity | null>,
  deps: StudyWorkerDeps,
): Promise<{ accessionNumber: string | null; patientId: string | null }> {
  const known = await deps.store.get(uid);
  const sources = ['qido-rs', 'instance-metadata'] as const;
  const pick = (field: 'accessionNumber' | 'patientId'): [string | null, IdentifierSource | null] => {
    if (known?.[field]) return [known[field], 'notification'];
    for (const source of sources) {
      const value = dicom[source]?.[field];
      if (value) return [value, source];
    }
    return [null, null];
  };
  const [accessionNumber, accessionSource] = pick('accessionNumber');
  const [patientId, patientSource] = pick('patientId');
  const first = (field: 'issuerOfPatientId' | 'studyDate') => dicom['qido-rs']?.[field] ?? dicom['instance-metadata']?.[field] ?? null;
  const studyDate = first('studyDate');
  await deps.store.update(uid, {
    accessionNumber,
    patientId,
    issuerOfPatientId: first('issuerOfPatientId'),
    studyDate,
    identifiers: { accessionNumber: accessionSource, patientId: patientSource },
  });
  await deps.links.addStudy(uid, { accessionNumber, patientId, studyTimeMs: localTimeMs(studyDate) });
  return { accessionNumber, patientId };
}

/**
 * Assembles and analyses the retrieved series. The Part-10 buffers (the largest allocation of the job)
 * are handed over and no longer referenced here, so they can go as soon as the analyser has them.
 */
async function analyseBuffers(fetched: StudyForAnalysis, deps: StudyWorkerDeps): Promise<AnalysedSeries & { series: StudySeries }> {
  const buffers = fetched.buffers;
  fetched.buffers = [];
  let analysed: AnalysedSeries;
  try {
    analysed = await deps.analyse(buffers);
  } catch (err) {
    // Say so when the server sent pixels it did not transcode: the fix is on the PACS (e.g. a codec plugin).
    if (!(err instanceof AppError) || !fetched.compressed) throw err;
    const syntaxes = [...new Set(fetched.transferSyntaxUids)].join(', ');
    throw new AppError(err.code, `${err.message} (the source sent compressed pixel data it did not transcode: transfer syntax ${syntaxes})`);
  } finally {
    buffers.length = 0;
  }
  // The fetcher's selection compared every series of the study; the analysis saw only the chosen one and
  // adds what it learnt while assembling it.
  const { analysis } = analysed;
  const reasons = [...new Set([...fetched.reasons, ...analysis.series.reasons])];
  const rejected = [...fetched.rejected];
  for (const r of analysis.series.rejected) if (!rejected.some((x) => x.seriesInstanceUid === r.seriesInstanceUid)) rejected.push(r);
  return { ...analysed, series: { chosen: analysis.series.chosen, reasons, rejected } };
}

function unusableReason(fetched: StudyForAnalysis): string {
  // The imaging selector adds the series number to its rejections; the fetcher's own (non-CT) ones lack it.
  const rejected = fetched.rejected.map((r: { reason: string; seriesNumber?: number }) =>
    `${r.seriesNumber !== undefined ? `series ${r.seriesNumber}` : 'a series'}: ${r.reason}`,
  );
  return `no usable CT series: ${[...fetched.reasons, ...rejected].join('; ')}`;
}

/**
 * Records the failure in the study's state and returns what to throw: an UnrecoverableError when retrying
 * cannot help, else the error itself (BullMQ retries with backoff while attempts remain).
 */
async function recordFailure(err: unknown, run: Run, deps: StudyWorkerDeps): Promise<Error> {
  const error = toAppError(err);
  const retryable = error.spec.retryable;
  const last = !retryable || run.attempt >= run.maxAttempts;
  // INTERNAL hides its cause from callers; the log keeps the class of what broke, never its text (PHI).
  const message = error.code === 'INTERNAL' ? `internal error (${(err as Error)?.name ?? 'unknown'})` : error.message;
  await deps.store.recordError(
    run.uid,
    { at: new Date().toISOString(), attempt: run.attempt, code: error.code, message, retryable },
    // Not retryable: a repeat notification of the same study content would fail the same way.
    { status: last ? 'failed' : 'queued', ...(!retryable && run.fingerprint ? { settledFingerprint: run.fingerprint } : {}) },
  );
  run.log[last ? 'warn' : 'info'](
    { event: last ? 'study.failed' : 'study.retry', code: error.code, attempt: run.attempt, maxAttempts: run.maxAttempts, retryable },
    last ? 'study failed' : 'study attempt failed; will retry',
  );
  run.log.debug({ event: 'study.error_detail', studyInstanceUid: run.uid, message: error.message }, 'study error detail');
  return jobFailure(error.code, message, retryable);
}

/**
 * For failures the processor never saw (a job that stalled too often, e.g. its process died of memory):
 * BullMQ fails the job on its own, so the state is marked failed here. Called from the worker's 'failed' event.
 */
export async function reconcileFailedStudyJob(job: Job<StudyJobData>, err: Error, store: StudyStore): Promise<void> {
  if ((await job.getState()) !== 'failed') return;
  const state = await store.get(job.data.studyInstanceUid);
  if (!state || state.status === 'failed') return;
  await store.recordError(
    job.data.studyInstanceUid,
    { at: new Date().toISOString(), attempt: job.attemptsMade, code: 'INTERNAL', message: /stalled/i.test(err.message) ? 'the job stalled (its worker stopped or ran out of memory)' : 'the job failed', retryable: false },
    { status: 'failed' },
  );
}
