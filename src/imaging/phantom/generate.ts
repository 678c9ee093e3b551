/**
 * Synthetic CT generator: a torso with a T1–S1 spine, Genant fractures at chosen levels and the confounders
 * that fool detectors (metastases, scoliosis, Schmorl's nodes, osteophytes, osteoporosis, noise, partial
 * coverage, feet-first/prone). Deterministic from the seed: same options ⇒ byte-identical files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSpineLevel, SPINE_LEVELS, spineLevelIndex, type Grade, type Morphology, type SpineLevel } from '../../domain/vocabulary';
import { buildAnatomy, finishSlice, paintSlice, type ContrastPhase, type SliceCanvas } from './anatomy';
import { SOP_CLASSES } from '../dicom';
import { encodeImage, type CtSliceSpec, type SyntheticPatient } from './dicom-writer';
import { encodeNifti, type GridData } from '../nifti';
import { deterministicUid, gaussianTable, Prng } from './prng';
import {
  bodyCenter,
  buildSpine,
  endplates,
  measuredHeights,
  type Anatomy,
  type FractureSpec,
  type Vec3,
  type VertebraModel,
} from './spine';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { abs, ceil, floor, max, min, round } = Math;

export type PatientPosition = 'HFS' | 'FFS' | 'HFP' | 'FFP';

/** Phantom options; every field has a realistic default (see `DEFAULT_PHANTOM`). */
export interface PhantomOptions {
  /** PRNG seed (default 1). */
  seed: number;
  /**
   * Mixed into every UID and the accession number, so that runs with the same seed (the same anatomy)
   * are different studies to a PACS and the report store. Absent: identifiers follow the seed alone.
   */
  uidSalt?: string;
  /** Fractures to place, e.g. [{ level: 'T12', grade: 2, morphology: 'wedge' }] (default none). */
  fractures: FractureSpec[];
  /** Image matrix, rows = columns (default 512). */
  size: number;
  /** In-plane pixel spacing, mm (default 0.75 → 384 mm field of view). */
  pixelSpacing: number;
  /** Distance between slice centres, mm (default 1.25). */
  sliceSpacing: number;
  /** Nominal SliceThickness, mm (default = sliceSpacing). */
  sliceThickness?: number;
  /** Number of slices; default: enough to cover `coverage` plus 15 mm margins. Fewer slices centre on the coverage. */
  slices?: number;
  /** Levels covered from top to bottom (default T1–S1). */
  coverage: { from: SpineLevel; to: SpineLevel };
  /** DICOM PatientPosition (default HFS); drives ImageOrientationPatient and slice order. */
  position: PatientPosition;
  /** Noise σ in HU after the reconstruction blur (default 15). */
  noiseSigma: number;
  osteoporotic: boolean;
  /** Iodinated contrast phase (default none). */
  contrast: ContrastPhase;
  /** Rib pairs: 12 (default), or a transitional variant, 11 (none on T12) or 13 (a lumbar rib on L1). */
  ribPairs: 11 | 12 | 13;
  /** Transitional lumbosacral anatomy: L5 carries sacral alae fused with the sacrum (it keeps its level). */
  sacralisedL5: boolean;
  /** Transitional lumbosacral anatomy the other way: six lumbar-type vertebrae, S1 free and the sacrum from S2 (spine.ts). */
  lumbarisedS1: boolean;
  /**
   * 'reference' (default, what the model was trained on) or 'alternate': a second, separately parameterised
   * anatomy (spine.ts) for measuring the detector on anatomy it has not learnt.
   */
  anatomy: Anatomy;
  scoliosisMm: number;
  sclerotic: SpineLevel[];
  lytic: SpineLevel[];
  schmorl: SpineLevel[];
  osteophytes: SpineLevel[];
  /** Stored pixel encoding: unsigned with intercept −1024 (default) or signed with intercept 0. */
  signedPixels: boolean;
  convolutionKernel: string;
  /** Also write a localizer (scout) series and a dose-report secondary capture into the same study. */
  localizer: boolean;
  doseReport: boolean;
  /**
   * Also write `labels.nii.gz`: a NIfTI label map on the CT grid (vertebral body = level index + 1,
   * T1 = 1 … S1 = 18; posterior elements = 101 + index). Default false.
   */
  labels: boolean;
}

/** The accession number (at most 16 characters, DICOM SH): from the seed, or from the UID salt when given. */
function phantomAccession(o: Pick<PhantomOptions, 'seed' | 'uidSalt'>): string {
  return (o.uidSalt ? `SYN${o.uidSalt}` : `SYN${String(o.seed).padStart(6, '0')}`).slice(0, 16);
}

export const DEFAULT_PHANTOM: PhantomOptions = {
  seed: 1,
  fractures: [],
  size: 512,
  pixelSpacing: 0.75,
  sliceSpacing: 1.25,
  coverage: { from: 'T1', to: 'S1' },
  position: 'HFS',
  noiseSigma: 15,
  osteoporotic: false,
  contrast: 'none',
  ribPairs: 12,
  sacralisedL5: false,
  lumbarisedS1: false,
  anatomy: 'reference',
  scoliosisMm: 0,
  sclerotic: [],
  lytic: [],
  schmorl: [],
  osteophytes: [],
  signedPixels: false,
  convolutionKernel: 'B31f',
  localizer: false,
  doseReport: false,
  labels: false,
};

export interface TruthVertebra {
  level: SpineLevel;
  /** Vertebral body centre, LPS mm. */
  centerMm: Vec3;
  /** Superior/inferior endplate centres (LPS mm) and the body's superior axis. */
  endplates: { superiorCenterMm: Vec3; inferiorCenterMm: Vec3; upAxis: Vec3; anteriorAxis: Vec3 };
  /** Six-point morphometry landmarks (LPS mm) in the mid-sagittal plane of the body. */
  sixPointMm: {
    superiorAnterior: Vec3;
    superiorMiddle: Vec3;
    superiorPosterior: Vec3;
    inferiorAnterior: Vec3;
    inferiorMiddle: Vec3;
    inferiorPosterior: Vec3;
  };
  heightsMm: { anterior: number; middle: number; posterior: number };
  referenceHeightsMm: { anterior: number; middle: number; posterior: number };
  /** Genant height reduction, %: wedge 1−Ha/Hp, biconcave 1−Hm/Hp, crush 1−Hp/Hp(reference). */
  heightLossPercent: number;
  grade: Grade;
  morphology: Morphology | null;
  depthMm: number;
  widthMm: number;
  flags: string[];
  /** Whether the whole body lies inside the scanned z range. */
  inFieldOfView: boolean;
}

export interface GroundTruth {
  generator: 'vcf-sentinel phantom';
  formatVersion: 1;
  seed: number;
  options: PhantomOptions;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** AccessionNumber and PatientID written into every instance (for a matching ORU). */
  accessionNumber: string;
  patientId: string;
  extraSeries: Array<{ seriesInstanceUid: string; kind: 'localizer' | 'dose-report' }>;
  /** The label map written beside the series, when asked for, and what its values mean. */
  labels: { file: string; format: 'nifti-1 gzip, RAS affine'; values: Record<string, string> } | null;
  geometry: {
    rows: number;
    columns: number;
    pixelSpacingMm: [number, number];
    sliceSpacingMm: number;
    sliceThicknessMm: number;
    slices: number;
    patientPosition: PatientPosition;
    imageOrientationPatient: [number, number, number, number, number, number];
    /** ImagePositionPatient of instance 1 and of the last instance (acquisition order). */
    firstPositionMm: Vec3;
    lastPositionMm: Vec3;
    zRangeMm: [number, number];
  };
  vertebrae: TruthVertebra[];
  fractures: TruthVertebra[];
  confounders: { osteoporotic: boolean; contrast: ContrastPhase; ribPairs: 11 | 12 | 13; sacralisedL5: boolean; lumbarisedS1: boolean; anatomy: Anatomy; scoliosisMm: number; noiseSigmaHu: number; partialCoverage: boolean };
}

export interface PhantomFile {
  name: string;
  data: Buffer;
}

/** Parses "T12:2,L1:3:biconcave" (grade 1–3, morphology wedge|biconcave|crush, default wedge). */
export function parseFractureList(text: string): FractureSpec[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const [lv, g, morph] = part.trim().split(':');
    const level = (lv ?? '').toUpperCase();
    if (!isSpineLevel(level)) throw new Error(`unknown level "${lv ?? ''}" (T1…L5, S1)`);
    const grade = Number(g);
    if (grade !== 1 && grade !== 2 && grade !== 3) throw new Error(`grade for ${level} must be 1, 2 or 3`);
    const m = (morph ?? 'wedge').toLowerCase();
    if (m !== 'wedge' && m !== 'biconcave' && m !== 'crush') throw new Error(`morphology for ${level} must be wedge, biconcave or crush`);
    return { level, grade, morphology: m };
  });
}

/** Parses "T8,L2" into levels. */
export function parseLevelList(text: string): SpineLevel[] {
  if (text.trim() === '') return [];
  return text.split(',').map((p) => {
    const l = p.trim().toUpperCase();
    if (!isSpineLevel(l)) throw new Error(`unknown level "${p}"`);
    return l;
  });
}

function orientationFor(position: PatientPosition): [number, number, number, number, number, number] {
  switch (position) {
    case 'HFS':
      return [1, 0, 0, 0, 1, 0];
    case 'FFS':
      return [-1, 0, 0, 0, 1, 0];
    case 'HFP':
      return [-1, 0, 0, 0, -1, 0];
    case 'FFP':
      return [1, 0, 0, 0, -1, 0];
    default:
      return position satisfies never;
  }
}

const r1 = (n: number): number => round(n * 100) / 100;
const v1 = (v: Vec3): Vec3 => [r1(v[0]), r1(v[1]), r1(v[2])];

/**
 * Generates the phantom and hands each Part-10 file to `sink` in order (CT slices in acquisition order,
 * then the extra series). Returns the ground truth.
 */
export function generatePhantom(partial: Partial<PhantomOptions>, sink: (file: PhantomFile) => void): GroundTruth {
  const o: PhantomOptions = { ...DEFAULT_PHANTOM, ...partial };
  if (!Number.isInteger(o.size) || o.size < 16 || o.size > 2048) throw new Error('size must be an integer in 16..2048');
  if (!(o.pixelSpacing > 0.1 && o.pixelSpacing <= 10)) throw new Error('pixel spacing must be in (0.1, 10] mm');
  if (!(o.sliceSpacing > 0.1 && o.sliceSpacing <= 10)) throw new Error('slice spacing must be in (0.1, 10] mm');
  const thickness = o.sliceThickness ?? o.sliceSpacing;
  const rng = new Prng(o.seed);
  const spine = buildSpine(
    {
      fractures: o.fractures,
      scoliosisMm: o.scoliosisMm,
      sclerotic: o.sclerotic,
      lytic: o.lytic,
      schmorl: o.schmorl,
      osteophytes: o.osteophytes,
      topZ: 250,
      t1CenterY: 30,
      sizeJitter: 0.04,
      anatomy: o.anatomy,
      lumbarisedS1: o.lumbarisedS1,
    },
    rng.fork('spine'),
  );
  if (o.sacralisedL5) (spine[spineLevelIndex('L5')] as VertebraModel).alae = true;
  const anatomy = buildAnatomy(spine, rng.fork('anatomy'), o.osteoporotic, o.contrast, o.ribPairs, o.anatomy);

  // Slice geometry.
  const from = spine[spineLevelIndex(o.coverage.from)] as VertebraModel;
  const to = spine[spineLevelIndex(o.coverage.to)] as VertebraModel;
  if (spineLevelIndex(o.coverage.from) > spineLevelIndex(o.coverage.to)) throw new Error('coverage must go from a higher to a lower level');
  // A scan that covers T1 in the alternate anatomy starts above C7, as chest CTs start above the lung apices.
  const top = from.level === 'T1' ? (from.beyond[from.beyond.length - 1] ?? from) : from;
  const zTopCov = bodyCenter(top)[2] + top.heights.posterior / 2 + 15;
  const zBotCov = bodyCenter(to)[2] - to.heights.posterior / 2 - 15;
  const nNeeded = ceil((zTopCov - zBotCov) / o.sliceSpacing) + 1;
  const n = o.slices ?? nNeeded;
  if (!Number.isInteger(n) || n < 2 || n > 4000) throw new Error('slices must be an integer in 2..4000');
  const zMid = (zTopCov + zBotCov) / 2;
  const zTop = zMid + ((n - 1) * o.sliceSpacing) / 2;
  const zBottom = zTop - (n - 1) * o.sliceSpacing;
  const feetFirst = o.position.startsWith('FF');
  const iop = orientationFor(o.position);
  const cols = o.size;
  const rows = o.size;
  const ps = o.pixelSpacing;
  const fovCenter: [number, number] = [0, 12];
  const xmin = fovCenter[0] - ((cols - 1) / 2) * ps;
  const ymin = fovCenter[1] - ((rows - 1) / 2) * ps;
  const sx = iop[0];
  const sy = iop[4];
  const ippX = sx > 0 ? xmin : xmin + (cols - 1) * ps;
  const ippY = sy > 0 ? ymin : ymin + (rows - 1) * ps;

  // The reference anatomy and a sacrum from S1 are left out of the hash, so that UIDs are those they had
  // before `anatomy` and `lumbarisedS1` existed.
  const hashed = { ...o, anatomy: o.anatomy === 'reference' ? undefined : o.anatomy, lumbarisedS1: o.lumbarisedS1 || undefined };
  const uid = (label: string): string => deterministicUid(o.seed, `${label}:${JSON.stringify(hashed)}`);
  const salt = o.uidSalt ?? '';
  const studyUid = deterministicUid(o.seed, `study${salt}`);
  const seriesUid = uid('series');
  const forUid = deterministicUid(o.seed, `frame-of-reference${salt}`);
  const patient: SyntheticPatient = {
    name: `SYNTHETIC^PHANTOM^SEED${o.seed}`,
    id: `SYNTH-${o.seed}`,
    birthDate: '19500101',
    sex: o.seed % 2 === 0 ? 'F' : 'M',
  };
  const common = {
    studyInstanceUid: studyUid,
    frameOfReferenceUid: forUid,
    studyDate: '20260101',
    studyTime: '120000',
    accessionNumber: phantomAccession(o),
    studyDescription: 'SYNTHETIC CT CHEST ABDOMEN PELVIS',
    patient,
  };

  const canvas: SliceCanvas = { hu: new Float32Array(cols * rows), cols, rows, x0: xmin, y0: ymin, ps };
  // Label map in the assembled volume's order: i along rows' direction, j along columns', k along +normal.
  const normalZ = iop[0] * iop[4] - iop[1] * iop[3];
  const labelVol = o.labels ? new Uint8Array(cols * rows * n) : null;
  if (labelVol) canvas.labels = new Uint8Array(cols * rows);
  const scratch = new Float32Array(cols * rows);
  const table = gaussianTable(rng.fork('noise-table'));
  const noiseRng = rng.fork('noise');
  const stored = o.signedPixels ? new Int16Array(cols * rows) : new Uint16Array(cols * rows);
  const intercept = o.signedPixels ? 0 : -1024;
  const lo = o.signedPixels ? -32768 : 0;
  const hi = o.signedPixels ? 32767 : 65535;
  // Localizer: mean HU through the body along y per column, one row per z (top → bottom).
  const projection = o.localizer ? new Float32Array(n * cols) : null;

  let seriesNumber = 2;
  for (let k = 0; k < n; k++) {
    const z = feetFirst ? zBottom + k * o.sliceSpacing : zTop - k * o.sliceSpacing;
    paintSlice(canvas, anatomy, z, o.position.endsWith('P') ? -1 : 1);
    finishSlice(canvas, scratch, table, noiseRng, o.noiseSigma);
    const hu = canvas.hu;
    for (let r = 0; r < rows; r++) {
      const cr = sy > 0 ? r : rows - 1 - r;
      for (let c = 0; c < cols; c++) {
        const cc = sx > 0 ? c : cols - 1 - c;
        const v = round((hu[cr * cols + cc] as number) - intercept);
        stored[r * cols + c] = v < lo ? lo : v > hi ? hi : v;
      }
    }
    if (labelVol && canvas.labels) {
      const kv = round(normalZ > 0 ? (z - zBottom) / o.sliceSpacing : (zTop - z) / o.sliceSpacing);
      const lab = canvas.labels;
      for (let r = 0; r < rows; r++) {
        const cr = sy > 0 ? r : rows - 1 - r;
        for (let c = 0; c < cols; c++) labelVol[kv * rows * cols + r * cols + c] = lab[cr * cols + (sx > 0 ? c : cols - 1 - c)] as number;
      }
    }
    if (projection) {
      const zi = round((zTop - z) / o.sliceSpacing);
      for (let c = 0; c < cols; c++) {
        let sum = 0;
        for (let r = 0; r < rows; r++) sum += (hu[r * cols + c] as number) + 1000;
        projection[zi * cols + c] = sum / rows;
      }
    }
    const spec: CtSliceSpec = {
      ...common,
      seriesInstanceUid: seriesUid,
      sopInstanceUid: uid(`ct:${k}`),
      seriesNumber,
      instanceNumber: k + 1,
      seriesDescription: `SYNTHETIC AXIAL ${r1(thickness)}mm ${o.convolutionKernel}`,
      imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      patientPosition: o.position,
      bodyPartExamined: 'CHESTABDPELVIS',
      convolutionKernel: o.convolutionKernel,
      rows,
      columns: cols,
      pixelSpacing: [ps, ps],
      sliceThickness: thickness,
      imagePositionPatient: [ippX, ippY, z],
      imageOrientationPatient: iop,
      gantryDetectorTilt: 0,
      rescaleSlope: 1,
      rescaleIntercept: intercept,
      pixelRepresentation: o.signedPixels ? 1 : 0,
      windowCenter: 40,
      windowWidth: 400,
      extra: { SliceLocation: r1(z), AcquisitionNumber: 1 },
    };
    sink({ name: `CT.${seriesNumber}.${String(k + 1).padStart(4, '0')}.dcm`, data: encodeImage(spec, stored) });
  }

  const extraSeries: GroundTruth['extraSeries'] = [];
  if (projection) {
    seriesNumber = 1;
    const lrows = n;
    const img = new Uint16Array(lrows * cols);
    let peak = 1;
    for (const v of projection) peak = max(peak, v);
    for (let i = 0; i < img.length; i++) img[i] = round(((projection[i] as number) / peak) * 4000);
    const locUid = uid('localizer-series');
    extraSeries.push({ seriesInstanceUid: locUid, kind: 'localizer' });
    sink({
      name: `CT.1.0001.dcm`,
      data: encodeImage(
        {
          ...common,
          seriesInstanceUid: locUid,
          sopInstanceUid: uid('localizer'),
          seriesNumber: 1,
          instanceNumber: 1,
          seriesDescription: 'Topogram 0.6 T20f',
          imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'],
          patientPosition: o.position,
          rows: lrows,
          columns: cols,
          pixelSpacing: [o.sliceSpacing, ps],
          sliceThickness: 0.6,
          imagePositionPatient: [xmin, fovCenter[1], zTop],
          imageOrientationPatient: [1, 0, 0, 0, 0, -1],
          rescaleSlope: 1,
          rescaleIntercept: 0,
          pixelRepresentation: 0,
        },
        img,
      ),
    });
  }
  if (o.doseReport) {
    const size = 256;
    const img = new Uint16Array(size * size);
    const pr = rng.fork('dose');
    for (let line = 0; line < 12; line++) {
      const len = floor(pr.range(60, 220));
      for (let r = 20 + line * 18; r < 30 + line * 18; r++) for (let c = 16; c < 16 + len; c++) if (pr.next() < 0.55) img[r * size + c] = 255;
    }
    const doseUid = uid('dose-series');
    extraSeries.push({ seriesInstanceUid: doseUid, kind: 'dose-report' });
    sink({
      name: `SC.999.0001.dcm`,
      data: encodeImage(
        {
          ...common,
          sopClassUid: SOP_CLASSES.secondaryCapture,
          seriesInstanceUid: doseUid,
          sopInstanceUid: uid('dose'),
          seriesNumber: 999,
          instanceNumber: 1,
          seriesDescription: 'Dose Report',
          imageType: ['DERIVED', 'SECONDARY', 'OTHER'],
          rows: size,
          columns: size,
          pixelRepresentation: 0,
          extra: { ConversionType: 'WSD' },
        },
        img,
      ),
    });
  }

  let labels: GroundTruth['labels'] = null;
  if (labelVol) {
    const grid: GridData = {
      data: labelVol,
      dims: [cols, rows, n],
      spacing: [ps, ps, o.sliceSpacing],
      origin: [ippX, ippY, normalZ > 0 ? zBottom : zTop],
      direction: [
        [iop[0], iop[1], iop[2]],
        [iop[3], iop[4], iop[5]],
        [0, 0, normalZ > 0 ? 1 : -1],
      ],
    };
    sink({ name: 'labels.nii.gz', data: encodeNifti(grid, { description: 'vcf-sentinel phantom vertebra labels' }) });
    const values: Record<string, string> = {};
    SPINE_LEVELS.forEach((lv, i) => {
      values[String(i + 1)] = `${lv} vertebral body`;
      values[String(101 + i)] = `${lv} posterior elements`;
    });
    labels = { file: 'labels.nii.gz', format: 'nifti-1 gzip, RAS affine', values };
  }
  const scanTop = max(zTop, zBottom);
  const scanBottom = min(zTop, zBottom);
  const vertebrae: TruthVertebra[] = spine.map((v) => {
    const h = measuredHeights(v);
    const ep = endplates(v, 0, 0);
    const at = (s: number, a = 0): Vec3 => [
      v.frameCenter[0] + v.up[0] * s + v.anterior[0] * a,
      v.frameCenter[1] + v.up[1] * s + v.anterior[1] * a,
      v.frameCenter[2] + v.up[2] * s + v.anterior[2] * a,
    ];
    const epA = endplates(v, v.depth / 2, 0);
    const epP = endplates(v, -v.depth / 2, 0);
    let loss = 0;
    switch (v.morphology) {
      case 'wedge':
        loss = 1 - h.anterior / h.posterior;
        break;
      case 'biconcave':
        loss = 1 - h.middle / h.posterior;
        break;
      case 'crush':
        loss = 1 - h.posterior / v.normalHeights.posterior;
        break;
      case null:
        loss = max(0, 1 - h.anterior / h.posterior, 1 - h.middle / h.posterior);
        break;
      default:
        v.morphology satisfies never;
    }
    const topZ = max(at(ep.top)[2], at(ep.bottom)[2]) + v.depth / 2 * abs(v.anterior[2]);
    const botZ = min(at(ep.top)[2], at(ep.bottom)[2]) - v.depth / 2 * abs(v.anterior[2]);
    const inFov = topZ <= scanTop && botZ >= scanBottom;
    const flags: string[] = [];
    if (v.flags.scleroticMetastasis) flags.push('sclerotic');
    if (v.flags.lyticMetastasis) flags.push('lytic');
    if (v.flags.schmorlNode) flags.push('schmorlNode');
    if (v.flags.osteophytes) flags.push('osteophytes');
    if (o.scoliosisMm !== 0) flags.push('scoliosis');
    if (!inFov) flags.push('partialCoverage');
    return {
      level: v.level,
      centerMm: v1(bodyCenter(v)),
      endplates: { superiorCenterMm: v1(at(ep.top)), inferiorCenterMm: v1(at(ep.bottom)), upAxis: v1(v.up), anteriorAxis: v1(v.anterior) },
      sixPointMm: {
        superiorAnterior: v1(at(epA.top, v.depth / 2)),
        superiorMiddle: v1(at(ep.top)),
        superiorPosterior: v1(at(epP.top, -v.depth / 2)),
        inferiorAnterior: v1(at(epA.bottom, v.depth / 2)),
        inferiorMiddle: v1(at(ep.bottom)),
        inferiorPosterior: v1(at(epP.bottom, -v.depth / 2)),
      },
      heightsMm: { anterior: r1(h.anterior), middle: r1(h.middle), posterior: r1(h.posterior) },
      referenceHeightsMm: { anterior: r1(v.normalHeights.anterior), middle: r1(v.normalHeights.middle), posterior: r1(v.normalHeights.posterior) },
      heightLossPercent: r1(loss * 100),
      grade: v.grade,
      morphology: v.morphology,
      depthMm: r1(v.depth),
      widthMm: r1(v.width),
      flags,
      inFieldOfView: inFov,
    };
  });
  const firstZ = feetFirst ? zBottom : zTop;
  const lastZ = feetFirst ? zTop : zBottom;
  return {
    generator: 'vcf-sentinel phantom',
    formatVersion: 1,
    seed: o.seed,
    options: o,
    studyInstanceUid: studyUid,
    seriesInstanceUid: seriesUid,
    accessionNumber: common.accessionNumber,
    patientId: patient.id,
    extraSeries,
    labels,
    geometry: {
      rows,
      columns: cols,
      pixelSpacingMm: [ps, ps],
      sliceSpacingMm: o.sliceSpacing,
      sliceThicknessMm: thickness,
      slices: n,
      patientPosition: o.position,
      imageOrientationPatient: iop,
      firstPositionMm: [ippX, ippY, r1(firstZ)],
      lastPositionMm: [ippX, ippY, r1(lastZ)],
      zRangeMm: [r1(scanBottom), r1(scanTop)],
    },
    vertebrae,
    fractures: vertebrae.filter((v) => v.grade >= 1),
    confounders: {
      osteoporotic: o.osteoporotic,
      contrast: o.contrast,
      ribPairs: o.ribPairs,
      sacralisedL5: o.sacralisedL5,
      lumbarisedS1: o.lumbarisedS1,
      anatomy: o.anatomy,
      scoliosisMm: o.scoliosisMm,
      noiseSigmaHu: o.noiseSigma,
      partialCoverage: vertebrae.some((v) => !v.inFieldOfView && spineLevelIndex(v.level) <= spineLevelIndex('L5')),
    },
  };
}

/** Writes the phantom's files into `outDir` and the ground truth to `truthPath` (default outDir/ground-truth.json). */
export function writePhantom(outDir: string, options: Partial<PhantomOptions>, truthPath?: string): { truth: GroundTruth; files: number; bytes: number } {
  mkdirSync(outDir, { recursive: true });
  let files = 0;
  let bytes = 0;
  const truth = generatePhantom(options, (f) => {
    writeFileSync(join(outDir, f.name), f.data);
    files++;
    bytes += f.data.length;
  });
  writeFileSync(truthPath ?? join(outDir, 'ground-truth.json'), `${JSON.stringify(truth, null, 2)}\n`);
  return { truth, files, bytes };
}

/** Generates the phantom in memory (tests and benchmarks). */
export function phantomBuffers(options: Partial<PhantomOptions>): { truth: GroundTruth; files: PhantomFile[] } {
  const files: PhantomFile[] = [];
  const truth = generatePhantom(options, (f) => files.push(f));
  return { truth, files };
}

/**
 * A varied but realistic phantom recipe drawn from the seed: fractures at random levels, grades and
 * morphologies, confounders, patient position, slice spacing/thickness, field of view, noise and
 * sometimes partial coverage. Explicit options given with it override these.
 */
export function randomPhantomOptions(seed: number): Partial<PhantomOptions> {
  const r = new Prng(seed).fork('recipe');
  const pick = <T>(xs: readonly T[]): T => xs[floor(r.next() * xs.length)] as T;
  const graded = SPINE_LEVELS.slice(spineLevelIndex('T4'), spineLevelIndex('L5') + 1);
  const fractures: FractureSpec[] = [];
  const nFrac = pick([0, 1, 1, 2, 2, 3]);
  const used = new Set<SpineLevel>();
  while (fractures.length < nFrac) {
    const level = pick(graded);
    if (used.has(level)) continue;
    used.add(level);
    fractures.push({ level, grade: pick([1, 2, 3] as const), morphology: pick(['wedge', 'wedge', 'biconcave', 'crush'] as const) });
  }
  const some = (p: number, from: readonly SpineLevel[], max: number): SpineLevel[] => {
    if (r.next() >= p) return [];
    const n = 1 + floor(r.next() * max);
    return [...new Set(Array.from({ length: n }, () => pick(from)))];
  };
  const spacing = pick([0.625, 1, 1.25, 1.25, 1.5, 2, 2.5, 3]);
  const partial = r.next() < 0.2;
  const from = partial ? pick(SPINE_LEVELS.slice(0, 10)) : 'T1';
  const to = partial ? pick(SPINE_LEVELS.slice(max(spineLevelIndex(from) + 4, 12))) : 'S1';
  return {
    seed,
    fractures,
    osteoporotic: r.next() < 0.4,
    sclerotic: some(0.15, graded, 2),
    lytic: some(0.15, graded, 1),
    schmorl: some(0.25, graded, 2),
    osteophytes: some(0.3, ['L1', 'L2', 'L3', 'L4', 'L5'], 3),
    scoliosisMm: r.next() < 0.2 ? round(r.range(8, 25)) : 0,
    position: pick(['HFS', 'HFS', 'HFS', 'HFS', 'HFS', 'HFS', 'HFS', 'FFS', 'HFP', 'FFP'] as const),
    sliceSpacing: spacing,
    sliceThickness: r.next() < 0.3 ? min(5, spacing * 1.25) : spacing,
    pixelSpacing: round(r.range(0.6, 0.9) * 1000) / 1000,
    coverage: { from, to },
    noiseSigma: round(r.range(8, 25)),
    convolutionKernel: pick(['B31f', 'STANDARD', 'Br40d', 'BONE', 'B60f']),
  };
}
