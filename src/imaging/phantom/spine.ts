/**
 * Spine model for the phantom: levels T1–S1 laid out along a sagittal curve (thoracic kyphosis, lumbar
 * lordosis, optional scoliosis), each vertebral body with its own local frame, adult dimensions growing
 * caudally, and Genant fractures applied as changes to the endplate height profile.
 *
 * Two anatomies. `reference` is the one the model was trained on. `alternate` is a second, separately
 * parameterised spine written to measure what the detector learnt about the first one rather than about
 * spines (issue 13: an independent generator's phantoms were read 1–4 levels off): another dimension
 * table, a body size that varies per patient (±12%) and per level (±5%), kyphosis and lordosis drawn per
 * patient, a degenerate narrowed lower-lumbar disc in half the patients, heart-shaped thoracic and
 * kidney-shaped lumbar bodies, physiological thoracic wedging, deeper endplate concavity and a sacrum
 * that continues below S1 (anatomy.ts puts the rib heads at the discs and paints the sacral segments).
 */
import { SPINE_LEVELS, type FractureGrade, type Grade, type Morphology, type SpineLevel } from '../../domain/vocabulary';
import type { Prng } from './prng';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { atan2, cos, hypot, max, min, round, sin } = Math;

/** Adult reference dimensions (mm) per level: posterior body height, AP depth, width, disc below. */
const DIMENSIONS: Record<SpineLevel, { hp: number; depth: number; width: number; discBelow: number }> = {
  T1: { hp: 14.5, depth: 16, width: 26, discBelow: 3.5 },
  T2: { hp: 15.5, depth: 17, width: 27, discBelow: 3.8 },
  T3: { hp: 16.3, depth: 18, width: 28, discBelow: 4.0 },
  T4: { hp: 17.2, depth: 19, width: 29, discBelow: 4.2 },
  T5: { hp: 17.8, depth: 20, width: 30, discBelow: 4.4 },
  T6: { hp: 18.4, depth: 21, width: 31, discBelow: 4.6 },
  T7: { hp: 19.0, depth: 22, width: 32, discBelow: 4.8 },
  T8: { hp: 19.6, depth: 23, width: 34, discBelow: 5.0 },
  T9: { hp: 20.2, depth: 24, width: 35, discBelow: 5.3 },
  T10: { hp: 21.0, depth: 25, width: 37, discBelow: 5.7 },
  T11: { hp: 22.0, depth: 27, width: 39, discBelow: 6.2 },
  T12: { hp: 23.0, depth: 28, width: 41, discBelow: 7.0 },
  L1: { hp: 24.5, depth: 30, width: 43, discBelow: 8.0 },
  L2: { hp: 25.5, depth: 31, width: 45, discBelow: 9.0 },
  L3: { hp: 26.5, depth: 32, width: 47, discBelow: 10.0 },
  L4: { hp: 27.5, depth: 33, width: 49, discBelow: 10.5 },
  L5: { hp: 27.5, depth: 34, width: 51, discBelow: 10.0 },
  S1: { hp: 26.0, depth: 33, width: 50, discBelow: 0 },
};

/**
 * The alternate anatomy's table: relatively taller thoracic bodies, deeper and wider lumbar bodies, thinner
 * thoracic discs, an L5 shorter behind than L4 (it is wedged the other way) and a rudimentary S1/S2 disc.
 */
const DIMENSIONS_ALTERNATE: Record<SpineLevel, { hp: number; depth: number; width: number; discBelow: number }> = {
  T1: { hp: 15.8, depth: 15, width: 28, discBelow: 2.8 },
  T2: { hp: 17.0, depth: 16, width: 27, discBelow: 3.0 },
  T3: { hp: 17.6, depth: 17, width: 27, discBelow: 3.1 },
  T4: { hp: 18.2, depth: 18, width: 28, discBelow: 3.2 },
  T5: { hp: 18.8, depth: 19, width: 29, discBelow: 3.4 },
  T6: { hp: 19.4, depth: 21, width: 30, discBelow: 3.6 },
  T7: { hp: 20.0, depth: 23, width: 32, discBelow: 3.9 },
  T8: { hp: 20.6, depth: 24, width: 34, discBelow: 4.2 },
  T9: { hp: 21.3, depth: 26, width: 36, discBelow: 4.6 },
  T10: { hp: 22.1, depth: 27, width: 38, discBelow: 5.2 },
  T11: { hp: 23.0, depth: 29, width: 41, discBelow: 6.0 },
  T12: { hp: 24.0, depth: 31, width: 44, discBelow: 7.5 },
  L1: { hp: 25.5, depth: 33, width: 46, discBelow: 9.0 },
  L2: { hp: 26.5, depth: 34, width: 48, discBelow: 10.5 },
  L3: { hp: 27.0, depth: 35, width: 50, discBelow: 11.5 },
  L4: { hp: 26.5, depth: 35, width: 52, discBelow: 12.0 },
  L5: { hp: 25.0, depth: 35, width: 54, discBelow: 11.0 },
  S1: { hp: 27.0, depth: 34, width: 52, discBelow: 1.5 },
};

export const ANATOMIES = ['reference', 'alternate'] as const;
export type Anatomy = (typeof ANATOMIES)[number];
export const isAnatomy = (s: string): s is Anatomy => (ANATOMIES as readonly string[]).includes(s);

export type Vec3 = [number, number, number];

export interface FractureSpec {
  level: SpineLevel;
  grade: FractureGrade;
  morphology: Morphology;
}

export interface VertebraModel {
  level: SpineLevel;
  /** Body centre used for the local frame (LPS mm). */
  frameCenter: Vec3;
  /** Local frame: superior (along the spine), anterior, patient-left; orthonormal, LPS. */
  up: Vec3;
  anterior: Vec3;
  left: Vec3;
  /** Reference (unfractured) heights, mm. */
  normalHeights: { anterior: number; middle: number; posterior: number };
  /** Heights after any fracture, mm. */
  heights: { anterior: number; middle: number; posterior: number };
  depth: number;
  width: number;
  discBelow: number;
  grade: Grade;
  morphology: Morphology | null;
  /** Height loss of the most reduced height relative to its reference, 0–1. */
  heightLoss: number;
  canal: { apRadius: number; latRadius: number };
  flags: { scleroticMetastasis: boolean; lyticMetastasis: boolean; schmorlNode: boolean; osteophytes: boolean };
  /** Sacral alae beside the body: S1's, or the broad transverse processes of a sacralised L5 fused with it. */
  alae: boolean;
  /** Part of the sacrum: no neural arch and no canal contents painted (S1 and below, unless S1 is lumbarised). */
  sacral: boolean;
  /**
   * Bodies beyond the labelled T1–S1 column (alternate anatomy), painted but not vertebrae of the ground truth:
   * on T1, C6 and C7 above it (top down); on S1, the sacral segments S2–S4 fused below it. They carry the level
   * of the vertebra they hang from, since the vocabulary is T1–S1.
   */
  beyond: VertebraModel[];
  /**
   * Axial outline: how far (mm) the posterior wall bows into the body at the midline, and how much the body
   * narrows towards its anterior wall (0: an ellipse; 0.25: a thoracic heart shape).
   */
  shape: { posteriorConcavity: number; anteriorTaper: number };
  /** Lesion centre (local frame s,a,l) and radius, when a metastasis is present. */
  lesion: { s: number; a: number; l: number; radius: number } | null;
  schmorl: { a: number; l: number; radius: number } | null;
}

/** Fractional height loss per Genant grade, drawn inside the grade's band. */
export function heightLossForGrade(grade: FractureGrade, rng: Prng): number {
  switch (grade) {
    case 1:
      return rng.range(0.21, 0.24);
    case 2:
      return rng.range(0.28, 0.37);
    case 3:
      return rng.range(0.44, 0.55);
    default:
      return grade satisfies never;
  }
}

/** Genant grade for a fractional height reduction (CLINICAL.md). */
export function gradeForLoss(loss: number): Grade {
  if (loss < 0.2) return 0;
  if (loss <= 0.25) return 1;
  if (loss <= 0.4) return 2;
  return 3;
}

export interface SpineOptions {
  fractures: FractureSpec[];
  /** Lateral deviation amplitude in mm (scoliosis); 0 = straight in the coronal plane. */
  scoliosisMm: number;
  sclerotic: SpineLevel[];
  lytic: SpineLevel[];
  schmorl: SpineLevel[];
  osteophytes: SpineLevel[];
  /** LPS z of the top of T1's body. */
  topZ: number;
  /** LPS y of T1's body centre (posterior is +y). */
  t1CenterY: number;
  /** Anatomical jitter: each dimension scaled by a seeded factor in [1 - j, 1 + j]. */
  sizeJitter: number;
  /** Which anatomy (default reference; see the module comment). */
  anatomy?: Anatomy;
  /**
   * Six lumbar-type vertebrae: S1 is lumbarised (a free body with its own arch and a disc below it, no alae)
   * and the sacrum, alae and all, begins at S2 (painted below it, as the alternate anatomy's S2–S4).
   */
  lumbarisedS1?: boolean;
}

/** The patient-level parameters of an anatomy. The reference draws nothing here, so its phantoms never change. */
interface AnatomyParams {
  dimensions: typeof DIMENSIONS;
  /** Per-level scale of each dimension (1 for the reference). */
  levelScale: (level: SpineLevel) => number;
  /** Disc below a level as a fraction of the table's (a narrowed degenerate disc). */
  discScale: (level: SpineLevel) => number;
  kyphosisDeg: number;
  lordosisDeg: number;
  /** Ratios of the normal anterior and middle heights to the posterior one. */
  anteriorRatio: (level: SpineLevel) => number;
  middleRatio: number;
  shape: (level: SpineLevel) => VertebraModel['shape'];
  /** Sacral segments fused below S1, top down (none in the reference, whose spine ends at S1). */
  sacrumBelow: Array<{ hp: number; depth: number; width: number; discBelow: number }>;
  /** Cervical bodies above T1, bottom up (none in the reference, whose spine starts at T1). */
  cervicalAbove: Array<{ hp: number; depth: number; width: number; discBelow: number }>;
}

/** S2–S4, shrinking, with rudimentary (partly ossified) discs between them. */
const SACRUM_BELOW: AnatomyParams['sacrumBelow'] = [
  { hp: 22, depth: 29, width: 42, discBelow: 1.2 },
  { hp: 18, depth: 24, width: 34, discBelow: 1 },
  { hp: 14, depth: 19, width: 26, discBelow: 0 },
];
/** The disc below a lumbarised S1, as a fraction of L5's (transitional discs are often narrower). */
const LUMBARISED_DISC = 0.8;

function anatomyParams(anatomy: Anatomy, rng: Prng): AnatomyParams {
  if (anatomy === 'reference') {
    return {
      dimensions: DIMENSIONS,
      levelScale: () => 1,
      discScale: () => 1,
      kyphosisDeg: 38,
      lordosisDeg: 50,
      anteriorRatio: (level) => (level.startsWith('T') ? 0.94 : level === 'L5' || level === 'S1' ? 1.04 : 0.99),
      middleRatio: 0.96,
      shape: () => ({ posteriorConcavity: 1.5, anteriorTaper: 0 }),
      sacrumBelow: [],
      cervicalAbove: [],
    };
  }
  const perLevel = new Map(SPINE_LEVELS.map((l) => [l, 1 + rng.range(-0.05, 0.05)]));
  const narrowed = rng.next() < 0.5 ? (['L3', 'L4', 'L5'] as const)[Math.floor(rng.next() * 3)] : null;
  const narrowing = rng.range(0.35, 0.6);
  const thoracicWedge = rng.range(0.88, 0.94);
  return {
    dimensions: DIMENSIONS_ALTERNATE,
    levelScale: (level) => perLevel.get(level) as number,
    discScale: (level) => (level === narrowed ? narrowing : 1),
    kyphosisDeg: rng.range(25, 55),
    lordosisDeg: rng.range(35, 65),
    anteriorRatio: (level) => (level.startsWith('T') ? thoracicWedge : level === 'L5' ? 1.12 : level === 'S1' ? 1.06 : 1.0),
    middleRatio: rng.range(0.91, 0.94),
    shape: (level) => (level.startsWith('T') ? { posteriorConcavity: 1.0, anteriorTaper: 0.25 } : { posteriorConcavity: 3.5, anteriorTaper: 0.05 }),
    sacrumBelow: SACRUM_BELOW,
    // C7 and C6 (no ribs: on a chest CT the first rib-bearing body below them is T1).
    cervicalAbove: [
      { hp: 14, depth: 16, width: 25, discBelow: 4 },
      { hp: 13, depth: 15.5, width: 23, discBelow: 4.5 },
    ],
  };
}

function normalize(v: Vec3): Vec3 {
  const n = hypot(v[0], v[1], v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}
function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/**
 * Sagittal angle (radians) of the spine's tangent, going caudally, as a function of progress through the
 * column: positive moves posteriorly. Kyphosis ≈ 38° over the thoracic spine, lordosis ≈ 50° over the lumbar.
 */
function sagittalAngle(levelPos: number, kyphosisDeg: number, lordosisDeg: number): number {
  const deg = Math.PI / 180;
  const thoracicEnd = 12; // T12/L1 junction, in vertebra units from the top of T1
  const atJunction = 20 - kyphosisDeg;
  if (levelPos <= thoracicEnd) return (20 - (kyphosisDeg * levelPos) / thoracicEnd) * deg;
  return (atJunction + (lordosisDeg * (levelPos - thoracicEnd)) / 6) * deg;
}

/** Lays out T1–S1 from `topZ` downwards and returns one model per level. */
export function buildSpine(opts: SpineOptions, rng: Prng): VertebraModel[] {
  const jitter = (): number => 1 + rng.range(-opts.sizeJitter, opts.sizeJitter);
  const globalScale = jitter();
  const anatomy = opts.anatomy ?? 'reference';
  const params = anatomyParams(anatomy, rng.fork('anatomy-params'));
  const fracByLevel = new Map(opts.fractures.map((f) => [f.level, f]));
  const lumbarised = opts.lumbarisedS1 === true;
  // A lumbarised S1 needs a sacrum below it; the reference has none of its own and takes the alternate's S2–S4.
  const sacrumBelow = lumbarised && params.sacrumBelow.length === 0 ? SACRUM_BELOW : params.sacrumBelow;
  const totalLength = 560; // long enough for the layout, mm of arc
  // Integrate the centreline: positions by arc length s (1 mm steps), with the level position (in vertebra
  // units) driving the sagittal curve. First compute each segment's arc length (body + disc below).
  const segs = SPINE_LEVELS.map((level) => {
    const d = params.dimensions[level];
    const f = fracByLevel.get(level);
    const scale = globalScale * params.levelScale(level);
    const hpRef = d.hp * scale;
    const normal = {
      posterior: hpRef,
      anterior: hpRef * params.anteriorRatio(level),
      middle: hpRef * params.middleRatio,
    };
    let heights = { ...normal };
    let loss = 0;
    if (f) {
      loss = heightLossForGrade(f.grade, rng);
      switch (f.morphology) {
        case 'wedge':
          heights = { anterior: normal.posterior * (1 - loss), middle: (normal.posterior * (1 - loss) + normal.posterior) / 2, posterior: normal.posterior };
          break;
        case 'biconcave':
          heights = { anterior: normal.anterior, middle: normal.posterior * (1 - loss), posterior: normal.posterior };
          break;
        case 'crush':
          heights = { anterior: normal.anterior * (1 - loss), middle: normal.middle * (1 - loss), posterior: normal.posterior * (1 - loss) };
          break;
        default:
          f.morphology satisfies never;
      }
    }
    const discBelow = (lumbarised && level === 'S1' ? params.dimensions.L5.discBelow * LUMBARISED_DISC : d.discBelow) * scale * params.discScale(level);
    const length = max(heights.anterior, heights.posterior) + discBelow;
    return { level, d, f, normal, heights, loss, length, scale, discBelow };
  });
  for (const d of sacrumBelow) {
    const hp = d.hp * globalScale;
    const normal = { posterior: hp, anterior: hp, middle: hp * params.middleRatio };
    const discBelow = d.discBelow * globalScale;
    segs.push({ level: 'S1', d, f: undefined, normal, heights: normal, loss: 0, length: hp + discBelow, scale: globalScale, discBelow });
  }
  // Centreline sampled every 0.5 mm.
  const step = 0.5;
  const pts: Vec3[] = [];
  const tangents: Vec3[] = [];
  let p: Vec3 = [0, opts.t1CenterY, opts.topZ];
  let cum = 0;
  const segStart: number[] = [];
  for (const s of segs) {
    segStart.push(cum);
    cum += s.length;
  }
  const spineLen = cum;
  const scolioPhase = rng.range(0, Math.PI);
  for (let i = 0; i * step <= totalLength; i++) {
    const s = i * step;
    // level position: which vertebra unit are we in?
    let k = 0;
    while (k + 1 < segs.length && (segStart[k + 1] ?? Infinity) <= s) k++;
    const within = min(1, (s - (segStart[k] ?? 0)) / (segs[k]?.length ?? 1));
    const phi = sagittalAngle(k + within, params.kyphosisDeg, params.lordosisDeg);
    // scoliosis: lateral slope of a single thoracolumbar curve, zero at T1 and S1
    const lat = opts.scoliosisMm === 0 ? 0 : ((opts.scoliosisMm * Math.PI) / spineLen) * cos((Math.PI * s) / spineLen) * sin(scolioPhase + Math.PI / 2);
    const down = normalize([lat, sin(phi), -cos(phi)]);
    pts.push(p);
    tangents.push(down);
    p = [p[0] + down[0] * step, p[1] + down[1] * step, p[2] + down[2] * step];
  }
  const at = (s: number): { pos: Vec3; down: Vec3 } => {
    const i = max(0, min(pts.length - 1, round(s / step)));
    return { pos: pts[i] as Vec3, down: tangents[i] as Vec3 };
  };

  const models = segs.map((seg, idx) => {
    const fused = idx >= SPINE_LEVELS.length;
    const bodyLen = max(seg.heights.anterior, seg.heights.posterior);
    const sMid = (segStart[idx] ?? 0) + bodyLen / 2;
    const { pos, down } = at(sMid);
    const up: Vec3 = [-down[0], -down[1], -down[2]];
    const phi = atan2(down[1], -down[2]);
    const a0: Vec3 = [0, -cos(phi), -sin(phi)];
    const k = dot(a0, up);
    const anterior = normalize([a0[0] - k * up[0], a0[1] - k * up[1], a0[2] - k * up[2]]);
    const left = normalize(cross(up, anterior));
    const lumbar = seg.level.startsWith('L') || seg.level === 'S1';
    const v: VertebraModel = {
      level: seg.level,
      frameCenter: pos,
      up,
      anterior,
      left,
      normalHeights: seg.normal,
      heights: seg.heights,
      depth: seg.d.depth * seg.scale,
      width: seg.d.width * seg.scale,
      discBelow: seg.discBelow,
      grade: seg.f ? seg.f.grade : 0,
      morphology: seg.f ? seg.f.morphology : null,
      heightLoss: seg.loss,
      canal: { apRadius: lumbar ? 8.5 : 7.5, latRadius: lumbar ? 11.5 : 8.5 },
      flags: {
        scleroticMetastasis: !fused && opts.sclerotic.includes(seg.level),
        lyticMetastasis: !fused && opts.lytic.includes(seg.level),
        schmorlNode: !fused && opts.schmorl.includes(seg.level),
        osteophytes: !fused && opts.osteophytes.includes(seg.level),
      },
      // The lateral masses of S2 continue the alae; S3 and below are narrow. A lumbarised S1 has none: its S2 carries them.
      alae: seg.level === 'S1' && (lumbarised ? idx === SPINE_LEVELS.length : idx <= SPINE_LEVELS.length),
      sacral: seg.level === 'S1' && !(lumbarised && !fused),
      beyond: [],
      shape: params.shape(seg.level),
      lesion: null,
      schmorl: null,
    };
    if (v.flags.scleroticMetastasis || v.flags.lyticMetastasis) {
      v.lesion = {
        s: rng.range(-0.15, 0.15) * v.heights.posterior,
        a: rng.range(-0.2, 0.2) * v.depth,
        l: rng.range(-0.2, 0.2) * v.width,
        radius: min(v.depth, v.heights.posterior) * rng.range(0.25, 0.32),
      };
    }
    if (v.flags.schmorlNode) v.schmorl = { a: rng.range(-0.15, 0.1) * v.depth, l: rng.range(-0.15, 0.15) * v.width, radius: rng.range(3.5, 5) };
    return v;
  });
  const spine = models.slice(0, SPINE_LEVELS.length);
  (spine[spine.length - 1] as VertebraModel).beyond = models.slice(SPINE_LEVELS.length);
  const t1 = spine[0] as VertebraModel;
  t1.beyond = cervicalAbove(t1, params.cervicalAbove, globalScale);
  return spine;
}

/**
 * The cervical bodies above T1 (bottom up in `dims`, returned top down), stacked along T1's axis: the
 * cervicothoracic junction is nearly straight over two levels. No fractures, no lesions, no alae.
 */
function cervicalAbove(t1: VertebraModel, dims: AnatomyParams['cervicalAbove'], scale: number): VertebraModel[] {
  const out: VertebraModel[] = [];
  let below = t1;
  let offset = t1.heights.posterior / 2;
  for (const d of dims) {
    const hp = d.hp * scale;
    offset += d.discBelow * scale + hp / 2;
    const heights = { anterior: hp, middle: hp * (t1.normalHeights.middle / t1.normalHeights.posterior), posterior: hp };
    const c = t1.frameCenter;
    below = {
      ...below,
      frameCenter: [c[0] + t1.up[0] * offset, c[1] + t1.up[1] * offset, c[2] + t1.up[2] * offset],
      normalHeights: heights,
      heights,
      depth: d.depth * scale,
      width: d.width * scale,
      discBelow: d.discBelow * scale,
      grade: 0,
      morphology: null,
      heightLoss: 0,
      flags: { scleroticMetastasis: false, lyticMetastasis: false, schmorlNode: false, osteophytes: false },
      alae: false,
      sacral: false,
      beyond: [],
      lesion: null,
      schmorl: null,
    };
    offset += hp / 2;
    out.unshift(below);
  }
  return out;
}

/**
 * Endplate surfaces of a body at local (a = anterior offset, l = left offset), as offsets along `up`
 * from the frame centre: the top (superior) and bottom (inferior) endplates.
 */
export function endplates(v: VertebraModel, a: number, l: number): { top: number; bottom: number; collapseTop: number; collapseBottom: number } {
  const half = v.depth / 2;
  const t = max(-1, min(1, a / half)); // -1 posterior, +1 anterior
  const w = (t + 1) / 2;
  const n = v.normalHeights;
  // Reference profile: linear from posterior to anterior, with a shallow central concavity (Hm < Hp).
  const r2 = min(1, t * t + (l / (v.width / 2)) ** 2);
  const baseLinear = n.posterior + (n.anterior - n.posterior) * w;
  const midLinear = (n.posterior + n.anterior) / 2;
  const concavity = (midLinear - n.middle) * (1 - r2);
  let top = baseLinear / 2 - concavity / 2;
  let bottom = -baseLinear / 2 + concavity / 2;
  if (v.morphology !== null) {
    const h = v.heights;
    switch (v.morphology) {
      case 'wedge': {
        // Loss grows linearly towards the anterior wall; mostly the superior endplate gives way.
        const lossAnt = n.anterior - h.anterior;
        const loss = max(0, lossAnt * w + (n.posterior - h.posterior) * (1 - w));
        top -= 0.7 * loss;
        bottom += 0.3 * loss;
        break;
      }
      case 'biconcave': {
        // Central depression of both endplates; rims keep their height.
        const lossMid = n.middle - h.middle;
        const loss = max(0, lossMid * (1 - r2));
        top -= loss / 2;
        bottom += loss / 2;
        break;
      }
      case 'crush': {
        const scale = h.posterior / n.posterior;
        top *= scale;
        bottom *= scale;
        break;
      }
      default:
        v.morphology satisfies never;
    }
  }
  return { top, bottom, collapseTop: baseLinear / 2 - concavity / 2 - top, collapseBottom: bottom - (-baseLinear / 2 + concavity / 2) };
}

/** True heights (mm) read from the endplate model at the anterior wall, centre and posterior wall. */
export function measuredHeights(v: VertebraModel): { anterior: number; middle: number; posterior: number } {
  const h = (a: number): number => {
    const e = endplates(v, a, 0);
    return e.top - e.bottom;
  };
  return { anterior: h(v.depth / 2), middle: h(0), posterior: h(-v.depth / 2) };
}

/** Body centre (LPS mm): midway between the endplates at the body's AP and lateral middle. */
export function bodyCenter(v: VertebraModel): Vec3 {
  const e = endplates(v, 0, 0);
  const m = (e.top + e.bottom) / 2;
  return [v.frameCenter[0] + v.up[0] * m, v.frameCenter[1] + v.up[1] * m, v.frameCenter[2] + v.up[2] * m];
}
