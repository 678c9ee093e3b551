/**
 * The CDS Hooks 2.0 endpoints (CONTRACT): discovery, the patient-view service, and its feedback.
 * The service call reads only what correlation stored (the CDS index in Redis): no inference, no report
 * parsing, no FHIR search on the request path. Logs carry counts and outcomes, never a patient id.
 */
import express, { type Request, type RequestHandler, Router } from 'express';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../observability/metrics';
import { inRootSpan, linkTo } from '../../observability/trace-context';
import type { CdsStore, CardRecord, ClinicianFeedback } from '../../store/cds';
import { StudyBusyError } from '../../correlate/correlator';
import type { ReferralKind } from '../fhir/codes';
import { buildCards } from './cards';
import { OVERRIDE_REASONS, OVERRIDE_REASON_SYSTEM, SERVICE_ID } from './codes';
import { DISCOVERY } from './discovery';
import type { CdsCaller, CdsJwtVerifier } from './jwt';
import { type PatientFetchOptions, patientKeys, resolvePatient } from './patient';
import { type FeedbackItem, feedbackSchema, parseOrBadRequest, parsePatientViewRequest } from './request';
import { signLink } from '../../http/signed-link';

export interface CdsRouterDeps {
  store: CdsStore;
  /** null when CDS_AUTH=off (development only: warned at start and on /readyz). */
  verifier: CdsJwtVerifier | null;
  /** PATIENT_ID_SYSTEMS. */
  patientIdSystems: Record<string, string>;
  /** PUBLIC_BASE_URL, or null to derive it from the request. */
  publicBaseUrl: string | null;
  /** FHIR_BASE_URL when the outputs go to an external server; null = the embedded store at {base}/fhir/R4. */
  externalFhirBaseUrl: string | null;
  /** VIEWER_URL_TEMPLATE. */
  viewerUrlTemplate: string | null;
  /** API_TOKEN: when set, the key-image links in cards are signed with it (a browser cannot send the token). */
  apiToken: string | null;
  patientFetch: PatientFetchOptions;
  /** Largest request body (prefetch may carry a whole Patient). */
  maxBodyBytes: number;
  /** Brings the finding's FHIR resources in line with the stored answer (Correlator.applyFeedback). */
  applyFeedback(studyInstanceUid: string, findingKey: string): Promise<unknown>;
  logger: Logger;
  /** vcf_cds_cards_served_total; none when absent. */
  metrics?: Pick<Metrics, 'cdsCards'>;
}

const SERVICE_PATH = `/cds-services/${SERVICE_ID}`;
const FEEDBACK_PATH = `${SERVICE_PATH}/feedback`;

/** The base URL callers reach us at: PUBLIC_BASE_URL, else this request's scheme and Host. */
export function baseUrlOf(req: Request, publicBaseUrl: string | null): string {
  return (publicBaseUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`).replace(/\/+$/, '');
}

const ANONYMOUS: CdsCaller = { iss: '', sub: null, tenant: null };

export function cdsRouter(deps: CdsRouterDeps): Router {
  const router = Router();
  const json = express.json({ limit: deps.maxBodyBytes, type: () => true });

  // CORS for browser-based CDS Clients. `*` is safe here: nothing rides on cookies or other ambient
  // credentials (no Access-Control-Allow-Credentials), and every call carries a JWT bound to its endpoint.
  router.use('/cds-services', (req, res, next) => {
    res.set('access-control-allow-origin', '*');
    if (req.method !== 'OPTIONS') return next();
    res.set({
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'Authorization, Content-Type, Accept',
      'access-control-max-age': '600',
    });
    res.status(204).end();
  });

  /** The JWT check for one endpoint; the caller lands in res.locals.caller. */
  const authenticate =
    (path: string): RequestHandler =>
    async (req, res, next) => {
      if (!deps.verifier) {
        res.locals.caller = ANONYMOUS;
        return next();
      }
      res.locals.caller = await deps.verifier.verify(req.get('authorization'), `${baseUrlOf(req, deps.publicBaseUrl)}${path}`);
      next();
    };

  // Discovery is public: it describes the service, holds no patient data, and EHRs read it at set-up.
  router.get('/cds-services', (_req, res) => {
    res.json(DISCOVERY);
  });

  // Each answered call is a trace of its own (a child of the EHR's span when it sends a traceparent); its
  // id is the traceId of the cds.patient_view line.
  router.post(SERVICE_PATH, authenticate(SERVICE_PATH), json, (req, res) =>
    inRootSpan('cds patient-view', { 'vcf.cds.hook': 'patient-view' }, req.get('traceparent'), async (span) => {
      const request = parsePatientViewRequest(req.body);
      const patient = await resolvePatient(request, deps.patientFetch);
      const keys = patientKeys(patient, deps.patientIdSystems);
      const findings = await deps.store.findingsFor(keys);
      // Each card links to the trace that produced it: from the CDS answer back to the HL7 message or the study.
      for (const f of findings) linkTo(span, f.traceparent);
      const base = baseUrlOf(req, deps.publicBaseUrl);
      const cards = buildCards(findings, {
        baseUrl: base,
        fhirBaseUrl: (deps.externalFhirBaseUrl ?? `${base}/fhir/R4`).replace(/\/+$/, ''),
        viewerUrlTemplate: deps.viewerUrlTemplate,
        patientId: request.context.patientId,
        signPath: (path) => (deps.apiToken === null ? path : signLink(deps.apiToken, path)),
      });
      span.setAttributes({ 'vcf.cds.matched_identifiers': keys.length, 'vcf.cds.cards': cards.length });
      for (const card of cards) deps.metrics?.cdsCards.inc({ hook: 'patient-view', kind: card.indicator });
      deps.logger.info({ event: 'cds.patient_view', traceId: span.spanContext().traceId, hookInstance: request.hookInstance, matchedIdentifiers: keys.length, cards: cards.length }, 'CDS patient-view answered');
      res.json({ cards });
    }),
  );

  // A trace too: applying an answer rewrites the finding's FHIR resources (their writes are its spans).
  router.post(FEEDBACK_PATH, authenticate(FEEDBACK_PATH), json, (req, res) => inRootSpan('cds feedback', { 'vcf.cds.hook': 'patient-view' }, req.get('traceparent'), async () => {
    const { feedback } = parseOrBadRequest(feedbackSchema, req.body, 'CDS Hooks feedback');
    // Every card first: feedback naming an unknown card changes nothing at all.
    const records = await Promise.all(feedback.map((f) => deps.store.card(f.card)));
    const unknown = records.findIndex((r) => r === null);
    if (unknown >= 0) throw new AppError('NOT_FOUND', `CDS Hooks feedback: feedback.${unknown}.card: no card with this uuid`);
    const answers = feedback.map((item, i) => toClinicianFeedback(item, records[i] as CardRecord, res.locals.caller as CdsCaller, i));
    for (const [i, fb] of answers.entries()) {
      const record = records[i] as CardRecord;
      const stored = await deps.store.recordFeedback(fb);
      // Applied on repeats too (it is idempotent): a repeat then finishes what a failed attempt left.
      await withStudyRetry(() => deps.applyFeedback(record.studyInstanceUid, record.findingKey));
      deps.logger.info({ event: 'cds.feedback', outcome: fb.outcome, overrideReason: fb.overrideReason, repeat: stored === 'same' }, 'CDS feedback applied');
    }
    res.status(200).json({});
  }));

  return router;
}

function toClinicianFeedback(item: FeedbackItem, record: CardRecord, caller: CdsCaller, index: number): ClinicianFeedback {
  const acceptedKinds = new Set<ReferralKind>();
  for (const [j, s] of (item.acceptedSuggestions ?? []).entries()) {
    const kinds = record.suggestions[s.id];
    if (!kinds) throw new AppError('BAD_REQUEST', `CDS Hooks feedback: feedback.${index}.acceptedSuggestions.${j}.id: not a suggestion of this card`);
    for (const k of kinds) acceptedKinds.add(k);
  }
  const reason = item.overrideReason?.reason;
  const ours = reason?.system === OVERRIDE_REASON_SYSTEM && Object.hasOwn(OVERRIDE_REASONS, reason.code);
  return {
    card: item.card,
    outcome: item.outcome,
    overrideReason: item.outcome === 'overridden' && ours ? (reason?.code ?? null) : null,
    acceptedKinds: item.outcome === 'accepted' ? [...acceptedKinds] : [],
    outcomeTimestamp: item.outcomeTimestamp,
    receivedAt: new Date().toISOString(),
    by: { iss: caller.iss || null, sub: caller.sub, tenant: caller.tenant },
    userComment: item.overrideReason?.userComment ?? null,
  };
}

/** A correlation of the same study may hold its lock for a moment: wait for it, up to ~3 s, then 503. */
async function withStudyRetry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof StudyBusyError)) throw err;
      if (attempt >= 20) throw new AppError('QUEUE_UNAVAILABLE', 'the finding is being re-evaluated; send the feedback again shortly');
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}
