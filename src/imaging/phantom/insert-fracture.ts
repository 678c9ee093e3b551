/**
 * A compression fracture inserted into a real vertebral body: a local deformation of a real CT volume with
 * a known Genant shape and height loss, so that detection can be measured on real bone, real noise and real
 * neighbours (none of the real development scans holds a fracture). The same deformation as the trainer's
 * `insert_fracture` (models/training/train.py), in 3D: per column along the body's axis the body between its
 * endplates is compressed onto the shortened span and the discs above and below are stretched to close the
 * gap, so the vertebrae above and below do not move.
 *
 * The body's geometry is given, not found here: its endplates per anterior–posterior position (from a
 * body mask on the curved sagittal plane, as the detector's or a reference segmentation gives it), its
 * lateral centre and half-width. The body's axis is taken as patient z: exact for an upright column,
 * an approximation under kyphosis or scoliosis (the deformation is then slightly oblique to the body).
 */
import { lpsToVoxel, sampleTrilinear, voxelToLps, type Vec3, type Volume } from '../volume';

export type InsertedShape = 'wedge' | 'biconcave' | 'crush';

export interface BodyGeometry {
  /** Patient y (mm) of each sampled anterior–posterior position, anterior first (LPS: y grows posteriorly). */
  yMm: number[];
  /** Superior and inferior endplate z (mm) at each of those positions. */
  topMm: number[];
  bottomMm: number[];
  /** Patient x (mm) of the body's mid-sagittal plane. */
  xMm: number;
  /** Half the body's width (mm). */
  halfWidthMm: number;
}

export interface InsertOptions {
  shape: InsertedShape;
  /** Height lost where the shape is deepest, as a fraction of the body's height there (Genant: 0.2–0.25 grade 1, 0.25–0.4 grade 2, > 0.4 grade 3). */
  loss: number;
  /**
   * Length (mm) above and below the body stretched to close the gap (default 10, as the trainer's 10 px at
   * 1 mm). No longer than the disc: beyond it the stretch reaches the neighbour and pulls its endplate
   * towards the collapse, making the neighbour taller.
   */
  discMm?: number;
}

export interface InsertedFracture {
  volume: Volume;
  /** Endplates after the deformation at each position of `geometry.yMm`. */
  topMm: number[];
  bottomMm: number[];
}

/** Lateral and anterior–posterior distance (mm) over which the collapse tapers off outside the body. */
const TAPER_MM = 4;
/** Share of the loss taken from the superior endplate (a wedge collapses mostly from above). */
const TOP_SHARE: Record<InsertedShape, number> = { wedge: 0.7, biconcave: 0.5, crush: 0.5 };

/** Loss profile across the body's depth, t = 0 anterior … 1 posterior. */
function profile(shape: InsertedShape, t: number): number {
  if (shape === 'wedge') return 1 - t;
  if (shape === 'biconcave') return 1 - (2 * t - 1) ** 2;
  return 1;
}

/** Linear interpolation of `ys` at position `x` along increasing `xs` (clamped at the ends). */
function interp(x: number, xs: number[], ys: number[]): number {
  const n = xs.length;
  if (x <= (xs[0] as number)) return ys[0] as number;
  if (x >= (xs[n - 1] as number)) return ys[n - 1] as number;
  let k = 1;
  while ((xs[k] as number) < x) k++;
  const x0 = xs[k - 1] as number;
  const x1 = xs[k] as number;
  const w = (x - x0) / (x1 - x0);
  return (ys[k - 1] as number) * (1 - w) + (ys[k] as number) * w;
}

/** A copy of `volume` with the fracture inserted into the body `geometry` describes. */
export function insertFracture(volume: Volume, geometry: BodyGeometry, opts: InsertOptions): InsertedFracture {
  const { yMm, topMm, bottomMm, xMm, halfWidthMm } = geometry;
  const n = yMm.length;
  if (n < 2 || topMm.length !== n || bottomMm.length !== n) throw new Error('insertFracture: the geometry needs two or more positions, each with both endplates');
  if (!(opts.loss > 0 && opts.loss < 0.9)) throw new Error(`insertFracture: loss ${opts.loss} outside (0, 0.9)`);
  const disc = opts.discMm ?? 10;
  const yA = yMm[0] as number;
  const yP = yMm[n - 1] as number;
  const share = TOP_SHARE[opts.shape];
  /** The column's endplates and its collapse (mm), or null where the body does not reach. */
  const column = (x: number, y: number): { top: number; bottom: number; delta: number } | null => {
    const lateral = Math.max(0, Math.abs(x - xMm) - halfWidthMm);
    const ap = y < yA ? yA - y : y > yP ? y - yP : 0;
    const taper = (1 - Math.min(1, lateral / TAPER_MM)) * (1 - Math.min(1, ap / TAPER_MM));
    if (taper <= 0) return null;
    const top = interp(y, yMm, topMm);
    const bottom = interp(y, yMm, bottomMm);
    const t = Math.min(1, Math.max(0, (y - yA) / (yP - yA)));
    return { top, bottom, delta: opts.loss * profile(opts.shape, t) * (top - bottom) * taper };
  };
  const out: Volume = { ...volume, data: new Int16Array(volume.data) };
  // Voxels of the box around the body and its discs, found through the corners (any orientation).
  const lo: Vec3 = [xMm - halfWidthMm - TAPER_MM, yA - TAPER_MM, Math.min(...bottomMm) - disc];
  const hi: Vec3 = [xMm + halfWidthMm + TAPER_MM, yP + TAPER_MM, Math.max(...topMm) + disc];
  const corners = [0, 1, 2, 3, 4, 5, 6, 7].map((b) => lpsToVoxel(volume, [b & 1 ? hi[0] : lo[0], b & 2 ? hi[1] : lo[1], b & 4 ? hi[2] : lo[2]]));
  const [nx, ny, nz] = volume.dims;
  const range = (axis: 0 | 1 | 2, size: number): [number, number] => [
    Math.max(0, Math.floor(Math.min(...corners.map((c) => c[axis])))),
    Math.min(size - 1, Math.ceil(Math.max(...corners.map((c) => c[axis])))),
  ];
  const [i0, i1] = range(0, nx);
  const [j0, j1] = range(1, ny);
  const [k0, k1] = range(2, nz);
  for (let k = k0; k <= k1; k++) {
    for (let j = j0; j <= j1; j++) {
      for (let i = i0; i <= i1; i++) {
        const p = voxelToLps(volume, i, j, k);
        const c = column(p[0], p[1]);
        if (!c || c.delta < 0.05) continue;
        const zLo = c.bottom - disc;
        const zHi = c.top + disc;
        const z = p[2];
        if (z <= zLo || z >= zHi) continue;
        // Destination z → source z, piecewise linear through (zLo, zLo) (newBottom, bottom) (newTop, top) (zHi, zHi).
        const newTop = c.top - share * c.delta;
        const newBottom = c.bottom + (1 - share) * c.delta;
        const src = interp(z, [zLo, newBottom, newTop, zHi], [zLo, c.bottom, c.top, zHi]);
        const v = lpsToVoxel(volume, [p[0], p[1], src]);
        out.data[i + j * nx + k * nx * ny] = Math.round(sampleTrilinear(volume, v[0], v[1], v[2]));
      }
    }
  }
  const after = yMm.map((y) => column(xMm, y) as { top: number; bottom: number; delta: number });
  return { volume: out, topMm: after.map((c) => c.top - share * c.delta), bottomMm: after.map((c) => c.bottom + (1 - share) * c.delta) };
}
