import http from 'node:http';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config/schema';
import { createHttpApp } from './http/app';
import { hl7HttpRouter } from './ingest/hl7/http-route';
import { type Hl7IntakeDeps, handleHl7Message } from './ingest/hl7/intake';
import { MllpServer } from './ingest/hl7/mllp-server';
import { type Logger, createLogger } from './log';
import { type Metrics, createMetrics } from './observability/metrics';
import { type CorrelateJobData, QUEUES, type ReportJobData } from './queue/names';
import { createRedis } from './queue/redis';
import { ReportIntake } from './queue/report-intake';
import { processReportJob } from './queue/report-worker';
import { ReportStore } from './store/reports';

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
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => logger.error({ event: 'app.stop_error', err }, 'stop step failed'));
  };
  try {
    const producer = createRedis(config.REDIS_URL, 'producer');
    watchRedis(producer, 'producer', logger);
    stops.push(async () => void (await producer.quit().catch(() => producer.disconnect())));
    // Start serving even if Redis is down (senders then get AR and /readyz says why), but give it a moment.
    await waitReady(producer, 3000);
    const prefix = config.QUEUE_PREFIX;
    const reportsQueue = new Queue<ReportJobData>(QUEUES.reports, { connection: producer, prefix });
    const correlateQueue = new Queue<CorrelateJobData>(QUEUES.correlate, { connection: producer, prefix });
    for (const q of [reportsQueue, correlateQueue]) {
      q.on('error', (err) => logger.warn({ event: 'queue.error', queue: q.name, message: err.message }, 'queue error'));
      stops.push(() => q.close());
    }

    if (role !== 'api') {
      const workerRedis = createRedis(config.REDIS_URL, 'worker');
      watchRedis(workerRedis, 'worker', logger);
      stops.push(async () => void (await workerRedis.quit().catch(() => workerRedis.disconnect())));
      const store = new ReportStore(workerRedis, prefix);
      const worker = new Worker<ReportJobData>(
        QUEUES.reports,
        (job) => processReportJob(job, { redis: workerRedis, prefix, store, correlateQueue, logger }),
        { connection: workerRedis, prefix, concurrency: config.WORKER_CONCURRENCY },
      );
      observeWorker(worker, metrics, logger);
      stops.push(() => worker.close());
    }

    const intake = new ReportIntake(producer, reportsQueue, { prefix, duplicateWindowS: config.HL7_DUPLICATE_WINDOW_S });
    const hl7Deps: Hl7IntakeDeps = {
      enqueue: (header, reports, traceId) => intake.accept(header, reports, traceId),
      otherMessageAck: config.HL7_OTHER_MESSAGE_ACK,
      logger,
      metrics,
    };
    const isApi = role !== 'worker';
    const app = createHttpApp({
      logger,
      metrics,
      readiness: { redis: async () => (producer.status === 'ready' ? (await producer.ping(), null) : `redis ${producer.status}`) },
      beforeScrape: () => refreshQueueDepth(metrics, [reportsQueue, correlateQueue]),
      routers: isApi
        ? [hl7HttpRouter({ apiToken: config.API_TOKEN, maxBodyBytes: config.HTTP_MAX_BODY_BYTES, onMessage: (raw) => handleHl7Message(raw, 'http', hl7Deps) })]
        : [],
    });
    const server = http.createServer(app);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.HTTP_PORT, config.HTTP_HOST, () => resolve());
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
        onMessage: (raw) => handleHl7Message(raw, 'mllp', hl7Deps),
        logger,
        metrics,
      });
      mllpPort = await mllp.start();
      stops.push(() => mllp.stop(config.SHUTDOWN_TIMEOUT_MS / 2));
    }
    logger.info({ event: 'app.started', role, httpPort, mllpPort }, 'vcf-sentinel started');
    return { httpPort, mllpPort, metrics, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
    function done() {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    }
  });
}

function watchRedis(redis: Redis, name: string, logger: Logger): void {
  // Without an error listener ioredis errors would be unhandled; state changes are worth one line each.
  let last = '';
  redis.on('error', (err: NodeJS.ErrnoException) => {
    const key = err.code ?? err.message;
    if (key !== last) logger.warn({ event: 'redis.error', connection: name, code: err.code, message: err.message }, 'Redis error');
    last = key;
  });
  redis.on('ready', () => {
    last = '';
    logger.info({ event: 'redis.ready', connection: name }, 'Redis connected');
  });
}

function observeWorker(worker: Worker, metrics: Metrics, logger: Logger): void {
  worker.on('completed', () => metrics.jobsProcessed.inc({ queue: worker.name, outcome: 'completed' }));
  worker.on('failed', (job, err) => {
    metrics.jobsProcessed.inc({ queue: worker.name, outcome: 'failed' });
    logger.warn({ event: 'job.failed', queue: worker.name, jobId: job?.id, attempts: job?.attemptsMade, reason: err.message }, 'job failed');
  });
  worker.on('error', (err) => logger.warn({ event: 'worker.error', queue: worker.name, message: err.message }, 'worker error'));
}

async function refreshQueueDepth(metrics: Metrics, queues: Queue[]): Promise<void> {
  await Promise.all(
    queues.map(async (q) => {
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: q.name, state }, n);
    }),
  );
}
