/**
 * Torso anatomy for the phantom, rasterised one axial slice at a time in patient coordinates (LPS mm).
 * Each slice is painted back to front (air, body wall, organs, spine, ribs) on a canvas whose columns run
 * to patient left (+x) and rows to posterior (+y); the writer flips it for other patient positions.
 */
import { SPINE_LEVELS } from '../../domain/vocabulary';
import type { Prng } from './prng';
import { endplates, type Anatomy, type Vec3, type VertebraModel } from './spine';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { abs, ceil, cos, floor, hypot, imul, max, min, round, sin, sqrt } = Math;

/** Reference HU values (CT of an adult, non-contrast). */
export const HU = {
  air: -1000,
  lung: -850,
  fat: -100,
  skin: 30,
  muscle: 45,
  liver: 60,
  spleen: 50,
  kidney: 35,
  blood: 40,
  bowel: 20,
  disc: 80,
  csf: 10,
  cord: 30,
  cartilage: 110,
} as const;

/**
 * Iodinated contrast: blood and organ HU by phase (staging CTs are mostly portal-venous). Arteries and
 * veins are absolute HU; liver, spleen and kidneys are increments over their native values.
 */
export const CONTRAST_PHASES = ['none', 'arterial', 'portal-venous'] as const;
export type ContrastPhase = (typeof CONTRAST_PHASES)[number];
export const isContrastPhase = (s: string): s is ContrastPhase => (CONTRAST_PHASES as readonly string[]).includes(s);
const ENHANCEMENT: Record<ContrastPhase, { artery: number; vein: number; liver: number; spleen: number; kidney: number }> = {
  none: { artery: HU.blood, vein: HU.blood, liver: 0, spleen: 0, kidney: 0 },
  arterial: { artery: 320, vein: 90, liver: 20, spleen: 60, kidney: 140 },
  'portal-venous': { artery: 170, vein: 160, liver: 55, spleen: 70, kidney: 120 },
};

export interface BoneDensity {
  cortical: number;
  cancellous: number;
  corticalThickness: number;
}

/** A 2D canvas for one axial slice: pixel (c, r) is at x = x0 + c·ps, y = y0 + r·ps (LPS mm). */
export interface SliceCanvas {
  hu: Float32Array;
  /** Optional label map of the same size: vertebral body = level index + 1, posterior elements = 101 + index. */
  labels?: Uint8Array;
  cols: number;
  rows: number;
  x0: number;
  y0: number;
  ps: number;
}

interface Ellipsoid {
  c: Vec3;
  r: Vec3;
  hu: number;
}

interface RibModel {
  side: 1 | -1;
  /** z of the rib head (mm). */
  z0: number;
  /** How far (mm) the rib descends from head to the anterior end. */
  drop: number;
  /** Angular extent (radians from the back) of bone and then cartilage. */
  boneEnd: number;
  cartilageEnd: number;
  radius: number;
  /** Costovertebral joint position (x, y). */
  head: [number, number];
}

export interface AnatomyModel {
  vertebrae: VertebraModel[];
  /** Cervical bodies above T1, top down (alternate anatomy; empty in the reference). */
  cervical: VertebraModel[];
  bone: BoneDensity;
  /** Vertebra centre z per level (for interpolating body-wall parameters). */
  levelZ: number[];
  fatThickness: number;
  organs: Ellipsoid[];
  /** HU of arterial and venous blood (the great vessels; the heart holds venous blood). */
  vessels: { artery: number; vein: number };
  bowel: Ellipsoid[];
  gas: Ellipsoid[];
  ribs: RibModel[];
  domeRightZ: number;
  domeLeftZ: number;
  apexZ: number;
}

/** Body wall per level index (T1 = 0 … S1 = 17): half-width, AP half-depth, AP centre (mm). */
const WALL: Array<[number, number, number, number]> = [
  // [levelIndex, halfWidth, halfDepth, centreY]
  [-2, 115, 80, 20],
  [0, 135, 95, 18],
  [3, 155, 110, 17],
  [7, 165, 118, 15],
  [11, 165, 115, 8],
  [14, 160, 112, -3],
  [17, 172, 110, 5],
  [20, 175, 105, 8],
];

function interpWall(u: number): { a: number; b: number; cy: number } {
  let lo = WALL[0] as [number, number, number, number];
  let hi = WALL[WALL.length - 1] as [number, number, number, number];
  for (let i = 0; i + 1 < WALL.length; i++) {
    const p = WALL[i] as [number, number, number, number];
    const q = WALL[i + 1] as [number, number, number, number];
    if (u >= p[0] && u <= q[0]) {
      lo = p;
      hi = q;
      break;
    }
  }
  if (u < lo[0]) return { a: lo[1], b: lo[2], cy: lo[3] };
  if (u > hi[0]) return { a: hi[1], b: hi[2], cy: hi[3] };
  const t = (u - lo[0]) / (hi[0] - lo[0] || 1);
  return { a: lo[1] + (hi[1] - lo[1]) * t, b: lo[2] + (hi[2] - lo[2]) * t, cy: lo[3] + (hi[3] - lo[3]) * t };
}

/** Fractional level index at height z (T1 centre = 0, S1 centre = 17), extrapolated beyond the ends. */
export function levelPosition(levelZ: number[], z: number): number {
  const n = levelZ.length;
  const zAt = (i: number): number => levelZ[i] as number;
  if (z >= zAt(0)) return -(z - zAt(0)) / max(1, zAt(0) - zAt(1));
  for (let i = 0; i + 1 < n; i++) {
    if (z <= zAt(i) && z >= zAt(i + 1)) return i + (zAt(i) - z) / (zAt(i) - zAt(i + 1));
  }
  return n - 1 + (zAt(n - 1) - z) / max(1, zAt(n - 2) - zAt(n - 1));
}

/** Spine centre (x, y) at height z, interpolated between vertebra frame centres. */
function spineXYAt(m: AnatomyModel, z: number): [number, number, VertebraModel] {
  const u = levelPosition(m.levelZ, z);
  const i = max(0, min(m.vertebrae.length - 2, floor(u)));
  const t = max(-1.5, min(2.5, u - i));
  const a = m.vertebrae[i] as VertebraModel;
  const b = m.vertebrae[i + 1] as VertebraModel;
  return [
    a.frameCenter[0] + (b.frameCenter[0] - a.frameCenter[0]) * t,
    a.frameCenter[1] + (b.frameCenter[1] - a.frameCenter[1]) * t,
    t < 0.5 ? a : b,
  ];
}

/**
 * `ribPairs`: 12, or a transitional variant — 11 (T12 without ribs) or 13 (a lumbar rib on L1); the last two
 * pairs float. The vertebrae keep their anatomical levels: counting from the ribs alone is then one off.
 * `anatomy` 'alternate' (spine.ts) also moves the heads of ribs 2–10 to the disc above their vertebra, where
 * they articulate with two bodies, and draws their descent and thickness from other ranges.
 */
export function buildAnatomy(
  spine: VertebraModel[],
  rng: Prng,
  osteoporotic: boolean,
  contrast: ContrastPhase = 'none',
  ribPairs: 11 | 12 | 13 = 12,
  anatomy: Anatomy = 'reference',
): AnatomyModel {
  const enh = ENHANCEMENT[contrast];
  // The sacral segments fused below S1 (alternate anatomy) are painted like bodies; the cervical ones above
  // T1 are painted from `cervical`, outside the level index that places the organs.
  const vertebrae = [...spine, ...(spine[spine.length - 1] as VertebraModel).beyond];
  const levelZ = vertebrae.map((v) => v.frameCenter[2]);
  const vz = (i: number): number => levelZ[i] as number;
  const vy = (i: number): number => (vertebrae[i] as VertebraModel).frameCenter[1];
  const organs: Ellipsoid[] = [];
  const j = (s: number): number => rng.range(-s, s);
  // Heart (anterior-left, lower thorax), liver (right upper quadrant), spleen, stomach, kidneys.
  organs.push({ c: [25 + j(5), -40 + j(5), vz(7) + j(5)], r: [62, 52, 58], hu: enh.vein });
  organs.push({ c: [-62 + j(5), -8 + j(5), vz(10) + j(6)], r: [88, 78, 85], hu: HU.liver + enh.liver });
  organs.push({ c: [85 + j(5), 45 + j(5), vz(10) + j(5)], r: [32, 48, 48], hu: HU.spleen + enh.spleen });
  organs.push({ c: [50 + j(5), -45 + j(5), vz(11) + j(5)], r: [45, 38, 42], hu: 25 });
  for (const side of [-1, 1]) {
    organs.push({ c: [side * 72, vy(13) + 5, vz(13) + (side < 0 ? -10 : 0) + j(5)], r: [26, 24, 55], hu: HU.kidney + enh.kidney });
  }
  const bowel: Ellipsoid[] = [];
  const gas: Ellipsoid[] = [];
  for (let i = 0; i < 46; i++) {
    const z = rng.range(vz(14) - 20, vz(17) + 25);
    const c: Vec3 = [rng.range(-120, 120), rng.range(-90, 10), z];
    const r = rng.range(14, 24);
    bowel.push({ c, r: [r, r * rng.range(0.7, 1.1), r * rng.range(1, 2)], hu: HU.bowel + j(10) });
    if (rng.next() < 0.35) gas.push({ c: [c[0], c[1] - r * 0.4, c[2]], r: [r * 0.5, r * 0.35, r * 0.6], hu: -950 });
  }
  const ribs: RibModel[] = [];
  // Its own stream, so that the reference anatomy's draws (and phantoms) stay as they were.
  const alt = anatomy === 'alternate' ? rng.fork('alternate-ribs') : null;
  for (let i = 0; i < ribPairs; i++) {
    const v = vertebrae[i] as VertebraModel;
    const above = vertebrae[i - 1];
    const atDisc = alt !== null && above !== undefined && i <= 9;
    for (const side of [-1, 1] as const) {
      const floating = i >= ribPairs - 2;
      const drop = (i < 2 ? 35 : 85) + j(6);
      ribs.push({
        side,
        z0: atDisc ? v.frameCenter[2] + v.heights.posterior / 2 + above.discBelow / 2 : v.frameCenter[2] + (v.heights.posterior / 2) * 0.6,
        drop: alt ? drop * alt.range(0.75, 1.25) : drop,
        boneEnd: floating ? 1.5 + j(0.1) : i < 6 ? 2.55 : 2.35,
        cartilageEnd: floating ? 1.5 : i < 7 ? 2.95 : 2.75,
        radius: (i < 2 ? 3.5 : 4.5) * (alt ? alt.range(0.85, 1.2) : 1),
        head: [v.frameCenter[0] + side * (v.width / 2 + 2), v.frameCenter[1] + 4],
      });
    }
  }
  return {
    vertebrae,
    cervical: (spine[0] as VertebraModel).beyond,
    bone: osteoporotic
      ? { cortical: 620, cancellous: 85 + j(15), corticalThickness: 0.9 }
      : { cortical: 900, cancellous: 210 + j(25), corticalThickness: 1.4 },
    levelZ,
    fatThickness: rng.range(10, 24),
    organs,
    vessels: { artery: enh.artery, vein: enh.vein },
    bowel,
    gas,
    ribs,
    domeRightZ: vz(9) + 10 + j(5),
    domeLeftZ: vz(9) - 2 + j(5),
    apexZ: vz(0) + 25,
  };
}

/** Fills the part of an axis-aligned ellipse (centre, semi-axes) where `pred` holds, row by row. */
function fillEllipse(
  cv: SliceCanvas,
  cx: number,
  cy: number,
  ax: number,
  ay: number,
  value: number | ((x: number, y: number, r2: number) => number | null),
): void {
  if (ax <= 0 || ay <= 0) return;
  const r0 = max(0, ceil((cy - ay - cv.y0) / cv.ps));
  const r1 = min(cv.rows - 1, floor((cy + ay - cv.y0) / cv.ps));
  for (let r = r0; r <= r1; r++) {
    const y = cv.y0 + r * cv.ps;
    const dy = (y - cy) / ay;
    const w = 1 - dy * dy;
    if (w <= 0) continue;
    const half = ax * sqrt(w);
    const c0 = max(0, ceil((cx - half - cv.x0) / cv.ps));
    const c1 = min(cv.cols - 1, floor((cx + half - cv.x0) / cv.ps));
    const row = r * cv.cols;
    if (typeof value === 'number') {
      cv.hu.fill(value, row + c0, row + c1 + 1);
    } else {
      for (let c = c0; c <= c1; c++) {
        const x = cv.x0 + c * cv.ps;
        const dx = (x - cx) / ax;
        const v = value(x, y, dx * dx + dy * dy);
        if (v !== null) cv.hu[row + c] = v;
      }
    }
  }
}

/** Cross-section of an ellipsoid at height z: fills it with `hu` where `pred` allows. */
function fillEllipsoidSection(cv: SliceCanvas, e: Ellipsoid, z: number, value: number | ((x: number, y: number, r2: number) => number | null)): void {
  const dz = (z - e.c[2]) / e.r[2];
  if (dz * dz >= 1) return;
  const k = sqrt(1 - dz * dz);
  fillEllipse(cv, e.c[0], e.c[1], e.r[0] * k, e.r[1] * k, value);
}

/** Paints one axial slice at LPS height z (mm) onto the canvas (HU, before blur and noise). */
export function paintSlice(cv: SliceCanvas, m: AnatomyModel, z: number, tableSide: 1 | -1 = 1): void {
  cv.hu.fill(HU.air);
  cv.labels?.fill(0);
  const u = levelPosition(m.levelZ, z);
  const wall = interpWall(u);
  const [sx, sy, nearV] = spineXYAt(m, z);
  const thorax = u < 11.5;
  const fat = m.fatThickness * (u > 12 ? 1.3 : 1);
  const muscle = 11;
  // Skin, subcutaneous fat (thicker posteriorly and over the abdomen), muscle wall.
  fillEllipse(cv, 0, wall.cy, wall.a, wall.b, HU.skin);
  fillEllipse(cv, 0, wall.cy + 1, wall.a - 2, wall.b - 2.5, HU.fat);
  const ia = wall.a - 2 - fat;
  const ib = wall.b - 2 - fat * 0.8;
  const icy = wall.cy + fat * 0.1;
  fillEllipse(cv, 0, icy, ia, ib, HU.muscle);
  const ca = ia - muscle;
  const cb = ib - muscle;
  // Cavity: mediastinal/visceral fat as background.
  fillEllipse(cv, 0, icy, ca, cb, thorax ? -60 : -90);
  // Paraspinal muscles (erector spinae) behind the spine, and psoas beside the lumbar bodies.
  const vDepth = nearV.depth;
  for (const side of [-1, 1]) {
    fillEllipse(cv, sx + side * 33, sy + vDepth / 2 + 32, 30, 27, HU.muscle);
  }
  // Lungs: thoracic cavity lateral to the mediastinum, under the apex, above the diaphragm domes.
  if (z < m.apexZ && u < 13) {
    const medHalf = 30 + max(0, min(1, (u - 2) / 5)) * 15;
    fillEllipse(cv, 0, icy, ca - 3, cb - 3, (x, y) => {
      // Mediastinum (sternum to spine) and the paraspinal gutter are not lung.
      const medCy = (icy - cb + sy) / 2;
      const medB = (sy - (icy - cb)) / 2 + 5;
      if (((x - sx) / medHalf) ** 2 + ((y - medCy) / medB) ** 2 < 1) return null;
      if (((x - sx) / (vDepth / 2 + 24)) ** 2 + ((y - sy - 12) / (vDepth / 2 + 22)) ** 2 < 1) return null;
      const dome = x < 0 ? m.domeRightZ : m.domeLeftZ;
      const lat = max(0, (abs(x) - 50) / 100);
      const post = max(0, (y - icy) / cb);
      const domeZ = dome - 45 * lat * lat - 40 * post * post;
      if (z < domeZ) return null;
      // Apex narrows the lungs.
      const apexT = max(0, min(1, (m.apexZ - z) / 60));
      const ax = abs(x) / (ca - 3);
      if (ax > 0.4 + 0.6 * apexT) return null;
      return HU.lung;
    });
    // Vessels in the lungs: a few small bright dots with seeded positions per slice band.
    const band = floor(z / 6);
    for (let i = 0; i < 14; i++) {
      const h = sin(band * 12.9898 + i * 78.233) * 43758.5453;
      const f1 = h - floor(h);
      const h2 = sin(band * 39.3468 + i * 11.135) * 24634.6345;
      const f2 = h2 - floor(h2);
      const x = (f1 - 0.5) * 2 * (ca - 20);
      const y = icy + (f2 - 0.5) * 2 * (cb - 20);
      const idx = round((y - cv.y0) / cv.ps) * cv.cols + round((x - cv.x0) / cv.ps);
      if (idx >= 0 && idx < cv.hu.length && cv.hu[idx] === HU.lung) fillEllipse(cv, x, y, 2 + f2 * 1.5, 2 + f1 * 1.5, (xx, yy) => (cv.hu[round((yy - cv.y0) / cv.ps) * cv.cols + round((xx - cv.x0) / cv.ps)] === HU.lung ? 35 : null));
    }
  }
  // Organs below the diaphragm and the heart above it.
  const below = (x: number, y: number): boolean => {
    const dome = x < 0 ? m.domeRightZ : m.domeLeftZ;
    const lat = max(0, (abs(x) - 50) / 100);
    const post = max(0, (y - icy) / cb);
    return z < dome - 45 * lat * lat - 40 * post * post;
  };
  const inCavity = (x: number, y: number): boolean => (x / ca) ** 2 + ((y - icy) / cb) ** 2 < 1;
  const [heart, liver, spleen, stomach, ...kidneys] = m.organs;
  if (heart) fillEllipsoidSection(cv, heart, z, (x, y) => (!below(x, y) && inCavity(x, y) ? heart.hu : null));
  if (!thorax || z < max(m.domeRightZ, m.domeLeftZ) + 5) {
    for (const o of [liver, spleen, stomach]) {
      if (o) fillEllipsoidSection(cv, o, z, (x, y) => (below(x, y) && inCavity(x, y) ? o.hu : null));
    }
    if (stomach) fillEllipsoidSection(cv, { c: [stomach.c[0], stomach.c[1] - 15, stomach.c[2] + 10], r: [30, 18, 25], hu: -950 }, z, (x, y) => (below(x, y) && inCavity(x, y) ? -950 : null));
    for (const k of kidneys) fillEllipsoidSection(cv, k, z, (_x, _y, r2) => (r2 < 0.12 ? -40 : k.hu));
    for (const b of m.bowel) fillEllipsoidSection(cv, b, z, (x, y) => (below(x, y) && inCavity(x, y) ? b.hu : null));
    for (const g of m.gas) fillEllipsoidSection(cv, g, z, (x, y) => (below(x, y) && inCavity(x, y) ? g.hu : null));
  }
  // Psoas muscles beside the lumbar bodies (after the bowel, which must not overlap them).
  if (u > 11) {
    for (const side of [-1, 1]) {
      const pr = min(24, 6 + (u - 11) * 3.5);
      fillEllipse(cv, sx + side * (nearV.width / 2 + pr * 0.8), sy - 2 + (u - 11) * 2, pr, pr * 0.85, HU.muscle + 5);
    }
  }
  // Great vessels, trachea and oesophagus relative to the spine.
  const front = sy - vDepth / 2;
  // Descending aorta, common iliac arteries, inferior vena cava, ascending aorta.
  if (u > 3 && u < 15.2) fillEllipse(cv, sx + 18, front - 13, 12, 12, m.vessels.artery);
  if (u >= 15.2 && u < 18) for (const side of [-1, 1]) fillEllipse(cv, sx + side * (12 + (u - 15.2) * 12), front - 12, 8, 8, m.vessels.artery);
  if (u > 9 && u < 16.5) fillEllipse(cv, sx - 22, front - 12, 11, 9, m.vessels.vein);
  if (u > 3 && u < 6.5) fillEllipse(cv, sx - 5, front - 55, 16, 16, m.vessels.artery);
  if (u < 4.5) {
    fillEllipse(cv, sx, front - 22, 9, 8, HU.skin);
    fillEllipse(cv, sx, front - 22, 7, 6, HU.air);
  }
  if (u < 11) fillEllipse(cv, sx + 6, front - 6, 7, 6, HU.muscle);
  // Sternum.
  if (u > 1 && u < 8.5) {
    const syy = icy - cb + 5;
    fillEllipse(cv, 0, syy, 14, 6, m.bone.cortical);
    fillEllipse(cv, 0, syy, 12, 4, m.bone.cancellous + 50);
  }
  // Iliac wings from mid-L5 down.
  if (u > 16.2) {
    for (const side of [-1, 1]) {
      const grow = min(1, (u - 16.2) / 1.2);
      paintSegment(cv, sx + side * (nearV.width / 2 + 8), sy + 8, sx + side * (nearV.width / 2 + 8 + 90 * grow), sy - 30 * grow, 6, m.bone);
    }
  }
  paintSpine(cv, m, z);
  paintRibs(cv, m, z, icy, ia - muscle * 0.5, ib - muscle * 0.5);
  paintTable(cv, tableSide);
}

/** Lattice hash in [-1, 1] (deterministic, no PRNG state). */
function hash3(ix: number, iy: number, iz: number): number {
  let h = imul(ix, 0x27d4eb2d) ^ imul(iy, 0x165667b1) ^ imul(iz, 0x9e3779b1);
  h = imul(h ^ (h >>> 15), 0x85ebca6b);
  h ^= h >>> 13;
  return ((h >>> 0) / 4294967295) * 2 - 1;
}

/**
 * Trabecular texture of cancellous bone: smooth value noise on a 1.6 mm lattice plus a finer octave,
 * ±45 HU, evaluated in patient coordinates so that every acquisition of a phantom shares it.
 */
function trabecular(x: number, y: number, z: number): number {
  let total = 0;
  let amp = 30;
  let scale = 1 / 1.6;
  for (let octave = 0; octave < 2; octave++) {
    const fx = x * scale + 1000;
    const fy = y * scale + 1000;
    const fz = z * scale + 1000;
    const ix = floor(fx);
    const iy = floor(fy);
    const iz = floor(fz);
    const tx = fx - ix;
    const ty = fy - iy;
    const tz = fz - iz;
    const c00 = hash3(ix, iy, iz) * (1 - tx) + hash3(ix + 1, iy, iz) * tx;
    const c10 = hash3(ix, iy + 1, iz) * (1 - tx) + hash3(ix + 1, iy + 1, iz) * tx;
    const c01 = hash3(ix, iy, iz + 1) * (1 - tx) + hash3(ix + 1, iy, iz + 1) * tx;
    const c11 = hash3(ix, iy + 1, iz + 1) * (1 - tx) + hash3(ix + 1, iy + 1, iz + 1) * tx;
    total += amp * ((c00 * (1 - ty) + c10 * ty) * (1 - tz) + (c01 * (1 - ty) + c11 * ty) * tz);
    amp *= 0.5;
    scale *= 2.2;
  }
  return total;
}

/** The CT table: a carbon-fibre cradle behind the patient (supine) or in front (prone), with a thin mattress. */
function paintTable(cv: SliceCanvas, side: 1 | -1): void {
  // Straight along z, just clear of the body wall at its widest (see WALL): posterior 133 mm, anterior −116 mm.
  const surface = side > 0 ? 136 : -119;
  for (let r = 0; r < cv.rows; r++) {
    const y = cv.y0 + r * cv.ps;
    for (let c = 0; c < cv.cols; c++) {
      const x = cv.x0 + c * cv.ps;
      if (abs(x) > 230) continue;
      // Gently curved cradle, deeper at the sides.
      const yc = surface + side * (x * x) * -0.0006;
      const d = side * (y - yc);
      const idx = r * cv.cols + c;
      if (d >= 0 && d < 5 && (cv.hu[idx] as number) < -900) cv.hu[idx] = -650; // foam mattress
      else if (d >= 5 && d < 11) cv.hu[idx] = d < 6.5 || d > 9.5 ? 260 : -300; // carbon shell with foam core
    }
  }
}

/** A thick bony segment (cortex + marrow) between two points in the slice. */
function paintSegment(cv: SliceCanvas, x1: number, y1: number, x2: number, y2: number, radius: number, bone: BoneDensity): void {
  const minx = min(x1, x2) - radius;
  const maxx = max(x1, x2) + radius;
  const miny = min(y1, y2) - radius;
  const maxy = max(y1, y2) + radius;
  const c0 = max(0, floor((minx - cv.x0) / cv.ps));
  const c1 = min(cv.cols - 1, ceil((maxx - cv.x0) / cv.ps));
  const r0 = max(0, floor((miny - cv.y0) / cv.ps));
  const r1 = min(cv.rows - 1, ceil((maxy - cv.y0) / cv.ps));
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len2 = dx * dx + dy * dy || 1;
  for (let r = r0; r <= r1; r++) {
    const y = cv.y0 + r * cv.ps;
    for (let c = c0; c <= c1; c++) {
      const x = cv.x0 + c * cv.ps;
      const t = max(0, min(1, ((x - x1) * dx + (y - y1) * dy) / len2));
      const d = hypot(x - x1 - t * dx, y - y1 - t * dy);
      if (d < radius) cv.hu[r * cv.cols + c] = radius - d < bone.corticalThickness + 0.4 ? bone.cortical : bone.cancellous + 40;
    }
  }
}

/** Ribs: tubes that leave the costovertebral joints, run around the chest wall and descend anteriorly. */
function paintRibs(cv: SliceCanvas, m: AnatomyModel, z: number, cy: number, wa: number, wb: number): void {
  for (const rib of m.ribs) {
    if (z > rib.z0 + rib.radius + 1 || z < rib.z0 - rib.drop - 30) continue;
    // Parametrise by angle α from the back; the rib starts at the joint and joins the wall ellipse at α0.
    const a0 = 0.5;
    const steps = 160;
    for (let i = 0; i <= steps; i++) {
      const alpha = (i / steps) * rib.cartilageEnd;
      let x: number;
      let y: number;
      if (alpha < a0) {
        const t = alpha / a0;
        const wx = rib.side * wa * sin(a0);
        const wy = cy + wb * cos(a0);
        x = rib.head[0] + (wx - rib.head[0]) * t;
        y = rib.head[1] + (wy - rib.head[1]) * t;
      } else {
        x = rib.side * wa * sin(alpha);
        y = cy + wb * cos(alpha);
      }
      const zr = rib.z0 - rib.drop * max(0, (alpha - 0.3) / (rib.cartilageEnd - 0.3)) ** 0.9;
      const dz = abs(z - zr);
      const cartilage = alpha > rib.boneEnd;
      const rr = cartilage ? rib.radius * 0.8 : rib.radius;
      if (dz >= rr) continue;
      const rad = sqrt(rr * rr - dz * dz);
      fillEllipse(cv, x, y, rad * 1.15, rad * 0.8, (px, py) => {
        if (cartilage) return HU.cartilage;
        const d = hypot((px - x) / 1.15, (py - y) / 0.8);
        const depthIn = rr - hypot(d, dz);
        return depthIn < m.bone.corticalThickness ? m.bone.cortical : m.bone.cancellous + 60;
      });
    }
  }
}

function bboxCols(cv: SliceCanvas, x: number, half: number): [number, number] {
  return [max(0, floor((x - half - cv.x0) / cv.ps)), min(cv.cols - 1, ceil((x + half - cv.x0) / cv.ps))];
}
function bboxRows(cv: SliceCanvas, y0: number, y1: number): [number, number] {
  return [max(0, floor((y0 - cv.y0) / cv.ps)), min(cv.rows - 1, ceil((y1 - cv.y0) / cv.ps))];
}

/** Spine: canal and discs first, then bodies and posterior elements of each vertebra near this slice. */
function paintSpine(cv: SliceCanvas, m: AnatomyModel, z: number): void {
  const vs = [...m.cervical, ...m.vertebrae];
  const t1 = m.cervical.length;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i] as VertebraModel;
      const next = vs[i + 1];
      // Label map index: T1 = 0 … S1 = 17; the cervical and fused sacral bodies beyond them are unlabelled.
      const level = i - t1;
      const labelled = level >= 0 && level < SPINE_LEVELS.length;
      const reach = v.heights.posterior / 2 + v.discBelow + 45;
      if (abs(z - v.frameCenter[2]) > reach) continue;
      const [c0, c1] = bboxCols(cv, v.frameCenter[0], v.width / 2 + 45);
      const [r0, r1] = bboxRows(cv, v.frameCenter[1] - v.depth / 2 - 25, v.frameCenter[1] + v.depth / 2 + 70);
      const pz = z - v.frameCenter[2];
      for (let r = r0; r <= r1; r++) {
        const py = cv.y0 + r * cv.ps - v.frameCenter[1];
        for (let c = c0; c <= c1; c++) {
          const px = cv.x0 + c * cv.ps - v.frameCenter[0];
          const s = px * v.up[0] + py * v.up[1] + pz * v.up[2];
          const a = px * v.anterior[0] + py * v.anterior[1] + pz * v.anterior[2];
          const l = px * v.left[0] + py * v.left[1] + pz * v.left[2];
          const idx = r * cv.cols + c;
          if (pass === 0) {
            const hu = canalAndDisc(v, next, s, a, l);
            if (hu !== null) cv.hu[idx] = hu;
          } else {
            const hu = vertebraHu(v, m.bone, s, a, l, px, py + v.frameCenter[1], z);
            if (hu !== null) {
              cv.hu[idx] = hu;
              if (cv.labels) cv.labels[idx] = !labelled ? 0 : lastPart === 1 ? level + 1 : 101 + level;
            }
          }
        }
      }
    }
  }
}

function canalCenterA(v: VertebraModel): number {
  return -v.depth / 2 - v.canal.apRadius - 1.5;
}

/** Canal contents and the disc below a vertebra, in that vertebra's frame. */
function canalAndDisc(v: VertebraModel, next: VertebraModel | undefined, s: number, a: number, l: number): number | null {
  const hp = v.heights.posterior;
  const top = hp / 2 + 6;
  const bottom = -hp / 2 - v.discBelow - 6;
  if (s > top || s < bottom) return null;
  const ca = canalCenterA(v);
  const qa = (a - ca) / v.canal.apRadius;
  const ql = l / v.canal.latRadius;
  const q = qa * qa + ql * ql;
  if (q < 1 && !v.sacral) {
    const cord = v.level.startsWith('T') || v.level === 'L1';
    return cord && qa * qa * 2.2 + ql * ql * 3 < 1 ? HU.cord : HU.csf;
  }
  if (next && s < -hp / 2 + 3 && s > -hp / 2 - v.discBelow - 4) {
    // Disc: a slightly bulging cylinder between the endplates of this body and the next.
    const w = (v.width + next.width) / 4 + 1;
    const d = (v.depth + next.depth) / 4 + 1;
    const qd = (l / w) ** 2 + (a / d) ** 2;
    if (qd < 1) {
      // Nucleus a little denser than annulus at soft-tissue window; both around 80 HU.
      return qd < 0.3 ? HU.disc + 10 : HU.disc;
    }
  }
  return null;
}

/** Which part `vertebraHu` last returned: 1 vertebral body, 2 posterior elements (or sacral ala). */
let lastPart = 0;

/** HU of a vertebra's bone at local (s, a, l), or null when outside it; sets `lastPart`. */
function vertebraHu(v: VertebraModel, bone: BoneDensity, s: number, a: number, l: number, x: number, y: number, z: number): number | null {
  const halfW = v.width / 2;
  const halfD = v.depth / 2;
  const hp = v.heights.posterior;
  // Vertebral body: elliptic cross-section with a flattened, slightly concave posterior wall.
  if (s < hp / 2 + 3 && s > -hp / 2 - 3 && a > -halfD - 1 && a < halfD + 6) {
    const ep = endplates(v, a, l);
    let grow = 0;
    if (v.flags.osteophytes && a > 0) {
      const dTop = abs(s - ep.top);
      const dBot = abs(s - ep.bottom);
      grow = 5 * max(0, 1 - min(dTop, dBot) / 4);
    }
    // Waist: the anterior and lateral walls are concave, narrowest at mid-height (~1.5 mm).
    const mid = (ep.top + ep.bottom) / 2;
    const hh = max(1, (ep.top - ep.bottom) / 2);
    const waist = 1.5 * max(0, 1 - ((s - mid) / hh) ** 2);
    const ea = a > 0 ? halfD + grow - waist : halfD;
    // Narrower towards the anterior wall when the outline is heart-shaped (alternate thoracic bodies).
    const taper = v.shape.anteriorTaper === 0 ? 1 : 1 - v.shape.anteriorTaper * max(0, a / halfD);
    const el = (halfW + grow * 0.6 - waist) * taper;
    const q = sqrt((l / el) ** 2 + (a / ea) ** 2);
    const postFlat = -halfD + v.shape.posteriorConcavity * (1 - min(1, (l / halfW) ** 2));
    const dRad = min((1 - q) * min(ea, el), a - postFlat);
    const dAx = min(ep.top - s, s - ep.bottom);
    const d = min(dRad, dAx + (grow > 0 ? grow : 0));
    lastPart = 1;
    if (d > 0) {
      // Basivertebral vein: a short channel entering the middle of the posterior wall.
      if (abs(l) < 1.8 && a < postFlat + 6 && abs(s - (ep.top + ep.bottom) / 2) < 2.2) return 45;
      let hu: number = d < bone.corticalThickness ? bone.cortical : bone.cancellous + trabecular(x, y, z);
      // Compaction: trabeculae crushed under a collapsed endplate form a dense band a few mm deep.
      if (ep.collapseTop > 0.5 && ep.top - s < 4) hu += 160 * min(1, ep.collapseTop / 4);
      else if (ep.collapseBottom > 0.5 && s - ep.bottom < 4) hu += 160 * min(1, ep.collapseBottom / 4);
      if (v.schmorl) {
        const sn = v.schmorl;
        const dn = hypot(s - ep.top, a - sn.a, l - sn.l);
        if (dn < sn.radius) return HU.disc;
        if (dn < sn.radius + 1.2) hu = 550;
      }
      if (v.lesion) {
        const le = v.lesion;
        const dl = hypot(s - le.s, a - le.a, l - le.l);
        if (dl < le.radius) {
          if (v.flags.lyticMetastasis) return 35;
          return 1000 - 250 * (dl / le.radius);
        }
        if (v.flags.scleroticMetastasis && dl < le.radius + 3) hu = max(hu, 600 - 100 * (dl - le.radius));
      }
      return hu;
    }
    if (v.lesion && v.flags.lyticMetastasis && hypot(s - v.lesion.s, a - v.lesion.a, l - v.lesion.l) < v.lesion.radius && d > -3) return 35;
  }
  lastPart = 2;
  if (v.alae) {
    // Sacral ala: lateral wings instead of a neural arch (a sacralised L5 keeps its arch as well).
    const qa = abs(l) - halfW;
    if (qa > -5 && qa < 32 && a > -halfD - 4 && a < halfD * 0.6 && s < hp / 2 && s > -hp / 2 - 10) {
      const dd = min(qa + 5, 32 - qa, a + halfD + 4, halfD * 0.6 - a, hp / 2 - s, s + hp / 2 + 10);
      return dd < bone.corticalThickness ? bone.cortical : bone.cancellous + 20;
    }
  }
  // The sacrum has no neural arch here (its dorsal surface is not modelled).
  if (v.sacral) return null;
  // Posterior elements (one arch per vertebra, around the canal).
  const lumbar = v.level.startsWith('L');
  const ca = canalCenterA(v);
  const rA = v.canal.apRadius;
  const rL = v.canal.latRadius;
  let d = -1e9; // not -Infinity: a global lookup, slow per voxel in vm contexts
  // Pedicles: short rods from the body's posterolateral corners back to the arch.
  if (s < hp * 0.42 && s > -hp * 0.12) {
    for (const side of [-1, 1]) {
      const pl = l - side * (rL + 3);
      if (a < -halfD + 2 && a > ca - 2) d = max(d, min(4.5 - hypot(pl, (s - hp * 0.15) * 0.9), a - (ca - 2), -halfD + 2 - a));
    }
  }
  // Laminae: an elliptic ring behind the canal.
  const ringOuter = sqrt(((a - ca) / (rA + 4.5)) ** 2 + (l / (rL + 4.5)) ** 2);
  const ringInner = sqrt(((a - ca) / rA) ** 2 + (l / rL) ** 2);
  const lamTop = hp * 0.45;
  const lamBot = -hp * (lumbar ? 0.35 : 0.55);
  if (a < ca + 1 && s < lamTop && s > lamBot && ringOuter < 1 && ringInner > 1) {
    d = max(d, min((1 - ringOuter) * 4.5, (ringInner - 1) * rA, lamTop - s, s - lamBot));
  }
  // Spinous process: posterior, sloping caudally (steep in the thoracic spine).
  const spStart = ca - rA - 2;
  const spLen = lumbar ? 28 : 30;
  const slope = lumbar ? 0.15 : 0.85;
  const depth = spStart - a;
  if (depth > -2 && depth < spLen) {
    const sc = -hp * 0.05 - slope * depth;
    const halfH = lumbar ? 8 : 3.5;
    const halfL = lumbar ? 3.5 : 3;
    d = max(d, min(halfH - abs(s - sc), halfL - abs(l), spLen - depth));
  }
  // Transverse processes.
  const tpLen = lumbar ? halfW + 22 : halfW + 14;
  const tpA = lumbar ? ca + 2 : ca - 4;
  for (const side of [-1, 1]) {
    const ll = side * l;
    if (ll > rL && ll < tpLen) {
      const r = lumbar ? 3.5 : 4.5;
      d = max(d, min(r - hypot(a - tpA - (thoracicTip(lumbar, ll, tpLen)), s - hp * 0.2), tpLen - ll));
    }
  }
  if (d > 0) return d < bone.corticalThickness ? bone.cortical : bone.cancellous + 80;
  return null;
}

/** Thoracic transverse processes angle backwards towards their tips (where the ribs articulate). */
function thoracicTip(lumbar: boolean, ll: number, len: number): number {
  return lumbar ? 0 : -10 * max(0, (ll - len * 0.5) / (len * 0.5));
}

/**
 * CT-like finish: Gaussian noise then a separable [1 2 1] blur (a soft reconstruction kernel), which
 * scales noise σ by 0.375; `sigma` is the σ wanted after the blur.
 */
export function finishSlice(cv: SliceCanvas, scratch: Float32Array, table: Float32Array, rng: Prng, sigma: number): void {
  const { hu, cols, rows } = cv;
  const pre = sigma / 0.375;
  const mask = table.length - 1;
  for (let i = 0; i < hu.length; i++) {
    const v = hu[i] as number;
    if (v > -990) hu[i] = v + pre * (table[rng.nextU32() & mask] as number);
    else hu[i] = v + pre * 0.15 * (table[rng.nextU32() & mask] as number);
  }
  // Horizontal pass into scratch, vertical pass back.
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    scratch[o] = hu[o] as number;
    scratch[o + cols - 1] = hu[o + cols - 1] as number;
    for (let c = 1; c < cols - 1; c++) scratch[o + c] = ((hu[o + c - 1] as number) + 2 * (hu[o + c] as number) + (hu[o + c + 1] as number)) * 0.25;
  }
  for (let c = 0; c < cols; c++) {
    hu[c] = scratch[c] as number;
    hu[(rows - 1) * cols + c] = scratch[(rows - 1) * cols + c] as number;
  }
  for (let r = 1; r < rows - 1; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) hu[o + c] = ((scratch[o - cols + c] as number) + 2 * (scratch[o + c] as number) + (scratch[o + cols + c] as number)) * 0.25;
  }
}
