import type { ServiceRequest } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import type { FractureGrade, Morphology, SpineLevel } from '../domain/vocabulary';
import type { ReferralKind } from '../emit/fhir/codes';
import { cdsKeys, patientKey } from './cds-keys';
import { checkExec } from '../queue/redis';

/**
 * What the CDS Hooks service reads on its request path, written by the correlator when it writes a
 * finding's outputs and removed when it retracts them or a clinician answers the card: everything a card
 * needs, so that answering `patient-view` is two Redis reads (no analysis, no report parsing, no FHIR
 * search).
 */
export interface CardFinding {
  /** Stable per finding (name-based UUID of the finding key): a replay shows the same card. */
  cardUuid: string;
  /** `findingKey`: study UID + level + model version. */
  findingKey: string;
  /** The patient identifier the Observation's subject carries (PID-3 through PATIENT_ID_SYSTEMS). */
  patient: { system: string; value: string };
  studyInstanceUid: string;
  /** FHIR date of the CT, when known. */
  studyDate: string | null;
  /** Date of the report the fracture is absent from. */
  reportDate: string;
  level: SpineLevel;
  levelText: string;
  levelUncertain: boolean;
  levelUnanchored: boolean;
  grade: FractureGrade;
  morphology: Morphology | null;
  heightLossPercent: number;
  flags: string[];
  model: { name: string; version: string };
  /** Our resources, as `Type/id` in the FHIR store the outputs went to. */
  device: string;
  keyImage: string | null;
  observation: string;
  detectedIssue: string;
  /** One per proposal, in CLINICAL.md order (the IR consult first when there is one). */
  referrals: Array<{ kind: ReferralKind; serviceRequestId: string; taskId: string; serviceRequest: ServiceRequest }>;
  identifiedAt: string;
  /** The span that wrote this entry (its correlate job's), when traced: the CDS call that serves it links to it. */
  traceparent?: string;
}

/** Where feedback on a card finds its finding. */
export interface CardRecord {
  cardUuid: string;
  patientKey: string;
  studyInstanceUid: string;
  findingKey: string;
  /** Suggestion uuid → the referral kinds its actions create. */
  suggestions: Record<string, ReferralKind[]>;
}

/** A clinician's answer to a card (CDS Hooks feedback), with who sent it and when. */
export interface ClinicianFeedback {
  card: string;
  outcome: 'accepted' | 'overridden';
  /** The override reason's code when it is one of ours (`OVERRIDE_REASON_SYSTEM`), else null. */
  overrideReason: string | null;
  /** The referral kinds of the accepted suggestions. */
  acceptedKinds: ReferralKind[];
  /** From the feedback: when the clinician acted. */
  outcomeTimestamp: string;
  /** When the service received it. */
  receivedAt: string;
  /** The CDS Client's JWT: issuer, `sub` and `tenant` (null when CDS_AUTH is off). */
  by: { iss: string | null; sub: string | null; tenant: string | null };
  /** Free text the clinician typed, if any (kept for the audit log, never logged). */
  userComment: string | null;
}

/** Whether two feedbacks say the same thing (a repeat changes nothing). */
function sameAnswer(a: ClinicianFeedback, b: ClinicianFeedback): boolean {
  return a.outcome === b.outcome && a.overrideReason === b.overrideReason && [...a.acceptedKinds].sort().join() === [...b.acceptedKinds].sort().join();
}

const FEEDBACK_LOG_MAX = 20;

export class CdsStore {
  private readonly keys: ReturnType<typeof cdsKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    /** How long index entries, card records and feedback are kept (STUDY_STATE_TTL_S). */
    private readonly ttlS: number,
  ) {
    this.keys = cdsKeys(prefix);
  }

  /** Shows the finding's card to its patient (replacing what was there for it). */
  async index(finding: CardFinding, suggestions: CardRecord['suggestions']): Promise<void> {
    const pk = patientKey(finding.patient);
    const record: CardRecord = { cardUuid: finding.cardUuid, patientKey: pk, studyInstanceUid: finding.studyInstanceUid, findingKey: finding.findingKey, suggestions };
    const hash = this.keys.patient(pk);
    await this.redis
      .multi()
      .hset(hash, finding.cardUuid, JSON.stringify(finding))
      .expire(hash, this.ttlS)
      .set(this.keys.card(finding.cardUuid), JSON.stringify(record), 'EX', this.ttlS)
      .exec()
      .then(checkExec);
  }

  /**
   * Stops showing the card. The card record stays, so that feedback on a card shown before the
   * retraction is still recognised (and answered 200, not 404).
   */
  async unindex(patient: { system: string; value: string }, cardUuid: string): Promise<void> {
    await this.redis.hdel(this.keys.patient(patientKey(patient)), cardUuid);
  }

  /** The findings to card for these patient keys (`system|value`): indexed, and without feedback. */
  async findingsFor(patientKeys: string[]): Promise<CardFinding[]> {
    if (patientKeys.length === 0) return [];
    const tx = this.redis.pipeline();
    for (const pk of patientKeys) tx.hgetall(this.keys.patient(pk));
    const results = (await tx.exec()) ?? [];
    const byUuid = new Map<string, CardFinding>();
    for (const [err, hash] of results) {
      if (err) throw err;
      for (const v of Object.values(hash as Record<string, string>)) {
        const f = JSON.parse(v) as CardFinding;
        byUuid.set(f.cardUuid, f);
      }
    }
    if (byUuid.size === 0) return [];
    // The index entry is removed when feedback arrives; this check closes the window where a correlation
    // running at that moment wrote it back.
    const uuids = [...byUuid.keys()];
    const answered = await this.redis.mget(...uuids.map((u) => this.keys.feedback(u)));
    return uuids.filter((_, i) => answered[i] === null).map((u) => byUuid.get(u) as CardFinding);
  }

  async card(cardUuid: string): Promise<CardRecord | null> {
    const v = await this.redis.get(this.keys.card(cardUuid));
    return v === null ? null : (JSON.parse(v) as CardRecord);
  }

  async feedback(cardUuid: string): Promise<ClinicianFeedback | null> {
    const v = await this.redis.get(this.keys.feedback(cardUuid));
    return v === null ? null : (JSON.parse(v) as ClinicianFeedback);
  }

  /**
   * Stores a clinician's answer: `same` when it repeats the latest one (nothing to do), else `recorded`
   * (the latest answer wins; every distinct answer stays in the capped log with who and when).
   */
  async recordFeedback(fb: ClinicianFeedback): Promise<'recorded' | 'same'> {
    const before = await this.feedback(fb.card);
    if (before && sameAnswer(before, fb)) return 'same';
    const log = this.keys.feedbackLog(fb.card);
    await this.redis
      .multi()
      .set(this.keys.feedback(fb.card), JSON.stringify(fb), 'EX', this.ttlS)
      .rpush(log, JSON.stringify(fb))
      .ltrim(log, -FEEDBACK_LOG_MAX, -1)
      .expire(log, this.ttlS)
      .exec()
      .then(checkExec);
    return 'recorded';
  }

  async feedbackLog(cardUuid: string): Promise<ClinicianFeedback[]> {
    return (await this.redis.lrange(this.keys.feedbackLog(cardUuid), 0, -1)).map((v) => JSON.parse(v) as ClinicianFeedback);
  }

  /** Claims a JWT id until `expS` (epoch seconds): false when it was already used (a replay). */
  async claimJti(iss: string, jti: string, expS: number): Promise<boolean> {
    const ok = await this.redis.set(this.keys.jti(iss, jti), '1', 'EXAT', Math.max(expS, Math.floor(Date.now() / 1000) + 1), 'NX');
    return ok === 'OK';
  }
}
