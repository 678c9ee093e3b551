/**
 * Coded concepts of the Structured Report (PS3.16): DCMR/DCM codes for the TID 1500 structure, SNOMED CT
 * for findings and sites (the FHIR outputs' codes, src/emit/fhir/codes.ts), UCUM units, and the project's
 * own private coding scheme (designator "99VCFS", declared in each SR) where no standard code was at
 * hand. Codes marked UNVERIFIED are listed in the issue note: verify before a clinical release.
 */
import type { Grade, Morphology } from '../../domain/vocabulary';

/** A Code Sequence item (PS3.3 Table 8.8-1), in dcmjs' naturalized form. */
export interface Code {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning: string;
}

const code = (CodeValue: string, CodingSchemeDesignator: string, CodeMeaning: string): Code => ({ CodeValue, CodingSchemeDesignator, CodeMeaning });

/** The project's private coding scheme (PS3.16 8.2: private designators start with "99"). */
export const PRIVATE_SCHEME = '99VCFS';
export const PRIVATE_SCHEME_IDENTIFICATION = {
  CodingSchemeDesignator: PRIVATE_SCHEME,
  CodingSchemeName: 'vcf-sentinel vertebral fracture codes',
  CodingSchemeResponsibleOrganization: 'vcf-sentinel project',
};

export const DCM = {
  imagingMeasurementReport: code('126000', 'DCM', 'Imaging Measurement Report'),
  language: code('121049', 'DCM', 'Language of Content Item and Descendants'),
  observerType: code('121005', 'DCM', 'Observer Type'),
  device: code('121007', 'DCM', 'Device'),
  deviceObserverUid: code('121012', 'DCM', 'Device Observer UID'),
  deviceObserverName: code('121013', 'DCM', 'Device Observer Name'),
  deviceObserverManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceObserverModelName: code('121015', 'DCM', 'Device Observer Model Name'),
  procedureReported: code('121058', 'DCM', 'Procedure reported'),
  imageLibrary: code('111028', 'DCM', 'Image Library'),
  imageLibraryGroup: code('126200', 'DCM', 'Image Library Group'),
  imagingMeasurements: code('126010', 'DCM', 'Imaging Measurements'),
  measurementGroup: code('125007', 'DCM', 'Measurement Group'),
  trackingIdentifier: code('112039', 'DCM', 'Tracking Identifier'),
  trackingUid: code('112040', 'DCM', 'Tracking Unique Identifier'),
  finding: code('121071', 'DCM', 'Finding'),
  algorithmName: code('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: code('111003', 'DCM', 'Algorithm Version'),
} as const;

export const LANGUAGE_EN_US = code('en-US', 'RFC5646', 'English (United States)');
export const FINDING_SITE = code('363698007', 'SCT', 'Finding Site');
/** CID 100: a generic imaging procedure (UNVERIFIED as the best member for CT of the spine). */
export const PROCEDURE_IMAGING = code('363679005', 'SCT', 'Imaging procedure');
/** The finding of a vertebra graded 1–3: SNOMED CT 42942008 (UNVERIFIED, as in the FHIR Observation.code). */
export const VERTEBRAL_COMPRESSION_FRACTURE = code('42942008', 'SCT', 'Compression fracture of vertebral column');
export const QUALITATIVE_EVALUATIONS = code('C0034375', 'UMLS', 'Qualitative Evaluations');
/** RadElement RDES150 (coding scheme RADELEMENT, PS3.16 Table 8-1), as in the FHIR grade component. */
export const GENANT_CLASSIFICATION = code('RDES150', 'RADELEMENT', 'Genant classification');

export const UNITS = {
  mm: code('mm', 'UCUM', 'millimeter'),
  percent: code('%', 'UCUM', 'percent'),
} as const;

/** No standard code names the six-point morphometry heights: the private scheme does. */
export const HEIGHT = {
  anterior: code('anterior-height', PRIVATE_SCHEME, 'Anterior vertebral body height'),
  middle: code('middle-height', PRIVATE_SCHEME, 'Middle vertebral body height'),
  posterior: code('posterior-height', PRIVATE_SCHEME, 'Posterior vertebral body height'),
} as const;
export const HEIGHT_LOSS = code('height-loss', PRIVATE_SCHEME, 'Vertebral body height loss');
export const MORPHOLOGY = code('morphology', PRIVATE_SCHEME, 'Vertebral fracture morphology');

export function morphologyCode(m: Morphology): Code {
  return code(m, PRIVATE_SCHEME, m);
}

const GRADE_NAMES: Record<Grade, string> = { 0: 'normal', 1: 'mild', 2: 'moderate', 3: 'severe' };

/** The Genant grade as a coded value (no verified coded value set for RDES150 was at hand). */
export function genantGradeCode(grade: Grade): Code {
  return code(`genant-${grade}`, PRIVATE_SCHEME, `Genant grade ${grade} (${GRADE_NAMES[grade]})`);
}
