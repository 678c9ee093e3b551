import express, { type ErrorRequestHandler, type Router } from 'express';
import { AppError, toAppError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../observability/metrics';
import { withTimeout } from '../queue/redis';

/** A readiness check's answer: null when fine, a reason when not ready, or a warning that does not stop readiness. */
export type ReadinessResult = string | null | { warning: string };

/**
 * Longest wait for one readiness check, and for the gauges refreshed before a scrape. A stalled Redis (a
 * paused process, a network partition without resets) answers nothing: probes and Prometheus must still
 * get an answer, well within their own timeouts (a Kubernetes probe's is 1 s by default and up to a few s).
 */
export const CHECK_TIMEOUT_MS = 2000;

export interface HttpAppDeps {
  logger: Logger;
  metrics: Metrics;
  /**
   * Each check returns null when fine, else a short reason; /readyz is 503 while any fails, or does not
   * answer within CHECK_TIMEOUT_MS. A `{ warning }` answer is listed under `warnings` and is not a failure.
   */
  readiness: Record<string, () => Promise<ReadinessResult>>;
  /** Conditions that do not stop readiness but must be seen (e.g. CDS_AUTH=off): listed on /readyz. */
  warnings?: string[];
  /** Refreshes gauges read at scrape time (queue depths); after CHECK_TIMEOUT_MS the last values are served. */
  beforeScrape?: () => Promise<void>;
  /** Feature routers mounted in order (HL7 over HTTP, notifications, FHIR, CDS Hooks). */
  routers: Router[];
}

/** The express app; never listens (the caller owns the server, so tests can use supertest). */
export function createHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    const warnings = [...(deps.warnings ?? [])];
    await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        const result = await withTimeout(check(), CHECK_TIMEOUT_MS, () => new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)).catch(
          (e: unknown) => String((e as Error).message ?? e),
        );
        if (result !== null && typeof result === 'object') warnings.push(result.warning);
        checks[name] = typeof result === 'string' ? result : 'ok';
      }),
    );
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready', checks, ...(warnings.length > 0 ? { warnings } : {}) });
  });

  app.get('/metrics', async (_req, res) => {
    // A refresh that does not finish in time keeps running and updates the gauges when Redis answers;
    // this scrape gets the last values instead of waiting (a scrape that hangs shows as "target down").
    if (deps.beforeScrape) {
      await withTimeout(deps.beforeScrape(), CHECK_TIMEOUT_MS, () => new Error('queue depth refresh timed out')).catch((e: unknown) =>
        deps.logger.debug({ event: 'metrics.refresh_failed', reason: (e as Error).message }, 'queue depths not refreshed: serving the last values'),
      );
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  for (const router of deps.routers) app.use(router);

  app.use((_req, _res, next) => next(new AppError('NOT_FOUND', 'no such route')));
  app.use(errorHandler(deps.logger));
  return app;
}

/** Converts any error to `{ "error": { "code", "message" } }` with the code's HTTP status; never a stack. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = err as { type?: string; status?: number; expose?: boolean };
    let error: AppError;
    if (e.type === 'entity.too.large') error = new AppError('PAYLOAD_TOO_LARGE', 'request body too large');
    else if (e.type === 'entity.parse.failed') error = new AppError('BAD_REQUEST', 'request body is not valid JSON');
    else if (e.expose && e.status && e.status < 500) error = new AppError('BAD_REQUEST', (err as Error).message);
    else error = toAppError(err);
    if (error.spec.http >= 500) logger.error({ event: 'http.error', method: req.method, route: req.route?.path, err }, 'request failed');
    if (res.headersSent) return;
    res.status(error.spec.http).json({ error: { code: error.code, message: error.message } });
  };
}
