import { sha256Hex } from '../domain/digest';

/**
 * Every Redis key of the CDS Hooks service, in one place (as BullMQ's queue-keys.ts does for its own).
 * Patient identifiers and JWT ids are hashed into key names: key names show up in SCAN, MONITOR and
 * memory reports, and an MRN must not.
 */
export function cdsKeys(prefix: string) {
  const base = `${prefix}:cds`;
  return {
    /** HASH card uuid → CardFinding JSON: the active, not yet answered, unreported findings of one patient identifier. */
    patient: (patientKey: string) => `${base}:patient:${digest(patientKey)}`,
    /** STRING CardRecord JSON: where feedback on a card finds its finding (study, finding key, suggestions). */
    card: (cardUuid: string) => `${base}:card:${cardUuid}`,
    /** STRING ClinicianFeedback JSON: the latest feedback on a card (present = never carded again). */
    feedback: (cardUuid: string) => `${base}:feedback:${cardUuid}`,
    /** LIST of ClinicianFeedback JSON: every distinct feedback on a card, oldest first, capped (audit). */
    feedbackLog: (cardUuid: string) => `${base}:feedback-log:${cardUuid}`,
    /** STRING with a TTL to the token's `exp`: a CDS Client JWT id already used (replay protection). */
    jti: (iss: string, jti: string) => `${base}:jti:${digest(`${iss}\n${jti}`)}`,
  } as const;
}

/** The index key of a FHIR identifier: `system|value`, as FHIR token search writes it. */
export function patientKey(identifier: { system: string; value: string }): string {
  return `${identifier.system}|${identifier.value}`;
}

const digest = (s: string) => sha256Hex(s, 32);
