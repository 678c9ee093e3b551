import { AppError } from '../../errors';
import { UID_MAX_LENGTH, UID_PATTERN } from '../dicomweb/constants';
import { Er7Message, type Segment } from './er7';

/** MSH fields every acknowledgement and log line needs; readable even from messages we reject. */
export interface MessageHeader {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-9: e.g. { type: 'ORU', trigger: 'R01' }. */
  messageType: string;
  triggerEvent: string;
  /** MSH-10, echoed in MSA-2. */
  messageControlId: string;
  processingId: string;
  /** MSH-12 version ID, e.g. "2.5.1". */
  version: string;
}

export interface PatientIdentifier {
  value: string;
  /** PID-3.4, namespace ID of the assigning authority (mapped to a FHIR system by PATIENT_ID_SYSTEMS). */
  assigningAuthority: string;
  /** PID-3.5, identifier type code (MR, PI, ...). */
  typeCode: string;
}

/** HL7 table 0123 result status values a radiology report carries in OBR-25. */
export type ResultStatus = 'P' | 'F' | 'C' | 'A' | 'X' | 'I' | 'R' | 'S' | 'O' | 'D' | 'N' | 'Y' | 'Z';

/** One radiology report: one OBR and the OBX/NTE lines that follow it. */
export interface RadiologyReport {
  sender: { application: string; facility: string };
  messageControlId: string;
  version: string;
  patient: { identifiers: PatientIdentifier[] };
  /** OBR-3 filler order number, else OBR-2 placer order number, else ORC-3. */
  accessionNumber: string;
  placerOrderNumber: string;
  fillerOrderNumber: string;
  procedure: { code: string; text: string; codingSystem: string };
  /** OBR-7 as ISO 8601 when it parses, else null. */
  observationDateTime: string | null;
  resultStatus: ResultStatus | null;
  studyInstanceUid: string | null;
  /** OBX-5 narrative values in order, escapes decoded, one line per repetition. */
  text: string;
}

/**
 * Longest MSH-10 accepted: the message control ID is ST of at most 199 characters since v2.5 (20
 * before; we accept 199 for every version). A longer one is refused, not stored or echoed in full.
 */
export const MAX_CONTROL_ID_LENGTH = 199;

/** A DICOM UID as real archives send them (leading zeros tolerated), the same rule as the DICOMweb side. */
const isDicomUid = (v: string) => v.length <= UID_MAX_LENGTH && UID_PATTERN.test(v) && v.includes('.');
const TEXT_VALUE_TYPES = new Set(['TX', 'FT', 'ST', 'CE', 'CWE', 'CF', 'TN']);
const RESULT_STATUSES = new Set(['P', 'F', 'C', 'A', 'X', 'I', 'R', 'S', 'O', 'D', 'N', 'Y', 'Z']);

export function readHeader(msg: Er7Message): MessageHeader {
  const msh = msg.segments[0];
  if (!msh || msh.name !== 'MSH') throw new AppError('HL7_MALFORMED', 'the first segment is not MSH', { location: 'MSH^1' });
  const messageControlId = msg.component(msh, 10);
  if (messageControlId.length > MAX_CONTROL_ID_LENGTH) {
    // 102 (data type error) would be the precise HL7 table 0357 code; BAD_REQUEST answers AE with 207.
    throw new AppError('BAD_REQUEST', `MSH-10 message control ID is ${messageControlId.length} characters long, more than ${MAX_CONTROL_ID_LENGTH}`, {
      location: 'MSH^1^10',
    });
  }
  return {
    sendingApplication: msg.component(msh, 3),
    sendingFacility: msg.component(msh, 4),
    receivingApplication: msg.component(msh, 5),
    receivingFacility: msg.component(msh, 6),
    messageType: msg.component(msh, 9, 1).toUpperCase(),
    triggerEvent: msg.component(msh, 9, 2).toUpperCase(),
    messageControlId,
    processingId: msg.component(msh, 11),
    version: msg.component(msh, 12),
  };
}

/** HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]) to ISO 8601, or null when it does not parse. */
export function hl7DateTimeToIso(ts: string): string | null {
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$/.exec(ts.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (!mo) return y!;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  const zone = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : '';
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}${zone}`;
}

/**
 * ORU^R01 → one RadiologyReport per order (OBR), each with the patient of the PID above it (ORU^R01
 * may carry several patients). OBRs of one patient that share an accession are one report, their
 * text joined in order. Throws AppError with an HL7 location for what the ACK must name: no PID-3,
 * no OBR, no accession.
 */
export function parseOru(msg: Er7Message): RadiologyReport[] {
  const header = readHeader(msg);
  const groups = orderGroups(msg);
  if (groups.length === 0) throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'no OBR segment', { location: 'OBR' });

  const reports: RadiologyReport[] = [];
  // By accession and first patient identifier: a lookup per OBR, not a scan of the reports so far
  // (thousands of OBRs with distinct accessions made that quadratic).
  const byKey = new Map<string, RadiologyReport>();
  for (const { pid, orc, obr, obx, zds } of groups) {
    const placer = msg.component(obr, 2);
    const filler = msg.component(obr, 3);
    // OBR-18 (placer field 1) is where some RIS put the accession when the order numbers are empty.
    const accessionNumber = filler || placer || msg.component(orc, 3) || msg.component(obr, 18);
    if (accessionNumber === '') {
      throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'no accession number in OBR-3, OBR-2, ORC-3 or OBR-18', {
        location: `OBR^${obr.sequence}^3`,
      });
    }
    const identifiers = patientIdentifiers(msg, pid);
    const status = msg.component(obr, 25).toUpperCase();
    const { text, studyUid } = readObservations(msg, obx);
    const zdsUid = zds ? msg.component(zds, 1) : '';
    const studyInstanceUid = studyUid ?? (isDicomUid(zdsUid) ? zdsUid : null);
    const key = JSON.stringify([accessionNumber, identifiers[0]!.value]);
    const same = byKey.get(key);
    if (same) {
      same.text = [same.text, text].filter((t) => t !== '').join('\n');
      same.studyInstanceUid ??= studyInstanceUid;
      continue;
    }
    const report: RadiologyReport = {
      sender: { application: header.sendingApplication, facility: header.sendingFacility },
      messageControlId: header.messageControlId,
      version: header.version,
      patient: { identifiers },
      accessionNumber,
      placerOrderNumber: placer,
      fillerOrderNumber: filler,
      procedure: { code: msg.component(obr, 4, 1), text: msg.component(obr, 4, 2), codingSystem: msg.component(obr, 4, 3) },
      observationDateTime: hl7DateTimeToIso(msg.component(obr, 7)),
      resultStatus: RESULT_STATUSES.has(status) ? (status as ResultStatus) : null,
      studyInstanceUid,
      text,
    };
    reports.push(report);
    byKey.set(key, report);
  }
  return reports;
}

function patientIdentifiers(msg: Er7Message, pid: Segment): PatientIdentifier[] {
  const fromField = (n: number) =>
    msg
      .repetitions(pid, n)
      .map((rep) => ({ value: msg.componentOf(rep, 1), assigningAuthority: msg.componentOf(rep, 4, 1), typeCode: msg.componentOf(rep, 5) }))
      .filter((id) => id.value !== '');
  const identifiers = fromField(3);
  // v2.3 senders still put the patient ID in PID-2 (external ID) at times.
  const result = identifiers.length > 0 ? identifiers : fromField(2).slice(0, 1);
  if (result.length === 0) {
    throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'PID-3 patient identifier list is empty', { location: `PID^${pid.sequence}^3` });
  }
  return result;
}

interface OrderGroup {
  pid: Segment;
  orc: Segment | undefined;
  obr: Segment;
  obx: Segment[];
  zds: Segment | undefined;
}

/**
 * Splits the message into orders. An ORC belongs to the OBR after it, a PID to every order until the
 * next PID, OBX/NTE and ZDS to the order before them.
 */
function orderGroups(msg: Er7Message): OrderGroup[] {
  const groups: OrderGroup[] = [];
  let pid: Segment | undefined;
  let orc: Segment | undefined;
  for (const seg of msg.segments) {
    const last = groups[groups.length - 1];
    switch (seg.name) {
      case 'PID':
        pid = seg;
        orc = undefined;
        break;
      case 'ORC':
        orc = seg;
        break;
      case 'OBR':
        if (!pid) throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'PID segment missing before OBR', { location: 'PID' });
        groups.push({ pid, orc, obr: seg, obx: [], zds: undefined });
        orc = undefined;
        break;
      case 'OBX':
      case 'NTE':
        last?.obx.push(seg);
        break;
      case 'ZDS':
        if (last) last.zds = seg;
        break;
      default:
        break;
    }
  }
  if (!pid) throw new AppError('HL7_REQUIRED_FIELD_MISSING', 'PID segment missing', { location: 'PID' });
  return groups;
}

/** Is this OBX the study reference (DICOM code 113014 "DICOM Study", or a label saying Study Instance UID)? */
function isStudyUidObservation(msg: Er7Message, obx: Segment): boolean {
  const code = msg.component(obx, 3, 1);
  const label = `${msg.component(obx, 3, 2)} ${code}`.toLowerCase();
  // Not /study\s*(instance)?\s*uid/: its two \s* around an optional group backtrack quadratically on a long
  // run of spaces after "study" (a 1 MB label held the event loop for minutes).
  return code === '113014' || /study\s*(?:instance\s*)?uid/.test(label) || label.includes('dicom study');
}

function readObservations(msg: Er7Message, segments: Segment[]): { text: string; studyUid: string | null } {
  const lines: string[] = [];
  let studyUid: string | null = null;
  for (const seg of segments) {
    if (seg.name === 'NTE') continue; // comments on the order, not the report narrative
    const valueType = msg.component(seg, 2).toUpperCase();
    const values = msg.repetitions(seg, 5);
    // Read raw: a UID is digits and dots, which escapes never stand for, and the narrative below is
    // decoded once (escape sequences count against the message's budget each time they are decoded).
    const first = (values[0] ?? '').split(msg.delimiters.component, 1)[0]!.trim();
    if (isDicomUid(first) && (valueType === 'ST' || valueType === 'UID' || valueType === 'RP' || valueType === '')) {
      if (studyUid === null && isStudyUidObservation(msg, seg)) studyUid = first;
      continue; // UIDs (study, series, SR instance) are references, not narrative
    }
    if (!TEXT_VALUE_TYPES.has(valueType)) continue; // ED (PDF, CDA), RP, NM...: not narrative text
    for (const rep of values) {
      // Coded values carry their meaning in the text component (CE.2 / CWE.2).
      const value = valueType === 'CE' || valueType === 'CWE' || valueType === 'CF'
        ? msg.componentOf(rep, 2) || msg.componentOf(rep, 1)
        : msg.unescape(rep);
      lines.push(value);
    }
  }
  // trimEnd per line: a /[ \t]+$/gm replace backtracks quadratically on long runs of spaces.
  return { text: lines.map((l) => l.trimEnd()).join('\n'), studyUid };
}
