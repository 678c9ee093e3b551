/**
 * Research volume files → Volume (HU int16, LPS geometry): NIfTI-1 (.nii, .nii.gz), NRRD (.nrrd with
 * attached data, .nhdr + detached data; raw or gzip) and MetaImage (.mha, .mhd + data file; raw or
 * zlib/gzip CompressedData). These are how research users and public data sets hold CT.
 *
 * Geometry (the why): every format is turned into the Volume's DICOM LPS patient space.
 * - NIfTI's world is RAS+: x and y are negated (sform preferred, then qform, as nibabel does).
 * - NRRD states its `space` (left-posterior-superior, right-anterior-superior, left-anterior-superior);
 *   `space directions` columns and `space origin` are mapped from that space to LPS.
 * - MetaImage as ITK writes it: `TransformMatrix` holds the i, j, k axis vectors in LPS one after the
 *   other and `Offset` the position of voxel 0. `AnatomicalOrientation` is reported, never used: ITK
 *   ignores it when reading, and writers disagree on its convention.
 * Intensities: NIfTI after scl_slope/scl_inter, NRRD and MetaImage as stored; all are taken as HU.
 *
 * Memory and speed: the header is read first, the volume is allocated once, and the voxel bytes are
 * streamed (through zlib when compressed) into it; reading stops as soon as the volume is full.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { createUnzip } from 'node:zlib';
import { AppError } from '../errors';
import { NIFTI1_HEADER_BYTES, parseNiftiHeader } from './nifti';
import { ELEMENT_BYTES, VoxelSink, type ElementType } from './voxel-sink';
import type { Vec3, Volume } from './volume';

export type VolumeFileFormat = 'nifti' | 'nrrd' | 'metaimage';

/** What the file said, for the analysis JSON's `series` facts. */
export interface VolumeFileFacts {
  format: VolumeFileFormat;
  /** Base name of the file given (the header for detached data). */
  file: string;
  /** Base name of the detached data file, when there is one. */
  dataFile?: string;
  encoding: 'raw' | 'gzip' | 'zlib';
  elementType: ElementType;
  byteOrder: 'little' | 'big';
  /** Which header fields gave the geometry. */
  geometryFrom: string;
  /** How stored values became HU. */
  intensity: string;
}

export interface VolumeFileResult {
  volume: Volume;
  facts: VolumeFileFacts;
  /** Anything the reader assumed or ignored, one sentence each. */
  notes: string[];
}

/** Largest volume read (voxels): 1024³ int16 is 2 GiB, beyond any CT and beyond a worker's heap. */
const MAX_VOXELS = 1024 * 1024 * 1024;
/** Text headers larger than this are not NRRD/MetaImage headers. */
const MAX_TEXT_HEADER = 1 << 20;

const lower = (p: string): string => p.toLowerCase();

/** The research format a path names by its extension, or null (DICOM, or something else). */
export function volumeFileFormat(path: string): VolumeFileFormat | null {
  const p = lower(path);
  if (p.endsWith('.nii') || p.endsWith('.nii.gz')) return 'nifti';
  if (p.endsWith('.nrrd') || p.endsWith('.nhdr')) return 'nrrd';
  if (p.endsWith('.mha') || p.endsWith('.mhd')) return 'metaimage';
  return null;
}

const invalid = (file: string, why: string): AppError => new AppError('VOLUME_INVALID', `${file}: ${why}`);

/**
 * Reads a NIfTI, NRRD or MetaImage file into a Volume. A missing or unreadable path is BAD_REQUEST;
 * a file that is not what its extension says, is truncated, or uses something unsupported is
 * VOLUME_INVALID; both with one line naming the file.
 */
export async function readVolumeFile(path: string): Promise<VolumeFileResult> {
  const format = volumeFileFormat(path);
  const name = basename(path);
  if (!format) throw new AppError('BAD_REQUEST', `${name}: not a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr) or MetaImage (.mha, .mhd) file`);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    switch (format) {
      case 'nifti':
        return await readNifti(path, name);
      case 'nrrd':
        return await readNrrd(path, name, size);
      case 'metaimage':
        return await readMetaImage(path, name, size);
      default:
        return format satisfies never;
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw invalid(name, `compressed data is corrupt (${(err as Error).message})`);
    if (code) throw new AppError('BAD_REQUEST', `cannot read ${path}: ${code}`);
    throw invalid(name, (err as Error).message);
  }
}

function allocate(name: string, dims: [number, number, number]): Int16Array {
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw invalid(name, `invalid dimensions ${dims.join('×')}`);
  const n = dims[0] * dims[1] * dims[2];
  if (n > MAX_VOXELS) throw invalid(name, `${dims.join('×')} voxels is more than this reader takes (${MAX_VOXELS})`);
  try {
    return new Int16Array(n);
  } catch {
    throw invalid(name, `volume ${dims.join('×')} does not fit in memory`);
  }
}

/**
 * Streams bytes [start, end) of a file, through zlib when compressed, to `onChunk`; stops early when it
 * returns false. Resolves with the number of (decompressed) bytes delivered.
 */
function streamFile(path: string, opts: { start?: number; end?: number; compressed: boolean }, onChunk: (c: Buffer) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const file = createReadStream(path, { start: opts.start ?? 0, ...(opts.end !== undefined ? { end: opts.end - 1 } : {}), highWaterMark: 1 << 20 });
    // createUnzip takes gzip and zlib streams alike (MetaIO writes zlib, NRRD and .nii.gz gzip).
    const unzip = opts.compressed ? createUnzip({ chunkSize: 1 << 20 }) : null;
    const source = unzip ? file.pipe(unzip) : file;
    let delivered = 0;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      file.destroy();
      unzip?.destroy();
      if (err) reject(err);
      else resolve(delivered);
    };
    source.on('data', (c: Buffer) => {
      if (done) return;
      delivered += c.length;
      try {
        if (!onChunk(c)) finish();
      } catch (err) {
        finish(err as Error);
      }
    });
    source.on('end', () => finish());
    source.on('error', (e: Error) => finish(e));
    file.on('error', (e) => finish(e));
  });
}

function readHead(path: string, bytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(bytes);
    const n = readSync(fd, b, 0, bytes, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function truncated(name: string, got: number, want: number, unit = 'voxels'): AppError {
  return invalid(name, `data ends early: ${got} of ${want} ${unit}`);
}

// ---------------------------------------------------------------------------------------------- NIfTI

async function readNifti(path: string, name: string): Promise<VolumeFileResult> {
  const head = readHead(path, 2);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const notes: string[] = [];
  // The header sits inside the compressed stream: collect it, then send the rest to the sink.
  let header: Buffer = Buffer.alloc(0);
  let parsed: ReturnType<typeof parseNiftiHeader> | undefined;
  let sink: VoxelSink | undefined;
  let data: Int16Array | undefined;
  let failure: Error | undefined;
  await streamFile(path, { compressed: gz }, (chunk) => {
    if (sink) return sink.push(chunk);
    header = Buffer.concat([header, chunk]);
    if (header.length < NIFTI1_HEADER_BYTES) return true;
    try {
      parsed ??= parseNiftiHeader(header);
    } catch (err) {
      failure = err as Error;
      return false;
    }
    if (header.length < parsed.voxOffset) return true;
    data = allocate(name, parsed.dims);
    sink = new VoxelSink(data, parsed.elementType, parsed.littleEndian, parsed.slope || 1, parsed.inter);
    const rest = header.subarray(parsed.voxOffset);
    header = Buffer.alloc(0);
    return sink.push(rest);
  });
  if (failure) throw invalid(name, failure.message);
  if (!parsed) {
    if (header.length >= NIFTI1_HEADER_BYTES) throw invalid(name, 'NIfTI header ends before its vox_offset');
    throw invalid(name, gz ? 'not a NIfTI-1 file (too short after gunzip)' : 'not a NIfTI-1 file (too short)');
  }
  if (!sink || !data) throw invalid(name, 'NIfTI header ends before its vox_offset');
  if (!sink.full) throw truncated(name, sink.voxels, data.length);
  if (parsed.extraVolumes > 0) notes.push(`${name}: 4-D file, only the first of ${parsed.extraVolumes + 1} volumes read`);
  if (parsed.geometryFrom === 'pixdim') notes.push(`${name}: neither sform nor qform set; voxel sizes from pixdim, orientation assumed RAS (unreliable)`);
  const scaled = parsed.slope !== 0 && (parsed.slope !== 1 || parsed.inter !== 0);
  return {
    volume: { data, dims: parsed.dims, spacing: parsed.spacing, origin: parsed.origin, direction: parsed.direction },
    facts: {
      format: 'nifti',
      file: name,
      encoding: gz ? 'gzip' : 'raw',
      elementType: parsed.elementType,
      byteOrder: parsed.littleEndian ? 'little' : 'big',
      geometryFrom: `${parsed.geometryFrom} (RAS, x and y negated for LPS)`,
      intensity: scaled ? `stored × ${parsed.slope} + ${parsed.inter} (scl_slope, scl_inter), taken as HU` : 'as stored, taken as HU',
    },
    notes,
  };
}

// ------------------------------------------------------------------------------------- text headers

/** Reads a text header at the start of a file up to `end(text)` (an index past the header), bounded. */
function readTextHeader(path: string, name: string, size: number, end: (text: string) => number | null): { text: string; bytes: number } {
  const buf = readHead(path, Math.min(size, MAX_TEXT_HEADER));
  const text = buf.toString('latin1');
  const at = end(text);
  if (at === null) {
    if (size <= MAX_TEXT_HEADER) return { text, bytes: buf.length };
    throw invalid(name, 'header not found in the first MiB');
  }
  return { text: text.slice(0, at), bytes: at };
}

const NUM = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;
function numbers(s: string): number[] {
  return (s.match(NUM) ?? []).map(Number);
}

function dataPath(headerPath: string, file: string): string {
  return isAbsolute(file) ? file : join(dirname(headerPath), file);
}

function fileSize(path: string, name: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    throw invalid(name, `data file ${basename(path)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function unit(v: Vec3): number {
  return Math.hypot(v[0], v[1], v[2]);
}

/** Splits axis vectors (with their lengths as spacings) into spacing and unit direction; checks orthogonality. */
function axes(name: string, vectors: [Vec3, Vec3, Vec3]): { spacing: Vec3; direction: [Vec3, Vec3, Vec3] } {
  const spacing = vectors.map(unit) as Vec3;
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s))) throw invalid(name, 'an axis has zero or invalid length');
  // (+ 0 turns −0 from sign flips into 0.)
  const direction = vectors.map((v, i) => v.map((x) => x / (spacing[i] as number) + 0)) as [Vec3, Vec3, Vec3];
  for (let a = 0; a < 3; a++) {
    for (let b = a + 1; b < 3; b++) {
      const d = direction[a] as Vec3;
      const e = direction[b] as Vec3;
      if (Math.abs(d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) > 1e-3) throw invalid(name, `axes ${a} and ${b} are not orthogonal (sheared grid): not supported`);
    }
  }
  return { spacing, direction };
}

async function readVoxels(
  name: string,
  dims: [number, number, number],
  source: { path: string; start: number; end?: number; compressed: boolean; skip?: number },
  type: ElementType,
  littleEndian: boolean,
): Promise<Int16Array> {
  const data = allocate(name, dims);
  if (!source.compressed) {
    const need = data.length * ELEMENT_BYTES[type];
    const have = (source.end ?? fileSize(source.path, name)) - source.start;
    if (have < need) throw invalid(name, `data ends early: ${have} bytes for ${data.length} ${type} voxels (${need} bytes)`);
  }
  const sink = new VoxelSink(data, type, littleEndian, 1, 0, source.skip ?? 0);
  await streamFile(source.path, source, (c) => sink.push(c));
  if (!sink.full) throw truncated(name, sink.voxels, data.length);
  return data;
}

// ----------------------------------------------------------------------------------------------- NRRD

const NRRD_TYPES: Array<[RegExp, ElementType]> = [
  [/^(signed char|int8|int8_t)$/, 'int8'],
  [/^(uchar|unsigned char|uint8|uint8_t)$/, 'uint8'],
  [/^(short|short int|signed short|signed short int|int16|int16_t)$/, 'int16'],
  [/^(ushort|unsigned short|unsigned short int|uint16|uint16_t)$/, 'uint16'],
  [/^(int|signed int|int32|int32_t)$/, 'int32'],
  [/^(uint|unsigned int|uint32|uint32_t)$/, 'uint32'],
  [/^float$/, 'float32'],
  [/^double$/, 'float64'],
];

/** Sign flips from an NRRD space to LPS (x, y, z). */
const NRRD_SPACES: Record<string, Vec3> = {
  'left-posterior-superior': [1, 1, 1],
  lps: [1, 1, 1],
  'right-anterior-superior': [-1, -1, 1],
  ras: [-1, -1, 1],
  'left-anterior-superior': [1, -1, 1],
  las: [1, -1, 1],
};

/** Parses "(a,b,c)" or "none" entries, in order. */
function nrrdVectors(s: string): Array<Vec3 | null> {
  const out: Array<Vec3 | null> = [];
  for (const m of s.matchAll(/\(([^)]*)\)|none/g)) {
    if (m[1] === undefined) out.push(null);
    else {
      const v = numbers(m[1]);
      out.push(v.length === 3 ? (v as Vec3) : null);
    }
  }
  return out;
}

async function readNrrd(path: string, name: string, size: number): Promise<VolumeFileResult> {
  const { text, bytes } = readTextHeader(path, name, size, (t) => {
    const m = /\r?\n\r?\n/.exec(t);
    return m ? m.index + m[0].length : null;
  });
  const lines = text.split(/\r?\n/);
  if (!/^NRRD000\d/.test(lines[0] ?? '')) throw invalid(name, 'not an NRRD file (no NRRD000x magic line)');
  const f = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '' || line.startsWith('#')) continue;
    if (/^[^:]+:=/.test(line)) continue; // key/value pairs: free text, not geometry
    const i = line.indexOf(': ');
    if (i < 0) continue;
    f.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 2).trim());
  }
  const get = (...keys: string[]): string | undefined => keys.map((k) => f.get(k)).find((v) => v !== undefined);
  const notes: string[] = [];
  const typeText = (get('type') ?? '').toLowerCase();
  const type = NRRD_TYPES.find(([re]) => re.test(typeText))?.[1];
  if (!type) throw invalid(name, `NRRD type "${typeText || 'missing'}" not supported (int8…uint32, float, double)`);
  const dimension = Number(get('dimension'));
  const sizes = numbers(get('sizes') ?? '');
  if (dimension !== 3 || sizes.length !== 3) throw invalid(name, `NRRD dimension ${get('dimension') ?? 'missing'} (sizes ${get('sizes') ?? 'missing'}): a 3-D scalar volume is needed`);
  const dims = sizes as [number, number, number];
  const encodingText = (get('encoding') ?? '').toLowerCase();
  const compressed = encodingText === 'gzip' || encodingText === 'gz';
  if (!compressed && encodingText !== 'raw') throw invalid(name, `NRRD encoding "${encodingText || 'missing'}" not supported (raw or gzip)`);
  const endianText = (get('endian') ?? '').toLowerCase();
  if (ELEMENT_BYTES[type] > 1 && endianText === '') notes.push(`${name}: no endian field, little endian assumed`);
  const littleEndian = endianText !== 'big';

  // Geometry.
  const spaceText = (get('space') ?? '').toLowerCase();
  let flip = NRRD_SPACES[spaceText];
  let geometryFrom: string;
  const dirs = nrrdVectors(get('space directions') ?? '');
  if (spaceText && !flip) {
    if (spaceText === 'scanner-xyz' || spaceText.startsWith('3d-')) {
      flip = [1, 1, 1];
      notes.push(`${name}: space "${spaceText}" is not a patient space; taken as LPS (the DICOM convention)`);
    } else throw invalid(name, `NRRD space "${spaceText}" not supported (left-posterior-superior, right-anterior-superior, left-anterior-superior)`);
  }
  let vectors: [Vec3, Vec3, Vec3];
  let origin: Vec3 = [0, 0, 0];
  if (dirs.length === 3 && dirs.every((d) => d !== null)) {
    if (!flip) {
      flip = [1, 1, 1];
      notes.push(`${name}: space directions without a space field; taken as LPS`);
    }
    const s = flip;
    vectors = (dirs as Vec3[]).map((d) => [d[0] * s[0], d[1] * s[1], d[2] * s[2]]) as [Vec3, Vec3, Vec3];
    const o = numbers(get('space origin') ?? '');
    if (o.length === 3) origin = [(o[0] as number) * s[0] + 0, (o[1] as number) * s[1] + 0, (o[2] as number) * s[2] + 0];
    else notes.push(`${name}: no space origin, origin taken as (0, 0, 0)`);
    geometryFrom = `space directions, space origin (${spaceText || 'assumed LPS'})`;
  } else {
    const sp = numbers(get('spacings') ?? '');
    const spacing = sp.length === 3 && sp.every((x) => x > 0) ? sp : [1, 1, 1];
    vectors = [
      [spacing[0] as number, 0, 0],
      [0, spacing[1] as number, 0],
      [0, 0, spacing[2] as number],
    ];
    notes.push(`${name}: no space directions; ${sp.length === 3 ? 'spacings' : 'unit spacing'} on assumed LPS axes (orientation unreliable)`);
    geometryFrom = sp.length === 3 ? 'spacings (orientation assumed LPS)' : 'none (unit spacing, orientation assumed LPS)';
  }
  const { spacing, direction } = axes(name, vectors);

  // Where the voxels are.
  const detached = get('data file', 'datafile');
  let source: { path: string; start: number; compressed: boolean; skip?: number };
  let dataFile: string | undefined;
  const byteSkip = Number(get('byte skip', 'byteskip') ?? 0);
  const lineSkip = Number(get('line skip', 'lineskip') ?? 0);
  if (!Number.isInteger(byteSkip) || byteSkip < -1) throw invalid(name, `NRRD byte skip "${get('byte skip', 'byteskip')}" invalid`);
  if (detached !== undefined) {
    if (/^LIST\b/.test(detached) || /%/.test(detached) || /\s\d+\s+\d+/.test(detached)) throw invalid(name, `NRRD data file "${detached}": multi-file data not supported`);
    const dp = dataPath(path, detached);
    dataFile = basename(dp);
    source = { path: dp, start: 0, compressed };
  } else {
    if (bytes >= size && !text.match(/\r?\n\r?\n$/)) throw invalid(name, 'NRRD header has no blank line before its data');
    source = { path, start: bytes, compressed };
  }
  if (lineSkip > 0) {
    const head = readHead(source.path, Math.min(MAX_TEXT_HEADER, source.start + 65536 * 4)).subarray(source.start);
    let at = 0;
    for (let k = 0; k < lineSkip; k++) {
      const nl = head.indexOf(0x0a, at);
      if (nl < 0) throw invalid(name, `NRRD line skip ${lineSkip}: not that many lines`);
      at = nl + 1;
    }
    source.start += at;
  }
  const voxelBytes = dims[0] * dims[1] * dims[2] * ELEMENT_BYTES[type];
  if (byteSkip === -1) {
    if (compressed) throw invalid(name, 'NRRD byte skip -1 needs raw encoding');
    source.start = fileSize(source.path, name) - voxelBytes;
    if (source.start < 0) throw invalid(name, `data file holds fewer than ${voxelBytes} bytes`);
  } else if (compressed) source.skip = byteSkip;
  else source.start += byteSkip;

  const data = await readVoxels(name, dims, source, type, littleEndian);
  const facts = storedAsHuFacts('nrrd', name, dataFile, compressed ? 'gzip' : 'raw', type, littleEndian, geometryFrom);
  return { volume: { data, dims, spacing, origin, direction }, facts, notes };
}

/** The facts of an NRRD or MetaImage file: values as stored, taken as HU (neither format carries a rescale). */
function storedAsHuFacts(
  format: 'nrrd' | 'metaimage', file: string, dataFile: string | undefined, encoding: VolumeFileFacts['encoding'], elementType: ElementType, littleEndian: boolean, geometryFrom: string,
): VolumeFileFacts {
  return {
    format, file, ...(dataFile ? { dataFile } : {}), encoding, elementType,
    byteOrder: littleEndian ? 'little' : 'big', geometryFrom, intensity: 'as stored, taken as HU',
  };
}

// ------------------------------------------------------------------------------------------ MetaImage

const MET_TYPES: Record<string, ElementType> = {
  MET_CHAR: 'int8',
  MET_UCHAR: 'uint8',
  MET_SHORT: 'int16',
  MET_USHORT: 'uint16',
  MET_INT: 'int32',
  MET_UINT: 'uint32',
  MET_LONG: 'int32',
  MET_ULONG: 'uint32',
  MET_FLOAT: 'float32',
  MET_DOUBLE: 'float64',
};

const truthy = (s: string | undefined): boolean => /^(true|1|yes)$/i.test(s ?? '');

async function readMetaImage(path: string, name: string, size: number): Promise<VolumeFileResult> {
  // The header ends with the ElementDataFile line; LOCAL data starts right after its newline.
  const { text, bytes } = readTextHeader(path, name, size, (t) => {
    const m = /^[ \t]*ElementDataFile[ \t]*=[^\n]*\n/m.exec(t);
    return m ? m.index + m[0].length : null;
  });
  const f = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    f.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const get = (...keys: string[]): string | undefined => keys.map((k) => f.get(k.toLowerCase())).find((v) => v !== undefined);
  const dataFileField = get('ElementDataFile');
  if (!get('NDims') || dataFileField === undefined) throw invalid(name, 'not a MetaImage file (NDims and ElementDataFile are required)');
  const notes: string[] = [];
  const ndims = Number(get('NDims'));
  const dimSize = numbers(get('DimSize') ?? '');
  if (ndims !== 3 || dimSize.length !== 3) throw invalid(name, `MetaImage NDims ${get('NDims')} (DimSize ${get('DimSize') ?? 'missing'}): a 3-D volume is needed`);
  const dims = dimSize as [number, number, number];
  const channels = Number(get('ElementNumberOfChannels') ?? 1);
  if (channels !== 1) throw invalid(name, `MetaImage ElementNumberOfChannels ${channels}: a scalar volume is needed`);
  const typeText = (get('ElementType') ?? '').toUpperCase();
  const type = MET_TYPES[typeText];
  if (!type) throw invalid(name, `MetaImage ElementType "${typeText || 'missing'}" not supported (MET_CHAR…MET_UINT, MET_FLOAT, MET_DOUBLE)`);
  const littleEndian = !truthy(get('BinaryDataByteOrderMSB', 'ElementByteOrderMSB'));
  const compressed = truthy(get('CompressedData'));
  if (get('BinaryData') !== undefined && !truthy(get('BinaryData'))) throw invalid(name, 'MetaImage BinaryData = False (ASCII voxels) not supported');

  // Geometry: ITK's reading (TransformMatrix rows are the axis vectors, in LPS).
  const sp = numbers(get('ElementSpacing') ?? get('ElementSize') ?? '');
  const spacingIn = sp.length === 3 && sp.every((x) => x > 0) ? sp : [1, 1, 1];
  if (sp.length !== 3) notes.push(`${name}: no ElementSpacing, 1 mm assumed`);
  const tm = numbers(get('TransformMatrix', 'Rotation', 'Orientation') ?? '');
  let rows: [Vec3, Vec3, Vec3] = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  if (tm.length === 9) rows = [tm.slice(0, 3), tm.slice(3, 6), tm.slice(6, 9)] as [Vec3, Vec3, Vec3];
  else notes.push(`${name}: no TransformMatrix, identity (LPS axes) assumed`);
  const lens = rows.map(unit);
  const vectors = rows.map((r, i) => r.map((x) => (x / ((lens[i] as number) || 1)) * (spacingIn[i] as number))) as [Vec3, Vec3, Vec3];
  const { spacing, direction } = axes(name, vectors);
  const off = numbers(get('Offset', 'Position', 'Origin') ?? '');
  const origin: Vec3 = off.length === 3 ? (off as Vec3) : [0, 0, 0];
  if (off.length !== 3) notes.push(`${name}: no Offset, origin taken as (0, 0, 0)`);
  const anatomical = get('AnatomicalOrientation');
  let geometryFrom = 'TransformMatrix, Offset, ElementSpacing (LPS, as ITK reads them)';
  if (anatomical && anatomical !== '???') geometryFrom += `; AnatomicalOrientation ${anatomical} not used`;

  let source: { path: string; start: number; end?: number; compressed: boolean };
  let dataFile: string | undefined;
  if (dataFileField.toUpperCase() === 'LOCAL') {
    source = { path, start: bytes, compressed };
    const cds = Number(get('CompressedDataSize'));
    if (compressed && cds > 0) source.end = Math.min(size, bytes + cds);
  } else {
    if (/^LIST\b/i.test(dataFileField) || /%/.test(dataFileField) || /\s\d+\s+\d+/.test(dataFileField)) {
      throw invalid(name, `MetaImage ElementDataFile "${dataFileField}": multi-file data not supported`);
    }
    const dp = dataPath(path, dataFileField);
    dataFile = basename(dp);
    source = { path: dp, start: 0, compressed };
    const headerSize = Number(get('HeaderSize') ?? 0);
    if (headerSize === -1) {
      if (compressed) throw invalid(name, 'MetaImage HeaderSize -1 needs uncompressed data');
      source.start = fileSize(dp, name) - dims[0] * dims[1] * dims[2] * ELEMENT_BYTES[type];
      if (source.start < 0) throw invalid(name, 'data file smaller than the volume');
    } else if (headerSize > 0) source.start = headerSize;
  }
  const data = await readVoxels(name, dims, source, type, littleEndian);
  const facts = storedAsHuFacts('metaimage', name, dataFile, compressed ? 'zlib' : 'raw', type, littleEndian, geometryFrom);
  return { volume: { data, dims, spacing, origin, direction }, facts, notes };
}
