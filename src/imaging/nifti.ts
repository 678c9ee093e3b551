/**
 * NIfTI-1 export (gzipped) of a volume or label map, so Python tooling (nibabel, TotalSegmentator-style
 * pipelines, model training) reads the phantom and assembled CTs with the right geometry.
 *
 * NIfTI's world space is RAS+, DICOM's is LPS+: the affine negates the first two rows.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { ELEMENT_BYTES, VoxelSink, type ElementType } from './voxel-sink';
import type { Vec3, Volume } from './volume';

export interface GridData {
  data: Int16Array | Uint8Array;
  dims: [number, number, number];
  spacing: Vec3;
  /** LPS (mm) of voxel (0,0,0). */
  origin: Vec3;
  /** Unit LPS vectors of the i, j, k axes. */
  direction: [Vec3, Vec3, Vec3];
}

const DT_UINT8 = 2;
const DT_INT16 = 4;

/** Encodes a NIfTI-1 single file (.nii), gzipped when `gzip` (default true). */
export function encodeNifti(g: GridData, opts: { gzip?: boolean; description?: string } = {}): Buffer {
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0); // sizeof_hdr
  header.writeInt16LE(3, 40); // dim[0]
  header.writeInt16LE(g.dims[0], 42);
  header.writeInt16LE(g.dims[1], 44);
  header.writeInt16LE(g.dims[2], 46);
  for (let i = 4; i <= 7; i++) header.writeInt16LE(1, 40 + i * 2);
  const u8 = g.data instanceof Uint8Array;
  header.writeInt16LE(u8 ? DT_UINT8 : DT_INT16, 70); // datatype
  header.writeInt16LE(u8 ? 8 : 16, 72); // bitpix
  header.writeFloatLE(1, 76); // pixdim[0] = qfac
  header.writeFloatLE(g.spacing[0], 80);
  header.writeFloatLE(g.spacing[1], 84);
  header.writeFloatLE(g.spacing[2], 88);
  header.writeFloatLE(352, 108); // vox_offset
  header.writeFloatLE(1, 112); // scl_slope
  header.writeFloatLE(0, 116); // scl_inter
  header.writeUInt8(2 | 8, 123); // xyzt_units: mm, s
  header.write((opts.description ?? 'vcf-sentinel').slice(0, 79), 148, 'latin1');
  header.writeInt16LE(0, 252); // qform_code: unknown (the sform carries the geometry)
  header.writeInt16LE(1, 254); // sform_code: scanner anatomical
  // sform rows in RAS: x_R = -x_L, y_A = -y_P.
  const flip = [-1, -1, 1];
  for (let row = 0; row < 3; row++) {
    const off = 280 + row * 16;
    for (let col = 0; col < 3; col++) header.writeFloatLE((flip[row] as number) * ((g.direction[col] as Vec3)[row] as number) * (g.spacing[col] as number), off + col * 4);
    header.writeFloatLE((flip[row] as number) * (g.origin[row] as number), off + 12);
  }
  header.write('n+1\0', 344, 'latin1');
  const body = Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength);
  const file = Buffer.concat([header, body]);
  return opts.gzip === false ? file : gzipSync(file, { level: 6 });
}

/** NIfTI-1 datatype codes → element types (the ones CT and label files use). */
const DATATYPES: Record<number, ElementType> = {
  2: 'uint8',
  4: 'int16',
  8: 'int32',
  16: 'float32',
  64: 'float64',
  256: 'int8',
  512: 'uint16',
  768: 'uint32',
};

export interface NiftiHeader {
  dims: [number, number, number];
  /** Volumes beyond the first (dim[4]·dim[5]…), ignored by the readers. */
  extraVolumes: number;
  elementType: ElementType;
  datatype: number;
  littleEndian: boolean;
  /** Byte offset of the voxels in the (uncompressed) file. */
  voxOffset: number;
  /** scl_slope (0 means none, i.e. 1) and scl_inter. */
  slope: number;
  inter: number;
  /** Geometry in LPS (NIfTI's RAS world with x and y negated). */
  spacing: Vec3;
  origin: Vec3;
  direction: [Vec3, Vec3, Vec3];
  /** Where the geometry came from: the sform, the qform, or pixdim alone (no orientation stated). */
  geometryFrom: 'sform' | 'qform' | 'pixdim';
}

/** Bytes of a NIfTI-1 header (the voxels may start later, at vox_offset). */
export const NIFTI1_HEADER_BYTES = 348;

/**
 * Parses a NIfTI-1 header (the first 348 bytes of the uncompressed file), either byte order.
 * Geometry as nibabel reads it: the sform when sform_code > 0, else the qform when qform_code > 0,
 * else pixdim on RAS axes (method 1, orientation unknown). Throws a plain Error saying what is wrong.
 */
export function parseNiftiHeader(b: Buffer): NiftiHeader {
  if (b.length < NIFTI1_HEADER_BYTES) throw new Error('file too short for a NIfTI-1 header');
  const le = b.readInt32LE(0) === 348;
  if (!le && b.readInt32BE(0) !== 348) {
    if (b.readInt32LE(0) === 540 || b.readInt32BE(0) === 540) throw new Error('NIfTI-2 files are not supported (NIfTI-1 only)');
    throw new Error('not a NIfTI-1 file (sizeof_hdr is not 348)');
  }
  const i16 = (o: number): number => (le ? b.readInt16LE(o) : b.readInt16BE(o));
  const f32 = (o: number): number => (le ? b.readFloatLE(o) : b.readFloatBE(o));
  const ndim = i16(40);
  if (ndim < 1 || ndim > 7) throw new Error(`NIfTI dim[0] = ${ndim} is invalid`);
  const dimAt = (i: number): number => (i <= ndim ? Math.max(1, i16(40 + i * 2)) : 1);
  const dims: [number, number, number] = [dimAt(1), dimAt(2), dimAt(3)];
  let extra = 1;
  for (let i = 4; i <= ndim; i++) extra *= dimAt(i);
  const datatype = i16(70);
  const elementType = DATATYPES[datatype];
  if (!elementType) throw new Error(`NIfTI datatype ${datatype} not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64)`);
  const voxOffset = Math.max(352, Math.round(f32(108)));
  const slope = f32(112);
  const inter = f32(116);
  const qformCode = i16(252);
  const sformCode = i16(254);
  const pix = [f32(76), f32(80), f32(84), f32(88)] as [number, number, number, number];
  // The affine in RAS: columns are the i, j, k steps, the last column the origin.
  let cols: [Vec3, Vec3, Vec3];
  let originRas: Vec3;
  let geometryFrom: NiftiHeader['geometryFrom'];
  if (sformCode > 0) {
    const m = (row: number, col: number): number => f32(280 + row * 16 + col * 4);
    cols = [0, 1, 2].map((c) => [m(0, c), m(1, c), m(2, c)]) as [Vec3, Vec3, Vec3];
    originRas = [m(0, 3), m(1, 3), m(2, 3)];
    geometryFrom = 'sform';
  } else if (qformCode > 0) {
    const [qb, qc, qd] = [f32(256), f32(260), f32(264)];
    const qa = Math.sqrt(Math.max(0, 1 - (qb * qb + qc * qc + qd * qd)));
    const r: number[][] = [
      [qa * qa + qb * qb - qc * qc - qd * qd, 2 * (qb * qc - qa * qd), 2 * (qb * qd + qa * qc)],
      [2 * (qb * qc + qa * qd), qa * qa + qc * qc - qb * qb - qd * qd, 2 * (qc * qd - qa * qb)],
      [2 * (qb * qd - qa * qc), 2 * (qc * qd + qa * qb), qa * qa + qd * qd - qc * qc - qb * qb],
    ];
    const qfac = pix[0] < 0 ? -1 : 1;
    const step = [Math.abs(pix[1]) || 1, Math.abs(pix[2]) || 1, (Math.abs(pix[3]) || 1) * qfac];
    cols = [0, 1, 2].map((c) => [0, 1, 2].map((row) => (r[row]![c] as number) * (step[c] as number))) as [Vec3, Vec3, Vec3];
    originRas = [f32(268), f32(272), f32(276)];
    geometryFrom = 'qform';
  } else {
    cols = [
      [Math.abs(pix[1]) || 1, 0, 0],
      [0, Math.abs(pix[2]) || 1, 0],
      [0, 0, Math.abs(pix[3]) || 1],
    ];
    originRas = [0, 0, 0];
    geometryFrom = 'pixdim';
  }
  const spacing = cols.map((c) => Math.hypot(c[0], c[1], c[2])) as Vec3;
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s))) throw new Error(`NIfTI ${geometryFrom} has a zero or invalid voxel size`);
  // RAS → LPS: x_L = −x_R, y_P = −y_A.
  // (+ 0 turns −0 into 0, so that directions compare and print cleanly.)
  const direction = cols.map((c, i) => [-c[0] / (spacing[i] as number) + 0, -c[1] / (spacing[i] as number) + 0, c[2] / (spacing[i] as number) + 0]) as [Vec3, Vec3, Vec3];
  for (let a = 0; a < 3; a++) {
    for (let c = a + 1; c < 3; c++) {
      const d = direction[a]!;
      const e = direction[c]!;
      if (Math.abs(d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) > 1e-3) throw new Error(`NIfTI ${geometryFrom} is sheared (axes ${a} and ${c} not orthogonal): not supported`);
    }
  }
  return {
    dims,
    extraVolumes: extra - 1,
    elementType,
    datatype,
    littleEndian: le,
    voxOffset,
    slope: slope === 0 || !Number.isFinite(slope) ? 0 : slope,
    inter: Number.isFinite(inter) ? inter : 0,
    spacing,
    origin: [-originRas[0] + 0, -originRas[1] + 0, originRas[2] + 0],
    direction,
    geometryFrom,
  };
}

/**
 * Reads a NIfTI-1 single file (gzipped or not) with its sform (or qform): what `encodeNifti` writes, and
 * CTs and label maps from other tools (TotalSegmentator writes int16/int32/float32, sometimes scaled;
 * VerSe float64 with a qform only). Unscaled uint8 stays uint8 (label maps); everything else becomes
 * HU-range int16 after scl_slope/scl_inter. Only the first volume of a 4-D file is read.
 */
export function decodeNifti(buf: Buffer): GridData {
  const b = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
  const h = parseNiftiHeader(b);
  const n = h.dims[0] * h.dims[1] * h.dims[2];
  const size = ELEMENT_BYTES[h.elementType];
  if (b.length < h.voxOffset + n * size) throw new Error(`NIfTI file truncated: ${n} voxels need ${h.voxOffset + n * size} bytes, got ${b.length}`);
  const slope = h.slope || 1;
  let data: Int16Array | Uint8Array;
  if (h.elementType === 'uint8' && slope === 1 && h.inter === 0) data = Uint8Array.from(b.subarray(h.voxOffset, h.voxOffset + n));
  else {
    data = new Int16Array(n);
    const sink = new VoxelSink(data, h.elementType, h.littleEndian, slope, h.inter);
    sink.push(b.subarray(h.voxOffset, h.voxOffset + n * size));
  }
  return { data, dims: h.dims, spacing: h.spacing, origin: h.origin, direction: h.direction };
}

/** A NIfTI file as a volume: HU (or label values) as int16, the form the imaging code takes. */
export function decodeNiftiVolume(buf: Buffer): Volume {
  const g = decodeNifti(buf);
  return { ...g, data: g.data instanceof Int16Array ? g.data : Int16Array.from(g.data) };
}
