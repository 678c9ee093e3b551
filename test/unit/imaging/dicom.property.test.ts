/**
 * Property-based hostile input for the Part-10 readers a DICOMweb source (or a CLI user's folder) reaches
 * (issue 16): parseHeaders / readFrameHu (dcmjs underneath), readPart10Meta (the client's check of each
 * retrieved part) and analyzeSeriesBuffers (what the worker runs on a retrieved series). Truncated files,
 * patched element lengths (up to 4 GB and "undefined"), patched Rows/Columns/NumberOfFrames, wrong and
 * unknown transfer syntaxes, random bytes after a valid preamble: always a result or an AppError
 * (VOLUME_INVALID, STUDY_UNUSABLE), never another exception, and never an allocation the bytes received
 * cannot justify. Runs are few and each property stops after a time limit; a failure prints the seed.
 *
 * Memory: an ArrayBuffer allocated for a declared size is counted in process.memoryUsage().arrayBuffers
 * at once (Linux commits the pages lazily, so RSS would not show it); the properties bound that count.
 */
import fs from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { AppError } from '../../../src/errors';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { checkDecodable, parseHeaders, readFrameHu, releasePixelCache } from '../../../src/imaging/dicom';
import { TRANSFER_SYNTAX as TS } from '../../../src/ingest/dicomweb/constants';
import { readPart10Meta } from '../../../src/ingest/dicomweb/part10';
import { IMAGING_FIXTURES, implicitFiles } from '../../helpers/imaging-fixtures';
import { makeSlice } from './helpers';

/** Per property: stop generating new cases after this long (what ran is still checked). */
const TIME_LIMIT_MS = 1500;
const settings = (numRuns: number) => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

/** More than any case here may leave allocated: the largest valid input is a 0.5 MB fixture. */
const MAX_ARRAY_BUFFER_GROWTH = 64 * 1024 * 1024;

/** A usable 12-slice CT series (22 mm, 8×8) in the given transfer syntax; slices differ only in position and UIDs. */
function series(transferSyntaxUid: string): Buffer[] {
  return Array.from({ length: 12 }, (_, z) =>
    makeSlice({ imagePositionPatient: [0, 0, 2 * z], rows: 8, columns: 8, transferSyntaxUid }, (c, r) => 1024 + 40 * c + r),
  );
}

const SYNTAXES = [TS.EXPLICIT_VR_LITTLE_ENDIAN, TS.IMPLICIT_VR_LITTLE_ENDIAN, TS.EXPLICIT_VR_BIG_ENDIAN] as const;
const SERIES: Record<string, Buffer[]> = Object.fromEntries(SYNTAXES.map((ts) => [ts, series(ts)]));

/** Valid single files: the test slices plus the real-world fixtures when this machine has them. */
const FILES: Buffer[] = [
  ...SYNTAXES.map((ts) => (SERIES[ts] as Buffer[])[0] as Buffer),
  ...[path.join(IMAGING_FIXTURES, 'pydicom/CT_small.dcm'), ...implicitFiles().slice(0, 1)].filter((p) => fs.existsSync(p)).map((p) => fs.readFileSync(p)),
];

/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

interface Element {
  group: number;
  element: number;
  /** Byte offset of the element's tag. */
  at: number;
  /** Byte offset and width (2 or 4) of its length field. */
  lengthAt: number;
  lengthBytes: 2 | 4;
  littleEndian: boolean;
  valueAt: number;
  length: number;
}

/**
 * The top-level elements of a Part-10 file, as far as they can be walked: the meta group (Explicit VR
 * LE), then the dataset in the file's transfer syntax; stops at an undefined length (a sequence or
 * encapsulated pixel data) or at anything that does not add up.
 */
function elements(file: Buffer): Element[] {
  const ts = readPart10Meta(file)?.transferSyntaxUid;
  const out: Element[] = [];
  let p = 132;
  while (p + 8 <= file.length) {
    const meta = file.readUInt16LE(p) === 0x0002;
    const le = meta || ts !== TS.EXPLICIT_VR_BIG_ENDIAN;
    const explicit = meta || ts !== TS.IMPLICIT_VR_LITTLE_ENDIAN;
    const group = le ? file.readUInt16LE(p) : file.readUInt16BE(p);
    const element = le ? file.readUInt16LE(p + 2) : file.readUInt16BE(p + 2);
    const vr = file.toString('latin1', p + 4, p + 6);
    let lengthAt: number;
    let lengthBytes: 2 | 4;
    if (!explicit || LONG_VRS.has(vr)) {
      lengthAt = explicit ? p + 8 : p + 4;
      lengthBytes = 4;
    } else {
      lengthAt = p + 6;
      lengthBytes = 2;
    }
    if (lengthAt + lengthBytes > file.length) break;
    const length = lengthBytes === 2 ? (le ? file.readUInt16LE(lengthAt) : file.readUInt16BE(lengthAt)) : le ? file.readUInt32LE(lengthAt) : file.readUInt32BE(lengthAt);
    const valueAt = lengthAt + lengthBytes;
    out.push({ group, element, at: p, lengthAt, lengthBytes, littleEndian: le, valueAt, length });
    if (length === 0xffffffff || valueAt + length > file.length) break;
    p = valueAt + length;
  }
  return out;
}

function writeLength(file: Buffer, el: Element, value: number): void {
  if (el.lengthBytes === 2) {
    if (el.littleEndian) file.writeUInt16LE(value & 0xffff, el.lengthAt);
    else file.writeUInt16BE(value & 0xffff, el.lengthAt);
  } else if (el.littleEndian) file.writeUInt32LE(value >>> 0, el.lengthAt);
  else file.writeUInt32BE(value >>> 0, el.lengthAt);
}

function writeUs(file: Buffer, el: Element, value: number): void {
  if (el.littleEndian) file.writeUInt16LE(value, el.valueAt);
  else file.writeUInt16BE(value, el.valueAt);
}

/** The file with its (0002,0010) Transfer Syntax UID replaced (length and group length adjusted). */
function withTransferSyntax(file: Buffer, uid: string): Buffer {
  const els = elements(file);
  const ts = els.find((e) => e.group === 2 && e.element === 0x10);
  const groupLength = els.find((e) => e.group === 2 && e.element === 0);
  if (!ts || !groupLength) throw new Error('test file has no transfer syntax');
  const value = Buffer.from(uid.length % 2 ? `${uid}\0` : uid, 'latin1').subarray(0, 0xfffe);
  const out = Buffer.concat([file.subarray(0, ts.valueAt), value, file.subarray(ts.valueAt + ts.length)]);
  out.writeUInt16LE(value.length, ts.lengthAt);
  out.writeUInt32LE(out.readUInt32LE(groupLength.valueAt) + value.length - ts.length, groupLength.valueAt);
  return out;
}

/**
 * Runs `fn` on hostile input: it may return or throw an AppError, nothing else; and it may not leave more
 * ArrayBuffer memory allocated than MAX_ARRAY_BUFFER_GROWTH (a declared size taken at its word would).
 */
function expectContained<T>(fn: () => T): T | AppError {
  const before = process.memoryUsage().arrayBuffers;
  let result: T | AppError;
  try {
    result = fn();
  } catch (err) {
    if (!(err instanceof AppError)) throw new Error(`not an AppError: ${String((err as Error)?.stack ?? err)}`);
    expect(['VOLUME_INVALID', 'STUDY_UNUSABLE']).toContain(err.code);
    result = err;
  } finally {
    releasePixelCache();
  }
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MAX_ARRAY_BUFFER_GROWTH);
  return result;
}

/** Everything the worker and the CLI do with one file: headers, the decodability check, every frame's HU. */
function readWhole(file: Buffer): void {
  const parsed = parseHeaders(file);
  for (const frame of parsed.frames.slice(0, 4)) {
    checkDecodable(frame);
    // Decodable means the frame's pixels can be there: never more than the file could hold (RLE, the
    // densest codec here, expands at most 64 times; native pixels are in the file as they are).
    expect(frame.rows * frame.columns * 2 * frame.numberOfFrames).toBeLessThanOrEqual(64 * file.length);
    readFrameHu(file, frame, new Int16Array(frame.rows * frame.columns), 0);
  }
}

/** A series with the file at `index` replaced by `file`. */
function seriesWith(ts: string, index: number, file: Buffer): Buffer[] {
  const s = [...(SERIES[ts] as Buffer[])];
  s[index % s.length] = file;
  return s;
}

const syntax = fc.constantFrom(...SYNTAXES);
const anyFile = fc.constantFrom(...FILES.map((_, i) => i)).map((i) => FILES[i] as Buffer);

/** Lengths that break readers: undefined, 4 GB, just past the end, odd, zero, anything. */
const hostileLength = (fileLength: number) =>
  fc.oneof(
    fc.constantFrom(0xffffffff, 0xfffffffe, 0xfffffff0, 0x80000000, 0x7fffffff, 0xffff, 0xfffe, 0, 1, 3),
    fc.integer({ min: 0, max: 64 }).map((d) => fileLength + d),
    fc.nat({ max: 0xffffffff }),
  );

describe('Part-10 readers under hostile files', () => {
  it('the valid inputs are valid (so the properties below start from real files)', () => {
    for (const ts of SYNTAXES) expect(analyzeSeriesBuffers(SERIES[ts] as Buffer[]).volume.dims).toEqual([8, 8, 12]);
    for (const file of FILES) {
      expect(readPart10Meta(file)).not.toBeNull();
      expect(elements(file).length).toBeGreaterThan(10);
    }
  });

  it('every truncation of a valid file: a result or an AppError from every reader', () => {
    fc.assert(
      fc.property(anyFile, fc.nat(), (file, cut) => {
        const truncated = Buffer.from(file.subarray(0, cut % (file.length + 1)));
        readPart10Meta(truncated);
        expectContained(() => readWhole(truncated));
      }),
      settings(300),
    );
  });

  it('a series with truncated instances: an analysis or an AppError', () => {
    fc.assert(
      fc.property(syntax, fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }), (ts, cuts) => {
        let s = SERIES[ts] as Buffer[];
        for (const [index, cut] of cuts) {
          const file = s[index % s.length] as Buffer;
          s = seriesWith(ts, index, Buffer.from(file.subarray(0, cut % file.length)));
        }
        expectContained(() => analyzeSeriesBuffers(s));
      }),
      settings(150),
    );
  });

  it('wrong and huge declared element lengths (4 GB, undefined, past the end) allocate nothing they claim', () => {
    fc.assert(
      fc.property(anyFile, fc.nat(), fc.nat({ max: 0xffffffff }), (file, which, seed) => {
        const els = elements(file);
        const el = els[which % els.length] as Element;
        const length = fc.sample(hostileLength(file.length), { seed, numRuns: 1 })[0] as number;
        const patched = Buffer.from(file);
        writeLength(patched, el, length);
        readPart10Meta(patched);
        expectContained(() => readWhole(patched));
      }),
      settings(300),
    );
  });

  it('a series with a hostile length in one instance: an analysis or an AppError, memory bounded', () => {
    fc.assert(
      fc.property(syntax, fc.nat(), fc.nat(), fc.nat({ max: 0xffffffff }), (ts, index, which, seed) => {
        const file = Buffer.from((SERIES[ts] as Buffer[])[index % 12] as Buffer);
        const els = elements(file);
        writeLength(file, els[which % els.length] as Element, fc.sample(hostileLength(file.length), { seed, numRuns: 1 })[0] as number);
        expectContained(() => analyzeSeriesBuffers(seriesWith(ts, index, file)));
      }),
      settings(150),
    );
  });

  it('a declared matrix (Rows, Columns, NumberOfFrames, BitsAllocated) its pixel data cannot hold is refused, not allocated', () => {
    const patchable = [0x0010, 0x0011, 0x0008, 0x0100, 0x0101, 0x0103];
    fc.assert(
      fc.property(syntax, fc.subarray(patchable, { minLength: 1 }), fc.constantFrom(65535, 32768, 8000, 4096, 1024, 17, 9, 1, 0), fc.boolean(), (ts, tags, value, all) => {
        const s = (SERIES[ts] as Buffer[]).map((file, i) => {
          if (!all && i !== 0) return file;
          const patched = Buffer.from(file);
          for (const el of elements(patched)) if (el.group === 0x0028 && tags.includes(el.element) && el.length === 2) writeUs(patched, el, value);
          return patched;
        });
        expectContained(() => readWhole(s[0] as Buffer));
        expectContained(() => analyzeSeriesBuffers(s));
      }),
      settings(150),
    );
  });

  it('wrong, unknown and unsupported transfer syntaxes: an AppError naming the problem, or a result', () => {
    const uid = fc.oneof(
      fc.constantFrom(...Object.values(TS), '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.100', '1.2.840.10008.1.2.1.98', '9.9.9'),
      fc.string({ maxLength: 80 }),
      fc.constant(''),
    );
    fc.assert(
      fc.property(syntax, uid, fc.boolean(), (ts, claimed, wholeSeries) => {
        const s = (SERIES[ts] as Buffer[]).map((file, i) => (wholeSeries || i === 0 ? withTransferSyntax(file, claimed) : file));
        readPart10Meta(s[0] as Buffer);
        expectContained(() => readWhole(s[0] as Buffer));
        expectContained(() => analyzeSeriesBuffers(s));
      }),
      settings(200),
    );
  });

  it('random bytes after a valid preamble (with or without a meta group): an AppError or the other instances analysed', () => {
    const meta = (SERIES[TS.EXPLICIT_VR_LITTLE_ENDIAN] as Buffer[])[0]!.subarray(0, (elements(FILES[0] as Buffer).find((e) => e.group !== 2) as Element).at);
    const dicmByte = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 1, arbitrary: fc.constantFrom(0x00, 0xff, 0xfe, 0xe0, 0x7f, 0x08, 0x28) });
    const tail = fc.array(dicmByte, { maxLength: 2000 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.boolean(), tail, syntax, fc.nat(), (withMeta, bytes, ts, index) => {
        const head = withMeta ? meta : Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1')]);
        const file = Buffer.concat([head, bytes]);
        readPart10Meta(file);
        expectContained(() => readWhole(file));
        expectContained(() => analyzeSeriesBuffers(seriesWith(ts, index, file)));
      }),
      settings(200),
    );
  });

  it('a Deflated dataset is read, and one that inflates past 256 times its size is refused before dcmjs inflates it', () => {
    const explicit = (SERIES[TS.EXPLICIT_VR_LITTLE_ENDIAN] as Buffer[])[0] as Buffer;
    const datasetAt = (elements(explicit).find((e) => e.group !== 2) as Element).at;
    const deflated = (dataset: Buffer) => Buffer.concat([withTransferSyntax(explicit.subarray(0, datasetAt), TS.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN), deflateRawSync(dataset)]);

    const file = deflated(explicit.subarray(datasetAt));
    const [frame] = parseHeaders(file).frames;
    const [plain] = parseHeaders(explicit).frames;
    const [a, b] = [new Int16Array(64), new Int16Array(64)];
    readFrameHu(file, frame!, a, 0);
    releasePixelCache();
    readFrameHu(explicit, plain!, b, 0);
    expect(a).toEqual(b);

    // 64 MB of zeros deflate to about 64 KB: a stream that claims a thousand times its size.
    const bomb = deflated(Buffer.alloc(64 * 1024 * 1024));
    const err = expectContained(() => parseHeaders(bomb));
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toMatch(/inflates past \d+ bytes/);
  });
});
