/**
 * The integration console at /console: what an integration engineer asks without reading code. Did HL7
 * message X arrive, what did we answer, what report did it become; what happened to study Y (series chosen
 * and why, findings with the key image, report correlation, outputs written); which jobs failed, replay
 * them; how deep are the queues. Server-rendered HTML read from the stores, and bull-board for the queues.
 *
 * Security: the pages hold PHI, so the console exists only with API_TOKEN set (without it every page says
 * how to turn it on and shows nothing else). A browser signs in once with the token and gets a session
 * cookie (session.ts); a bearer header works too (scripts). State-changing requests made with the cookie
 * must come from the console's own pages (SameSite=Strict plus a Sec-Fetch-Site / Origin check). URLs carry
 * no PHI: studies are named by their tag (a hash of the UID, resolved through the store's recent-studies
 * index), messages by MSH-10 and sender, which logs carry too. Pages send a strict Content-Security-Policy
 * (no script at all on the console's own pages) and are never cached.
 */
import { inRootSpan } from '../../observability/trace-context';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { AppError, toAppError } from '../../errors';
import type { Logger } from '../../log';
import { uidTag } from '../../domain/digest';
import type { ReplayOutcome } from '../../queue/study-intake';
import type { Hl7MessageLog, Hl7MessageRecord } from '../../store/hl7-messages';
import type { LinkStore } from '../../store/links';
import type { OutputStore } from '../../store/outputs';
import type { ReportStore } from '../../store/reports';
import { type StudyStore, publicStudyState } from '../../store/studies';
import { requireApiToken } from '../auth';
import { QUEUES_PATH, queueBoard, readOrRetryOnly } from './queues';
import { SESSION_COOKIE, isSameOrigin, isValidSession, readCookie, sessionCookie, sessionValue, tokenMatches } from './session';
import {
  CONSOLE_CSS,
  type FailedJobRow,
  type QueueDepth,
  type ReportView,
  type StudyRow,
  disabledPage,
  errorPage,
  jobsPage,
  loginPage,
  messagePage,
  messagesPage,
  overviewPage,
  studiesPage,
  studyPage,
} from './views';

export interface ConsoleDeps {
  /** API_TOKEN; null disables the console (it would show PHI to anyone reaching the port). */
  apiToken: string | null;
  /** PUBLIC_BASE_URL: an https one marks the cookie Secure; its host is accepted as Origin. */
  publicBaseUrl: string | null;
  messageLog: Hl7MessageLog;
  reports: ReportStore;
  links: LinkStore;
  studies: StudyStore;
  outputs: OutputStore;
  queues: { reports: Queue; correlate: Queue; studies: Queue; results: Queue };
  /** StudyIntake.replay: the same replay as `POST /studies/{uid}/replay`. */
  replay(studyInstanceUid: string, traceId: string): Promise<ReplayOutcome>;
  /** StudyIntake.isPending: whether a replay would be refused because the study's job is still pending. */
  isPending(studyInstanceUid: string): Promise<boolean>;
  logger: Logger;
}

/** Rows on the list pages: recent enough to find today's traffic, small enough to render at once. */
const CONSOLE_LIST_LIMIT = 100;
/** Failed jobs listed per queue. */
const FAILED_PER_QUEUE = 50;

/** No script, no inline style, nothing from elsewhere; forms post only to the console. */
const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** bull-board is a React app with inline style attributes; it still loads nothing from other origins (its web fonts fall back). */
const BOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const tagParam = z.string().regex(/^[0-9a-f]{12}$/, 'not a study tag');
const controlIdParam = z.string().min(1).max(199);

type AuthKind = 'bearer' | 'cookie';

export function consoleRouter(deps: ConsoleDeps): Router {
  const outer = Router();
  const r = Router();
  outer.use('/console', r);

  r.use((req, res, next) => {
    res.set({
      'content-security-policy': req.path.startsWith('/queues') ? BOARD_CSP : PAGE_CSP,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    next();
  });

  r.get('/console.css', (_req, res) => {
    res.type('text/css').set('cache-control', 'public, max-age=3600').send(CONSOLE_CSS);
  });

  const token = deps.apiToken;
  if (token === null) {
    // Consistent with API_TOKEN's meaning elsewhere (unset = development, no auth) would be an open
    // console; but a browser page that lists every patient's studies is the one surface anyone could open
    // by accident, so without a token there is no console at all.
    r.use((_req, res) => {
      res.status(503).type('html').send(disabledPage());
    });
    return outer;
  }

  const secure = (req: Request) => req.secure || (deps.publicBaseUrl?.startsWith('https:') ?? false);
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  r.get('/login', (_req, res) => {
    res.type('html').send(loginPage(null));
  });
  r.post('/login', sameOriginOnly(deps.publicBaseUrl), form, (req, res) => {
    const given = typeof req.body?.token === 'string' ? (req.body.token as string) : '';
    if (!tokenMatches(token, given)) {
      deps.logger.warn({ event: 'console.login_failed', peer: req.socket.remoteAddress ?? null }, 'console sign-in with a wrong token');
      res.status(401).type('html').send(loginPage('That is not the API token.'));
      return;
    }
    deps.logger.info({ event: 'console.login', peer: req.socket.remoteAddress ?? null }, 'console sign-in');
    res.set('set-cookie', sessionCookie(sessionValue(token), secure(req))).redirect(303, '/console');
  });
  r.post('/logout', sameOriginOnly(deps.publicBaseUrl), (req, res) => {
    res.set('set-cookie', sessionCookie(null, secure(req))).redirect(303, '/console/login');
  });

  // Everything below needs the cookie or the bearer header.
  const bearer = requireApiToken(token);
  r.use((req, res, next) => {
    if (req.get('authorization') !== undefined) {
      bearer(req, res, (err?: unknown) => {
        if (err) return next(err);
        res.locals.auth = 'bearer' satisfies AuthKind;
        next();
      });
      return;
    }
    if (isValidSession(token, readCookie(req, SESSION_COOKIE))) {
      res.locals.auth = 'cookie' satisfies AuthKind;
      return next();
    }
    // A page opened in a browser goes to the sign-in form; an API call (bull-board's, a script's) gets 401.
    if ((req.method === 'GET' || req.method === 'HEAD') && !req.path.startsWith('/queues/api')) return res.redirect(303, '/console/login');
    next(new AppError('UNAUTHORIZED', 'sign in at /console/login, or send the bearer token'));
  });
  // A cookie is sent by the browser on its own: a state change it authenticates must come from our pages.
  r.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || res.locals.auth === 'bearer') return next();
    sameOriginOnly(deps.publicBaseUrl)(req, res, next);
  });

  r.get('/', async (_req, res) => {
    const [depths, messages, studies] = await Promise.all([queueDepths(deps), deps.messageLog.count(), deps.studies.count()]);
    res.type('html').send(overviewPage(depths, { messages, studies }));
  });

  r.get('/messages', async (_req, res) => {
    res.type('html').send(messagesPage(await deps.messageLog.recent(CONSOLE_LIST_LIMIT)));
  });

  r.get('/messages/:controlId', async (req, res) => {
    const controlId = parse(controlIdParam, req.params.controlId, 'MSH-10');
    const sender = typeof req.query.sender === 'string' ? parse(controlIdParam, req.query.sender, 'sender') : undefined;
    const receptions = await deps.messageLog.find(controlId, sender);
    if (receptions.length === 0) throw new AppError('NOT_FOUND', `no message with MSH-10 "${controlId}" in the message log`);
    res.type('html').send(messagePage(controlId, receptions, await reportViews(deps, receptions)));
  });

  r.get('/studies', async (_req, res) => {
    const recent = await deps.studies.recent(CONSOLE_LIST_LIMIT);
    const rows: StudyRow[] = [];
    for (const { tag, studyInstanceUid } of recent) {
      const stored = await deps.studies.get(studyInstanceUid);
      if (stored) rows.push({ tag, state: publicStudyState(stored) });
    }
    res.type('html').send(studiesPage(rows));
  });

  r.get('/studies/:tag', async (req, res) => {
    const uid = await resolveTag(deps, req.params.tag);
    const stored = await deps.studies.get(uid);
    if (!stored) throw new AppError('NOT_FOUND', 'this study is no longer kept (STUDY_STATE_TTL_S)');
    const pending = await deps.isPending(uid);
    const notice = REPLAY_NOTICES[String(req.query.replay)] ?? null;
    res.type('html').send(studyPage(uidTag(uid), publicStudyState(stored), await deps.outputs.all(uid), { pending, notice }));
  });

  r.get('/studies/:tag/key-image.png', async (req, res) => {
    const png = await deps.studies.getKeyImage(await resolveTag(deps, req.params.tag));
    if (!png) throw new AppError('NOT_FOUND', 'no key image for this study');
    res.type('image/png').send(png);
  });

  r.post('/studies/:tag/replay', async (req, res) => {
    const uid = await resolveTag(deps, req.params.tag);
    // A replay starts a trace of its own, like a notification: the study job and what follows join it.
    const { traceId, outcome } = await inRootSpan('study replay', { 'vcf.study': uidTag(uid), 'vcf.via': 'console' }, undefined, async (span) => {
      const traceId = span.spanContext().traceId;
      return { traceId, outcome: await deps.replay(uid, traceId) };
    });
    deps.logger.info({ event: 'study.replayed', traceId, outcome: outcome.kind, study: uidTag(uid), via: 'console' }, 'study replay');
    if (outcome.kind === 'unknown') throw new AppError('NOT_FOUND', 'no notification was received for this study');
    res.redirect(303, `/console/studies/${uidTag(uid)}?replay=${outcome.kind}`);
  });

  r.get('/jobs', async (_req, res) => {
    res.type('html').send(jobsPage(await queueDepths(deps), await failedJobs(deps)));
  });

  r.use('/queues', readOrRetryOnly, queueBoard([deps.queues.reports, deps.queues.correlate, deps.queues.results]));

  r.use((_req, _res, next) => next(new AppError('NOT_FOUND', 'no such console page')));
  r.use(consoleErrors(deps.logger));
  return outer;
}

const REPLAY_NOTICES: Record<string, string> = {
  accepted: 'Replay accepted: the study is queued again.',
  pending: "Not replayed: the study's job is still queued, running or waiting for a retry.",
};

/** Refuses a request the browser says came from another site (CSRF), as a 403. */
function sameOriginOnly(publicBaseUrl: string | null): RequestHandler {
  return (req, _res, next) => next(isSameOrigin(req, publicBaseUrl) ? undefined : new AppError('FORBIDDEN', 'cross-site request refused'));
}

function parse<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('BAD_REQUEST', `${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

async function resolveTag(deps: ConsoleDeps, tag: unknown): Promise<string> {
  const uid = await deps.studies.uidByTag(parse(tagParam, tag, 'study'));
  if (!uid) throw new AppError('NOT_FOUND', 'no study with this tag among the recent studies');
  return uid;
}

async function queueDepths(deps: ConsoleDeps): Promise<QueueDepth[]> {
  const { reports, correlate, studies, results } = deps.queues;
  return Promise.all(
    [reports, correlate, studies, results].map(async (q) => ({
      queue: q.name,
      counts: await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'),
    })),
  );
}

async function failedJobs(deps: ConsoleDeps): Promise<FailedJobRow[]> {
  const rows: FailedJobRow[] = [];
  for (const q of [deps.queues.studies, deps.queues.reports, deps.queues.correlate, deps.queues.results]) {
    for (const job of await q.getFailed(0, FAILED_PER_QUEUE - 1)) {
      if (!job) continue;
      const uid = q === deps.queues.studies && typeof job.data?.studyInstanceUid === 'string' ? (job.data.studyInstanceUid as string) : null;
      rows.push({
        queue: q.name,
        jobId: uid ? null : (job.id ?? null),
        studyTag: uid ? uidTag(uid) : null,
        failedReason: job.failedReason ?? '',
        attemptsMade: job.attemptsMade,
        finishedOn: job.finishedOn ?? null,
      });
    }
  }
  return rows.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0));
}

/** Each report the receptions became, with the studies it is linked to (as GET /reports/{accession} finds them). */
async function reportViews(deps: ConsoleDeps, receptions: Hl7MessageRecord[]): Promise<Map<string, ReportView>> {
  const views = new Map<string, ReportView>();
  for (const { reportKey, accessionNumber } of receptions.flatMap((r) => r.reports)) {
    if (views.has(reportKey)) continue;
    const stored = await deps.reports.get(reportKey);
    const evaluated = new Set(await deps.links.studiesEvaluatedWith(reportKey));
    const candidates = new Set([...evaluated, ...(stored?.report.studyInstanceUid ? [stored.report.studyInstanceUid] : []), ...(await deps.links.studiesByAccession(accessionNumber))]);
    const studies: ReportView['studies'] = [];
    for (const uid of [...candidates].sort()) {
      const study = await deps.studies.get(uid);
      if (!study) continue;
      const tag = uidTag(uid);
      studies.push({
        tag: (await deps.studies.uidByTag(tag)) === uid ? tag : null,
        status: study.status,
        outcome: evaluated.has(uid) ? (study.correlation?.outcome ?? null) : null,
        evaluatedWithThisReport: evaluated.has(uid),
      });
    }
    views.set(reportKey, { accessionNumber, stored, studies });
  }
  return views;
}

/** HTML error pages for the console's pages; bull-board's API keeps the service's JSON errors. */
function consoleErrors(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (req.path.startsWith('/queues/api')) return next(err);
    const e = err as { type?: string };
    const error = e.type === 'entity.too.large' ? new AppError('PAYLOAD_TOO_LARGE', 'request body too large') : toAppError(err);
    if (error.spec.http >= 500) logger.error({ event: 'console.error', method: req.method, err }, 'console page failed');
    if (res.headersSent) return;
    res.status(error.spec.http).type('html').send(errorPage(error.spec.http, error.message));
  };
}
