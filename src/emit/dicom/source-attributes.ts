/**
 * The Patient and General Study module attributes (PS3.3 C.7.1.1, C.7.2.1) of the analysed study, copied
 * from what its source answers, so that the instances written back file under the same patient and study
 * in the PACS. Copied in the DICOM JSON model as the source gave them: no value is re-typed or re-encoded.
 */
import type { DicomwebClient, RequestOptions } from '../../ingest/dicomweb/client';
import { TAG } from '../../ingest/dicomweb/constants';
import { dicomString } from '../../ingest/dicomweb/fetch-study';
import type { DicomJson, DicomJsonAttribute } from '../../ingest/dicomweb/types';

/** Keyword → (tag, VR, type 2: must be present, possibly empty). */
const PATIENT_STUDY_ATTRIBUTES = {
  PatientName: ['00100010', 'PN', true],
  PatientID: ['00100020', 'LO', true],
  IssuerOfPatientID: ['00100021', 'LO', false],
  IssuerOfPatientIDQualifiersSequence: ['00100024', 'SQ', false],
  PatientBirthDate: ['00100030', 'DA', true],
  PatientSex: ['00100040', 'CS', true],
  OtherPatientIDsSequence: ['00101002', 'SQ', false],
  StudyDate: ['00080020', 'DA', true],
  StudyTime: ['00080030', 'TM', true],
  AccessionNumber: ['00080050', 'SH', true],
  IssuerOfAccessionNumberSequence: ['00080051', 'SQ', false],
  ReferringPhysicianName: ['00080090', 'PN', true],
  StudyDescription: ['00081030', 'LO', false],
  StudyID: ['00200010', 'SH', true],
} as const satisfies Record<string, readonly [string, string, boolean]>;

type PatientStudyKeyword = keyof typeof PATIENT_STUDY_ATTRIBUTES;

/** The tags the QIDO-RS study search asks for (`includefield`). */
const PATIENT_STUDY_TAGS: string[] = Object.values(PATIENT_STUDY_ATTRIBUTES).map(([tag]) => tag);

/**
 * Picks the Patient/Study attributes out of a source dataset; a type 2 attribute the source did not give is
 * written empty, as the standard asks. `fallback` fills PatientID and AccessionNumber when the source's
 * answer lacks them (the notification's values, which the service paired the study with).
 */
export function patientStudyAttributes(source: DicomJson | null, fallback: { patientId: string | null; accessionNumber: string | null } = { patientId: null, accessionNumber: null }): DicomJson {
  const out: DicomJson = {};
  for (const [keyword, [tag, vr, type2]] of Object.entries(PATIENT_STUDY_ATTRIBUTES)) {
    const given: DicomJsonAttribute | undefined = source?.[tag];
    // Bulk data references cannot be copied (none of these attributes should have one).
    if (given?.Value && given.Value.length > 0) out[tag] = { vr: given.vr || vr, Value: given.Value };
    else if (keyword === 'PatientID' && fallback.patientId) out[tag] = { vr, Value: [fallback.patientId] };
    else if (keyword === 'AccessionNumber' && fallback.accessionNumber) out[tag] = { vr, Value: [fallback.accessionNumber] };
    else if (type2) out[tag] = { vr, Value: [] };
  }
  return out;
}

/**
 * The study's attributes as the source's QIDO-RS study search answers them (PS3.18 lists the patient and
 * study identifiers among a study's return keys; the others are asked for with includefield). Null when
 * the source does not find the study.
 */
export async function fetchStudyAttributes(client: DicomwebClient, studyInstanceUid: string, options: RequestOptions = {}): Promise<DicomJson | null> {
  const [study] = await client.searchStudies({ StudyInstanceUID: studyInstanceUid, includefield: PATIENT_STUDY_TAGS }, options);
  return study ?? null;
}

/** The SOP Class and Instance UIDs of the analysed series (QIDO-RS), for the evidence references. */
export async function fetchSeriesInstances(
  client: DicomwebClient,
  studyInstanceUid: string,
  seriesInstanceUid: string,
  options: RequestOptions = {},
): Promise<Array<{ sopClassUid: string; sopInstanceUid: string }>> {
  const found = await client.searchInstances(studyInstanceUid, seriesInstanceUid, { includefield: [TAG.SOP_CLASS_UID, TAG.SOP_INSTANCE_UID] }, options);
  return found.flatMap((ds) => {
    const sopClassUid = dicomString(ds, TAG.SOP_CLASS_UID);
    const sopInstanceUid = dicomString(ds, TAG.SOP_INSTANCE_UID);
    return sopClassUid && sopInstanceUid ? [{ sopClassUid, sopInstanceUid }] : [];
  });
}
