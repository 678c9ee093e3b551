/**
 * A synthetic ORU^R01 radiology report for a phantom study: what `demo` sends and `phantom --oru` writes,
 * so an integration engineer can send a report that joins a study they stored (same accession number,
 * patient id and Study Instance UID) with any MLLP tool.
 */
export interface SyntheticReport {
  /** MSH-10: unique per message. */
  controlId: string;
  patientId: string;
  /** PID-3.4, the assigning authority (mapped to a FHIR system by PATIENT_ID_SYSTEMS). */
  assigningAuthority: string;
  accessionNumber: string;
  studyInstanceUid: string;
  /** The report text, one OBX per line. */
  lines: string[];
  /** MSH-4 / the facility (default the assigning authority). */
  facility?: string;
}

/** HL7 v2 escapes for text fields (HL7 v2.5.1 §2.7): the delimiters may appear in report text. */
function escapeText(s: string): string {
  return s.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\');
}

/** ER7 with CR segment separators (a final report, OBR-25 F). */
export function syntheticOru(r: SyntheticReport, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const facility = r.facility ?? r.assigningAuthority;
  return (
    [
      `MSH|^~\\&|RIS|${facility}|VCF-SENTINEL|${facility}|${ts}||ORU^R01^ORU_R01|${r.controlId}|P|2.5.1|||AL|NE||UNICODE UTF-8`,
      `PID|1||${r.patientId}^^^${r.assigningAuthority}^MR||SYNTHETIC^PATIENT||19580214|F`,
      `ORC|RE|${r.accessionNumber}|${r.accessionNumber}`,
      `OBR|1|${r.accessionNumber}|${r.accessionNumber}|CTCAP^CT chest abdomen pelvis^L|||${ts}|||||||||||||||${ts}||CT|F`,
      `OBX|1|ST|113014^DICOM Study^DCM||${r.studyInstanceUid}||||||F`,
      ...r.lines.map((line, i) => `OBX|${i + 2}|TX|18782-3^Radiology Study observation^LN||${escapeText(line)}||||||F`),
    ].join('\r') + '\r'
  );
}

/** Report text that mentions a compression fracture at each given level (or says there is none). */
export function reportLinesMentioning(levels: readonly string[]): string[] {
  const findings = levels.length > 0 ? levels.map((l) => `Compression fracture of ${l}.`) : ['No vertebral compression fracture.'];
  return [
    'CT CHEST ABDOMEN PELVIS WITH CONTRAST',
    'INDICATION: Staging.',
    `FINDINGS: ${findings.join(' ')}`,
    `IMPRESSION: ${levels.length > 0 ? `${levels.join(', ')} compression fracture${levels.length > 1 ? 's' : ''}.` : 'No acute abnormality.'}`,
  ];
}
