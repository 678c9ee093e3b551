/**
 * Training data for the reference model, made by the project's own phantom generator: curved sagittal
 * slabs (HU) and per-pixel targets (0 background, 1 vertebral body T1–L5, 2 S1 body) sampled from the
 * phantom's label map on the same plane. Used by models/training/export-dataset.ts; nothing here runs in
 * the service.
 */
import { analyzeSeriesBuffers } from '../imaging/analyze';
import { decodeNifti, type GridData } from '../imaging/nifti';
import { phantomBuffers, randomPhantomOptions, type GroundTruth, type PhantomOptions } from '../imaging/phantom/generate';
import { Prng } from '../imaging/phantom/prng';
import type { Vec3, Volume } from '../imaging/volume';
import { curvedSagittal, type SagittalSlab } from './reformat';

const { floor, max, min, round } = Math;

/** Piecewise-linear interpolation of (z → value) knots, clamped at the ends. */
export function interpolateByZ(knots: Array<{ z: number; v: number }>): (z: number) => number {
  const k = [...knots].sort((a, b) => b.z - a.z);
  return (z: number): number => {
    if (k.length === 0) return 0;
    const first = k[0] as { z: number; v: number };
    const last = k[k.length - 1] as { z: number; v: number };
    if (z >= first.z) return first.v;
    if (z <= last.z) return last.v;
    for (let i = 0; i + 1 < k.length; i++) {
      const a = k[i] as { z: number; v: number };
      const b = k[i + 1] as { z: number; v: number };
      if (z <= a.z && z >= b.z) return a.v + ((b.v - a.v) * (a.z - z)) / (a.z - b.z || 1);
    }
    return last.v;
  };
}

/** Nearest-neighbour label at an LPS point. */
function labelAt(g: GridData, p: Vec3): number {
  const d: Vec3 = [p[0] - g.origin[0], p[1] - g.origin[1], p[2] - g.origin[2]];
  const f = [0, 1, 2].map((a) => {
    const dir = g.direction[a] as Vec3;
    return round((d[0] * dir[0] + d[1] * dir[1] + d[2] * dir[2]) / (g.spacing[a] as number));
  });
  const [i, j, k] = f as [number, number, number];
  if (i < 0 || j < 0 || k < 0 || i >= g.dims[0] || j >= g.dims[1] || k >= g.dims[2]) return 0;
  return g.data[i + j * g.dims[0] + k * g.dims[0] * g.dims[1]] as number;
}

/** LPS (mm) of a grid's voxel centre (i, j, k). */
function gridPoint(g: GridData, i: number, j: number, k: number): Vec3 {
  const [di, dj, dk] = g.direction;
  const [si, sj, sk] = g.spacing;
  return [0, 1, 2].map((a) => (g.origin[a] as number) + i * si * (di[a] as number) + j * sj * (dj[a] as number) + k * sk * (dk[a] as number)) as Vec3;
}

/** Targets on the slab's centre plane: 1 for T1–L5 bodies (labels 1–17), 2 for S1 (18), else 0. */
export function slabTargets(slab: SagittalSlab, labels: GridData): Uint8Array {
  const out = new Uint8Array(slab.rows * slab.cols);
  for (let r = 0; r < slab.rows; r++) {
    const z = slab.zTop - r * slab.spacing;
    const x = slab.xAt[r] as number;
    for (let c = 0; c < slab.cols; c++) {
      const l = labelAt(labels, [x, slab.y0 + c * slab.spacing, z]);
      out[r * slab.cols + c] = l >= 1 && l <= 17 ? 1 : l === 18 ? 2 : 0;
    }
  }
  return out;
}

export interface TrainingSample {
  slab: SagittalSlab;
  target: Uint8Array;
  /** Jitter applied to the centre line (mm) and the phantom seed. */
  meta: { seed: number; dxMm: number; waveMm: number };
}

/** A phantom recipe for training: the seeded random recipe at a reduced matrix (faster to paint). */
export function trainingPhantomOptions(seed: number): Partial<PhantomOptions> {
  const r = new Prng(seed).fork('training-geometry');
  const ps = round(r.range(0.8, 1.6) * 100) / 100;
  return { ...randomPhantomOptions(seed), pixelSpacing: ps, size: round(380 / ps), labels: true, localizer: false, doseReport: false };
}

/** Generates one phantom in memory and returns its volume, label map and ground truth. */
export function phantomVolume(options: Partial<PhantomOptions>): { volume: Volume; labels: GridData | null; truth: GroundTruth } {
  const { truth, files } = phantomBuffers(options);
  const ct = files.filter((f) => f.name.startsWith('CT.'));
  const { volume } = analyzeSeriesBuffers(ct.map((f) => f.data));
  const lf = files.find((f) => f.name === 'labels.nii.gz');
  return { volume, labels: lf ? decodeNifti(lf.data) : null, truth };
}

/** The y range (mm) the service reformats for a spine whose body centres span [yMin, yMax]. */
export function yRangeForSpine(yMin: number, yMax: number): [number, number] {
  return [yMin - 50, yMax + 60];
}

/**
 * `count` training samples from one phantom: centre lines taken from the ground-truth body centres,
 * shifted by a random lateral offset (±5 mm) and a slow lateral wave, so the network sees what an
 * imperfect localisation gives it.
 */
export function samplesFromPhantom(seed: number, count: number): TrainingSample[] {
  const { volume, labels, truth } = phantomVolume(trainingPhantomOptions(seed));
  if (!labels) throw new Error('phantom without labels');
  return samplesAlongCentres(volume, labels, truth.vertebrae.map((v) => v.centerMm), seed, count);
}

/**
 * Training samples from a real CT and its vertebral-body label map in the phantom's codes (1–17 T1–L5,
 * 18 S1): the centre line follows the labelled bodies' centroids, jittered as for a phantom.
 */
export function samplesFromLabelledVolume(volume: Volume, labels: GridData, seed: number, count: number): TrainingSample[] {
  const sums = new Map<number, [number, number, number, number]>();
  const [nx, ny, nz] = labels.dims;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const code = labels.data[i + j * nx + k * nx * ny] as number;
        if (code < 1 || code > 18) continue;
        const s = sums.get(code) ?? [0, 0, 0, 0];
        const p = gridPoint(labels, i, j, k);
        sums.set(code, [s[0] + p[0], s[1] + p[1], s[2] + p[2], s[3] + 1]);
      }
    }
  }
  // Bodies cut to a sliver by the scan's edge would bend the centre line: only those of some size count.
  const centres = [...sums.values()].filter((s) => s[3] >= 50).map((s) => [s[0] / s[3], s[1] / s[3], s[2] / s[3]] as Vec3);
  if (centres.length === 0) throw new Error('no labelled vertebral body');
  return samplesAlongCentres(volume, labels, centres, seed, count);
}

function samplesAlongCentres(volume: Volume, labels: GridData, centres: Vec3[], seed: number, count: number): TrainingSample[] {
  const r = new Prng(seed).fork('training-jitter');
  const xs = interpolateByZ(centres.map((c) => ({ z: c[2], v: c[0] })));
  const ys = centres.map((c) => c[1]);
  const out: TrainingSample[] = [];
  for (let i = 0; i < count; i++) {
    const dx = i === 0 ? 0 : r.range(-5, 5);
    const wave = i < 2 ? 0 : r.range(-3, 3);
    const phase = r.range(0, 2 * Math.PI);
    const [ya, yb] = yRangeForSpine(min(...ys), max(...ys));
    const slab = curvedSagittal(volume, {
      xAtZ: (z) => xs(z) + dx + wave * Math.sin(z / 60 + phase),
      yRange: [ya - floor(r.range(0, 20)), yb + floor(r.range(0, 20))],
    });
    out.push({ slab, target: slabTargets(slab, labels), meta: { seed, dxMm: dx, waveMm: wave } });
  }
  return out;
}
