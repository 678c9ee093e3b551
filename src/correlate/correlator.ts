/**
 * Report × study → unreported findings → FHIR outputs. Either may arrive first; whichever arrives second
 * triggers the evaluation. The join, in CONTRACT order: accession number, then Study Instance UID (ORU
 * OBX/ZDS), then patient identifier + study date within CORRELATE_DATE_WINDOW_H.
 *
 * An evaluation is idempotent: the same study and report version give the same resources, written by
 * conditional update on business identifiers, so a retried or replayed job creates nothing twice. It
 * holds a short per-study lock, so two triggers of one study (its analysis and its report) never
 * interleave their writes.
 */
import type { Identifier, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import type { RadiologyReport } from '../ingest/hl7/oru';
import type { FhirWriter } from '../emit/fhir/writer';
import { type ReferralKind, UNMAPPED_AUTHORITY_SYSTEM } from '../emit/fhir/codes';
import { cardFindingOf, suggestionIndex } from '../emit/cds-hooks/finding';
import { cardUuid } from '../emit/cds-hooks/ids';
import { findingStands, taskStatusAfter } from '../emit/cds-hooks/outcome';
import {
  type OutputContext, type WrittenRefs, buildDetectedIssue, buildDevice, buildKeyImage, buildObservation, buildServiceRequest, buildTask, findingKey, referralKinds,
} from '../emit/fhir/resources';
import type { ModelIdentity } from '../domain/findings';
import type { Logger } from '../log';
import { acquireLock, releaseLock } from '../queue/redis';
import type { OutputStore, FindingOutputs, OutputIds } from '../store/outputs';
import type { CdsStore, ClinicianFeedback } from '../store/cds';
import type { LinkStore } from '../store/links';
import type { ReportStore, StoredReport } from '../store/reports';
import type { CorrelatedFracture, JoinedBy, StoredStudy, StudyCorrelation, StudyStore } from '../store/studies';
import { type DetectedFracture, decideFracture, emitsOutputs, isFracture } from './decide';
import { localTimeMs } from './time';

export interface CorrelatorOptions {
  /** PATIENT_ID_SYSTEMS: HL7 PID-3.4 assigning authority → FHIR Identifier.system. */
  patientIdSystems: Record<string, string>;
  /** REFERRAL_TASK_OWNER as a FHIR reference, or null. */
  taskOwner: Task['owner'] | null;
  /** CORRELATE_DATE_WINDOW_H in ms: how far apart a study and a report of one patient may be to join. */
  dateWindowMs: number;
  /** CORRELATE_REPORT_WAIT_H in ms: how long an analysed study waits for its report. */
  reportWaitMs: number;
}

export interface CorrelatorDeps {
  redis: Redis;
  prefix: string;
  studies: StudyStore;
  reports: ReportStore;
  links: LinkStore;
  outputs: OutputStore;
  fhir: FhirWriter;
  logger: Logger;
  /**
   * The CDS Hooks index: every written finding is indexed for its patient, every retracted or answered
   * one removed, and clinicians' answers are applied to the resources. Absent (benchmarks, tools): no
   * cards, and no answers to honour.
   */
  cds?: CdsStore;
}

export interface ReportLink {
  accessionKey: string;
  joinedBy: JoinedBy;
}

/**
 * A study holds findings to correlate once analysed: waiting for its report, done, or failed while
 * correlating (a FHIR server refused an output): a later report version must still be able to fix that.
 * A new analysis (markQueued) clears the findings until it stores its own.
 */
function isAnalysed(s: StoredStudy | null): s is StoredStudy & { findings: NonNullable<StoredStudy['findings']> } {
  return s !== null && s.findings !== null && (s.status === 'awaiting-report' || s.status === 'done' || s.status === 'failed');
}

/** Another evaluation of the study holds its lock: the job retries with backoff (not a failure to show). */
export class StudyBusyError extends Error {
  constructor() {
    super('QUEUE_UNAVAILABLE: another correlation of this study is running');
    this.name = 'StudyBusyError';
  }
}

export class Correlator {
  private readonly devices = new Map<string, string>();

  constructor(
    private readonly deps: CorrelatorDeps,
    private readonly options: CorrelatorOptions,
  ) {}

  /** The report of an analysed study, by the CONTRACT's join order, or null. */
  async findReport(study: StoredStudy): Promise<ReportLink | null> {
    const { reports, links } = this.deps;
    if (study.accessionNumber) {
      const keys = await reports.accessionKeysForNumber(study.accessionNumber);
      // Two facilities may reuse a number: the patient decides between them, else no join by accession.
      const matching = keys.length <= 1 ? keys : await this.filterAsync(keys, async (k) => samePatient(study, (await reports.get(k))?.report));
      if (matching.length === 1) return { accessionKey: matching[0] as string, joinedBy: 'accession-number' };
    }
    const byUid = await reports.accessionForStudy(study.studyInstanceUid);
    if (byUid) return { accessionKey: byUid, joinedBy: 'study-instance-uid' };
    const at = localTimeMs(study.studyDate);
    if (study.patientId && at !== null) {
      for (const key of await links.reportsByPatient(study.patientId, at, this.options.dateWindowMs)) {
        if (samePatient(study, (await reports.get(key))?.report)) return { accessionKey: key, joinedBy: 'patient-and-date' };
      }
    }
    return null;
  }

  reportFor(accessionKey: string): Promise<StoredReport | null> {
    return this.deps.reports.get(accessionKey);
  }

  /** The analysed studies of a stored report, by the same join order. */
  async findStudies(stored: StoredReport, accessionKey: string): Promise<Array<{ uid: string; joinedBy: JoinedBy }>> {
    const { studies, links } = this.deps;
    const r = stored.report;
    // Each candidate is read once; the study is read again only under the lock, in evaluate().
    const analysed = async (uids: string[]): Promise<StoredStudy[]> =>
      (await Promise.all(uids.map((uid) => studies.get(uid)))).filter((s): s is StoredStudy => isAnalysed(s) && samePatient(s, r));
    // A study joined by accession must also name this report's accession key when facilities collide.
    const byAccession = await analysed(await links.studiesByAccession(r.accessionNumber));
    const checked = await this.filterAsync(byAccession, async (s) => (await this.findReport(s))?.accessionKey === accessionKey);
    if (checked.length > 0) return checked.map((s) => ({ uid: s.studyInstanceUid, joinedBy: 'accession-number' as const }));
    if (r.studyInstanceUid && (await analysed([r.studyInstanceUid])).length > 0) return [{ uid: r.studyInstanceUid, joinedBy: 'study-instance-uid' }];
    const at = localTimeMs(r.observationDateTime);
    if (at !== null) {
      for (const id of r.patient.identifiers) {
        const [nearest] = await analysed(await links.studiesByPatient(id.value, at, this.options.dateWindowMs));
        if (nearest) return [{ uid: nearest.studyInstanceUid, joinedBy: 'patient-and-date' }];
      }
    }
    return [];
  }

  /**
   * Decides every detected fracture of the study against the report and brings the FHIR outputs in line:
   * writes those not reported, retracts earlier ones the report now mentions (or all, when the report is
   * cancelled), then marks the study `done`. Throws StudyBusyError (the job retries) while another
   * evaluation of the study holds the lock.
   */
  async evaluate(uid: string, link: ReportLink): Promise<StudyCorrelation | null> {
    return this.withStudyLock(uid, async () => {
      const study = await this.deps.studies.get(uid);
      const stored = await this.deps.reports.get(link.accessionKey);
      if (!isAnalysed(study) || !stored) return null;
      const correlation = await this.apply(study, stored, link);
      await this.deps.links.addEvaluation(link.accessionKey, uid);
      await this.deps.studies.update(uid, { status: 'done', correlation });
      return correlation;
    });
  }

  /** Called when the report wait expires: a study still without a report ends `done`, outcome no-report. */
  async expireWait(uid: string, evaluate: (uid: string, link: ReportLink) => Promise<unknown> = (u, l) => this.evaluate(u, l)): Promise<'no-report' | 'joined' | 'not-waiting'> {
    const study = await this.deps.studies.get(uid);
    if (!study || study.status !== 'awaiting-report') return 'not-waiting';
    const link = await this.findReport(study);
    if (link) {
      await evaluate(uid, link);
      return 'joined';
    }
    await this.withStudyLock(uid, async () => {
      const now = await this.deps.studies.get(uid);
      if (now?.status !== 'awaiting-report') return;
      await this.deps.studies.update(uid, {
        status: 'done',
        correlation: { ...emptyCorrelation('no-report'), evaluatedAt: new Date().toISOString() },
      });
    });
    return 'no-report';
  }

  /**
   * Marks an analysed study as waiting for its report until `waitUntil`, under the study's lock and only
   * while it still waits: a report evaluated between our search and this write has already made it `done`.
   */
  async markAwaiting(uid: string): Promise<StudyCorrelation | null> {
    return this.withStudyLock(uid, async () => {
      if ((await this.deps.studies.get(uid))?.status !== 'awaiting-report') return null;
      const correlation = { ...emptyCorrelation('awaiting-report'), waitUntil: new Date(Date.now() + this.options.reportWaitMs).toISOString() };
      await this.deps.studies.update(uid, { correlation });
      return correlation;
    });
  }

  private async apply(study: StoredStudy, stored: StoredReport, link: ReportLink): Promise<StudyCorrelation> {
    const { fhir, outputs } = this.deps;
    const analysis = study.findings as NonNullable<StoredStudy['findings']>;
    const cancelled = stored.report.resultStatus === 'X';
    const fractures: DetectedFracture[] = analysis.fractures.filter(isFracture);
    const model = analysis.model;
    const previous = new Map((await outputs.all(study.studyInstanceUid)).map((o) => [o.key, o]));
    const identifiedAt = new Date().toISOString();
    const decided = fractures.map((f) => ({ f, d: decideFracture(f, stored.analysis, cancelled), key: model ? findingKey({ studyInstanceUid: study.studyInstanceUid, model }, f.level) : f.level }));

    let refs: WrittenRefs | null = null;
    if (model && decided.some(({ d }) => emitsOutputs(d))) {
      const keyImagePng = await this.deps.studies.getKeyImage(study.studyInstanceUid);
      const ctx0 = this.context(study, stored, model, identifiedAt);
      const keyImage = keyImagePng ? await fhir.upsert(buildKeyImage(ctx0, keyImagePng)) : null;
      refs = { device: await this.deviceRef(model), keyImage: keyImage ? `Media/${keyImage.id}` : null };
    }

    const result: CorrelatedFracture[] = [];
    for (const { f, d, key } of decided) {
      const before = previous.get(key);
      if (refs && model && emitsOutputs(d)) {
        // A clinician's answer to the card outlives every re-evaluation: "not a fracture" keeps it retracted.
        const fb = (await this.deps.cds?.feedback(cardUuid(key))) ?? null;
        const stands = findingStands(fb);
        // The first decision's time stays: a replay must produce the same resources.
        const keepTime = before && (before.active || fb);
        const ctx = this.context(study, stored, model, keepTime ? before.context.identifiedAt : identifiedAt);
        const o = { key, fracture: f, decision: d, context: ctx, refs };
        const written = await this.writeFinding(o, stands, fb);
        const out: FindingOutputs = { ...o, ids: written.ids, active: stands };
        await outputs.put(study.studyInstanceUid, out);
        await this.indexForCds(out, written.serviceRequests, fb);
        result.push({ ...d, outputs: written.ids, retracted: !stands });
      } else {
        let retracted = false;
        if (before?.active) {
          await this.retract(study.studyInstanceUid, before);
          retracted = true;
        }
        result.push({ ...d, outputs: null, retracted });
      }
    }
    // Findings of an earlier analysis (another model version, other content) that this one no longer has.
    const retractedStale: string[] = [];
    const decidedKeys = new Set(decided.map(({ key }) => key));
    for (const before of previous.values()) {
      if (!before.active || decidedKeys.has(before.key)) continue;
      await this.retract(study.studyInstanceUid, before);
      retractedStale.push(before.decision.levelText);
    }
    return {
      outcome: cancelled ? 'report-cancelled' : 'evaluated',
      joinedBy: link.joinedBy,
      report: { version: stored.version, resultStatus: stored.report.resultStatus, language: stored.analysis.language },
      waitUntil: null,
      evaluatedAt: new Date().toISOString(),
      fractures: result,
      retractedStale,
    };
  }

  /**
   * Applies a clinician's answer (already stored in the CDS store) to one finding's resources, under the
   * study's lock so it never interleaves with an evaluation: accepted → the Task `accepted`; "not a
   * fracture" → the finding retracted; and the card is no longer shown. Throws StudyBusyError while an
   * evaluation holds the lock (the caller retries). A finding already retracted is left alone.
   */
  async applyFeedback(uid: string, findingKey: string): Promise<'applied' | 'not-active'> {
    const cds = this.deps.cds;
    if (!cds) throw new AppError('INTERNAL', 'the correlator has no CDS store');
    return this.withStudyLock(uid, async () => {
      const o = (await this.deps.outputs.all(uid)).find((x) => x.key === findingKey);
      const fb = await cds.feedback(cardUuid(findingKey));
      if (!o || !o.active) {
        if (o) await cds.unindex(idOf(o.context.patient), cardUuid(findingKey));
        return 'not-active';
      }
      const stands = findingStands(fb);
      const written = await this.writeFinding(o, stands, fb);
      const out: FindingOutputs = { ...o, ids: written.ids, active: stands };
      await this.deps.outputs.put(uid, out);
      await this.indexForCds(out, written.serviceRequests, fb);
      return 'applied';
    });
  }

  /** The card is shown while the finding stands and nobody has answered it. */
  private async indexForCds(o: FindingOutputs, serviceRequests: Partial<Record<ReferralKind, ServiceRequest>>, fb: ClinicianFeedback | null): Promise<void> {
    const cds = this.deps.cds;
    if (!cds) return;
    if (!o.active || fb) {
      await cds.unindex(idOf(o.context.patient), cardUuid(o.key));
      return;
    }
    const finding = cardFindingOf(o, serviceRequests);
    await cds.index(finding, suggestionIndex(finding));
  }

  /**
   * The Device of a model, written once per process and model (it depends on the model's identity only):
   * every evaluation would otherwise re-send it, an HTTP request per study against an external server.
   */
  private async deviceRef(model: ModelIdentity): Promise<string> {
    let ref = this.devices.get(model.sha256);
    if (!ref) {
      ref = `Device/${(await this.deps.fhir.upsert(buildDevice(model))).id}`;
      this.devices.set(model.sha256, ref);
    }
    return ref;
  }

  /**
   * Writes (or retracts, `active` false) one finding's resources in reference order; a clinician's
   * accepted suggestion moves its Tasks to `accepted`.
   */
  private async writeFinding(
    o: Pick<FindingOutputs, 'key' | 'fracture' | 'decision' | 'context' | 'refs'>,
    active: boolean,
    fb: ClinicianFeedback | null = null,
  ): Promise<{ ids: OutputIds; serviceRequests: Partial<Record<ReferralKind, ServiceRequest>> }> {
    const { fhir } = this.deps;
    const { fracture: f, decision: d, context: ctx, refs } = o;
    const observation = await fhir.upsert(buildObservation(ctx, f, d, refs, active));
    const obsRef = `Observation/${observation.id}`;
    const issue = await fhir.upsert(buildDetectedIssue(ctx, f, d, obsRef, refs, active));
    const ids: OutputIds = { observation: observation.id, detectedIssue: issue.id, serviceRequests: {}, tasks: {} };
    const serviceRequests: Partial<Record<ReferralKind, ServiceRequest>> = {};
    for (const kind of referralKinds(f)) {
      const sr = await fhir.upsert(buildServiceRequest(ctx, f, d, kind, { observation: obsRef, detectedIssue: `DetectedIssue/${issue.id}`, device: refs.device }, active));
      const built = buildTask(ctx, f, d, kind, `ServiceRequest/${sr.id}`, refs.device, active);
      const accepted = active ? taskStatusAfter(fb, kind) : null;
      const task = await fhir.upsert(accepted ? { ...built, status: accepted } : built);
      ids.serviceRequests[kind] = sr.id;
      ids.tasks[kind] = task.id;
      serviceRequests[kind] = sr;
    }
    return { ids, serviceRequests };
  }

  private async retract(uid: string, before: FindingOutputs): Promise<void> {
    const { ids } = await this.writeFinding(before, false);
    await this.deps.outputs.put(uid, { ...before, ids, active: false });
    await this.deps.cds?.unindex(idOf(before.context.patient), cardUuid(before.key));
  }

  private context(study: StoredStudy, stored: StoredReport, model: ModelIdentity, identifiedAt: string): OutputContext {
    const r = stored.report;
    return {
      studyInstanceUid: study.studyInstanceUid,
      studyDate: study.studyDate ? study.studyDate.slice(0, 10) : null,
      accessionNumber: study.accessionNumber ?? r.accessionNumber,
      patient: patientIdentifier(r, study, this.options.patientIdSystems),
      reportDate: (r.observationDateTime ?? new Date(stored.receivedAt).toISOString()).slice(0, 10),
      model,
      identifiedAt,
      taskOwner: this.options.taskOwner,
    };
  }

  private async withStudyLock<T>(uid: string, work: () => Promise<T>): Promise<T> {
    const key = `${this.deps.prefix}:correlate-lock:${uid}`;
    const token = await acquireLock(this.deps.redis, key, 120_000);
    if (token === null) throw new StudyBusyError();
    try {
      return await work();
    } finally {
      await releaseLock(this.deps.redis, key, token);
    }
  }

  private async filterAsync<T>(items: T[], keep: (item: T) => Promise<boolean>): Promise<T[]> {
    const out: T[] = [];
    for (const item of items) if (await keep(item)) out.push(item);
    return out;
  }
}

/** The Observation subject's identifier as the CDS index keys it. */
function idOf(patient: Identifier): { system: string; value: string } {
  return { system: patient.system ?? '', value: patient.value ?? '' };
}

function emptyCorrelation(outcome: StudyCorrelation['outcome']): StudyCorrelation {
  return { outcome, joinedBy: null, report: null, waitUntil: null, evaluatedAt: null, fractures: [], retractedStale: [] };
}

/**
 * The patient as FHIR identifies them: the first PID-3 identifier whose assigning authority
 * PATIENT_ID_SYSTEMS maps; else the first one under a system naming the unmapped authority (visible, so
 * an integration engineer sees what to configure); else the study's DICOM PatientID.
 */
export function patientIdentifier(r: RadiologyReport, study: Pick<StoredStudy, 'patientId' | 'issuerOfPatientId'>, systems: Record<string, string>): Identifier {
  for (const id of r.patient.identifiers) {
    const system = systems[id.assigningAuthority];
    if (system) return { system, value: id.value };
  }
  const first = r.patient.identifiers[0];
  if (first) return { system: `${UNMAPPED_AUTHORITY_SYSTEM}:${encodeURIComponent(first.assigningAuthority || 'none')}`, value: first.value };
  if (study.patientId) return { system: `${UNMAPPED_AUTHORITY_SYSTEM}:${encodeURIComponent(study.issuerOfPatientId || 'none')}`, value: study.patientId };
  throw new AppError('BAD_REQUEST', 'neither the report nor the study identifies the patient');
}

/**
 * A study and a report are of the same patient unless both carry patient ids and none agrees (same value,
 * and same authority where both name one). Absent ids do not veto a join made by accession or UID.
 */
function samePatient(study: Pick<StoredStudy, 'patientId' | 'issuerOfPatientId'>, r: RadiologyReport | undefined): boolean {
  if (!r) return false;
  if (!study.patientId || r.patient.identifiers.length === 0) return true;
  return r.patient.identifiers.some(
    (id) => id.value === study.patientId && (!id.assigningAuthority || !study.issuerOfPatientId || id.assigningAuthority === study.issuerOfPatientId),
  );
}
