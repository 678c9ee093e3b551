import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { requireApiToken } from '../../http/auth';
import { isSignedLink } from '../../http/signed-link';
import type { Logger } from '../../log';
import type { NotifyOutcome, ReplayOutcome, StudyNotification } from '../../queue/study-intake';
import { UID_MAX_LENGTH, UID_PATTERN } from './constants';
import { uidTag } from '../../domain/digest';
import { type StudyState, publicStudyState, type StoredStudy } from '../../store/studies';
import { inRootSpan } from '../../observability/trace-context';

/**
 * The same UID rule as the DICOMweb client and the HL7 side (PS3.5 9.1 syntax, leading zeros tolerated:
 * archives hold such studies, and a notification we refuse is a study never analysed).
 */
export const DICOM_UID = UID_PATTERN;
const uid = z.string().max(UID_MAX_LENGTH, `must be at most ${UID_MAX_LENGTH} characters`).regex(DICOM_UID, 'must be a DICOM UID (digits and dots)');

/** Notification bodies are a few hundred bytes; anything much larger is not a notification. */
export const NOTIFICATION_MAX_BYTES = 16 * 1024;

/** The notification body (CONTRACT); unknown members are ignored, null counts as absent. */
export const studyNotificationSchema = z.object({
  studyInstanceUid: uid,
  source: z.string().min(1).max(64).nullish(),
  // SH and LO are 16 and 64 characters; be lenient on the shorter one, senders pad and prefix.
  accessionNumber: z.string().min(1).max(64).nullish(),
  patientId: z.string().min(1).max(64).nullish(),
});

export interface StudyRoutesDeps {
  apiToken: string | null;
  /** Names of DICOMWEB_SOURCES. */
  sources: readonly string[];
  accept(notification: StudyNotification, traceId: string): Promise<NotifyOutcome>;
  getStudy(studyInstanceUid: string): Promise<StoredStudy | null>;
  getKeyImage(studyInstanceUid: string): Promise<Buffer | null>;
  /** `POST /studies/{uid}/replay` (StudyIntake.replay); the route exists only when given. */
  replay?(studyInstanceUid: string, traceId: string): Promise<ReplayOutcome>;
  logger: Logger;
}

/** Turns the body into a notification or a 400 naming the first bad member (never echoing its value). */
export function parseNotification(body: unknown, sources: readonly string[]): StudyNotification {
  const parsed = studyNotificationSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new AppError('BAD_REQUEST', `${where}${issue?.message ?? 'invalid notification'}`);
  }
  const source = parsed.data.source ?? 'default';
  if (!sources.includes(source)) throw new AppError('DICOMWEB_SOURCE_UNKNOWN', `DICOMweb source "${source}" is not configured`);
  return {
    studyInstanceUid: parsed.data.studyInstanceUid,
    source,
    accessionNumber: parsed.data.accessionNumber ?? undefined,
    patientId: parsed.data.patientId ?? undefined,
  };
}

function isJsonBody(req: Request): boolean {
  const type = req.get('content-type');
  return type === undefined || /^application\/([\w.+-]+\+)?json\b/i.test(type);
}

/**
 * `POST /notifications/studies` and `GET /studies/{studyInstanceUid}` (CONTRACT), and
 * `POST /studies/{studyInstanceUid}/replay`. All need the bearer token when API_TOKEN is set: the state
 * carries findings, and a replay costs an analysis.
 */
export function studyRouter(deps: StudyRoutesDeps): Router {
  const router = Router();
  const auth = requireApiToken(deps.apiToken);
  router.post(
    '/notifications/studies',
    auth,
    (req, _res, next) => next(isJsonBody(req) ? undefined : new AppError('UNSUPPORTED_MEDIA_TYPE', 'the notification must be application/json')),
    express.json({ limit: NOTIFICATION_MAX_BYTES, type: () => true }),
    async (req, res) => {
      const notification = parseNotification(req.body, deps.sources);
      // The notification's trace: the study job, its correlate job and the FHIR writes join it.
      const study = uidTag(notification.studyInstanceUid);
      const { traceId, outcome } = await inRootSpan('study notification', { 'vcf.study': study, 'vcf.dicomweb.source': notification.source }, req.get('traceparent'), async (span) => {
        const traceId = span.spanContext().traceId;
        const outcome = await deps.accept(notification, traceId);
        span.setAttribute('vcf.outcome', outcome.kind);
        return { traceId, outcome };
      });
      // The job id carries the UID (CONTRACT: UIDs only at debug): the study's hash tag joins this line to the job's.
      deps.logger.info(
        { event: 'study.notified', traceId, outcome: outcome.kind, status: outcome.status, source: notification.source, study: uidTag(notification.studyInstanceUid), accessionGiven: Boolean(notification.accessionNumber), patientIdGiven: Boolean(notification.patientId) },
        'study notification',
      );
      deps.logger.debug({ event: 'study.notified_uid', traceId, studyInstanceUid: notification.studyInstanceUid }, 'study notification uid');
      res.location(`/studies/${notification.studyInstanceUid}`);
      const body = { jobId: outcome.jobId, status: outcome.status };
      switch (outcome.kind) {
        case 'accepted':
          res.status(202).json(body);
          break;
        case 'duplicate':
          res.status(202).json({ ...body, duplicate: true });
          break;
        case 'unchanged':
          // Nothing was accepted for processing: 200, not 202.
          res.status(200).json({ ...body, unchanged: true });
          break;
        default:
          outcome satisfies never;
      }
    },
  );
  // The sagittal reformat with every vertebra labelled and fractures outlined with their grade. A CDS card
  // links it for a browser, which cannot send the bearer token: a signed, short-lived link opens it too.
  const keyImageAuth: RequestHandler = (req, res, next) =>
    deps.apiToken !== null && isSignedLink(deps.apiToken, req.path, req.query) ? next() : auth(req, res, next);
  router.get('/studies/:studyInstanceUid/key-image.png', keyImageAuth, async (req, res) => {
    const parsed = uid.safeParse(req.params.studyInstanceUid);
    if (!parsed.success) throw new AppError('BAD_REQUEST', `studyInstanceUid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const png = await deps.getKeyImage(parsed.data);
    if (!png) throw new AppError('NOT_FOUND', 'no key image for this study (not analysed, or analysed without a model)');
    res.type('image/png').set('cache-control', 'private, no-store').send(png);
  });

  // The operator's retry: a study that failed (e.g. its source was down for all its attempts) is queued
  // again without waiting for the PACS to notify it, and without the notification's fingerprint check.
  const replay = deps.replay;
  if (replay) {
    router.post('/studies/:studyInstanceUid/replay', auth, async (req, res) => {
      const parsed = uid.safeParse(req.params.studyInstanceUid);
      if (!parsed.success) throw new AppError('BAD_REQUEST', `studyInstanceUid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      const { traceId, outcome } = await inRootSpan('study replay', { 'vcf.study': uidTag(parsed.data) }, req.get('traceparent'), async (span) => {
        const traceId = span.spanContext().traceId;
        const outcome = await replay(parsed.data, traceId);
        span.setAttribute('vcf.outcome', outcome.kind);
        return { traceId, outcome };
      });
      deps.logger.info({ event: 'study.replayed', traceId, outcome: outcome.kind, study: uidTag(parsed.data) }, 'study replay');
      switch (outcome.kind) {
        case 'accepted':
          res.location(`/studies/${parsed.data}`);
          res.status(202).json({ jobId: outcome.jobId, status: outcome.status });
          break;
        case 'pending':
          throw new AppError('CONFLICT', `the study's job is still queued, running or waiting for a retry (status ${outcome.status}): nothing to replay yet`);
        case 'unknown':
          throw new AppError('NOT_FOUND', 'no notification was received for this study');
        default:
          outcome satisfies never;
      }
    });
  }

  router.get('/studies/:studyInstanceUid', auth, async (req, res) => {
    const parsed = uid.safeParse(req.params.studyInstanceUid);
    if (!parsed.success) throw new AppError('BAD_REQUEST', `studyInstanceUid: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const stored = await deps.getStudy(parsed.data);
    if (!stored) throw new AppError('NOT_FOUND', 'no notification was received for this study');
    const state: StudyState = publicStudyState(stored);
    res.json(state);
  });
  return router;
}
