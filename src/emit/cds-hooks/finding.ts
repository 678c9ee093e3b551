/**
 * From what correlation wrote for one finding to what the CDS service reads (the index entry), and the
 * plan of the card's suggestions, which the card and the feedback both follow.
 */
import type { ServiceRequest } from '@medplum/fhirtypes';
import type { FindingOutputs } from '../../store/outputs';
import type { CardFinding, CardRecord } from '../../store/cds';
import type { ReferralKind } from '../fhir/codes';
import { cardUuid, suggestionUuid } from './ids';
import { isPossiblyPathologic } from '../../domain/vocabulary';
import { activeTraceparent } from '../../observability/trace-context';

/** The index entry of a finding whose outputs were just written (`serviceRequests`: as stored, with ids). */
export function cardFindingOf(o: FindingOutputs, serviceRequests: Partial<Record<ReferralKind, ServiceRequest>>): CardFinding {
  const { fracture: f, decision: d, context: ctx } = o;
  const referrals: CardFinding['referrals'] = [];
  for (const [kind, serviceRequestId] of Object.entries(o.ids.serviceRequests) as Array<[ReferralKind, string]>) {
    const sr = serviceRequests[kind];
    const taskId = o.ids.tasks[kind];
    if (sr && taskId) referrals.push({ kind, serviceRequestId, taskId, serviceRequest: sr });
  }
  return {
    cardUuid: cardUuid(o.key),
    findingKey: o.key,
    patient: { system: ctx.patient.system ?? '', value: ctx.patient.value ?? '' },
    studyInstanceUid: ctx.studyInstanceUid,
    studyDate: ctx.studyDate,
    reportDate: ctx.reportDate,
    level: f.level,
    levelText: d.levelText,
    levelUncertain: d.levelUncertain,
    // Older entries (before levelUnanchored existed) read as anchored.
    levelUnanchored: d.levelUnanchored ?? false,
    grade: f.grade,
    morphology: f.morphology,
    heightLossPercent: f.heightLossPercent,
    flags: [...f.flags],
    model: { name: ctx.model.name, version: ctx.model.version },
    device: o.refs.device,
    keyImage: o.refs.keyImage,
    observation: `Observation/${o.ids.observation}`,
    detectedIssue: `DetectedIssue/${o.ids.detectedIssue}`,
    referrals,
    identifiedAt: ctx.identifiedAt,
    // The trace that found it (when tracing is on): a CDS call showing the card links to it.
    ...activeTraceparent(),
  };
}


export interface PlannedSuggestion {
  uuid: string;
  kinds: ReferralKind[];
  recommended: boolean;
}

/**
 * The card's suggestions; the user picks at most one (`selectionBehavior: at-most-one`), so a grade-3
 * card offers the IR consult together with the work-up (or the oncology review) as one suggestion, the
 * recommended one, and the work-up alone as the other: CLINICAL.md wants both for grade 3, and a
 * clinician who does not want a consult can still order the work-up. Recommended (CLINICAL.md): grade 2's
 * work-up, grade 3's consult, and the oncology/spine review of a possibly pathologic fracture; grade 1's
 * work-up is offered, not recommended.
 */
export function suggestionPlan(f: Pick<CardFinding, 'findingKey' | 'grade' | 'flags' | 'referrals'>): PlannedSuggestion[] {
  const kinds = f.referrals.map((r) => r.kind);
  const plan = (ks: ReferralKind[], recommended: boolean): PlannedSuggestion => ({ uuid: suggestionUuid(f.findingKey, ks), kinds: ks, recommended });
  const consult = kinds.includes('ir-augmentation-consult');
  const others = kinds.filter((k) => k !== 'ir-augmentation-consult');
  if (consult) {
    return [plan(['ir-augmentation-consult', ...others], true), ...(others.length > 0 ? [plan(others, false)] : [])];
  }
  return others.map((k) => plan([k], f.grade >= 2 || isPossiblyPathologic(f)));
}

export function suggestionIndex(f: Parameters<typeof suggestionPlan>[0]): CardRecord['suggestions'] {
  return Object.fromEntries(suggestionPlan(f).map((s) => [s.uuid, s.kinds]));
}
