/**
 * Curved sagittal reformat: the model's view of the spine. Rows run superior → inferior along patient z,
 * columns anterior → posterior along patient y, both at `spacingMm`; each row is sampled at its own
 * patient x (the spine's centre line at that height), so a scoliotic spine stays in the plane. Extra
 * channels are parasagittal planes at fixed x offsets from the centre line.
 *
 * Heights are measured along rows (z) and columns (y) of this image, which are patient axes, so
 * bending the plane only in x keeps sagittal distances true (a lateral tilt of a body shortens nothing
 * in the sagittal plane to first order).
 */
import { lpsToVoxel, sampleTrilinear, voxelToLps, type Vec3, type Volume } from '../imaging/volume';

const { ceil, floor, max, min } = Math;

/** A multi-channel sagittal image: data[c·rows·cols + r·cols + col], HU. */
export interface SagittalSlab {
  channels: number;
  rows: number;
  cols: number;
  data: Int16Array;
  /** Patient z (mm) of row 0; row r is at zTop − r·spacing. */
  zTop: number;
  /** Patient y (mm) of column 0; column c is at y0 + c·spacing. */
  y0: number;
  spacing: number;
  /** Patient x (mm) of the centre plane for each row. */
  xAt: Float32Array;
  offsetsMm: number[];
}

/** Patient-space bounding box (LPS mm) of a volume's voxel centres. */
export function volumeBounds(v: Volume): { lo: Vec3; hi: Vec3 } {
  const [nx, ny, nz] = v.dims;
  const corners: Vec3[] = [];
  for (const i of [0, nx - 1]) for (const j of [0, ny - 1]) for (const k of [0, nz - 1]) corners.push(voxelToLps(v, i, j, k));
  const lo: Vec3 = [min(...corners.map((c) => c[0])), min(...corners.map((c) => c[1])), min(...corners.map((c) => c[2]))];
  const hi: Vec3 = [max(...corners.map((c) => c[0])), max(...corners.map((c) => c[1])), max(...corners.map((c) => c[2]))];
  return { lo, hi };
}

export interface ReformatOptions {
  /** Patient x (mm) of the centre plane at patient z (mm). */
  xAtZ: (z: number) => number;
  /** Patient y range (mm) to cover, anterior first. */
  yRange: [number, number];
  /** Patient z range (mm), top first; default the whole volume. */
  zRange?: [number, number];
  /** Pixel spacing (mm, default 1). */
  spacingMm?: number;
  /** x offsets (mm) of the channels from the centre line (default [-4, 0, 4]). */
  offsetsMm?: number[];
  /** Rows and columns are padded up to a multiple of this (default 16, the U-Net's stride). */
  multipleOf?: number;
}

/** Samples the curved sagittal slab from a volume in any orientation (trilinear, −1024 outside). */
export function curvedSagittal(v: Volume, o: ReformatOptions): SagittalSlab {
  const sp = o.spacingMm ?? 1;
  const offsets = o.offsetsMm ?? [-4, 0, 4];
  const m = o.multipleOf ?? 16;
  const b = volumeBounds(v);
  const [zTop, zBot] = o.zRange ?? [b.hi[2], b.lo[2]];
  const rows = ceil((floor((zTop - zBot) / sp + 1e-6) + 1) / m) * m;
  const cols = ceil((floor((o.yRange[1] - o.yRange[0]) / sp + 1e-6) + 1) / m) * m;
  const data = new Int16Array(offsets.length * rows * cols);
  const xAt = new Float32Array(rows);
  // Voxel coordinates are affine in patient coordinates: step along y per column.
  const dy = lpsToVoxel(v, [0, sp, 0]);
  const o0 = lpsToVoxel(v, [0, 0, 0]);
  const stepCol: Vec3 = [dy[0] - o0[0], dy[1] - o0[1], dy[2] - o0[2]];
  for (let r = 0; r < rows; r++) {
    const z = zTop - r * sp;
    const x = o.xAtZ(z);
    xAt[r] = x;
    for (let ch = 0; ch < offsets.length; ch++) {
      const f = lpsToVoxel(v, [x + (offsets[ch] as number), o.yRange[0], z]);
      let fi = f[0];
      let fj = f[1];
      let fk = f[2];
      const base = ch * rows * cols + r * cols;
      for (let c = 0; c < cols; c++) {
        data[base + c] = Math.round(sampleTrilinear(v, fi, fj, fk));
        fi += stepCol[0];
        fj += stepCol[1];
        fk += stepCol[2];
      }
    }
  }
  return { channels: offsets.length, rows, cols, data, zTop, y0: o.yRange[0], spacing: sp, xAt, offsetsMm: offsets };
}

/** Patient position (LPS mm) of a fractional slab pixel on the centre plane. */
export function slabToLps(s: SagittalSlab, row: number, col: number): Vec3 {
  const r = max(0, min(s.rows - 1, Math.round(row)));
  return [s.xAt[r] as number, s.y0 + col * s.spacing, s.zTop - row * s.spacing];
}
