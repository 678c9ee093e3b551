/**
 * Part-10 parsing with dcmjs into a small typed header per frame, plus pixel access that converts stored
 * values to HU straight into a caller's buffer. Headers come from the DICOM JSON model, so the DICOMweb
 * side can build the same `SliceHeader` from WADO-RS metadata with `headersFromDicomJson`.
 *
 * Transfer syntaxes: Implicit/Explicit VR Little Endian, Deflated, Explicit VR Big Endian (dcmjs parses,
 * we swap the pixel bytes), RLE Lossless and lossless JPEG (.57/.70, decoded here in TypeScript). JPEG
 * 2000, JPEG-LS, lossy JPEG and HTJ2K are rejected with VOLUME_INVALID naming the syntax: there is no
 * pure-JS decoder in the dependencies, and the DICOMweb path asks the server for Explicit VR Little Endian.
 */
import { inflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { AppError } from '../errors';
import { TRANSFER_SYNTAX as TS } from '../ingest/dicomweb/constants';
import { readPart10MetaGroup } from '../ingest/dicomweb/part10';
import { getNumber, getNumbers, getSequence, getString, getStrings, TAG, type DicomJson } from './dicom-json';
import { decodeJpegLossless } from './jpeg-lossless';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { max, min, round } = Math;

// dcmjs complains on stderr about private VRs ("xs", "ox") in implicit-VR files; those are harmless here.
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

/**
 * dcmjs copies a binary value with getBuffer(offset, offset + declared length), and when that length runs
 * past the end of the data it first allocates a buffer of the declared size (4 GB for a length of
 * 0xFFFFFFF0) and then fills what exists. No value can be longer than the bytes left: refuse it before
 * anything is allocated (the read fails, which parseHeaders and pixelBytes report as VOLUME_INVALID).
 */
const stream = dcmjs.data.ReadBufferStream.prototype;
const copyValue = stream.getBuffer;
stream.getBuffer = function getBuffer(this: typeof stream, start?: number, end?: number) {
  if (end !== undefined && end > this.endOffset) throw new Error(`a value of ${end - (start ?? 0)} bytes runs past the end of the data`);
  return copyValue.call(this, start, end);
};

export const TRANSFER_SYNTAXES: Record<string, { name: string; supported: boolean; bigEndian?: boolean; rle?: boolean; jpegLossless?: boolean }> = {
  [TS.IMPLICIT_VR_LITTLE_ENDIAN]: { name: 'Implicit VR Little Endian', supported: true },
  [TS.EXPLICIT_VR_LITTLE_ENDIAN]: { name: 'Explicit VR Little Endian', supported: true },
  [TS.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]: { name: 'Deflated Explicit VR Little Endian', supported: true },
  [TS.EXPLICIT_VR_BIG_ENDIAN]: { name: 'Explicit VR Big Endian', supported: true, bigEndian: true },
  [TS.JPEG_BASELINE_8BIT]: { name: 'JPEG Baseline', supported: false },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended', supported: false },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless', supported: true, jpegLossless: true },
  [TS.JPEG_LOSSLESS_SV1]: { name: 'JPEG Lossless SV1', supported: true, jpegLossless: true },
  [TS.JPEG_LS_LOSSLESS]: { name: 'JPEG-LS Lossless', supported: false },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', supported: false },
  [TS.JPEG_2000_LOSSLESS]: { name: 'JPEG 2000 Lossless', supported: false },
  [TS.JPEG_2000]: { name: 'JPEG 2000', supported: false },
  '1.2.840.10008.1.2.4.201': { name: 'HTJ2K Lossless', supported: false },
  [TS.RLE_LOSSLESS]: { name: 'RLE Lossless', supported: true, rle: true },
};

export const SOP_CLASSES = {
  ct: '1.2.840.10008.5.1.4.1.1.2',
  enhancedCt: '1.2.840.10008.5.1.4.1.1.2.1',
  legacyConvertedEnhancedCt: '1.2.840.10008.5.1.4.1.1.2.2',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  xRayDoseSr: '1.2.840.10008.5.1.4.1.1.88.67',
} as const;

/** Geometry and pixel encoding of one frame (a classic CT instance has exactly one). */
export interface SliceHeader {
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string | undefined;
  modality: string | undefined;
  imageType: string[];
  seriesNumber: number | undefined;
  instanceNumber: number | undefined;
  seriesDescription: string | undefined;
  convolutionKernel: string | undefined;
  patientPosition: string | undefined;
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  /** [between rows, between columns] mm, DICOM order. */
  pixelSpacing: [number, number] | undefined;
  sliceThickness: number | undefined;
  imagePositionPatient: [number, number, number] | undefined;
  imageOrientationPatient: [number, number, number, number, number, number] | undefined;
  gantryDetectorTilt: number | undefined;
  rescaleSlope: number;
  rescaleIntercept: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  samplesPerPixel: number;
  photometricInterpretation: string | undefined;
  pixelPaddingValue: number | undefined;
  /** Frame index inside the instance (0 for single-frame). */
  frameIndex: number;
  numberOfFrames: number;
  /** Size of the Part-10 file the frame was read from (absent when the header came from DICOMweb metadata). */
  fileBytes?: number;
}

/**
 * PixelPaddingValue is US or SS like the pixels (its VR is "xs"); implicit-VR files leave the reader to
 * guess, and dcmjs guesses US. Bring it into the pixels' signedness so that GE's −2000 padding matches.
 */
function paddingIn(pad: number | undefined, signed: boolean): number | undefined {
  if (pad === undefined) return undefined;
  if (signed && pad > 32767) return pad - 65536;
  if (!signed && pad < 0) return pad + 65536;
  return pad;
}

function tuple3(v: number[] | undefined): [number, number, number] | undefined {
  return v && v.length === 3 ? [v[0] as number, v[1] as number, v[2] as number] : undefined;
}
function tuple6(v: number[] | undefined): [number, number, number, number, number, number] | undefined {
  return v && v.length === 6 ? (v.slice(0, 6) as [number, number, number, number, number, number]) : undefined;
}
function tuple2(v: number[] | undefined): [number, number] | undefined {
  return v && v.length === 2 ? [v[0] as number, v[1] as number] : undefined;
}

/**
 * Frame headers from a DICOM JSON dataset (a WADO-RS metadata item or a parsed Part-10 dict). Enhanced
 * (multi-frame) CT yields one header per frame from its functional groups.
 */
export function headersFromDicomJson(ds: DicomJson, transferSyntaxUid?: string): SliceHeader[] {
  const base: SliceHeader = {
    sopInstanceUid: getString(ds, TAG.SOPInstanceUID) ?? '',
    sopClassUid: getString(ds, TAG.SOPClassUID) ?? '',
    studyInstanceUid: getString(ds, TAG.StudyInstanceUID) ?? '',
    seriesInstanceUid: getString(ds, TAG.SeriesInstanceUID) ?? '',
    frameOfReferenceUid: getString(ds, TAG.FrameOfReferenceUID),
    modality: getString(ds, TAG.Modality),
    imageType: getStrings(ds, TAG.ImageType).map((s) => s.toUpperCase()),
    seriesNumber: getNumber(ds, TAG.SeriesNumber),
    instanceNumber: getNumber(ds, TAG.InstanceNumber),
    seriesDescription: getString(ds, TAG.SeriesDescription),
    convolutionKernel: getStrings(ds, TAG.ConvolutionKernel).join('\\') || undefined,
    patientPosition: getString(ds, TAG.PatientPosition),
    transferSyntaxUid: transferSyntaxUid ?? getString(ds, TAG.TransferSyntaxUID) ?? TS.EXPLICIT_VR_LITTLE_ENDIAN,
    rows: getNumber(ds, TAG.Rows) ?? 0,
    columns: getNumber(ds, TAG.Columns) ?? 0,
    pixelSpacing: tuple2(getNumbers(ds, TAG.PixelSpacing, 2)),
    sliceThickness: getNumber(ds, TAG.SliceThickness),
    imagePositionPatient: tuple3(getNumbers(ds, TAG.ImagePositionPatient, 3)),
    imageOrientationPatient: tuple6(getNumbers(ds, TAG.ImageOrientationPatient, 6)),
    gantryDetectorTilt: getNumber(ds, TAG.GantryDetectorTilt),
    rescaleSlope: getNumber(ds, TAG.RescaleSlope) ?? 1,
    rescaleIntercept: getNumber(ds, TAG.RescaleIntercept) ?? 0,
    bitsAllocated: getNumber(ds, TAG.BitsAllocated) ?? 16,
    bitsStored: getNumber(ds, TAG.BitsStored) ?? getNumber(ds, TAG.BitsAllocated) ?? 16,
    pixelRepresentation: getNumber(ds, TAG.PixelRepresentation) === 1 ? 1 : 0,
    samplesPerPixel: getNumber(ds, TAG.SamplesPerPixel) ?? 1,
    photometricInterpretation: getString(ds, TAG.PhotometricInterpretation),
    pixelPaddingValue: paddingIn(getNumber(ds, TAG.PixelPaddingValue), getNumber(ds, TAG.PixelRepresentation) === 1),
    frameIndex: 0,
    numberOfFrames: max(1, getNumber(ds, TAG.NumberOfFrames) ?? 1),
  };
  const perFrame = getSequence(ds, TAG.PerFrameFunctionalGroupsSequence);
  if (perFrame.length === 0) return [base];
  // Enhanced CT: geometry and rescale live in shared or per-frame functional groups.
  const shared = getSequence(ds, TAG.SharedFunctionalGroupsSequence)[0] ?? {};
  const pick = (frame: DicomJson, seqTag: string): DicomJson | undefined => getSequence(frame, seqTag)[0] ?? getSequence(shared, seqTag)[0];
  return perFrame.map((frame, i) => {
    const pos = pick(frame, TAG.PlanePositionSequence);
    const ori = pick(frame, TAG.PlaneOrientationSequence);
    const meas = pick(frame, TAG.PixelMeasuresSequence);
    const pvt = pick(frame, TAG.PixelValueTransformationSequence);
    return {
      ...base,
      frameIndex: i,
      numberOfFrames: perFrame.length,
      imagePositionPatient: pos ? tuple3(getNumbers(pos, TAG.ImagePositionPatient, 3)) : undefined,
      imageOrientationPatient: ori ? tuple6(getNumbers(ori, TAG.ImageOrientationPatient, 6)) : undefined,
      pixelSpacing: meas ? tuple2(getNumbers(meas, TAG.PixelSpacing, 2)) : undefined,
      sliceThickness: meas ? getNumber(meas, TAG.SliceThickness) : undefined,
      rescaleSlope: (pvt && getNumber(pvt, TAG.RescaleSlope)) ?? base.rescaleSlope,
      rescaleIntercept: (pvt && getNumber(pvt, TAG.RescaleIntercept)) ?? base.rescaleIntercept,
    };
  });
}

/** The first line of what dcmjs threw: usually an Error, but pako (Deflated syntax) throws bare strings. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}

function toArrayBuffer(buf: Uint8Array): ArrayBuffer {
  // dcmjs wants an ArrayBuffer that starts at the file's first byte; Node Buffers often sit inside a pool.
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) return buf.buffer;
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

/** A quick check for the Part-10 preamble ("DICM" at byte 128). */
export function looksLikePart10(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

export interface ParsedHeaders {
  transferSyntaxUid: string;
  frames: SliceHeader[];
  /** The dataset without pixel data, in the DICOM JSON model (input to selectSeries). */
  dataset: DicomJson;
  /** (0002,0002) from the File Meta Information (a DICOMDIR says 1.2.840.10008.1.3.10 here). */
  mediaStorageSopClassUid: string | undefined;
}

/**
 * A Deflated dataset may inflate to at most this many times its compressed size (and 1 GiB): CT compresses
 * 2–10 times, a slice of padding far more, and a deflate stream can claim about 1000 times (64 KB → 64 MB),
 * which dcmjs would inflate whole, with no limit, before anything else is checked.
 */
const MAX_INFLATE_RATIO = 256;
const MAX_INFLATED_BYTES = 1 << 30;

/** Refuses a Deflated dataset that inflates past the bound, before dcmjs inflates it without one. */
function checkInflatedSize(buf: Uint8Array): void {
  const group = readPart10MetaGroup(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  if (group?.meta.transferSyntaxUid !== TS.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN || group.datasetOffset >= buf.byteLength) return;
  const start = group.datasetOffset;
  const limit = min(MAX_INFLATED_BYTES, (buf.byteLength - start) * MAX_INFLATE_RATIO);
  try {
    inflateRawSync(buf.subarray(start), { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError('VOLUME_INVALID', `the Deflated dataset inflates past ${limit} bytes (${MAX_INFLATE_RATIO} times its size, at most 1 GiB)`);
    }
    // A broken stream: dcmjs says so in its own words.
  }
}

/** Parses a Part-10 buffer up to (not including) the pixel data. Throws VOLUME_INVALID when it cannot. */
export function parseHeaders(buf: Uint8Array): ParsedHeaders {
  if (!looksLikePart10(buf)) throw new AppError('VOLUME_INVALID', 'not a DICOM Part-10 file (no DICM preamble)');
  checkInflatedSize(buf);
  let dict;
  try {
    dict = dcmjs.data.DicomMessage.readFile(toArrayBuffer(buf), { untilTag: TAG.PixelData, noCopy: false, ignoreErrors: true });
  } catch (err) {
    throw new AppError('VOLUME_INVALID', `unreadable DICOM: ${firstLine(err)}`);
  }
  const ts = getString(dict.meta as DicomJson, TAG.TransferSyntaxUID) ?? TS.IMPLICIT_VR_LITTLE_ENDIAN;
  const dataset = dict.dict as DicomJson;
  // dcmjs leaves a placeholder for the tag it stopped at.
  delete dataset[TAG.PixelData];
  const frames = headersFromDicomJson(dataset, ts).map((f) => ({ ...f, fileBytes: buf.byteLength }));
  return { transferSyntaxUid: ts, frames, dataset, mediaStorageSopClassUid: getString(dict.meta as DicomJson, '00020002') };
}

/** Rejects what assembleVolume cannot decode, with a reason a PACS administrator can act on. */
export function checkDecodable(h: SliceHeader): void {
  const ts = TRANSFER_SYNTAXES[h.transferSyntaxUid];
  if (!ts) throw new AppError('VOLUME_INVALID', `unsupported transfer syntax ${h.transferSyntaxUid}; request Explicit VR Little Endian (1.2.840.10008.1.2.1)`);
  if (!ts.supported) {
    throw new AppError('VOLUME_INVALID', `compressed transfer syntax ${ts.name} (${h.transferSyntaxUid}) has no decoder here; request Explicit VR Little Endian (1.2.840.10008.1.2.1)`);
  }
  if (h.samplesPerPixel !== 1) throw new AppError('VOLUME_INVALID', `SamplesPerPixel ${h.samplesPerPixel}: CT must be single-sample greyscale`);
  if (h.bitsAllocated !== 16) throw new AppError('VOLUME_INVALID', `BitsAllocated ${h.bitsAllocated} unsupported (16 expected for CT)`);
  if (h.rows <= 0 || h.columns <= 0) throw new AppError('VOLUME_INVALID', 'Rows/Columns missing');
  // The pixels are in the file: native ones as they are, compressed ones at most 64 times smaller (an RLE
  // run of 128 bytes takes 2). A matrix the file cannot hold is a corrupt header, and the volume would be
  // allocated from it (65535×65535 slices) before any pixel is read.
  const needed = h.rows * h.columns * 2 * h.numberOfFrames;
  if (h.fileBytes !== undefined && needed > h.fileBytes * (ts.rle || ts.jpegLossless ? 64 : 1)) {
    throw new AppError('VOLUME_INVALID', `${h.rows}x${h.columns}x${h.numberOfFrames} frames need ${needed} bytes of pixel data; the file has ${h.fileBytes} bytes`);
  }
}

// One-entry cache: the frames of a multi-frame instance are read one after another, and parsing the
// whole file per frame would be quadratic. `releasePixelCache` drops the reference after assembly.
let cached: { buf: Uint8Array; bytes: Uint8Array } | null = null;

/** Drops the cached pixel view of the last instance read. */
export function releasePixelCache(): void {
  cached = null;
}

/**
 * Native pixel data is almost always the last element. When the 8 or 12 bytes before the last
 * rows×columns×frames×2 bytes are exactly the (7FE0,0010) tag with that length, view the pixels there
 * without re-parsing the whole dataset (which costs several times the pixel conversion itself).
 */
function trailingPixelData(buf: Uint8Array, frame: SliceHeader): Uint8Array | undefined {
  const len = frame.rows * frame.columns * frame.numberOfFrames * 2;
  const end = buf.byteLength;
  const be = TRANSFER_SYNTAXES[frame.transferSyntaxUid]?.bigEndian === true;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tagAt = (p: number): boolean =>
    p >= 132 && (be ? view.getUint16(p, false) === 0x7fe0 && view.getUint16(p + 2, false) === 0x0010 : view.getUint16(p, true) === 0x7fe0 && view.getUint16(p + 2, true) === 0x0010);
  // Explicit VR: tag, "OW"/"OB", 2 reserved bytes, 4-byte length.
  const pe = end - len - 12;
  if (tagAt(pe) && (buf[pe + 4] === 0x4f) && (buf[pe + 5] === 0x57 || buf[pe + 5] === 0x42) && view.getUint32(pe + 8, !be) === len) {
    return buf.subarray(end - len, end);
  }
  // Implicit VR little endian: tag, 4-byte length.
  const pi = end - len - 8;
  if (frame.transferSyntaxUid === TS.IMPLICIT_VR_LITTLE_ENDIAN && tagAt(pi) && view.getUint32(pi + 4, true) === len) return buf.subarray(end - len, end);
  return undefined;
}

function pixelBytes(buf: Uint8Array, frame: SliceHeader): Uint8Array {
  if (cached && cached.buf === buf) return cached.bytes;
  const uid = frame.sopInstanceUid;
  const ts = TRANSFER_SYNTAXES[frame.transferSyntaxUid];
  const fast = frame.transferSyntaxUid === TS.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN || ts?.rle || ts?.jpegLossless ? undefined : trailingPixelData(buf, frame);
  if (fast) {
    cached = { buf, bytes: fast };
    return fast;
  }
  let dict;
  try {
    dict = dcmjs.data.DicomMessage.readFile(toArrayBuffer(buf), { noCopy: true, ignoreErrors: true });
  } catch (err) {
    throw new AppError('VOLUME_INVALID', `unreadable DICOM: ${firstLine(err)}`);
  }
  const el = dict.dict[TAG.PixelData];
  if (ts?.rle) {
    const bytes = decodeRleFrames(el?.Value ?? [], frame, uid);
    cached = { buf, bytes };
    return bytes;
  }
  if (ts?.jpegLossless) {
    const values = el?.Value ?? [];
    // Without a basic offset table dcmjs returns fragments: all of them are the frame when there is one.
    const frames = frame.numberOfFrames === 1 ? [asBytes(values)] : values.map(asBytes);
    if (frames.length !== frame.numberOfFrames) throw new AppError('VOLUME_INVALID', `JPEG Lossless instance ${uid || '?'}: ${frames.length} fragments for ${frame.numberOfFrames} frames`);
    const n = frame.rows * frame.columns;
    const bytes = new Uint8Array(n * 2 * frame.numberOfFrames);
    frames.forEach((f, i) => {
      if (!f) throw new AppError('VOLUME_INVALID', `JPEG Lossless instance ${uid || '?'}: frame ${i} missing`);
      decodeJpegLossless(f, frame.rows, frame.columns, bytes, i * n * 2);
    });
    cached = { buf, bytes };
    return bytes;
  }
  const v = el?.Value?.[0];
  let bytes: Uint8Array;
  if (v instanceof ArrayBuffer) bytes = new Uint8Array(v);
  else if (ArrayBuffer.isView(v)) bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  else throw new AppError('VOLUME_INVALID', `instance ${uid || '?'} has no pixel data`);
  cached = { buf, bytes };
  return bytes;
}

function asBytes(v: unknown): Uint8Array | undefined {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) {
    // Fragments of one frame (dcmjs keeps them apart with noCopy): join them.
    const parts = v.map(asBytes).filter((p): p is Uint8Array => p !== undefined);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }
  return undefined;
}

/**
 * RLE Lossless (PS3.5 Annex G): per frame a 64-byte header (segment count and offsets) and one PackBits
 * segment per byte plane, most significant first. Decodes 16-bit frames into little-endian samples.
 */
export function decodeRleFrames(values: unknown[], frame: Pick<SliceHeader, 'rows' | 'columns' | 'numberOfFrames'>, uid = ''): Uint8Array {
  const n = frame.rows * frame.columns;
  const out = new Uint8Array(n * 2 * frame.numberOfFrames);
  if (values.length < frame.numberOfFrames) throw new AppError('VOLUME_INVALID', `RLE instance ${uid || '?'}: ${values.length} fragments for ${frame.numberOfFrames} frames`);
  for (let f = 0; f < frame.numberOfFrames; f++) {
    const data = asBytes(values[f]);
    if (!data || data.byteLength < 64) throw new AppError('VOLUME_INVALID', `RLE instance ${uid || '?'}: frame ${f} has no RLE header`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const segments = view.getUint32(0, true);
    if (segments !== 2) throw new AppError('VOLUME_INVALID', `RLE instance ${uid || '?'}: ${segments} segments (2 expected for 16-bit greyscale)`);
    for (let seg = 0; seg < 2; seg++) {
      const start = view.getUint32(4 + seg * 4, true);
      const end = seg === 0 ? view.getUint32(8, true) : data.byteLength;
      // Segment 0 holds the high bytes (odd offsets in little-endian output), segment 1 the low bytes.
      let o = f * n * 2 + (seg === 0 ? 1 : 0);
      const stop = f * n * 2 + n * 2;
      let p = start;
      while (p < end && o < stop) {
        const c = (data[p++] as number) << 24 >> 24;
        if (c >= 0) {
          for (let k = 0; k <= c && p < end && o < stop; k++, o += 2) out[o] = data[p++] as number;
        } else if (c !== -128) {
          const b = data[p++] as number;
          for (let k = 0; k < 1 - c && o < stop; k++, o += 2) out[o] = b;
        }
      }
      if (o < stop) throw new AppError('VOLUME_INVALID', `RLE instance ${uid || '?'}: frame ${f} segment ${seg} is short`);
    }
  }
  return out;
}

/**
 * Reads the pixel data of a Part-10 buffer and writes HU (rounded, clamped to int16) for frame `frame`
 * into `out` starting at `offset`. Applies sign extension for BitsStored < 16, the frame's rescale and
 * maps PixelPaddingValue to air (−1024).
 */
export function readFrameHu(buf: Uint8Array, frame: SliceHeader, out: Int16Array, offset: number): void {
  checkDecodable(frame);
  const bytes = pixelBytes(buf, frame);
  const n = frame.rows * frame.columns;
  const start = frame.frameIndex * n * 2;
  if (bytes.byteLength < start + n * 2) {
    throw new AppError('VOLUME_INVALID', `pixel data too short: ${bytes.byteLength} bytes for ${frame.rows}x${frame.columns} frame ${frame.frameIndex}`);
  }
  if (offset + n > out.length) throw new AppError('INTERNAL', 'volume buffer overflow');
  const bigEndian = TRANSFER_SYNTAXES[frame.transferSyntaxUid]?.bigEndian === true;
  convertToHu(bytes.subarray(start, start + n * 2), bigEndian, frame, out, offset);
}

/** Stored 16-bit samples → HU in `out`. Exported for tests of the signed/unsigned and rescale rules. */
export function convertToHu(
  bytes: Uint8Array,
  bigEndian: boolean,
  h: Pick<SliceHeader, 'pixelRepresentation' | 'bitsStored' | 'rescaleSlope' | 'rescaleIntercept' | 'pixelPaddingValue'>,
  out: Int16Array,
  offset: number,
): void {
  const n = bytes.byteLength >> 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = !bigEndian;
  const signed = h.pixelRepresentation === 1;
  const bs = max(1, min(16, h.bitsStored));
  const shift = 16 - bs;
  const mask = bs >= 16 ? 0xffff : (1 << bs) - 1;
  const slope = h.rescaleSlope;
  const icpt = h.rescaleIntercept;
  const pad = h.pixelPaddingValue;
  const identity = slope === 1 && Number.isInteger(icpt);
  if (le && (bytes.byteOffset & 1) === 0 && pad === undefined && bs === 16 && identity) {
    // Fast path (the common case): aligned little-endian 16-bit samples, integer intercept.
    const words = signed ? new Int16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const hu = (words[i] as number) + icpt;
      out[offset + i] = hu < -32768 ? -32768 : hu > 32767 ? 32767 : hu;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const raw = view.getUint16(i * 2, le);
    // Sign-extend (signed) or mask (unsigned) to BitsStored: bits above HighBit may hold overlays or junk.
    const sv = signed ? ((raw << (16 + shift)) >> (16 + shift)) : raw & mask;
    let hu: number;
    if (pad !== undefined && sv === pad) hu = -1024;
    else hu = identity ? sv + icpt : round(sv * slope + icpt);
    out[offset + i] = hu < -32768 ? -32768 : hu > 32767 ? 32767 : hu;
  }
}
