/**
 * Code systems, codes and identifier systems of the FHIR outputs (CLINICAL.md "Codes"). One place, so a
 * terminology review edits one file. Codes marked UNVERIFIED are listed in the README: verify them
 * before any clinical release.
 */
import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { FractureGrade, Morphology, SpineLevel } from '../../domain/vocabulary';

export const SNOMED = 'http://snomed.info/sct';
export const RADLEX_RADELEMENT = 'http://radelement.org';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';

/** The project's own namespace for code systems and business identifiers. */
const BASE = 'urn:vcf-sentinel';
/** Morphology of a vertebral fracture (CLINICAL.md: the project's own CodeSystem). */
export const MORPHOLOGY_SYSTEM = `${BASE}:CodeSystem:vcf-morphology`;
/** Referral kinds the service proposes (no verified standard code fits "bone-health work-up" as a whole). */
export const REFERRAL_SYSTEM = `${BASE}:CodeSystem:vcf-referral`;
/** The DetectedIssue kind: a finding on the images that the report does not mention. */
export const ISSUE_SYSTEM = `${BASE}:CodeSystem:vcf-issue`;
/** Identifier systems: one per resource kind, values built from the study, level and model. */
export const IDENTIFIER_SYSTEMS = {
  observation: `${BASE}:finding`,
  detectedIssue: `${BASE}:unreported-finding`,
  serviceRequest: `${BASE}:referral`,
  task: `${BASE}:referral-task`,
  media: `${BASE}:key-image`,
  device: `${BASE}:model-sha256`,
} as const;
/** Fallback patient identifier system for a PID-3.4 authority that PATIENT_ID_SYSTEMS does not map. */
export const UNMAPPED_AUTHORITY_SYSTEM = `${BASE}:hl7-assigning-authority`;

/** Observation.code: SNOMED CT 42942008 (UNVERIFIED) and RadElement RDES230. */
export const VCF_CODE: CodeableConcept = {
  coding: [
    { system: SNOMED, code: '42942008', display: 'Compression fracture of vertebral column' },
    { system: RADLEX_RADELEMENT, code: 'RDES230', display: 'Vertebral compression fracture' },
  ],
  text: 'Vertebral compression fracture',
};

/** Genant grade component code: RadElement RDES150. */
export const GENANT_CODE: CodeableConcept = {
  coding: [{ system: RADLEX_RADELEMENT, code: 'RDES150', display: 'Genant classification' }],
  text: 'Genant semi-quantitative grade',
};

export const MORPHOLOGY_CODE: CodeableConcept = {
  coding: [{ system: MORPHOLOGY_SYSTEM, code: 'morphology', display: 'Vertebral fracture morphology' }],
  text: 'Fracture morphology',
};

export const HEIGHT_LOSS_CODE: CodeableConcept = {
  coding: [{ system: MORPHOLOGY_SYSTEM, code: 'height-loss', display: 'Vertebral body height loss' }],
  text: 'Height loss (largest reduction of anterior, middle or posterior height)',
};

const GENANT_NAMES: Record<FractureGrade, string> = { 1: 'mild', 2: 'moderate', 3: 'severe' };

/** The grade's name; the component itself carries the grade as an integer (no verified coded value set). */
export function genantGradeName(grade: FractureGrade): string {
  return GENANT_NAMES[grade];
}

export function morphologyConcept(m: Morphology): CodeableConcept {
  return { coding: [{ system: MORPHOLOGY_SYSTEM, code: m, display: m }], text: m };
}

/** bodySite: SNOMED CT body structures from DICOM CID 7603. */
const BODY_SITES: Partial<Record<SpineLevel, [string, string]>> = {
  T1: ['64864005', 'First thoracic vertebra'], T2: ['53733008', 'Second thoracic vertebra'],
  T3: ['1626008', 'Third thoracic vertebra'], T4: ['73071006', 'Fourth thoracic vertebra'],
  T5: ['56401006', 'Fifth thoracic vertebra'], T6: ['45296009', 'Sixth thoracic vertebra'],
  T7: ['62487009', 'Seventh thoracic vertebra'], T8: ['11068009', 'Eighth thoracic vertebra'],
  T9: ['82687006', 'Ninth thoracic vertebra'], T10: ['7610001', 'Tenth thoracic vertebra'],
  T11: ['12989004', 'Eleventh thoracic vertebra'], T12: ['23215003', 'Twelfth thoracic vertebra'],
  L1: ['66794005', 'First lumbar vertebra'], L2: ['14293000', 'Second lumbar vertebra'],
  L3: ['36470004', 'Third lumbar vertebra'], L4: ['11994002', 'Fourth lumbar vertebra'],
  L5: ['49668003', 'Fifth lumbar vertebra'],
};

/**
 * The vertebra as a bodySite. An uncertain level (±1) keeps its code and says so in the text; an
 * unanchored one (a count from body sizes) gets no level code at all, only the text.
 */
export function bodySiteConcept(level: SpineLevel, certainty: { levelUncertain: boolean; levelUnanchored: boolean }): CodeableConcept {
  if (certainty.levelUnanchored) return { text: `vertebral body, level not determined (counted as ${level} from body sizes)` };
  const site = BODY_SITES[level];
  const text = certainty.levelUncertain ? `${level} or adjacent (level uncertain)` : level;
  const coding: Coding[] = site ? [{ system: SNOMED, code: site[0], display: site[1] }] : [];
  return { coding, text };
}

/**
 * What the service proposes (CLINICAL.md "What to propose"). The SNOMED codes are UNVERIFIED candidates;
 * the project's own code is the one the service relies on.
 */
export type ReferralKind = 'bone-health-workup' | 'ir-augmentation-consult' | 'oncology-spine-review';

export const REFERRALS: Record<ReferralKind, { code: CodeableConcept; owner: string }> = {
  'bone-health-workup': {
    code: {
      coding: [{ system: REFERRAL_SYSTEM, code: 'bone-health-workup', display: 'Osteoporosis / bone-health work-up' }],
      text: 'Osteoporosis / bone-health work-up: DXA, calcium, 25-OH vitamin D, renal function; consider the fracture liaison service',
    },
    owner: 'bone health / fracture liaison service',
  },
  'ir-augmentation-consult': {
    code: {
      coding: [
        { system: REFERRAL_SYSTEM, code: 'ir-augmentation-consult', display: 'Interventional radiology consult for vertebral augmentation' },
        { system: SNOMED, code: '11429006', display: 'Consultation' },
      ],
      text: 'Interventional radiology consult: eligibility for vertebral augmentation (vertebroplasty/kyphoplasty) needs a painful fracture and clinical review',
    },
    owner: 'interventional radiology',
  },
  'oncology-spine-review': {
    code: {
      coding: [{ system: REFERRAL_SYSTEM, code: 'oncology-spine-review', display: 'Oncology / spine review of a possibly pathologic fracture' }],
      text: 'Oncology / spine review: the fracture may be pathologic (metastatic)',
    },
    owner: 'oncology / spine team',
  },
};

export const UNREPORTED_FINDING_CODE: CodeableConcept = {
  coding: [{ system: ISSUE_SYSTEM, code: 'unreported-imaging-finding', display: 'Imaging finding not mentioned in the report' }],
  text: 'Vertebral fracture on the CT not mentioned in the radiology report',
};

/** An accession number as an identifier (v2-0203 ACSN), for ImagingStudy/order references. */
export function accessionIdentifier(accessionNumber: string) {
  return { type: { coding: [{ system: V2_0203, code: 'ACSN' }] }, value: accessionNumber };
}
