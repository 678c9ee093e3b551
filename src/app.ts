import http from 'node:http';
import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config/schema';
import { AppError } from './errors';
import { type ReadinessResult, createHttpApp } from './http/app';
import { hl7HttpRouter } from './ingest/hl7/http-route';
import { type Hl7IntakeDeps, handleHl7Message } from './ingest/hl7/intake';
import { MllpServer } from './ingest/hl7/mllp-server';
import { type DicomwebClient, createDicomwebClient, studyFingerprint } from './ingest/dicomweb';
import { studyRouter } from './ingest/dicomweb/notifications';
import { AnalysisThreads } from './inference';
import { type Logger, createLogger } from './log';
import { type Metrics, createMetrics } from './observability/metrics';
import { observedProcessor } from './observability/jobs';
import { observedFhirWriter } from './emit/fhir/observed';
import { Correlator } from './correlate/correlator';
import { EmbeddedFhirWriter } from './emit/fhir/embedded';
import { ExternalFhirWriter } from './emit/fhir/external';
import { createFhirRouter } from './emit/fhir/http';
import { CdsJwtVerifier } from './emit/cds-hooks/jwt';
import { cdsRouter } from './emit/cds-hooks/router';
import { taskOwnerReference } from './emit/fhir/resources';
import type { FhirWriter } from './emit/fhir/writer';
import { type CorrelateJobData, processCorrelateJob } from './queue/correlate';
import { jobFailureCode } from './queue/job-failure';
import { QUEUES } from './queue/names';
import { createRedis } from './queue/redis';
import { RedisHealth } from './queue/redis-health';
import { RedisDurability } from './queue/redis-durability';
import { effectiveConfig, redactUrl } from './config/load';
import { ReportIntake } from './queue/report-intake';
import { REPORT_WORKER_LOCK, type ReportJobData, processReportJob } from './queue/reports';
import { StudyIntake } from './queue/study-intake';
import { STUDY_WORKER_LOCK, type StudyJobData, type StudyWorkerDeps, processStudyJob, reconcileFailedStudyJob } from './queue/studies';
import { type ResultsJobData, processResultsJob, resultKinds } from './queue/results';
import type { ResultKind } from './emit/dicom';
import { CdsStore } from './store/cds';
import { Hl7MessageLog } from './store/hl7-messages';
import { lookupRouter } from './http/lookups';
import { consoleRouter } from './http/console/router';
import { LinkStore } from './store/links';
import { OutputStore } from './store/outputs';
import { ReportStore } from './store/reports';
import { uidTag } from './domain/digest';
import { StudyStore } from './store/studies';

export type Role = 'all' | 'api' | 'worker';

export interface RunningApp {
  httpPort: number;
  mllpPort: number | null;
  metrics: Metrics;
  stop(): Promise<void>;
}

/**
 * The one place modules are wired together. Starts in dependency order (Redis, queues, workers,
 * listeners) and stops in reverse: listeners stop accepting and drain, workers finish their active
 * jobs, then queues and Redis close.
 */
export async function startApp(config: Config, role: Role, logger: Logger = createLogger(config.LOG_LEVEL)): Promise<RunningApp> {
  const metrics = createMetrics();
  const stops: Array<() => Promise<void>> = [];
  let stopping: Promise<void> | null = null;
  // Idempotent: a second call (a second signal, a test's afterAll) waits for the first.
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of [...stops].reverse()) await stop().catch((err: unknown) => logger.error({ event: 'app.stop_error', err }, 'stop step failed'));
    })());
  try {
    logger.info({ event: 'config.effective', role, config: effectiveConfig(config) }, 'effective configuration (secrets redacted)');
    const health = new RedisHealth(logger, redactUrl(config.REDIS_URL));
    stops.push(async () => health.close());
    const producer = createRedis(config.REDIS_URL, 'producer');
    health.watch(producer, 'producer');
    stops.push(async () => void (await producer.quit().catch(() => producer.disconnect())));
    // A Redis that never answered is a set-up mistake: say so and stop. A later outage is retried for ever
    // (senders get AR / 503 meanwhile and /readyz says why).
    if (!(await waitReady(producer, config.REDIS_CONNECT_TIMEOUT_S * 1000))) {
      throw new AppError(
        'QUEUE_UNAVAILABLE',
        `REDIS_URL=${redactUrl(config.REDIS_URL)}: no answer within ${config.REDIS_CONNECT_TIMEOUT_S} s (${health.lastError() ?? 'no reply'}); start Redis (Debian: apt-get install redis-server) or point REDIS_URL at it`,
      );
    }
    // An AA is only as durable as Redis: REDIS_DURABILITY=require stops here (one line naming REDIS_URL),
    // warn logs it; both keep looking on every /readyz.
    const durability = new RedisDurability(producer, config.REDIS_DURABILITY, redactUrl(config.REDIS_URL));
    await durability.atStart(logger);
    const prefix = config.QUEUE_PREFIX;
    const reportsQueue = new Queue<ReportJobData>(QUEUES.reports, { connection: producer, prefix });
    const correlateQueue = new Queue<CorrelateJobData>(QUEUES.correlate, { connection: producer, prefix });
    const studiesQueue = new Queue<StudyJobData>(QUEUES.studies, { connection: producer, prefix });
    const resultsQueue = new Queue<ResultsJobData>(QUEUES.results, { connection: producer, prefix });
    for (const q of [reportsQueue, correlateQueue, studiesQueue, resultsQueue]) {
      q.on('error', (err) => health.absorbs(err) || logger.warn({ event: 'queue.error', queue: q.name, message: err.message }, 'queue error'));
      stops.push(() => q.close());
    }

    const readiness: Record<string, () => Promise<ReadinessResult>> = { redis: () => redisReadiness(producer, health) };
    if (config.REDIS_DURABILITY !== 'off') readiness.redisDurability = () => durability.readiness();
    // One writer for the correlate worker and the CDS feedback route; closed after both (reverse order).
    const fhir = createFhirWriter(config, producer, logger);
    stops.push(() => fhir.close());
    // What the correlator writes, as spans of the job's trace and vcf_fhir_writes_total.
    const fhirOut = observedFhirWriter(fhir, metrics);
    if (role !== 'api') {
      // The model first: a worker that cannot load it must not start (one clear line naming MODEL_PATH).
      // Each analysis thread loads its own session; one thread per concurrent study job.
      const analysis = await AnalysisThreads.start(config.STUDY_WORKER_CONCURRENCY, { modelPath: config.MODEL_PATH, ortThreads: 2 });
      stops.push(() => analysis.close());
      const { card } = analysis;
      logger.info({ event: 'model.loaded', model: card.name, version: card.version, sha256: card.sha256, threads: config.STUDY_WORKER_CONCURRENCY }, 'model loaded');
      readiness.model = async () => null;
      const workerRedis = createRedis(config.REDIS_URL, 'worker');
      readiness.workerRedis = () => redisReadiness(workerRedis, health);
      health.watch(workerRedis, 'worker');
      // Ready before the workers start, so that /readyz is green as soon as start-up returns.
      await waitReady(workerRedis, config.REDIS_CONNECT_TIMEOUT_S * 1000);
      stops.push(async () => void (await workerRedis.quit().catch(() => workerRedis.disconnect())));
      const { reports: store, links } = storesFor(config, workerRedis);
      const worker = new Worker<ReportJobData>(
        QUEUES.reports,
        observedProcessor(QUEUES.reports, metrics, (job) => processReportJob(job, { redis: workerRedis, prefix, store, links, correlateQueue, logger })),
        // A short lock, renewed while the job runs: a killed worker's report is taken over within ~30 s.
        { connection: workerRedis, prefix, concurrency: config.WORKER_CONCURRENCY, ...REPORT_WORKER_LOCK },
      );
      observeWorker(worker, metrics, logger, health);
      stops.push(() => worker.close());
      // RESULTS_TO_PACS: each analysis asks the results queue to send it back to its PACS (off: no queue, no worker).
      const kinds = resultKinds(config.RESULTS_TO_PACS);
      const results = kinds.length > 0 ? { queue: resultsQueue, kinds } : undefined;
      const studyWorker = startStudyWorker(config, workerRedis, correlateQueue, analysis, logger, results, metrics);
      observeWorker(studyWorker, metrics, logger, health, STUDY_JOB_LOGGING);
      stops.push(() => studyWorker.close());
      const correlateWorker = startCorrelateWorker(config, workerRedis, correlateQueue, fhirOut, logger, metrics);
      observeWorker(correlateWorker, metrics, logger, health, CODE_ONLY_JOB_LOGGING);
      stops.push(() => correlateWorker.close());
      if (results) {
        const resultsWorker = startResultsWorker(config, workerRedis, results.kinds, logger, metrics);
        observeWorker(resultsWorker, metrics, logger, health, STUDY_JOB_LOGGING);
        stops.push(() => resultsWorker.close());
      }
    }

    const messageLog = new Hl7MessageLog(producer, prefix, { maxControlIds: config.HL7_MESSAGE_LOG_MAX, maxAgeS: config.HL7_MESSAGE_LOG_MAX_AGE_S });
    const intake = new ReportIntake(producer, reportsQueue, {
      prefix,
      duplicateWindowS: config.HL7_DUPLICATE_WINDOW_S,
      logger,
      durability: () => durability.intake(),
    });
    const hl7Deps: Hl7IntakeDeps = {
      enqueue: (header, reports, traceId) => intake.accept(header, reports, traceId),
      otherMessageAck: config.HL7_OTHER_MESSAGE_ACK,
      logger,
      metrics,
      messageLog,
    };
    const studyIntake = newStudyIntake(config, producer, studiesQueue);
    const isApi = role !== 'worker';
    const warnings = isApi ? cdsWarnings(config, logger) : [];
    const app = createHttpApp({
      logger,
      metrics,
      readiness,
      warnings,
      beforeScrape: () => refreshQueueDepth(metrics, [reportsQueue, correlateQueue, studiesQueue, resultsQueue]),
      routers: isApi
        ? [
            hl7HttpRouter({
              apiToken: config.API_TOKEN,
              maxBodyBytes: config.HTTP_MAX_BODY_BYTES,
              onMessage: (raw, peer) => handleHl7Message(raw, { transport: 'http', peer }, hl7Deps),
              metrics,
            }),
            studyRouter({
              apiToken: config.API_TOKEN,
              sources: Object.keys(config.DICOMWEB_SOURCES),
              accept: (notification, traceId) => studyIntake.accept(notification, traceId),
              getStudy: (uid) => studyIntake.getStudy(uid),
              getKeyImage: (uid) => studyIntake.getKeyImage(uid),
              replay: (uid, traceId) => studyIntake.replay(uid, traceId),
              logger,
            }),
            newCdsRouter(config, producer, fhirOut, logger, metrics),
            lookupRouter({
              apiToken: config.API_TOKEN,
              messageLog,
              ...storesFor(config, producer),
            }),
            // The integration console (HTML for people, behind API_TOKEN; absent without it).
            consoleRouter({
              apiToken: config.API_TOKEN,
              publicBaseUrl: config.PUBLIC_BASE_URL,
              messageLog,
              ...storesFor(config, producer),
              queues: { reports: reportsQueue, correlate: correlateQueue, studies: studiesQueue, results: resultsQueue },
              replay: (uid, traceId) => studyIntake.replay(uid, traceId),
              isPending: (uid) => studyIntake.isPending(uid),
              logger,
            }),
            // The embedded FHIR store is served read-only; with FHIR_BASE_URL the EHR's server is the place to read.
            ...(!(fhir instanceof EmbeddedFhirWriter)
              ? []
              : [
                  createFhirRouter({
                    repository: fhir.repository,
                    apiToken: config.API_TOKEN,
                    ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: () => config.PUBLIC_BASE_URL as string } : {}),
                    logger,
                  }),
                ]),
          ]
        : [],
    });
    const server = http.createServer(app);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.HTTP_PORT, config.HTTP_HOST, () => resolve());
    }).catch((err: unknown) => {
      throw listenError('HTTP_PORT', config.HTTP_PORT, config.HTTP_HOST, err);
    });
    const httpPort = (server.address() as import('node:net').AddressInfo).port;
    logger.info({ event: 'http.listening', port: httpPort, role }, `HTTP listening on ${httpPort}`);
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_TIMEOUT_MS / 2).unref();
        }),
    );

    let mllpPort: number | null = null;
    if (isApi) {
      const mllp = new MllpServer({
        host: config.MLLP_HOST,
        port: config.MLLP_PORT,
        maxFrameBytes: config.MLLP_MAX_FRAME_BYTES,
        idleTimeoutMs: config.MLLP_IDLE_TIMEOUT_MS,
        maxBufferedBytes: config.MLLP_MAX_BUFFERED_BYTES,
        frameTimeoutMs: config.MLLP_FRAME_TIMEOUT_MS,
        onMessage: (raw, peer) => handleHl7Message(raw, { transport: 'mllp', peer }, hl7Deps),
        logger,
        metrics,
      });
      mllpPort = await mllp.start().catch((err: unknown) => {
        throw listenError('MLLP_PORT', config.MLLP_PORT, config.MLLP_HOST, err);
      });
      stops.push(() => mllp.stop(config.SHUTDOWN_TIMEOUT_MS / 2));
    }
    logger.info({ event: 'app.started', role, httpPort, mllpPort }, 'vcf-sentinel started');
    return { httpPort, mllpPort, metrics, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A listener that cannot bind names its setting (CONTRACT: `MLLP_PORT=2575: address already in use`). */
function listenError(setting: string, port: number, host: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'address not available' : null;
  return why ? new AppError('CONFIG_INVALID', `${setting}=${port}: ${why} (${host})`) : err;
}

/** One DICOMweb client per configured source, made on first use. */
function dicomwebClients(make: (source: string) => DicomwebClient): (source: string) => DicomwebClient {
  const clients = new Map<string, DicomwebClient>();
  return (source) => {
    let client = clients.get(source);
    if (!client) clients.set(source, (client = make(source)));
    return client;
  };
}

/**
 * The study worker: its own concurrency (analysis is CPU- and memory-heavy, one analysis thread per job).
 * Analysis runs off the event loop, so the lock is renewed while it runs and can be short: a killed
 * worker's study is taken over within a lock's length.
 */
function startStudyWorker(
  config: Config,
  redis: Redis,
  correlateQueue: Queue<CorrelateJobData>,
  analysis: AnalysisThreads,
  logger: Logger,
  results: StudyWorkerDeps['results'],
  metrics: Metrics,
): Worker<StudyJobData> {
  const { studies: store, links } = storesFor(config, redis);
  const clientFor = dicomwebClients((source) =>
    createDicomwebClient(config, source, { maxSeriesBytes: config.DICOMWEB_MAX_SERIES_BYTES, logger, metrics }),
  );
  const deps = { store, links, correlateQueue, clientFor, analyse: timedAnalysis(analysis.analyse, metrics), logger, ...(results ? { results } : {}) };
  const worker = new Worker<StudyJobData>(QUEUES.studies, observedProcessor(QUEUES.studies, metrics, (job) => processStudyJob(job, deps)), {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.STUDY_WORKER_CONCURRENCY,
    ...STUDY_WORKER_LOCK,
  });
  worker.on('failed', (job, err) => {
    if (job) {
      void reconcileFailedStudyJob(job, err, store).catch((e: unknown) =>
        logger.warn({ event: 'study.reconcile_failed', reason: (e as Error).message }, 'could not record the failed study state'),
      );
    }
  });
  return worker;
}

/** The analysis of one series, timed in vcf_inference_seconds (the study job's 'study analyse' span covers it too). */
function timedAnalysis(analyse: StudyWorkerDeps['analyse'], metrics: Metrics): StudyWorkerDeps['analyse'] {
  return async (buffers) => {
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await analyse(buffers);
      outcome = 'ok';
      return result;
    } finally {
      metrics.inferenceSeconds.observe({ outcome }, (performance.now() - started) / 1000);
    }
  };
}

/** The results worker (RESULTS_TO_PACS): STOW-RS to the source each study came from; a few at once, they are small. */
function startResultsWorker(config: Config, redis: Redis, kinds: readonly ResultKind[], logger: Logger, metrics: Metrics): Worker<ResultsJobData> {
  const { studies: store } = storesFor(config, redis);
  const clientFor = dicomwebClients((source) => createDicomwebClient(config, source, { logger, metrics }));
  return new Worker<ResultsJobData>(QUEUES.results, observedProcessor(QUEUES.results, metrics, (job) => processResultsJob(job, { store, clientFor, kinds, logger })), {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
  });
}

/** The embedded store unless FHIR_BASE_URL names an external FHIR R4 server. */
function createFhirWriter(config: Config, redis: Redis, logger: Logger): FhirWriter {
  if (!config.FHIR_BASE_URL) return new EmbeddedFhirWriter({ redis, prefix: config.QUEUE_PREFIX });
  const auth =
    config.FHIR_CLIENT_ID && config.FHIR_CLIENT_SECRET
      ? { kind: 'client-credentials' as const, clientId: config.FHIR_CLIENT_ID, clientSecret: config.FHIR_CLIENT_SECRET, ...(config.FHIR_TOKEN_URL ? { tokenUrl: config.FHIR_TOKEN_URL } : {}) }
      : { kind: 'none' as const };
  return new ExternalFhirWriter({ baseUrl: config.FHIR_BASE_URL, auth, timeoutMs: config.FHIR_TIMEOUT_MS, logger });
}

/**
 * The stores over one Redis connection, each with its retention setting: one place, so that no caller
 * builds one with another TTL (reports and their links REPORT_TTL_S, the rest STUDY_STATE_TTL_S).
 */
function storesFor(config: Config, redis: Redis) {
  const prefix = config.QUEUE_PREFIX;
  const ttl = config.STUDY_STATE_TTL_S;
  return {
    reports: new ReportStore(redis, prefix, config.REPORT_TTL_S),
    links: new LinkStore(redis, prefix, ttl, config.REPORT_TTL_S),
    studies: new StudyStore(redis, prefix, ttl),
    outputs: new OutputStore(redis, prefix, ttl),
    cds: new CdsStore(redis, prefix, ttl),
  };
}

/** The correlator over one Redis connection: the correlate worker's, or the api's for CDS feedback. */
function newCorrelator(config: Config, redis: Redis, fhir: FhirWriter, logger: Logger): Correlator {
  return new Correlator(
    { redis, prefix: config.QUEUE_PREFIX, ...storesFor(config, redis), fhir, logger },
    { patientIdSystems: config.PATIENT_ID_SYSTEMS, taskOwner: taskOwnerReference(config.REFERRAL_TASK_OWNER), dateWindowMs: config.CORRELATE_DATE_WINDOW_H * 3_600_000, reportWaitMs: config.CORRELATE_REPORT_WAIT_H * 3_600_000 },
  );
}

/**
 * CDS Hooks (api role): reads the index the correlator keeps; feedback rewrites a finding's resources
 * through the same correlator code, under the study's lock.
 */
function newCdsRouter(config: Config, redis: Redis, fhir: FhirWriter, logger: Logger, metrics: Metrics) {
  const store = storesFor(config, redis).cds;
  const correlator = newCorrelator(config, redis, fhir, logger);
  const verifier =
    config.CDS_AUTH === 'off'
      ? null
      : new CdsJwtVerifier({
          trustedIssuers: config.CDS_TRUSTED_ISSUERS,
          jkuAllowlist: config.CDS_JKU_ALLOWLIST,
          maxLifetimeS: config.CDS_JWT_MAX_LIFETIME_S,
          claimJti: (iss, jti, expS) => store.claimJti(iss, jti, expS),
        });
  return cdsRouter({
    store,
    verifier,
    patientIdSystems: config.PATIENT_ID_SYSTEMS,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    externalFhirBaseUrl: config.FHIR_BASE_URL,
    viewerUrlTemplate: config.VIEWER_URL_TEMPLATE,
    apiToken: config.API_TOKEN,
    patientFetch: { timeoutMs: config.CDS_FHIR_TIMEOUT_MS, allowHttpLoopback: config.CDS_ALLOW_HTTP_FHIR_SERVER === 'loopback' },
    maxBodyBytes: config.HTTP_MAX_BODY_BYTES,
    applyFeedback: (uid, key) => correlator.applyFeedback(uid, key),
    logger,
    metrics,
  });
}

/** What an operator must see about the CDS Hooks set-up: logged loudly at start, listed on /readyz. */
function cdsWarnings(config: Config, logger: Logger): string[] {
  const warnings: string[] = [];
  if (config.CDS_AUTH === 'off') {
    warnings.push('CDS_AUTH=off: CDS Hooks calls are NOT authenticated (development only; anyone reaching this port can read cards)');
  } else {
    if (Object.keys(config.CDS_TRUSTED_ISSUERS).length === 0) warnings.push('CDS_TRUSTED_ISSUERS is empty: every CDS Hooks call is refused (401)');
    if (!config.PUBLIC_BASE_URL) warnings.push('PUBLIC_BASE_URL is unset: CDS Hooks aud is checked against the request Host header; set it in production');
  }
  if (Object.keys(config.PATIENT_ID_SYSTEMS).length === 0) warnings.push('PATIENT_ID_SYSTEMS is empty: no EHR Patient can match a finding, CDS Hooks returns no cards');
  for (const w of warnings) logger.warn({ event: 'cds.config_warning', warning: w }, w);
  return warnings;
}

/** The correlate worker: report × study → decisions → FHIR outputs; each evaluation is idempotent. */
function startCorrelateWorker(config: Config, redis: Redis, queue: Queue<CorrelateJobData>, fhir: FhirWriter, logger: Logger, metrics: Metrics): Worker<CorrelateJobData> {
  const prefix = config.QUEUE_PREFIX;
  const { studies } = storesFor(config, redis);
  const reportWaitMs = config.CORRELATE_REPORT_WAIT_H * 3_600_000;
  const correlator = newCorrelator(config, redis, fhir, logger);
  return new Worker<CorrelateJobData>(QUEUES.correlate, observedProcessor(QUEUES.correlate, metrics, (job) => processCorrelateJob(job, { correlator, studies, queue, reportWaitMs, logger })), {
    connection: redis,
    prefix,
    concurrency: config.WORKER_CONCURRENCY,
  });
}

/** Notification intake; asks the source (once, briefly, no retries) whether a settled study changed. */
function newStudyIntake(config: Config, producer: Redis, queue: Queue<StudyJobData>): StudyIntake {
  const timeoutMs = config.STUDY_NOTIFY_CHECK_TIMEOUT_MS;
  const clientFor = dicomwebClients((source) =>
    createDicomwebClient({ ...config, DICOMWEB_TIMEOUT_MS: timeoutMs, DICOMWEB_RETRIES: 0 }, source),
  );
  return new StudyIntake(producer, queue, storesFor(config, producer).studies, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.STUDY_JOB_ATTEMPTS,
    backoffMs: config.STUDY_JOB_BACKOFF_MS,
    currentFingerprint: async (source, uid) =>
      (await studyFingerprint(clientFor(source), uid, { signal: AbortSignal.timeout(timeoutMs) })).fingerprint,
  });
}

async function redisReadiness(redis: Redis, health: RedisHealth): Promise<string | null> {
  if (redis.status !== 'ready') return health.reason() ?? `redis ${redis.status}`;
  await redis.ping();
  return null;
}

/** True once the connection is ready, false if it is not within `ms`. */
function waitReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), ms);
    const onReady = () => done(true);
    redis.once('ready', onReady);
    function done(ready: boolean) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    }
  });
}

/** What may be logged of a failed job: by default its id and the error message. */
interface JobLogging {
  fields(job: Job): Record<string, unknown>;
  reason(err: Error): string;
}
const DEFAULT_JOB_LOGGING: JobLogging = { fields: (job) => ({ jobId: job.id }), reason: (err) => err.message };
/** Error details may carry UIDs or a remote server's quotes of patient data: only the code is logged. */
const errorCode = (err: Error) => jobFailureCode(err) ?? 'error';
/** Study job ids carry UIDs (CONTRACT: UIDs only at debug): a hash instead. */
const STUDY_JOB_LOGGING: JobLogging = {
  fields: (job) => ({ study: uidTag((job.data as StudyJobData).studyInstanceUid) }),
  reason: errorCode,
};
const CODE_ONLY_JOB_LOGGING: JobLogging = { fields: (job) => ({ jobId: job.id }), reason: errorCode };

function observeWorker(worker: Worker, metrics: Metrics, logger: Logger, health: RedisHealth, logging: JobLogging = DEFAULT_JOB_LOGGING): void {
  worker.on('completed', () => metrics.jobsProcessed.inc({ queue: worker.name, outcome: 'completed' }));
  worker.on('failed', (job, err) => {
    metrics.jobsProcessed.inc({ queue: worker.name, outcome: 'failed' });
    const fields = job ? { ...logging.fields(job), traceId: (job.data as { traceId?: unknown }).traceId } : {};
    logger.warn({ event: 'job.failed', queue: worker.name, attempts: job?.attemptsMade, reason: logging.reason(err), ...fields }, 'job failed');
  });
  worker.on('error', (err) => health.absorbs(err) || logger.warn({ event: 'worker.error', queue: worker.name, message: err.message }, 'worker error'));
}

async function refreshQueueDepth(metrics: Metrics, queues: Queue[]): Promise<void> {
  await Promise.all(
    queues.map(async (q) => {
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: q.name, state }, n);
    }),
  );
}
