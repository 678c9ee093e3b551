/**
 * The real-world imaging fixtures in ../shared/fixtures/imaging (absent on some machines: tests skip,
 * saying so) and what it takes to upload them: the JPEG 2000 series was anonymised with empty UIDs.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TRANSFER_SYNTAX } from '../../src/ingest/dicomweb/constants';
import { readPart10Meta } from '../../src/ingest/dicomweb/part10';

export const IMAGING_FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/imaging');
/** A Siemens CT series of 20 slices in JPEG 2000 lossless (TotalSegmentator example). */
export const J2K_DIR = path.join(IMAGING_FIXTURES, 'totalsegmentator/example_ct_dicom');
/** Three GE CT slices in Implicit VR Little Endian (dcmqi). */
export const IMPLICIT_DIR = path.join(IMAGING_FIXTURES, 'dcmqi/ct-3slice');

export function j2kFiles(): string[] {
  return fs.existsSync(J2K_DIR) ? fs.readdirSync(J2K_DIR).sort().map((f) => path.join(J2K_DIR, f)) : [];
}

export function implicitFiles(): string[] {
  return fs.existsSync(IMPLICIT_DIR) ? fs.readdirSync(IMPLICIT_DIR).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(IMPLICIT_DIR, f)) : [];
}

/** Why the fixture tests cannot run here, or null. */
export function imagingFixturesSkipReason(): string | null {
  return fs.existsSync(J2K_DIR) && fs.existsSync(IMPLICIT_DIR) ? null : `${IMAGING_FIXTURES} is absent: fixture tests skipped`;
}

/** describe, or describe.skip with the reason in the block's name so that the skip explains itself. */
export function describeUnless(reason: string | null): (name: string, fn: () => void) => void {
  return (name, fn) => (reason ? describe.skip(`${name} [skipped: ${reason}]`, fn) : describe(name, fn));
}

/** A deterministic UID under the UUID-derived root 2.25 (PS3.5 B.2). */
export function uidFor(label: string): string {
  return `2.25.${BigInt(`0x${createHash('sha256').update(label).digest('hex').slice(0, 30)}`).toString()}`;
}

/**
 * The JPEG 2000 fixture was anonymised with empty SOP Class/Instance, Study and Series Instance UIDs, which
 * Orthanc refuses. Fill them in place, byte for byte (the compressed pixel data stays as it is): the SOP
 * ones from the File Meta Information, the others given. Each empty element is a unique top-level
 * Explicit VR LE "tag UI 0000" and the dataset has no group lengths, so inserting bytes is safe.
 */
export function fillEmptyUids(file: Buffer, studyUid: string, seriesUid: string): Buffer {
  const meta = readPart10Meta(file);
  if (!meta || meta.transferSyntaxUid !== TRANSFER_SYNTAX.JPEG_2000_LOSSLESS) throw new Error('unexpected fixture');
  const values: [number, number, string][] = [
    [0x0008, 0x0016, meta.sopClassUid],
    [0x0008, 0x0018, meta.sopInstanceUid],
    [0x0020, 0x000d, studyUid],
    [0x0020, 0x000e, seriesUid],
  ];
  let out = file;
  for (const [group, element, value] of values) {
    const empty = Buffer.alloc(8);
    empty.writeUInt16LE(group, 0);
    empty.writeUInt16LE(element, 2);
    empty.write('UI', 4, 'latin1');
    const at = out.indexOf(empty);
    if (at < 0 || out.indexOf(empty, at + 1) >= 0) throw new Error('fixture UID element not found exactly once');
    const v = Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
    const filled = Buffer.from(empty);
    filled.writeUInt16LE(v.length, 6);
    out = Buffer.concat([out.subarray(0, at), filled, v, out.subarray(at + 8)]);
  }
  return out;
}
