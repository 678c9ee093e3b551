/**
 * Just enough of DICOM Part 10 (PS3.10 7.1) to check a retrieved file and read its File Meta Information:
 * the transfer syntax says whether the server really transcoded, without parsing the whole dataset.
 */

export interface Part10Meta {
  /** (0002,0010) Transfer Syntax UID. */
  transferSyntaxUid: string;
  /** (0002,0003) Media Storage SOP Instance UID ('' when absent). */
  sopInstanceUid: string;
  /** (0002,0002) Media Storage SOP Class UID ('' when absent). */
  sopClassUid: string;
}

const PREAMBLE_LENGTH = 128;
/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

function uidString(bytes: Buffer): string {
  // UIDs are padded to even length with NUL; some writers pad with a space.
  return bytes.toString('latin1').replace(/[\0 ]+$/, '');
}

/**
 * Reads the File Meta Information group (always Explicit VR Little Endian). Returns null when the bytes
 * are not a Part-10 file (no "DICM" after the preamble) or the meta group has no transfer syntax.
 */
export function readPart10Meta(file: Buffer): Part10Meta | null {
  return readPart10MetaGroup(file)?.meta ?? null;
}

/** `readPart10Meta`, and where the dataset starts (the first byte after the meta group). */
export function readPart10MetaGroup(file: Buffer): { meta: Part10Meta; datasetOffset: number } | null {
  if (file.length < PREAMBLE_LENGTH + 4 || file.toString('latin1', PREAMBLE_LENGTH, PREAMBLE_LENGTH + 4) !== 'DICM') {
    return null;
  }
  let offset = PREAMBLE_LENGTH + 4;
  const meta: Part10Meta = { transferSyntaxUid: '', sopInstanceUid: '', sopClassUid: '' };
  while (offset + 8 <= file.length) {
    const group = file.readUInt16LE(offset);
    if (group !== 0x0002) break;
    const element = file.readUInt16LE(offset + 2);
    const vr = file.toString('latin1', offset + 4, offset + 6);
    let length: number;
    let valueOffset: number;
    if (LONG_VRS.has(vr)) {
      if (offset + 12 > file.length) return null;
      length = file.readUInt32LE(offset + 8);
      valueOffset = offset + 12;
    } else {
      length = file.readUInt16LE(offset + 6);
      valueOffset = offset + 8;
    }
    if (length === 0xffffffff || valueOffset + length > file.length) return null;
    const value = file.subarray(valueOffset, valueOffset + length);
    if (element === 0x0010) meta.transferSyntaxUid = uidString(value);
    else if (element === 0x0003) meta.sopInstanceUid = uidString(value);
    else if (element === 0x0002) meta.sopClassUid = uidString(value);
    offset = valueOffset + length;
  }
  return meta.transferSyntaxUid ? { meta, datasetOffset: offset } : null;
}
