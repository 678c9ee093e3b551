/** Test helpers for the DICOMweb client and fetcher (unit and integration tests). */
import { AppError } from '../../src/errors';
import { TRANSFER_SYNTAX } from '../../src/ingest/dicomweb/constants';

/** The AppError `p` rejects with (failing the test when it rejects with anything else or resolves). */
export async function caught(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError');
}

/** A minimal Part-10 file: preamble, DICM, meta group (Explicit VR LE) and one dataset element. */
export function part10(sopInstanceUid: string, transferSyntaxUid: string = TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN, extra = 0): Buffer {
  const ui = (element: number, value: string) => {
    const v = Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0x0002, 0);
    head.writeUInt16LE(element, 2);
    head.write('UI', 4, 'latin1');
    head.writeUInt16LE(v.length, 6);
    return Buffer.concat([head, v]);
  };
  const ob = Buffer.alloc(14);
  ob.writeUInt16LE(0x0002, 0);
  ob.writeUInt16LE(0x0001, 2);
  ob.write('OB', 4, 'latin1');
  ob.writeUInt32LE(2, 8);
  ob.writeUInt16LE(0x0100, 12);
  const meta = Buffer.concat([
    ob,
    ui(0x0002, '1.2.840.10008.5.1.4.1.1.2'),
    ui(0x0003, sopInstanceUid),
    ui(0x0010, transferSyntaxUid),
  ]);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(meta.length, 8);
  const dataset = Buffer.concat([Buffer.from([0x08, 0x00, 0x60, 0x00]), Buffer.from('CS'), Buffer.from([2, 0]), Buffer.from('CT'), Buffer.alloc(extra)]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), groupLength, meta, dataset]);
}
