/**
 * Vertebral bodies from the network's probability maps on the sagittal slab: connected components of the
 * foreground, then six-point morphometry on each (anterior, middle and posterior heights measured along the
 * body's own superior axis, which follows the spine's curve), and intensity findings inside the body
 * (sclerotic or lytic foci) that lower trust in a fracture call.
 *
 * Image axes: row r grows inferiorly, column c grows posteriorly; 1 pixel = slab.spacing mm.
 */
import type { SagittalSlab } from './reformat';
import { MAX_BODY_HEIGHT_MM } from './evidence';

const { hypot, max, min, round, floor } = Math;

/** Columns traced across the body for each endplate fit. */
const ENDPLATE_COLUMNS = 24;

/** Half the width of a vertebral body (mm) from its AP depth: adult bodies are ~1.45 times as wide as deep. */
export function bodyHalfWidthMm(depthMm: number): number {
  return 0.725 * depthMm;
}

export interface BodyComponent {
  id: number;
  pixels: number;
  /** Centroid (row, col). */
  centroid: [number, number];
  rowRange: [number, number];
  colRange: [number, number];
  /** Fraction of pixels the model calls S1. */
  s1Fraction: number;
  /** Mean foreground probability over the component. */
  meanProbability: number;
  /** Cut by the scan's edge: touches the first or last valid row of the volume, or (stages/bodies.ts) the field of view ends inside its sides. */
  touchesEdge: boolean;
}

export interface BodyMeasurement {
  /** Refined centre (row, col): middle of the body's depth and height. */
  center: [number, number];
  /** Unit superior and anterior directions in (row, col). */
  up: [number, number];
  anterior: [number, number];
  heightsMm: { anterior: number; middle: number; posterior: number };
  /** Posterior height read 1.5–3.5 mm inside the wall (median of three columns), without the profile fit: the crush comparison uses it. */
  posteriorDirectMm: number;
  depthMm: number;
  /** Six-point landmarks (row, col): superior/inferior × anterior/middle/posterior. */
  sixPoint: Array<[number, number]>;
  /** Heights (mm) between the fitted endplates at 0%, 10%, … 100% of the depth from the posterior wall (0 when unfitted). */
  profileMm: number[];
  /** Both endplates were traced and fitted (the middle height and the rim checks rest on them). */
  endplatesFound: boolean;
}

/** Foreground probability (1 − background) per pixel. */
export function foreground(probs: Float32Array, n: number, backgroundIndex: number): Float32Array {
  const fg = new Float32Array(n);
  const off = backgroundIndex * n;
  for (let i = 0; i < n; i++) fg[i] = 1 - (probs[off + i] as number);
  return fg;
}

/**
 * Connected components (4-neighbour) of fg ≥ 0.5, dropping specks smaller than `minAreaMm2`. `validRows`
 * is the row range inside the scanned volume.
 */
export function findBodies(
  fg: Float32Array,
  s1: Float32Array | null,
  rows: number,
  cols: number,
  opts: { spacing: number; minAreaMm2?: number; validRows: [number, number] },
): { components: BodyComponent[]; labels: Int32Array } {
  const labels = new Int32Array(rows * cols);
  const minPx = (opts.minAreaMm2 ?? 80) / (opts.spacing * opts.spacing);
  const comps: BodyComponent[] = [];
  const stack: number[] = [];
  let next = 0;
  for (let start = 0; start < rows * cols; start++) {
    if (labels[start] !== 0 || (fg[start] as number) < 0.5) continue;
    next++;
    labels[start] = next;
    stack.push(start);
    let r0 = rows;
    let r1 = -1;
    let c0 = cols;
    let c1 = -1;
    const members: number[] = [];
    while (stack.length) {
      const i = stack.pop() as number;
      members.push(i);
      const r = floor(i / cols);
      const c = i - r * cols;
      r0 = min(r0, r);
      r1 = max(r1, r);
      c0 = min(c0, c);
      c1 = max(c1, c);
      const nb = [r > 0 ? i - cols : -1, r < rows - 1 ? i + cols : -1, c > 0 ? i - 1 : -1, c < cols - 1 ? i + 1 : -1];
      for (const j of nb) {
        if (j >= 0 && labels[j] === 0 && (fg[j] as number) >= 0.5) {
          labels[j] = next;
          stack.push(j);
        }
      }
    }
    if (members.length < minPx) {
      for (const i of members) labels[i] = -1;
      continue;
    }
    // The statistics come from the one place that computes them (also used after splits).
    const comp = restat({ id: next, rowRange: [r0, r1], colRange: [c0, c1] }, labels, fg, s1, cols, opts.validRows);
    if (comp) comps.push(comp);
  }
  comps.sort((a, b) => a.centroid[0] - b.centroid[0]);
  return { components: comps, labels };
}

/** Least-squares quadratic y(a) = c0 + c1·a + c2·a² through the points; null when singular. */
export function quadraticFit(pts: Array<{ a: number; y: number }>): [number, number, number] | null {
  if (pts.length < 3) return null;
  // Normal equations on centred a for conditioning.
  const a0 = pts.reduce((s, p) => s + p.a, 0) / pts.length;
  const S = [0, 0, 0, 0, 0];
  const T = [0, 0, 0];
  for (const p of pts) {
    const x = p.a - a0;
    let xp = 1;
    for (let k = 0; k < 5; k++) {
      S[k] = (S[k] as number) + xp;
      if (k < 3) T[k] = (T[k] as number) + xp * p.y;
      xp *= x;
    }
  }
  const m = [
    [S[0] as number, S[1] as number, S[2] as number, T[0] as number],
    [S[1] as number, S[2] as number, S[3] as number, T[1] as number],
    [S[2] as number, S[3] as number, S[4] as number, T[2] as number],
  ];
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs((m[r] as number[])[c] as number) > Math.abs((m[p] as number[])[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    const piv = (m[c] as number[])[c] as number;
    if (Math.abs(piv) < 1e-9) return null;
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = ((m[r] as number[])[c] as number) / piv;
      for (let k = c; k < 4; k++) (m[r] as number[])[k] = ((m[r] as number[])[k] as number) - f * ((m[c] as number[])[k] as number);
    }
  }
  const b0 = (m[0] as number[])[3]! / (m[0] as number[])[0]!;
  const b1 = (m[1] as number[])[3]! / (m[1] as number[])[1]!;
  const b2 = (m[2] as number[])[3]! / (m[2] as number[])[2]!;
  // Back from centred coordinates: y = b0 + b1(a − a0) + b2(a − a0)².
  return [b0 - b1 * a0 + b2 * a0 * a0, b1 - 2 * b2 * a0, b2];
}

/**
 * The endplate through the points that most of them agree with, as a quadratic y(a) = c0 + c1·a + c2·a².
 * Least median of squares over the lines and quadratics through two or three of nine spread points (a
 * column that runs into a pedicle, a leak into the disc or a vein notch is outvoted as long as most
 * columns are clean), then least squares over the points within max(`tolerance`, 2.5 robust σ) of the
 * winner. `cup` is the sign c2 may take: an endplate is flat or cupped towards the body's centre, never
 * bulging away from it, so a fit that bulges is refitted as a line. Null when there are fewer than five
 * points, or fewer than half of them agree.
 */
export function robustEndplateFit(pts: Array<{ a: number; y: number }>, tolerance: number, cup: 1 | -1): [number, number, number] | null {
  const need = max(5, Math.ceil(pts.length / 2));
  if (pts.length < need) return null;
  const residuals = (f: [number, number, number]): number[] => pts.map((p) => Math.abs(p.y - (f[0] + f[1] * p.a + f[2] * p.a * p.a)));
  const medianOf = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number;
  const probe = Array.from({ length: 9 }, (_, k) => pts[Math.round((k * (pts.length - 1)) / 8)] as { a: number; y: number });
  let best: [number, number, number] | null = null;
  let bestMed = Infinity;
  const consider = (f: [number, number, number] | null): void => {
    if (!f || f[2] * cup < 0) return;
    const med = medianOf(residuals(f));
    if (med < bestMed) {
      bestMed = med;
      best = f;
    }
  };
  for (let i = 0; i < 9; i++)
    for (let j = i + 1; j < 9; j++) {
      const l = lineFit([probe[i]!, probe[j]!]);
      consider(l && [l[0], l[1], 0]);
      for (let k = j + 1; k < 9; k++) consider(quadraticFit([probe[i]!, probe[j]!, probe[k]!]));
    }
  if (best === null) return null;
  const cut = max(tolerance, 2.5 * 1.4826 * bestMed);
  const res = residuals(best);
  const kept = pts.filter((_, i) => (res[i] as number) <= cut);
  if (kept.length < need) return null;
  const fit = quadraticFit(kept);
  if (fit && fit[2] * cup >= 0) return fit;
  // The refit bulges: the best line through the same points.
  const line = lineFit(kept);
  return line ? [line[0], line[1], 0] : null;
}

/** Least-squares line y(a) = c0 + c1·a; null when the a values coincide. */
function lineFit(pts: Array<{ a: number; y: number }>): [number, number] | null {
  const n = pts.length;
  const ma = pts.reduce((s, p) => s + p.a, 0) / n;
  const my = pts.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of pts) {
    sxx += (p.a - ma) ** 2;
    sxy += (p.a - ma) * (p.y - my);
  }
  if (sxx < 1e-9) return null;
  const b = sxy / sxx;
  return [my - b * ma, b];
}

/**
 * The height profile's quadratic after dropping columns that disagree with the median by more than 35%
 * (a column through a notch or off the body); null when fewer than five remain.
 */
function profileFit(prof: Array<{ a: number; h: number }>): [number, number, number] | null {
  const hs = prof.map((p) => p.h).sort((x, y) => x - y);
  const med = hs[hs.length >> 1] as number;
  const pts = prof.filter((p) => p.h > 0 && Math.abs(p.h - med) <= 0.35 * med).map((p) => ({ a: p.a, y: p.h }));
  return pts.length < 5 ? null : quadraticFit(pts);
}

/** A component's statistics from the label image, within its bounding box. */
function restat(c: Pick<BodyComponent, 'id' | 'rowRange' | 'colRange'>, labels: Int32Array, fg: Float32Array, s1: Float32Array | null, cols: number, validRows: [number, number]): BodyComponent | null {
  let n = 0;
  let sr = 0;
  let sc = 0;
  let s1n = 0;
  let sp = 0;
  let r0 = Infinity;
  let r1 = -1;
  let c0 = Infinity;
  let c1 = -1;
  for (let r = c.rowRange[0]; r <= c.rowRange[1]; r++) {
    for (let col = c.colRange[0]; col <= c.colRange[1]; col++) {
      const i = r * cols + col;
      if (labels[i] !== c.id) continue;
      n++;
      sr += r;
      sc += col;
      sp += fg[i] as number;
      if (s1 && (s1[i] as number) > 0.5 * (fg[i] as number)) s1n++;
      r0 = min(r0, r);
      r1 = max(r1, r);
      c0 = min(c0, col);
      c1 = max(c1, col);
    }
  }
  if (n === 0) return null;
  return { ...c, pixels: n, centroid: [sr / n, sc / n], rowRange: [r0, r1], colRange: [c0, c1], s1Fraction: s1n / n, meanProbability: sp / n, touchesEdge: r0 <= validRows[0] + 1 || r1 >= validRows[1] - 1 };
}

/**
 * The most rows (mm along z) one body spans: a body tilted 30° (a lordotic L5) spans its height × cos 30° +
 * its depth (~35 mm) × sin 30°; at the tallest height one body has, ~49 mm.
 */
const MAX_ROWS_OF_ONE_BODY_MM = MAX_BODY_HEIGHT_MM * Math.cos(Math.PI / 6) + 35 * Math.sin(Math.PI / 6);

/** The shortest whole body a split may leave on either side of its cut (an upper thoracic body is ~14 mm tall). */
const MIN_PART_MM = 12;

/**
 * Splits components that hold more than one body at their narrowest row, round after round until nothing
 * changes: a component much taller than the others (1.6×) with a clear waist (< 45% of its median row
 * width: two bodies joined across a thin disc), or one that cannot be a single body — taller than one body
 * can span (MAX_ROWS_OF_ONE_BODY_MM) or 1.8× the others — with a waist under 75%: on thick slices (5–8 mm)
 * the discs blur and the network draws a column of bodies with notched walls. Where the bodies come in
 * pairs the median height is a pair's, so a component with room for two bodies (MIN_PART_MM each side) is
 * split too when its waist is under 45% and is a neck, one run of pixels. No cut leaves less than
 * MIN_PART_MM on a side. The sacrum is one bone: an S1-like component stays whole (its lowest S1-like body
 * anchors the labels).
 */
export function splitMerged(
  comps: BodyComponent[],
  labels: Int32Array,
  fg: Float32Array,
  s1: Float32Array | null,
  cols: number,
  validRows: [number, number],
  spacing = 1,
): BodyComponent[] {
  let current = comps;
  for (let round = 0; round < 8; round++) {
    const next = splitRound(current, labels, fg, s1, cols, validRows, spacing);
    if (next.length === current.length) break;
    current = next;
  }
  return [...current].sort((a, b) => a.centroid[0] - b.centroid[0]);
}

/** Contiguous runs of a component's pixels along one row. */
function runsInRow(labels: Int32Array, c: BodyComponent, row: number, cols: number): number {
  let runs = 0;
  let inside = false;
  for (let col = c.colRange[0]; col <= c.colRange[1]; col++) {
    const on = labels[row * cols + col] === c.id;
    if (on && !inside) runs++;
    inside = on;
  }
  return runs;
}

function splitRound(comps: BodyComponent[], labels: Int32Array, fg: Float32Array, s1: Float32Array | null, cols: number, validRows: [number, number], spacing: number): BodyComponent[] {
  const heights = comps.map((c) => c.rowRange[1] - c.rowRange[0] + 1).sort((a, b) => a - b);
  const typical = heights[heights.length >> 1] ?? 0;
  const judged = comps.length >= 3;
  let nextId = comps.reduce((m, c) => max(m, c.id), 0) + 1;
  const out: BodyComponent[] = [];
  for (const c of comps) {
    const h = c.rowRange[1] - c.rowRange[0] + 1;
    const notOne = c.s1Fraction <= 0.5 && (h * spacing > MAX_ROWS_OF_ONE_BODY_MM || (judged && h >= 1.8 * typical));
    const tall = judged && h >= 1.6 * typical;
    // Room for two whole bodies: at least MIN_PART_MM each side of the cut.
    const twoFit = c.s1Fraction <= 0.5 && h * spacing >= 2 * MIN_PART_MM;
    const waistBelow = notOne ? 0.75 : tall || twoFit ? 0.45 : 0;
    if (waistBelow === 0) {
      out.push(c);
      continue;
    }
    const widths: number[] = [];
    for (let r = c.rowRange[0]; r <= c.rowRange[1]; r++) {
      let w = 0;
      for (let col = c.colRange[0]; col <= c.colRange[1]; col++) if (labels[r * cols + col] === c.id) w++;
      widths.push(w);
    }
    const med = [...widths].sort((a, b) => a - b)[widths.length >> 1] ?? 0;
    let best = -1;
    const part = Math.ceil(MIN_PART_MM / spacing);
    for (let k = max(floor(0.2 * h), part); k < min(Math.ceil(0.8 * h), h - part); k++) if (best < 0 || (widths[k] as number) < (widths[best] as number)) best = k;
    // Where only the room for two bodies argues for a split, the notch must be a neck (one run of pixels):
    // a severe biconcave fracture also narrows at mid-height, but to its two walls with the collapse between.
    const neckOnly = notOne || tall || (best >= 0 && runsInRow(labels, c, c.rowRange[0] + best, cols) === 1);
    if (best < 0 || (widths[best] as number) >= waistBelow * med || !neckOnly) {
      out.push(c);
      continue;
    }
    const cut = c.rowRange[0] + best;
    const id2 = nextId++;
    for (let r = cut; r <= c.rowRange[1]; r++) for (let col = c.colRange[0]; col <= c.colRange[1]; col++) if (labels[r * cols + col] === c.id) labels[r * cols + col] = r === cut ? -1 : id2;
    const upper = restat(c, labels, fg, s1, cols, validRows);
    const lower = restat({ ...c, id: id2 }, labels, fg, s1, cols, validRows);
    if (upper) out.push(upper);
    if (lower) out.push(lower);
  }
  return out;
}

/**
 * The components that sit on the vertebral column. Each body's centre is compared with the line through
 * its four nearest components by height (the column's local course); the one furthest off is dropped
 * while that is more than `maxOffMm` (anterior–posterior), then the rest are judged again. Between
 * levels the column curves by a few millimetres (lordosis, kyphosis, a slipped L5) and the sacral
 * promontory stands back from the lumbar line by up to ~30 mm, while a bright vessel the network took for
 * bone — a contrast-filled aorta — sits 40–70 mm in front of it. Needs four components to judge.
 */
export function onTheColumn(comps: BodyComponent[], spacing: number, maxOffMm = 35): BodyComponent[] {
  let kept = comps;
  while (kept.length >= 4) {
    const off = kept.map((c) => {
      const near = kept
        .filter((o) => o !== c)
        .sort((x, y) => Math.abs(x.centroid[0] - c.centroid[0]) - Math.abs(y.centroid[0] - c.centroid[0]))
        .slice(0, 4)
        .map((o) => ({ a: o.centroid[0], y: o.centroid[1] }));
      const l = lineFit(near);
      const expected = l ? l[0] + l[1] * c.centroid[0] : (near[0] as { y: number }).y;
      return Math.abs(c.centroid[1] - expected) * spacing;
    });
    const worst = off.indexOf(max(...off));
    if ((off[worst] as number) <= maxOffMm) break;
    kept = kept.filter((_, i) => i !== worst);
  }
  return kept;
}

/**
 * A whole body covers at least this share of the area of a large body on the column (the upper quartile of
 * its components): T1 against the lumbar bodies stands at ~0.2, a grade-3 crush at ~0.5 of its neighbours.
 */
const MIN_SHARE_OF_LARGE_AREA = 0.15;

/**
 * Drops fragments: a component inside the scan (not cut by its edge) that covers less than 15% of the
 * upper-quartile component's area is a piece the network split off a body, an arch or a rib head, not a
 * vertebra, and would take a level in the count. On the elastix chest crop two such slivers (91 and
 * 96 mm² beside bodies of 200–980 mm²) took levels, and one was called S1 and anchored the count. The
 * upper quartile, not the median: where the column splits into many small pieces the median falls with them.
 */
export function withoutFragments(comps: BodyComponent[]): BodyComponent[] {
  if (comps.length < 3) return comps;
  const areas = comps.map((c) => c.pixels).sort((a, b) => a - b);
  const large = areas[Math.floor(0.75 * (areas.length - 1))] as number;
  return comps.filter((c) => c.touchesEdge || c.pixels >= MIN_SHARE_OF_LARGE_AREA * large);
}

/** Bilinear sample of a map at fractional (row, col); 0 outside. */
function bilinear(m: Float32Array, rows: number, cols: number, r: number, c: number): number {
  if (r < 0 || c < 0 || r > rows - 1 || c > cols - 1) return 0;
  const r0 = min(rows - 2, floor(r));
  const c0 = min(cols - 2, floor(c));
  const tr = r - r0;
  const tc = c - c0;
  const i = r0 * cols + c0;
  return ((m[i] as number) * (1 - tc) + (m[i + 1] as number) * tc) * (1 - tr) + ((m[i + cols] as number) * (1 - tc) + (m[i + cols + 1] as number) * tc) * tr;
}

/**
 * Distance (pixels) from p along unit direction d to the component's far edge: the last place the
 * probability falls below 0.5 before the walk has been outside for `gapPx` (so a vein notch, a lytic hole
 * or a Schmorl node inside the body is crossed) or reaches another component.
 */
function edgeDistance(fg: Float32Array, labels: Int32Array, id: number, rows: number, cols: number, p: [number, number], d: [number, number], maxPx: number, gapPx = 4): number {
  const step = 0.25;
  let prev = bilinear(fg, rows, cols, p[0], p[1]);
  let edge = 0;
  let outsideFor = prev < 0.5 ? 0 : -1;
  for (let t = step; t <= maxPx; t += step) {
    const r = p[0] + d[0] * t;
    const c = p[1] + d[1] * t;
    const ri = round(r);
    const ci = round(c);
    const lab = ri >= 0 && ci >= 0 && ri < rows && ci < cols ? (labels[ri * cols + ci] as number) : 0;
    const other = lab > 0 && lab !== id;
    const v = other ? 0 : bilinear(fg, rows, cols, r, c);
    if (v < 0.5 && prev >= 0.5) edge = t - step + (step * (prev - 0.5)) / (prev - v || 1);
    if (v >= 0.5) outsideFor = 0;
    else if (outsideFor >= 0) outsideFor += step;
    if (other || (outsideFor > gapPx && edge > 0)) break;
    prev = v;
  }
  return edge;
}

/**
 * Six-point morphometry of one body. `up` is the spine's superior direction at the body (from its
 * neighbours' centres). Anterior and posterior heights are read just inside the walls, where the six-point
 * method places its landmarks.
 */
export function measureBody(
  fg: Float32Array,
  labels: Int32Array,
  comp: BodyComponent,
  rows: number,
  cols: number,
  spacing: number,
  upHint: [number, number],
): BodyMeasurement {
  const un = hypot(upHint[0], upHint[1]) || 1;
  const up: [number, number] = [upHint[0] / un, upHint[1] / un];
  // Anterior is perpendicular to up, towards smaller columns.
  let ant: [number, number] = [up[1], -up[0]];
  if (ant[1] > 0) ant = [-ant[0], -ant[1]];
  const maxPx = 60 / spacing;
  const ray = (p: [number, number], d: [number, number]): number => edgeDistance(fg, labels, comp.id, rows, cols, p, d, maxPx);
  const at = (p: [number, number], s: number, a: number): [number, number] => [p[0] + up[0] * s + ant[0] * a, p[1] + up[1] * s + ant[1] * a];
  let c: [number, number] = [comp.centroid[0], comp.centroid[1]];
  let depth = 0;
  let height = 0;
  for (let it = 0; it < 3; it++) {
    const eA = ray(c, ant);
    const eP = ray(c, [-ant[0], -ant[1]]);
    c = at(c, 0, (eA - eP) / 2);
    depth = eA + eP;
    const eU = ray(c, up);
    const eD = ray(c, [-up[0], -up[1]]);
    c = at(c, (eU - eD) / 2, 0);
    height = eU + eD;
  }
  // Walls: the widest extent over the body's middle 40% of height (the anterior wall is waisted).
  let aWall = 0;
  let pWall = 0;
  for (const f of [-0.2, -0.1, 0, 0.1, 0.2]) {
    const p = at(c, f * height, 0);
    aWall = max(aWall, ray(p, ant));
    pWall = max(pWall, ray(p, [-ant[0], -ant[1]]));
  }
  const column = (a: number): { h: number; top: [number, number]; bottom: [number, number] } => {
    const p = at(c, 0, a);
    const eU = ray(p, up);
    const eD = ray(p, [-up[0], -up[1]]);
    return { h: eU + eD, top: at(p, eU, 0), bottom: at(p, -eD, 0) };
  };
  const medianColumn = (centre: number): { h: number; top: [number, number]; bottom: [number, number] } => {
    const cs = [-1, 0, 1].map((k) => column(centre + k / spacing)).sort((x, y) => x.h - y.h);
    return cs[1] as { h: number; top: [number, number]; bottom: [number, number] };
  };
  // The six-point landmarks sit at the corners, where the mask is rounded by partial volume. Read the
  // height profile across the body (columns from 1.5 mm inside the posterior wall to 1.5 mm inside the
  // anterior one) and fit a quadratic in the AP position: exact for the wedge (linear) and biconcave
  // (central depression) shapes, constant for a crush. The anterior and posterior heights are that fit at
  // the walls.
  const lo = -pWall + 1.5 / spacing;
  const hi = aWall - 1.5 / spacing;
  const prof: Array<{ a: number; h: number }> = [];
  for (let k = 0; k <= 10; k++) {
    const a = lo + ((hi - lo) * k) / 10;
    prof.push({ a, h: column(a).h });
  }
  // The middle height is read between the superior and inferior endplates, each traced over the same
  // span and fitted robustly: a leak into the disc or a vein notch under the central columns is outvoted
  // by the rest of the endplate, where reading those columns directly would measure the leak.
  const sup: Array<{ a: number; y: number }> = [];
  const inf: Array<{ a: number; y: number }> = [];
  for (let k = 0; k <= ENDPLATE_COLUMNS; k++) {
    const a = lo + ((hi - lo) * k) / ENDPLATE_COLUMNS;
    const p = at(c, 0, a);
    const eU = ray(p, up);
    const eD = ray(p, [-up[0], -up[1]]);
    if (eU > 0) sup.push({ a, y: eU });
    if (eD > 0) inf.push({ a, y: -eD });
  }
  const top = robustEndplateFit(sup, 1 / spacing, 1);
  const bottom = robustEndplateFit(inf, 1 / spacing, -1);
  const between = (a: number): { h: number; top: [number, number]; bottom: [number, number] } | null => {
    if (!top || !bottom) return null;
    const t = top[0] + top[1] * a + top[2] * a * a;
    const b = bottom[0] + bottom[1] * a + bottom[2] * a * a;
    return { h: max(0, t - b), top: at(c, t, a), bottom: at(c, b, a) };
  };
  const mid = (aWall - pWall) / 2;
  const M = between(mid) ?? medianColumn(mid);
  // Direct readings near the walls: the median of the columns 1.5, 2.5 and 3.5 mm inside, so one column
  // through a vein notch or a ragged corner cannot decide. Where all three run into something taller than
  // the body — a pedicle or the arch merged with it on a coarse scan — they stand more than 15% above the
  // fitted endplates at the same place, and the endplates' reading replaces them (the wall fit below is
  // then held within 10% of it).
  const direct = (a: number): { h: number; top: [number, number]; bottom: [number, number] } => {
    const d = medianColumn(a);
    const e = between(a);
    return e && d.h > 1.15 * e.h ? e : d;
  };
  const A0 = direct(hi - 1 / spacing);
  const P0 = direct(lo + 1 / spacing);
  const fit = profileFit(prof);
  const atWall = (a: number, fallback: number): number => {
    if (!fit) return fallback;
    const v = fit[0] + fit[1] * a + fit[2] * a * a;
    // A fit that runs away at the ends (a ragged mask) must not beat the direct reading by much: the
    // corrections it exists for are a few percent (wedge slope), noise on small bodies is not. The rim of a
    // biconcave body is the exception: it rises steeply over the last few millimetres, so the direct reading
    // 1.5–3.5 mm inside stands 10–25% below it. The fit may go that far only where the robust endplate fits
    // stand as high at the same wall: two readings of the mask agreeing on a rim, not one column's noise.
    const rim = between(a)?.h ?? 0;
    const ceiling = max(1.1 * fallback, min(1.25 * fallback, rim));
    return max(0.9 * fallback, min(ceiling, v));
  };
  const A = { ...A0, h: atWall(aWall, A0.h) };
  const P = { ...P0, h: atWall(-pWall, P0.h) };
  return {
    center: c,
    up,
    anterior: ant,
    heightsMm: { anterior: A.h * spacing, middle: M.h * spacing, posterior: P.h * spacing },
    posteriorDirectMm: P0.h * spacing,
    depthMm: (aWall + pWall) * spacing,
    sixPoint: [A.top, M.top, P.top, A.bottom, M.bottom, P.bottom],
    profileMm: Array.from({ length: 11 }, (_, k) => (between(-pWall + (k / 10) * (aWall + pWall))?.h ?? 0) * spacing),
    endplatesFound: top !== null && bottom !== null,
  };
}

/**
 * Dense or destroyed bone inside the body (eroded by 4 mm from its outline, over every slab channel):
 * `sclerotic` when ≥ 12 mm² are above 450 HU, `lytic` when ≥ 15 mm² (3×3-smoothed) are below
 * min(100 HU, interior median − 90 HU).
 */
export function intensityFlags(slab: SagittalSlab, labels: Int32Array, comp: BodyComponent): { sclerotic: boolean; lytic: boolean } {
  const { rows, cols } = slab;
  const er = max(1, round(4 / slab.spacing));
  const inside = (r: number, c: number): boolean => r >= 0 && c >= 0 && r < rows && c < cols && labels[r * cols + c] === comp.id;
  const interior: number[] = [];
  for (let r = comp.rowRange[0]; r <= comp.rowRange[1]; r++) {
    for (let c = comp.colRange[0]; c <= comp.colRange[1]; c++) {
      if (inside(r, c) && inside(r - er, c) && inside(r + er, c) && inside(r, c - er) && inside(r, c + er) && inside(r - er, c - er) && inside(r + er, c + er) && inside(r - er, c + er) && inside(r + er, c - er)) interior.push(r * cols + c);
    }
  }
  if (interior.length < 10) return { sclerotic: false, lytic: false };
  const px2 = slab.spacing * slab.spacing;
  let sclerotic = false;
  let lytic = false;
  for (let ch = 0; ch < slab.channels; ch++) {
    const base = ch * rows * cols;
    const vals = interior.map((i) => slab.data[base + i] as number).sort((a, b) => a - b);
    const med = vals[vals.length >> 1] as number;
    const lyticBelow = min(100, med - 90);
    let dense = 0;
    let low = 0;
    for (const i of interior) {
      if ((slab.data[base + i] as number) > 450) dense++;
      let s = 0;
      for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) s += slab.data[base + i + dr * cols + dc] as number;
      if (s / 9 < lyticBelow) low++;
    }
    if (dense * px2 >= 12) sclerotic = true;
    if (low * px2 >= 15) lytic = true;
  }
  return { sclerotic, lytic };
}

