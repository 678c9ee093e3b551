/**
 * What an integration engineer asks after wiring a feed, as JSON behind API_TOKEN:
 *
 *   GET /hl7/messages/{MSH-10}[?sender=MSH-3 or MSH-3^MSH-4]  → each reception: when, from whom, the ACK
 *                                                               sent and why, the reports it became
 *   GET /reports/{accessionNumber}[?facility=MSH-4]           → the stored report (status, versions,
 *                                                               mentions, reported levels) and the
 *                                                               studies and correlation it is linked to
 *
 * The report text and patient identifiers are never answered; findings and decisions are, as on
 * GET /studies/{uid}.
 */
import { Router } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';
import type { Hl7MessageLog } from '../store/hl7-messages';
import type { LinkStore } from '../store/links';
import { type ReportStore, reportAccessionKey } from '../store/reports';
import { type StudyStore, publicStudyState } from '../store/studies';
import { requireApiToken } from './auth';

export interface LookupDeps {
  apiToken: string | null;
  messageLog: Hl7MessageLog;
  reports: ReportStore;
  links: LinkStore;
  studies: StudyStore;
}

/** MSH-10 is ST (up to 199 characters in v2.5+), accession numbers EI (up to 199): no longer lookup. */
const identifier = z.string().min(1).max(199);

export function lookupRouter(deps: LookupDeps): Router {
  const router = Router();
  const auth = requireApiToken(deps.apiToken);

  router.get('/hl7/messages/:controlId', auth, async (req, res) => {
    const controlId = param(req.params.controlId, 'controlId');
    const sender = queryParam(req.query.sender, 'sender');
    const receptions = await deps.messageLog.find(controlId, sender);
    if (receptions.length === 0) {
      throw new AppError('NOT_FOUND', `no message with MSH-10 "${controlId}"${sender ? ` from ${sender}` : ''} in the message log (kept HL7_MESSAGE_LOG_MAX_AGE_S)`);
    }
    res.json({
      controlId,
      receptions: receptions.map((r) => ({
        ...r,
        reports: r.reports.map((rep) => ({ ...rep, href: `/reports/${encodeURIComponent(rep.accessionNumber)}?facility=${encodeURIComponent(r.sender.facility)}` })),
      })),
    });
  });

  router.get('/reports/:accessionNumber', auth, async (req, res) => {
    const accessionNumber = param(req.params.accessionNumber, 'accessionNumber');
    const facility = queryParam(req.query.facility, 'facility');
    const wanted = facility === undefined ? null : reportAccessionKey({ sender: { application: '', facility }, accessionNumber });
    const keys = (await deps.reports.accessionKeysForNumber(accessionNumber)).filter((k) => wanted === null || k === wanted);
    const reports = [];
    for (const key of keys) {
      const stored = await deps.reports.get(key);
      if (!stored) continue;
      const { report, analysis } = stored;
      reports.push({
        reportKey: key,
        sender: report.sender,
        resultStatus: report.resultStatus,
        observationDateTime: report.observationDateTime,
        procedure: report.procedure,
        studyInstanceUid: report.studyInstanceUid,
        version: stored.version,
        receivedAt: new Date(stored.receivedAt).toISOString(),
        versions: (await deps.reports.history(key)).map((h) => ({ ...h, receivedAt: new Date(h.receivedAt).toISOString() })),
        language: analysis.language,
        reportedLevels: analysis.reportedLevels,
        reportedRegions: analysis.reportedRegions,
        mentions: analysis.mentions,
        studies: await linkedStudies(deps, key, accessionNumber, report.studyInstanceUid),
      });
    }
    if (reports.length === 0) throw new AppError('NOT_FOUND', `no stored report with accession number "${accessionNumber}"${facility ? ` from facility ${facility}` : ''}`);
    res.json({ accessionNumber, reports });
  });
  return router;
}

/**
 * Studies this report was evaluated with, and those that name it (its Study Instance UID, or the same
 * accession number) but were not evaluated yet: each with its status and correlation.
 */
async function linkedStudies(deps: LookupDeps, accessionKey: string, accessionNumber: string, studyInstanceUid: string | null) {
  const evaluated = new Set(await deps.links.studiesEvaluatedWith(accessionKey));
  const candidates = new Set([...evaluated, ...(studyInstanceUid ? [studyInstanceUid] : []), ...(await deps.links.studiesByAccession(accessionNumber))]);
  const out = [];
  for (const uid of [...candidates].sort()) {
    const stored = await deps.studies.get(uid);
    if (!stored) continue;
    const state = publicStudyState(stored);
    out.push({
      studyInstanceUid: uid,
      href: `/studies/${uid}`,
      evaluatedWithThisReport: evaluated.has(uid),
      status: state.status,
      correlation: evaluated.has(uid) ? state.correlation : null,
    });
  }
  return out;
}

function param(value: unknown, name: string): string {
  const parsed = identifier.safeParse(value);
  if (!parsed.success) throw new AppError('BAD_REQUEST', `${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function queryParam(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !identifier.safeParse(value).success) throw new AppError('BAD_REQUEST', `${name}: must be one value of 1 to 199 characters`);
  return value;
}
