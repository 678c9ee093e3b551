/**
 * NIfTI-1 export (gzipped) of a volume or label map, so Python tooling (nibabel, TotalSegmentator-style
 * pipelines, model training) reads the phantom and assembled CTs with the right geometry.
 *
 * NIfTI's world space is RAS+, DICOM's is LPS+: the affine negates the first two rows.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
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

const DT_INT32 = 8;
const DT_FLOAT32 = 16;
/** Bytes per voxel and reader, for the datatypes CT and label files use. */
const READERS: Record<number, [number, (b: Buffer, o: number) => number]> = {
  [DT_UINT8]: [1, (b, o) => b.readUInt8(o)],
  [DT_INT16]: [2, (b, o) => b.readInt16LE(o)],
  [DT_INT32]: [4, (b, o) => b.readInt32LE(o)],
  [DT_FLOAT32]: [4, (b, o) => b.readFloatLE(o)],
};

/**
 * Reads a NIfTI-1 single file (gzipped or not) with its sform: what `encodeNifti` writes, and CTs and
 * label maps from other tools (TotalSegmentator writes int16/int32/float32, sometimes scaled). Unscaled
 * uint8 stays uint8 (label maps); everything else becomes HU-range int16 after scl_slope/scl_inter.
 */
export function decodeNifti(buf: Buffer): GridData {
  const b = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
  if (b.readInt32LE(0) !== 348) throw new Error('not a little-endian NIfTI-1 file');
  if (b.readInt16LE(254) <= 0) throw new Error('NIfTI file without an sform: its geometry is not supported');
  const dims: [number, number, number] = [b.readInt16LE(42), b.readInt16LE(44), b.readInt16LE(46)];
  const dt = b.readInt16LE(70);
  const spec = READERS[dt];
  if (!spec) throw new Error(`NIfTI datatype ${dt} not supported`);
  const off = b.readFloatLE(108);
  const slope = b.readFloatLE(112) || 1;
  const inter = b.readFloatLE(116);
  const n = dims[0] * dims[1] * dims[2];
  const [bytes, read] = spec;
  let data: Int16Array | Uint8Array;
  if (dt === DT_UINT8 && slope === 1 && inter === 0) data = Uint8Array.from(b.subarray(off, off + n));
  else {
    data = new Int16Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.max(-32768, Math.min(32767, Math.round(read(b, off + i * bytes) * slope + inter)));
  }
  const flip = [-1, -1, 1];
  const m = (row: number, col: number): number => b.readFloatLE(280 + row * 16 + col * 4) * (flip[row] as number);
  const spacing = [0, 1, 2].map((col) => Math.hypot(m(0, col), m(1, col), m(2, col))) as Vec3;
  const direction = [0, 1, 2].map((col) => [0, 1, 2].map((row) => m(row, col) / (spacing[col] as number))) as [Vec3, Vec3, Vec3];
  const origin: Vec3 = [m(0, 3), m(1, 3), m(2, 3)];
  return { data, dims, spacing, origin, direction };
}

/** A NIfTI file as a volume: HU (or label values) as int16, the form the imaging code takes. */
export function decodeNiftiVolume(buf: Buffer): Volume {
  const g = decodeNifti(buf);
  return { ...g, data: g.data instanceof Int16Array ? g.data : Int16Array.from(g.data) };
}
