import express, { type ErrorRequestHandler, type Router } from 'express';
import { AppError, toAppError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../observability/metrics';

export interface HttpAppDeps {
  logger: Logger;
  metrics: Metrics;
  /** Each check returns null when fine, else a short reason; /readyz is 503 while any fails. */
  readiness: Record<string, () => Promise<string | null>>;
  /** Conditions that do not stop readiness but must be seen (e.g. CDS_AUTH=off): listed on /readyz. */
  warnings?: string[];
  /** Refreshes gauges read at scrape time (queue depths). */
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
    await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        checks[name] = (await check().catch((e: unknown) => String((e as Error).message ?? e))) ?? 'ok';
      }),
    );
    const ready = Object.values(checks).every((v) => v === 'ok');
    const warnings = deps.warnings ?? [];
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready', checks, ...(warnings.length > 0 ? { warnings } : {}) });
  });

  app.get('/metrics', async (_req, res) => {
    await deps.beforeScrape?.().catch(() => undefined);
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
