/**
 * What a clinician's answer to a card does to the finding's FHIR resources. Pure, and used by the
 * correlator both when the answer arrives and on every later evaluation of the study, so that replaying
 * a report or a study never undoes what the clinician said.
 */
import type { Task } from '@medplum/fhirtypes';
import type { ClinicianFeedback } from '../../store/cds';
import type { ReferralKind } from '../fhir/codes';

/**
 * False when the clinician said the finding is not a fracture: its resources are then retracted exactly as
 * when a corrected report mentions it (Observation and DetectedIssue entered-in-error, ServiceRequest
 * revoked, Task cancelled). Other override reasons leave the record as it is: the fracture stands, the
 * card is simply not shown again.
 */
export function findingStands(fb: ClinicianFeedback | null): boolean {
  return !(fb?.outcome === 'overridden' && fb.overrideReason === 'not-a-fracture');
}

/** The Task status a standing finding's referral gets: `accepted` once the clinician accepted its suggestion. */
export function taskStatusAfter(fb: ClinicianFeedback | null, kind: ReferralKind): Task['status'] | null {
  return fb?.outcome === 'accepted' && fb.acceptedKinds.includes(kind) ? 'accepted' : null;
}
