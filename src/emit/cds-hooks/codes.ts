/**
 * The service's identity and the codes its cards carry. Our own code systems live under the project's
 * namespace (as in emit/fhir/codes.ts); the override reasons are what CLINICAL.md names.
 */
import type { CdsCoding } from './types';

export const SERVICE_ID = 'vcf-unreported-fracture';
export const HOOK = 'patient-view';
/** The one prefetch key (CONTRACT): the Patient being viewed, for its identifiers. */
export const PREFETCH_KEY = 'patient';

export const OVERRIDE_REASON_SYSTEM = 'urn:vcf-sentinel:CodeSystem:cds-override-reason';
export const TOPIC_SYSTEM = 'urn:vcf-sentinel:CodeSystem:cds-topic';

export const OVERRIDE_REASONS = {
  'already-known': 'Already known (fracture known to the care team)',
  'not-a-fracture': 'Not a fracture (the images do not show one)',
  'patient-declined': 'Patient declined',
  'goals-of-care': 'Not in line with goals of care',
} as const;
export type OverrideReasonCode = keyof typeof OVERRIDE_REASONS;

export const OVERRIDE_REASON_CODINGS: CdsCoding[] = Object.entries(OVERRIDE_REASONS).map(([code, display]) => ({
  system: OVERRIDE_REASON_SYSTEM,
  code,
  display,
}));

export const TOPIC: CdsCoding = { system: TOPIC_SYSTEM, code: 'unreported-vertebral-fracture', display: 'Vertebral fracture on imaging not mentioned in the report' };
