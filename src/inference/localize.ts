/**
 * Spine localisation without ground truth: on axial planes every few mm, the spine is the densest bony
 * mass near the posterior midline of the body. A bone score (HU above BONE_HU, clipped) is box-blurred
 * over ~10 mm so thin bone (ribs, table shell, sternum cortex) counts little against the vertebral body
 * and arch; the maximum near the body's midline gives (x, y) per height, then a robust smooth gives the
 * centre line the curved reformat follows.
 */
import { lpsToVoxel, type Vec3, type Volume } from '../imaging/volume';
import { volumeBounds } from './reformat';

const { abs, floor, max, min, round } = Math;
/**
 * Bone score threshold (HU). Cortical bone (the vertebral shell and arch) stands far above it; a
 * contrast-filled aorta in the arterial phase (250–350 HU) does not. At 120 HU the aorta competed with
 * the spine for the maximum, and the held-out bench with arterial contrast fell to a per-vertebra grade ≥ 2
 * PPV of 0.20 and a level accuracy of 0.887.
 */
const BONE_HU = 300;

export interface SpineLine {
  /** Patient x (mm) of the spine centre at height z (clamped beyond the found range). */
  xAtZ: (z: number) => number;
  yAtZ: (z: number) => number;
  /** Height range (mm) where a spine was found. */
  zRange: [number, number];
  /** y range of the found centre points (mm). */
  yRange: [number, number];
  /** Largest lateral deviation (mm) of the centre line from the straight line between its ends. */
  lateralDeviationMm: number;
  points: Array<{ z: number; x: number; y: number; score: number }>;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-neighbour HU sampler in patient coordinates, affine-stepped. */
function planeSampler(v: Volume, lo: Vec3, g: number, nx: number, ny: number): (z: number, out: Float32Array) => void {
  const [dx, dy, dz] = v.dims;
  const o = lpsToVoxel(v, [0, 0, 0]);
  const ex = lpsToVoxel(v, [g, 0, 0]).map((c, i) => c - (o[i] as number));
  const ey = lpsToVoxel(v, [0, g, 0]).map((c, i) => c - (o[i] as number));
  return (z, out) => {
    for (let yi = 0; yi < ny; yi++) {
      const f = lpsToVoxel(v, [lo[0], lo[1] + yi * g, z]);
      let fi = f[0];
      let fj = f[1];
      let fk = f[2];
      for (let xi = 0; xi < nx; xi++) {
        const i = round(fi);
        const j = round(fj);
        const k = round(fk);
        out[yi * nx + xi] = i < 0 || j < 0 || k < 0 || i >= dx || j >= dy || k >= dz ? -1024 : (v.data[i + j * dx + k * dx * dy] as number);
        fi += ex[0] as number;
        fj += ex[1] as number;
        fk += ex[2] as number;
      }
    }
  };
}

/** Box blur (radius r cells) via a summed-area table. */
function boxBlur(src: Float32Array, nx: number, ny: number, r: number, out: Float32Array): void {
  const sat = new Float64Array((nx + 1) * (ny + 1));
  for (let y = 0; y < ny; y++) {
    let row = 0;
    for (let x = 0; x < nx; x++) {
      row += src[y * nx + x] as number;
      sat[(y + 1) * (nx + 1) + x + 1] = (sat[y * (nx + 1) + x + 1] as number) + row;
    }
  }
  for (let y = 0; y < ny; y++) {
    const y0 = max(0, y - r);
    const y1 = min(ny, y + r + 1);
    for (let x = 0; x < nx; x++) {
      const x0 = max(0, x - r);
      const x1 = min(nx, x + r + 1);
      const s = (sat[y1 * (nx + 1) + x1] as number) - (sat[y0 * (nx + 1) + x1] as number) - (sat[y1 * (nx + 1) + x0] as number) + (sat[y0 * (nx + 1) + x0] as number);
      out[y * nx + x] = s / ((y1 - y0) * (x1 - x0));
    }
  }
}

function smoothSeries(values: number[], win: number): number[] {
  const h = win >> 1;
  const med = values.map((_, i) => median(values.slice(max(0, i - h), i + h + 1)));
  return med.map((_, i) => {
    const w = med.slice(max(0, i - h), i + h + 1);
    return w.reduce((a, b) => a + b, 0) / w.length;
  });
}

function interpolator(zs: number[], vs: number[]): (z: number) => number {
  // zs descending (top first).
  return (z) => {
    const n = zs.length;
    if (n === 0) return 0;
    if (z >= (zs[0] as number)) return vs[0] as number;
    if (z <= (zs[n - 1] as number)) return vs[n - 1] as number;
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const m = (lo + hi) >> 1;
      if ((zs[m] as number) >= z) lo = m;
      else hi = m;
    }
    const za = zs[lo] as number;
    const zb = zs[hi] as number;
    const t = (za - z) / (za - zb || 1);
    return (vs[lo] as number) + ((vs[hi] as number) - (vs[lo] as number)) * t;
  };
}

/** Solves the small normal equations A·c = b (Gaussian elimination with partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (abs((m[r] as number[])[c] as number) > abs((m[p] as number[])[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    const piv = (m[c] as number[])[c] as number;
    if (abs(piv) < 1e-12) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = ((m[r] as number[])[c] as number) / piv;
      for (let k = c; k <= n; k++) (m[r] as number[])[k] = ((m[r] as number[])[k] as number) - f * ((m[c] as number[])[k] as number);
    }
  }
  return m.map((row, i) => (row[n] as number) / ((row[i] as number) || 1));
}

/** Polynomial fit with Tukey biweights (scale `c`), started from the median; returns fitted values. */
export function robustPolyFit(zs: number[], vs: number[], degree: number, c: number): number[] {
  const n = zs.length;
  if (n === 0) return [];
  const z0 = (max(...zs) + min(...zs)) / 2;
  const zs1 = (max(...zs) - min(...zs)) / 2 || 1;
  const t = zs.map((z) => (z - z0) / zs1);
  const d = min(degree, max(0, n - 2));
  let fitted = vs.map(() => median(vs));
  for (let it = 0; it < 12; it++) {
    const w = vs.map((v, i) => {
      const u = (v - (fitted[i] as number)) / (it === 0 ? 4 * c : c);
      return abs(u) >= 1 ? 0 : (1 - u * u) ** 2;
    });
    const A = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    const B = new Array<number>(d + 1).fill(0);
    for (let i = 0; i < n; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      const pw = Array.from({ length: 2 * d + 1 }, (_, k) => (t[i] as number) ** k);
      for (let r = 0; r <= d; r++) {
        B[r] = (B[r] as number) + wi * (pw[r] as number) * (vs[i] as number);
        for (let k = 0; k <= d; k++) (A[r] as number[])[k] = ((A[r] as number[])[k] as number) + wi * (pw[r + k] as number);
      }
    }
    const coef = solve(A, B);
    fitted = t.map((ti) => coef.reduce((s, ck, k) => s + ck * ti ** k, 0));
  }
  return fitted;
}

export interface LocalizeOptions {
  /** In-plane grid (mm, default 2). */
  gridMm?: number;
  /** Distance between sampled planes (mm, default 4). */
  stepMm?: number;
}

/** x index of the peak of the planes' mean bone score within `halfWidth` cells of `xCentre` (null: no bone). */
function columnPeak(planes: Float32Array[], nx: number, ny: number, xCentre: number, halfWidth: number): number | null {
  if (planes.length === 0) return null;
  const x0 = max(0, floor(xCentre - halfWidth));
  const x1 = min(nx - 1, floor(xCentre + halfWidth));
  let best = 0;
  let bx: number | null = null;
  for (let yi = 0; yi < ny; yi++) {
    for (let xi = x0; xi <= x1; xi++) {
      let s = 0;
      for (const p of planes) s += p[yi * nx + xi] as number;
      if (s > best) {
        best = s;
        bx = xi;
      }
    }
  }
  return bx;
}

/** Finds the spine's centre line in a CT volume of any orientation. */
export function localizeSpine(v: Volume, opts: LocalizeOptions = {}): SpineLine {
  const g = opts.gridMm ?? 2;
  const step = opts.stepMm ?? 4;
  const { lo, hi } = volumeBounds(v);
  const nx = floor((hi[0] - lo[0]) / g) + 1;
  const ny = floor((hi[1] - lo[1]) / g) + 1;
  const sample = planeSampler(v, lo, g, nx, ny);
  const plane = new Float32Array(nx * ny);
  const bone = new Float32Array(nx * ny);
  const blur = new Float32Array(nx * ny);
  const radius = max(1, round(5 / g));
  type Cand = { z: number; blur: Float32Array; cx: number; cy: number; yBack: number };
  const cands: Cand[] = [];
  for (let z = hi[2] - step / 2; z >= lo[2]; z -= step) {
    sample(z, plane);
    let n = 0;
    let sx = 0;
    let sy = 0;
    const ys: number[] = [];
    for (let yi = 0; yi < ny; yi++) {
      let rowN = 0;
      for (let xi = 0; xi < nx; xi++) {
        const h = plane[yi * nx + xi] as number;
        if (h > -400) {
          n++;
          rowN++;
          sx += xi;
          sy += yi;
        }
        bone[yi * nx + xi] = h > BONE_HU ? min(h - BONE_HU, 700) : 0;
      }
      if (rowN > 10) ys.push(yi);
    }
    if (n < 200) continue;
    boxBlur(bone, nx, ny, radius, blur);
    cands.push({ z, blur: blur.slice(), cx: sx / n, cy: sy / n, yBack: ys.length ? (ys[ys.length - 1] as number) : ny - 1 });
  }
  const pick = (c: Cand, xCentre: number, halfWidth: number): { x: number; y: number; score: number } => {
    let best = -1;
    let bx = 0;
    let by = 0;
    const x0 = max(0, floor(xCentre - halfWidth / g));
    const x1 = min(nx - 1, floor(xCentre + halfWidth / g));
    const y0 = max(0, floor(c.cy - 30 / g));
    const y1 = min(ny - 1, floor(c.yBack - 12 / g));
    for (let yi = y0; yi <= y1; yi++) {
      for (let xi = x0; xi <= x1; xi++) {
        const s = c.blur[yi * nx + xi] as number;
        if (s > best) {
          best = s;
          bx = xi;
          by = yi;
        }
      }
    }
    // The maximum may sit on one side (a rib head, a transverse process); the bone-weighted centroid of
    // a window around it is pulled back to the midline by the symmetric structures on both sides.
    let mx = bx;
    let my = by;
    for (let it = 0; it < 3; it++) {
      let sw = 0;
      let swx = 0;
      let swy = 0;
      const wx = round(30 / g);
      const wy = round(25 / g);
      for (let yi = max(0, round(my) - wy); yi <= min(ny - 1, round(my) + wy); yi++) {
        for (let xi = max(0, round(mx) - wx); xi <= min(nx - 1, round(mx) + wx); xi++) {
          const s = c.blur[yi * nx + xi] as number;
          sw += s;
          swx += s * xi;
          swy += s * yi;
        }
      }
      if (sw <= 0) break;
      mx = swx / sw;
      my = swy / sw;
    }
    return { x: mx, y: my, score: best };
  };
  // Pass 1 around the column, pass 2 around the median spine x of pass 1 (keeps iliac wings and shoulders
  // out). The column is where bone persists along z: the peak of the bone score averaged over every plane,
  // within 80 mm of the body's median centre. Ribs, scapulae and the pelvis move or end from plane to plane,
  // the spine does not; and a field of view cropped through the spine puts it far from the body's centre
  // (a lung crop whose edge cuts the vertebrae: its ribs won every plane's maximum around that centre).
  const column = columnPeak(cands.map((c) => c.blur), nx, ny, median(cands.map((c) => c.cx)), 80 / g);
  const first = cands.map((c) => pick(c, column ?? c.cx, 60));
  const strong = first.filter((p) => p.score > 0);
  const xMed = median(strong.map((p) => p.x));
  const second = cands.map((c) => ({ z: c.z, ...pick(c, xMed, 40) }));
  const ref = median(second.map((p) => p.score).filter((s) => s > 0)) || 1;
  const kept = second.filter((p) => p.score > 0.35 * ref);
  const points = kept.map((p) => ({ z: p.z, x: lo[0] + p.x * g, y: lo[1] + p.y * g, score: p.score }));
  if (points.length === 0) {
    const cx = (lo[0] + hi[0]) / 2;
    const cy = (lo[1] + hi[1]) / 2;
    return { xAtZ: () => cx, yAtZ: () => cy, zRange: [hi[2], lo[2]], yRange: [cy, cy], lateralDeviationMm: 0, points: [] };
  }
  // A robust low-order fit of x(z): the pelvis, shoulders and ribs pull single planes sideways, the spine
  // bends slowly (a scoliotic curve is one or two smooth arcs).
  const fit = robustPolyFit(points.map((p) => p.z), points.map((p) => p.x), 4, 6);
  const tracked = points.map((p, i) => (abs((p.x as number) - (fit[i] as number)) <= 6 ? p.x : (fit[i] as number)));
  const win = max(3, round(40 / step) | 1);
  const xs = smoothSeries(tracked, win);
  const ysm = smoothSeries(points.map((p) => p.y), win);
  const zs = points.map((p) => p.z);
  const xAtZ = interpolator(zs, xs);
  const yAtZ = interpolator(zs, ysm);
  const zTop = zs[0] as number;
  const zBot = zs[zs.length - 1] as number;
  let dev = 0;
  const xTop = xs[0] as number;
  const xBot = xs[xs.length - 1] as number;
  zs.forEach((z, i) => {
    const t = (zTop - z) / (zTop - zBot || 1);
    dev = max(dev, abs((xs[i] as number) - (xTop + (xBot - xTop) * t)));
  });
  return {
    xAtZ,
    yAtZ,
    zRange: [zTop, zBot],
    yRange: [min(...ysm), max(...ysm)],
    lateralDeviationMm: dev,
    points,
  };
}
