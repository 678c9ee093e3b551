/**
 * Volume assembly: frames of one series → one preallocated Int16Array of HU with its patient geometry.
 *
 * Geometry rules (the why):
 * - Slices are ordered by their position along the slice normal (row × column cosines), never by
 *   InstanceNumber or SliceLocation, which scanners fill inconsistently (feet-first, prone, reformats).
 * - Spacing comes from positions; SliceThickness is the nominal detector width and may overlap or gap.
 * - Gaps (missing slices) and uneven steps are interpolated onto a uniform grid when small, rejected
 *   when a gap could hide a vertebral endplate; sheared stacks (gantry tilt) are rejected.
 * - The volume keeps the native axes (i = along rows' direction, j = along columns', k = +normal) and
 *   records the direction cosines; `toCanonicalLps` gives the model a fixed orientation.
 */
import { AppError } from '../errors';
import { checkDecodable, readFrameHu, type SliceHeader } from './dicom';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { abs, atan2, cos, floor, hypot, max, min, round } = Math;

export type Vec3 = [number, number, number];

export interface Volume {
  /** HU, x fastest: index = i + j·nx + k·nx·ny. */
  data: Int16Array;
  /** [nx (columns), ny (rows), nz (slices)]. */
  dims: [number, number, number];
  /** mm between voxel centres along i, j, k. */
  spacing: Vec3;
  /** LPS position (mm) of voxel (0, 0, 0)'s centre. */
  origin: Vec3;
  /** Unit vectors (LPS) of the i, j and k axes: row cosines, column cosines, slice normal. */
  direction: [Vec3, Vec3, Vec3];
}

export interface AssemblyReport {
  slicesIn: number;
  /** Median distance between consecutive slice positions, mm. */
  medianStepMm: number;
  minStepMm: number;
  maxStepMm: number;
  nominalSliceThicknessMm: number | undefined;
  /** Slices that were missing inside the stack (estimated from gaps) and interpolated. */
  missingSlices: number;
  resampled: boolean;
  /** Acquisition order relative to +normal: 'ascending' when instance numbers rise along the normal. */
  acquisitionOrder: 'ascending' | 'descending' | 'unknown';
  patientPosition: string | undefined;
  notes: string[];
}

/** A frame and how to get its pixels (a Part-10 buffer, or anything that can fill HU into a slice). */
export interface FrameSource {
  header: SliceHeader;
  /** Writes rows×columns HU into out[offset…]. */
  read(out: Int16Array, offset: number): void;
}

/** FrameSource over a Part-10 buffer (memory stays with the caller's buffer). */
export function bufferFrameSource(header: SliceHeader, buf: Uint8Array | (() => Uint8Array)): FrameSource {
  return {
    header,
    read(out, offset) {
      readFrameHu(typeof buf === 'function' ? buf() : buf, header, out, offset);
    },
  };
}

export interface AssembleOptions {
  /** Largest gap (mm) bridged by interpolation; wider gaps reject the series (default 6). */
  maxGapMm?: number;
  /** Largest gap as a multiple of the median step (default 3.01). */
  maxGapSteps?: number;
  /** Relative step deviation tolerated as "uniform" (default 0.02 = 2%). */
  uniformTolerance?: number;
  /** Largest angle (degrees) between the stacking direction and the slice normal (default 0.5). */
  maxShearDeg?: number;
}

const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const norm = (a: Vec3): number => hypot(a[0], a[1], a[2]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Normal of an ImageOrientationPatient, validating that the cosines are unit and orthogonal. */
export function sliceNormal(iop: readonly number[]): { row: Vec3; col: Vec3; normal: Vec3 } {
  const row: Vec3 = [iop[0] ?? 0, iop[1] ?? 0, iop[2] ?? 0];
  const col: Vec3 = [iop[3] ?? 0, iop[4] ?? 0, iop[5] ?? 0];
  const nr = norm(row);
  const nc = norm(col);
  if (abs(nr - 1) > 0.01 || abs(nc - 1) > 0.01 || abs(dot(row, col)) > 0.01) {
    throw new AppError('VOLUME_INVALID', 'ImageOrientationPatient cosines are not unit and orthogonal');
  }
  const r: Vec3 = [row[0] / nr, row[1] / nr, row[2] / nr];
  const c: Vec3 = [col[0] / nc, col[1] / nc, col[2] / nc];
  return { row: r, col: c, normal: cross(r, c) };
}

/**
 * Checks the geometry of a series' frames and returns the plan (sorted frames, grid) without reading pixels.
 * Exported so the DICOMweb side can vet a series from metadata before retrieving pixels.
 */
export function planVolume(headers: SliceHeader[], opts: AssembleOptions = {}) {
  const maxGapMm = opts.maxGapMm ?? 6;
  const maxGapSteps = opts.maxGapSteps ?? 3.01;
  const tol = opts.uniformTolerance ?? 0.02;
  const maxShearDeg = opts.maxShearDeg ?? 0.5;
  if (headers.length < 2) throw new AppError('VOLUME_INVALID', `a volume needs at least 2 slices, got ${headers.length}`);
  const first = headers[0] as SliceHeader;
  checkDecodable(first);
  if (!first.imageOrientationPatient) throw new AppError('VOLUME_INVALID', 'ImageOrientationPatient missing');
  if (!first.pixelSpacing) throw new AppError('VOLUME_INVALID', 'PixelSpacing missing');
  const { row, col, normal } = sliceNormal(first.imageOrientationPatient);
  const ps = first.pixelSpacing;
  for (const h of headers) {
    checkDecodable(h);
    if (h.rows !== first.rows || h.columns !== first.columns) {
      throw new AppError('VOLUME_INVALID', `slices differ in size (${h.rows}x${h.columns} vs ${first.rows}x${first.columns})`);
    }
    if (!h.imagePositionPatient) throw new AppError('VOLUME_INVALID', 'ImagePositionPatient missing on a slice');
    if (!h.imageOrientationPatient || h.imageOrientationPatient.some((v, i) => abs(v - (first.imageOrientationPatient?.[i] ?? 0)) > 1e-3)) {
      throw new AppError('VOLUME_INVALID', 'slices differ in ImageOrientationPatient (mixed planes or a localizer in the series)');
    }
    if (!h.pixelSpacing || abs(h.pixelSpacing[0] - ps[0]) > 1e-3 || abs(h.pixelSpacing[1] - ps[1]) > 1e-3) {
      throw new AppError('VOLUME_INVALID', 'slices differ in PixelSpacing');
    }
  }
  // Drop exact duplicates (the same instance sent twice); other coincident positions mean mixed acquisitions.
  const seen = new Set<string>();
  const unique = headers.filter((h) => {
    const key = `${h.sopInstanceUid}#${h.frameIndex}`;
    if (h.sopInstanceUid !== '' && seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const sorted = unique
    .map((h) => ({ h, d: dot(h.imagePositionPatient as Vec3, normal) }))
    .sort((a, b) => a.d - b.d);
  const steps: number[] = [];
  for (let i = 1; i < sorted.length; i++) steps.push((sorted[i] as { d: number }).d - (sorted[i - 1] as { d: number }).d);
  const minStep = min(...steps);
  if (minStep < 1e-3) {
    throw new AppError('VOLUME_INVALID', 'two slices share a position (several acquisitions or phases in one series)');
  }
  const step = median(steps);
  const maxStep = max(...steps);
  // Shear: the stack must advance along the normal. Compare first→last displacement with the normal.
  const p0 = (sorted[0] as { h: SliceHeader }).h.imagePositionPatient as Vec3;
  const p1 = (sorted[sorted.length - 1] as { h: SliceHeader }).h.imagePositionPatient as Vec3;
  const disp = sub(p1, p0);
  const along = dot(disp, normal);
  const lateral = norm(sub(disp, [normal[0] * along, normal[1] * along, normal[2] * along]));
  const shearDeg = (atan2(lateral, along) * 180) / Math.PI;
  if (shearDeg > maxShearDeg) {
    const tag = first.gantryDetectorTilt !== undefined && first.gantryDetectorTilt !== 0 ? ` (GantryDetectorTilt ${first.gantryDetectorTilt}°)` : '';
    throw new AppError(
      'VOLUME_INVALID',
      `gantry tilt: slices are sheared by ${shearDeg.toFixed(1)}°${tag}; a tilted stack distorts vertebral heights, provide an untilted reconstruction`,
    );
  }
  const notes: string[] = [];
  if (first.gantryDetectorTilt !== undefined && abs(first.gantryDetectorTilt) > 0.1) {
    notes.push(`GantryDetectorTilt ${first.gantryDetectorTilt}° but positions are not sheared; geometry taken from positions`);
  }
  const uniform = steps.every((s) => abs(s - step) <= max(0.01, tol * step));
  let missing = 0;
  let nz = sorted.length;
  let outStep = step;
  if (!uniform) {
    if (maxStep > maxGapMm + 1e-6 || maxStep > maxGapSteps * step) {
      const at = steps.indexOf(maxStep);
      throw new AppError(
        'VOLUME_INVALID',
        `gap of ${maxStep.toFixed(1)} mm between slices ${at + 1} and ${at + 2} (median step ${step.toFixed(2)} mm): too wide to interpolate`,
      );
    }
    const span = (sorted[sorted.length - 1] as { d: number }).d - (sorted[0] as { d: number }).d;
    nz = round(span / step) + 1;
    outStep = span / (nz - 1);
    for (const s of steps) {
      const k = round(s / step);
      if (k >= 2 && abs(s - k * step) <= max(0.05, tol * step * k)) missing += k - 1;
    }
    notes.push(
      missing > 0
        ? `${missing} missing slice(s) interpolated; resampled ${sorted.length} → ${nz} slices at ${outStep.toFixed(3)} mm`
        : `uneven slice steps ${minStep.toFixed(2)}–${maxStep.toFixed(2)} mm resampled to ${nz} slices at ${outStep.toFixed(3)} mm`,
    );
  }
  const inst = sorted.map((s) => s.h.instanceNumber);
  let order: AssemblyReport['acquisitionOrder'] = 'unknown';
  if (inst.every((v) => v !== undefined)) {
    const a = inst[0] as number;
    const b = inst[inst.length - 1] as number;
    order = b > a ? 'ascending' : b < a ? 'descending' : 'unknown';
  }
  const report: AssemblyReport = {
    slicesIn: sorted.length,
    medianStepMm: step,
    minStepMm: minStep,
    maxStepMm: maxStep,
    nominalSliceThicknessMm: first.sliceThickness,
    missingSlices: missing,
    resampled: !uniform,
    acquisitionOrder: order,
    patientPosition: first.patientPosition,
    notes,
  };
  return {
    sorted,
    uniform,
    nz,
    outStep,
    row,
    col,
    normal,
    // PixelSpacing is [row spacing (between rows, along j), column spacing (between columns, along i)].
    spacingIJ: [ps[1], ps[0]] as [number, number],
    origin: p0,
    report,
  };
}

/**
 * Assembles a volume from the frames of ONE series. Pixels are read frame by frame straight into a single
 * preallocated Int16Array (HU); with resampling, at most two input slices are held at once.
 */
export function assembleVolume(frames: FrameSource[], opts: AssembleOptions = {}): { volume: Volume; report: AssemblyReport } {
  const plan = planVolume(
    frames.map((f) => f.header),
    opts,
  );
  const byHeader = new Map(frames.map((f) => [f.header, f]));
  const first = frames[0] as FrameSource;
  const nx = first.header.columns;
  const ny = first.header.rows;
  const nz = plan.nz;
  const sliceLen = nx * ny;
  let data: Int16Array;
  try {
    data = new Int16Array(sliceLen * nz);
  } catch {
    throw new AppError('VOLUME_INVALID', `volume ${nx}x${ny}x${nz} does not fit in memory`);
  }
  const src = (i: number): FrameSource => byHeader.get((plan.sorted[i] as { h: SliceHeader }).h) as FrameSource;
  if (plan.uniform) {
    for (let k = 0; k < nz; k++) src(k).read(data, k * sliceLen);
  } else {
    // Linear interpolation along the normal onto the uniform grid, streaming through the sorted inputs.
    const d0 = (plan.sorted[0] as { d: number }).d;
    let lo = new Int16Array(sliceLen);
    let hi = new Int16Array(sliceLen);
    let loIdx = 0;
    let hiIdx = 1;
    src(0).read(lo, 0);
    src(1).read(hi, 0);
    for (let k = 0; k < nz; k++) {
      const d = d0 + k * plan.outStep;
      while (hiIdx < plan.sorted.length - 1 && (plan.sorted[hiIdx] as { d: number }).d < d - 1e-6) {
        const t = lo;
        lo = hi;
        hi = t;
        loIdx = hiIdx;
        hiIdx++;
        src(hiIdx).read(hi, 0);
      }
      const dl = (plan.sorted[loIdx] as { d: number }).d;
      const dh = (plan.sorted[hiIdx] as { d: number }).d;
      const w = max(0, min(1, (d - dl) / (dh - dl)));
      const off = k * sliceLen;
      if (w < 1e-6) data.set(lo, off);
      else if (w > 1 - 1e-6) data.set(hi, off);
      else for (let i = 0; i < sliceLen; i++) data[off + i] = round((lo[i] as number) * (1 - w) + (hi[i] as number) * w);
    }
  }
  const volume: Volume = {
    data,
    dims: [nx, ny, nz],
    spacing: [plan.spacingIJ[0], plan.spacingIJ[1], plan.outStep],
    origin: plan.origin,
    direction: [plan.row, plan.col, plan.normal],
  };
  return { volume, report: plan.report };
}

/** LPS position (mm) of voxel (i, j, k) (fractional indices allowed). */
export function voxelToLps(v: Volume, i: number, j: number, k: number): Vec3 {
  const [di, dj, dk] = v.direction;
  const a = i * v.spacing[0];
  const b = j * v.spacing[1];
  const c = k * v.spacing[2];
  return [
    v.origin[0] + a * di[0] + b * dj[0] + c * dk[0],
    v.origin[1] + a * di[1] + b * dj[1] + c * dk[1],
    v.origin[2] + a * di[2] + b * dj[2] + c * dk[2],
  ];
}

/** Fractional voxel indices of an LPS point (direction is orthonormal, so its inverse is its transpose). */
export function lpsToVoxel(v: Volume, p: Vec3): Vec3 {
  const d = sub(p, v.origin);
  return [dot(d, v.direction[0]) / v.spacing[0], dot(d, v.direction[1]) / v.spacing[1], dot(d, v.direction[2]) / v.spacing[2]];
}

/** HU of the voxel nearest to an LPS point, or null outside the volume. */
export function huNearest(v: Volume, p: Vec3): number | null {
  const f = lpsToVoxel(v, p);
  const i = Math.round(f[0]);
  const j = Math.round(f[1]);
  const k = Math.round(f[2]);
  const [nx, ny, nz] = v.dims;
  if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) return null;
  return v.data[i + j * nx + k * nx * ny] as number;
}

/** min/max HU (one pass). */
export function huRange(v: Volume): [number, number] {
  let lo = 32767;
  let hi = -32768;
  const d = v.data;
  for (let i = 0; i < d.length; i++) {
    const x = d[i] as number;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

/** Orientation code of an axis direction, e.g. [1,0,0] → "L", [0,0,-1] → "I" (the dominant component). */
export function axisCode(d: Vec3): string {
  const ax = [abs(d[0]), abs(d[1]), abs(d[2])];
  const m = ax.indexOf(max(...ax));
  const pos = ['L', 'P', 'S'][m] as string;
  const neg = ['R', 'A', 'I'][m] as string;
  return (d[m] as number) >= 0 ? pos : neg;
}

/** Orientation string of a volume's i, j, k axes, e.g. "LPS" for head-first supine axial. */
export function orientationCode(v: Volume): string {
  return v.direction.map(axisCode).join('');
}

/** Samples HU at fractional voxel indices (trilinear), `outside` beyond the volume. */
export function sampleTrilinear(v: Volume, fi: number, fj: number, fk: number, outside = -1024): number {
  const [nx, ny, nz] = v.dims;
  if (fi < -0.5 || fj < -0.5 || fk < -0.5 || fi > nx - 0.5 || fj > ny - 0.5 || fk > nz - 0.5) return outside;
  const ci = max(0, min(nx - 1, fi));
  const cj = max(0, min(ny - 1, fj));
  const ck = max(0, min(nz - 1, fk));
  const i0 = min(nx - 2, floor(ci));
  const j0 = min(ny - 2, floor(cj));
  const k0 = min(max(0, nz - 2), floor(ck));
  const ti = nx > 1 ? ci - i0 : 0;
  const tj = ny > 1 ? cj - j0 : 0;
  const tk = nz > 1 ? ck - k0 : 0;
  const sx = 1;
  const sy = nx;
  const sz = nz > 1 ? nx * ny : 0;
  const base = i0 + j0 * nx + k0 * nx * ny;
  const d = v.data;
  const c000 = d[base] as number;
  const c100 = d[base + sx] as number;
  const c010 = d[base + sy] as number;
  const c110 = d[base + sx + sy] as number;
  const c001 = d[base + sz] as number;
  const c101 = d[base + sx + sz] as number;
  const c011 = d[base + sy + sz] as number;
  const c111 = d[base + sx + sy + sz] as number;
  const c00 = c000 + (c100 - c000) * ti;
  const c10 = c010 + (c110 - c010) * ti;
  const c01 = c001 + (c101 - c001) * ti;
  const c11 = c011 + (c111 - c011) * ti;
  const c0 = c00 + (c10 - c00) * tj;
  const c1 = c01 + (c11 - c01) * tj;
  return c0 + (c1 - c0) * tk;
}

/** Whether every axis of the volume is within `tolDeg` of a patient axis. */
export function isAxisAligned(v: Volume, tolDeg = 1): boolean {
  const c = cos((tolDeg * Math.PI) / 180);
  return v.direction.every((d) => max(abs(d[0]), abs(d[1]), abs(d[2])) >= c);
}

/**
 * The volume in canonical LPS+ orientation: i → patient left (+x), j → posterior (+y), k → superior (+z),
 * origin at the right-anterior-inferior corner. Axis-aligned inputs (head/feet-first, supine/prone) are
 * permuted and flipped without interpolation; oblique inputs, or a requested `spacingMm`, are resampled
 * trilinearly over the input's bounding box. A sagittal reformat is then the plane i = const.
 */
export function toCanonicalLps(v: Volume, opts: { spacingMm?: Vec3 } = {}): Volume {
  if (!opts.spacingMm && isAxisAligned(v)) {
    // For each output axis (x, y, z), find the input axis that maps to it and its sign.
    const map: Array<{ axis: 0 | 1 | 2; sign: 1 | -1 }> = [0, 1, 2].map((out) => {
      for (const a of [0, 1, 2] as const) {
        const comp = (v.direction[a] as Vec3)[out] as number;
        if (abs(comp) > 0.5) return { axis: a, sign: comp > 0 ? 1 : -1 };
      }
      throw new AppError('INTERNAL', 'degenerate direction matrix');
    }) as Array<{ axis: 0 | 1 | 2; sign: 1 | -1 }>;
    const inDims = v.dims;
    const outDims: [number, number, number] = [inDims[map[0]!.axis], inDims[map[1]!.axis], inDims[map[2]!.axis]];
    const outSpacing: Vec3 = [v.spacing[map[0]!.axis], v.spacing[map[1]!.axis], v.spacing[map[2]!.axis]];
    const inStride = [1, inDims[0], inDims[0] * inDims[1]];
    // Input index for output (x,y,z): along each output axis, input index = sign>0 ? x : n-1-x.
    const strideX = (inStride[map[0]!.axis] as number) * map[0]!.sign;
    const strideY = (inStride[map[1]!.axis] as number) * map[1]!.sign;
    const strideZ = (inStride[map[2]!.axis] as number) * map[2]!.sign;
    const startIdx =
      (map[0]!.sign > 0 ? 0 : (outDims[0] - 1) * (inStride[map[0]!.axis] as number)) +
      (map[1]!.sign > 0 ? 0 : (outDims[1] - 1) * (inStride[map[1]!.axis] as number)) +
      (map[2]!.sign > 0 ? 0 : (outDims[2] - 1) * (inStride[map[2]!.axis] as number));
    const out = new Int16Array(v.data.length);
    const [ox, oy, oz] = outDims;
    let o = 0;
    for (let z = 0; z < oz; z++) {
      for (let y = 0; y < oy; y++) {
        let idx = startIdx + z * strideZ + y * strideY;
        for (let x = 0; x < ox; x++) {
          out[o++] = v.data[idx] as number;
          idx += strideX;
        }
      }
    }
    // The origin is the input voxel that lands at output (0,0,0).
    const corner = [0, 0, 0];
    for (let ax = 0; ax < 3; ax++) {
      const m = map[ax]!;
      corner[m.axis] = m.sign > 0 ? 0 : (inDims[m.axis] as number) - 1;
    }
    const origin = voxelToLps(v, corner[0] as number, corner[1] as number, corner[2] as number);
    return { data: out, dims: outDims, spacing: outSpacing, origin, direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
  }
  // General case: trilinear resampling over the bounding box of the input's corners.
  const [nx, ny, nz] = v.dims;
  const corners: Vec3[] = [];
  for (const i of [0, nx - 1]) for (const j of [0, ny - 1]) for (const k of [0, nz - 1]) corners.push(voxelToLps(v, i, j, k));
  const lo: Vec3 = [min(...corners.map((c) => c[0])), min(...corners.map((c) => c[1])), min(...corners.map((c) => c[2]))];
  const hi: Vec3 = [max(...corners.map((c) => c[0])), max(...corners.map((c) => c[1])), max(...corners.map((c) => c[2]))];
  const sp: Vec3 = opts.spacingMm ?? [min(...v.spacing), min(...v.spacing), min(...v.spacing)];
  const dims: [number, number, number] = [0, 1, 2].map((a) => max(1, floor(((hi[a] as number) - (lo[a] as number)) / (sp[a] as number) + 1e-6) + 1)) as [number, number, number];
  const out = new Int16Array(dims[0] * dims[1] * dims[2]);
  // Fractional input indices are affine in the output indices: f = f0 + x·ax + y·ay + z·az.
  const f0 = lpsToVoxel(v, lo);
  const step = (axis: 0 | 1 | 2): Vec3 => {
    const d: Vec3 = [0, 0, 0];
    d[axis] = sp[axis] as number;
    return [dot(d, v.direction[0]) / v.spacing[0], dot(d, v.direction[1]) / v.spacing[1], dot(d, v.direction[2]) / v.spacing[2]];
  };
  const ax = step(0);
  const ay = step(1);
  const az = step(2);
  let o = 0;
  for (let z = 0; z < dims[2]; z++) {
    for (let y = 0; y < dims[1]; y++) {
      let fi = f0[0] + y * ay[0] + z * az[0];
      let fj = f0[1] + y * ay[1] + z * az[1];
      let fk = f0[2] + y * ay[2] + z * az[2];
      for (let x = 0; x < dims[0]; x++) {
        out[o++] = round(sampleTrilinear(v, fi, fj, fk));
        fi += ax[0];
        fj += ax[1];
        fk += ax[2];
      }
    }
  }
  return { data: out, dims, spacing: sp, origin: lo, direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
}

/**
 * A sagittal plane of a canonical LPS+ volume at patient x (mm): rows run superior → inferior, columns
 * anterior → posterior (radiological display). Returns HU and the pixel spacings [row, column] in mm.
 */
export function sagittalPlane(canon: Volume, xMm: number): { hu: Int16Array; rows: number; cols: number; rowSpacing: number; colSpacing: number } {
  const [nx, ny, nz] = canon.dims;
  const i = max(0, min(nx - 1, round((xMm - canon.origin[0]) / canon.spacing[0])));
  const out = new Int16Array(ny * nz);
  for (let r = 0; r < nz; r++) {
    const k = nz - 1 - r;
    for (let c = 0; c < ny; c++) out[r * ny + c] = canon.data[i + c * nx + k * nx * ny] as number;
  }
  return { hu: out, rows: nz, cols: ny, rowSpacing: canon.spacing[2], colSpacing: canon.spacing[1] };
}

/**
 * An axial plane of a canonical LPS+ volume at patient z (mm), displayed the radiological way: rows
 * anterior → posterior, columns patient right → left.
 */
export function axialPlane(canon: Volume, zMm: number): { hu: Int16Array; rows: number; cols: number; rowSpacing: number; colSpacing: number } {
  const [nx, ny, nz] = canon.dims;
  const k = max(0, min(nz - 1, round((zMm - canon.origin[2]) / canon.spacing[2])));
  const out = canon.data.slice(k * nx * ny, (k + 1) * nx * ny);
  return { hu: out, rows: ny, cols: nx, rowSpacing: canon.spacing[1], colSpacing: canon.spacing[0] };
}
