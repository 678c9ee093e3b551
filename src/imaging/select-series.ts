/**
 * Series selection: a pure function over DICOM JSON instance metadata (PS3.18 F.2, as WADO-RS
 * `/studies/{uid}/series/{uid}/metadata` returns it, or as read from local files), so the DICOMweb worker
 * and `analyze-study` choose the same series for the same study.
 *
 * A series is judged by what its data says, never by words in its description (an "iDose" series is a
 * Philips iterative reconstruction, not a dose page; "Abdomen" may be a localizer):
 * - SOP Class: CT Image Storage, Enhanced CT or Legacy Converted Enhanced CT; Secondary Capture (screen
 *   saves, dose screens), dose and other SRs, encapsulated PDF, RT Dose, presentation states… are
 *   rejected by class.
 * - ImageType: LOCALIZER images are dropped (a series of only localizers is rejected); derived
 *   projections and renders (MIP, volume rendering, curved reformats, screen saves) are rejected;
 *   ORIGINAL is preferred and DERIVED reformats are a fallback, said so in the reasons.
 * - Geometry: one ImageOrientationPatient, positioned frames, and enough extent to hold a vertebral
 *   body (20 mm along the body axis and across the slab). Axial is preferred; when no axial series is
 *   usable a sagittal, coronal or oblique reconstruction is chosen and analysed in its own axes (the
 *   volume carries its direction matrix and the detector samples along patient axes).
 * - Preferences within a tier: covers most of T1–L5 (≈ 450 mm along the body axis), slices ≤ 3 mm,
 *   even spacing, soft-tissue or bone kernels (ConvolutionKernel) rather than lung kernels.
 */
import { getNumber, getNumbers, getString, getStrings, TAG, type DicomJson } from './dicom-json';
import { headersFromDicomJson, SOP_CLASSES } from './dicom';

export interface SeriesCandidate {
  seriesInstanceUid: string;
  /** Instance-level metadata of the series (one DICOM JSON object per instance). */
  instances: DicomJson[];
}

export type KernelClass = 'soft-tissue' | 'bone' | 'lung' | 'unknown';
export type SlicePlane = 'axial' | 'sagittal' | 'coronal' | 'oblique';

export interface SeriesSummary {
  seriesInstanceUid: string;
  seriesNumber: number | undefined;
  /** Reported for people reading the status; never used to choose. */
  description: string | undefined;
  modality: string | undefined;
  sopClassUid: string | undefined;
  imageType: string[];
  /** ImageType value 1 is DERIVED (a reformat or other post-processed series). */
  derived: boolean;
  /** Plane of the slices, from ImageOrientationPatient. */
  plane: SlicePlane;
  instances: number;
  /** Frames usable for the volume (after dropping localizer images mixed into the series). */
  frames: number;
  sliceSpacingMm: number | undefined;
  sliceThicknessMm: number | undefined;
  /** Whether consecutive slice positions step evenly (within 2 %). */
  uniformSpacing: boolean;
  /** Extent along the slice normal, first to last position, mm. */
  extentMm: number;
  /** Extent along the patient's body axis (superior–inferior) of the whole volume, mm. */
  bodyAxisExtentMm: number;
  kernel: string | undefined;
  kernelClass: KernelClass;
  /** Fraction of the T1–L5 length (450 mm) covered along the body axis, 0–1. */
  coverage: number;
  /** 0 original axial, 1 derived axial, 2 original other plane, 3 derived other plane: lower wins. */
  tier: number;
  score: number;
  /** Instances to retrieve/assemble (localizers mixed into the series left out). */
  sopInstanceUids: string[];
}

export interface SeriesSelection {
  chosen: SeriesSummary | null;
  /** Why the chosen series won (human-readable, for the study status). */
  reasons: string[];
  rejected: Array<{ seriesInstanceUid: string; seriesNumber?: number; description?: string; reason: string }>;
  /** Eligible series, best first (the chosen one included). */
  ranked: SeriesSummary[];
}

export interface SelectOptions {
  /**
   * Shortest extent accepted along the body axis, and across the slab for non-axial series, mm
   * (default 20: about one vertebral body's height; less cannot hold a vertebra).
   */
  minExtentMm?: number;
}

/** Expected T1 top to L5 bottom length in an adult, mm. */
export const SPINE_T1_L5_MM = 450;
/** Default for `SelectOptions.minExtentMm`. */
export const MIN_EXTENT_MM = 20;

const CT_IMAGE_CLASSES: Record<string, string> = {
  [SOP_CLASSES.ct]: 'CT Image Storage',
  [SOP_CLASSES.enhancedCt]: 'Enhanced CT Image Storage',
  [SOP_CLASSES.legacyConvertedEnhancedCt]: 'Legacy Converted Enhanced CT Image Storage',
};

/** Storage classes that hold no CT volume, with what they are (for the rejection reason). */
const NON_IMAGE_CLASSES: Record<string, string> = {
  [SOP_CLASSES.secondaryCapture]: 'secondary capture (a screen save or dose screen), not CT image data',
  '1.2.840.10008.5.1.4.1.1.7.1': 'multi-frame secondary capture, not CT image data',
  '1.2.840.10008.5.1.4.1.1.7.2': 'multi-frame secondary capture, not CT image data',
  '1.2.840.10008.5.1.4.1.1.7.3': 'multi-frame secondary capture, not CT image data',
  '1.2.840.10008.5.1.4.1.1.7.4': 'multi-frame secondary capture, not CT image data',
  [SOP_CLASSES.xRayDoseSr]: 'radiation dose structured report',
  '1.2.840.10008.5.1.4.1.1.88.68': 'radiopharmaceutical radiation dose structured report',
  '1.2.840.10008.5.1.4.1.1.88.11': 'basic text structured report',
  '1.2.840.10008.5.1.4.1.1.88.22': 'enhanced structured report',
  '1.2.840.10008.5.1.4.1.1.88.33': 'comprehensive structured report',
  '1.2.840.10008.5.1.4.1.1.88.34': 'comprehensive 3D structured report',
  '1.2.840.10008.5.1.4.1.1.88.59': 'key object selection document',
  '1.2.840.10008.5.1.4.1.1.104.1': 'encapsulated PDF (e.g. a dose or protocol page)',
  '1.2.840.10008.5.1.4.1.1.11.1': 'grayscale softcopy presentation state',
  '1.2.840.10008.5.1.4.1.1.481.2': 'RT dose',
  '1.2.840.10008.5.1.4.1.1.481.3': 'RT structure set',
  '1.2.840.10008.5.1.4.1.1.66': 'raw data',
  '1.2.840.10008.5.1.4.1.1.66.4': 'segmentation',
  '1.2.840.10008.5.1.4.1.1.200.2': 'CT performed procedure protocol',
};

/** ImageType values (3 onwards) of derived images that are not slices of the anatomy. */
const NON_VOLUME_IMAGE_TYPES = /^(MIP|MINIP|MIN IP|MAX IP|PROJECTION IMAGE|VOLUME RENDER(ING|ED)?|VRT|SSD|SURFACE RENDERING|CURVED|CPR|SCREEN ?SAVE|SCREENSHOT)$/;

/** Classifies a reconstruction kernel name (Siemens B/Br/I/Hr/Qr, GE, Philips, Canon/Toshiba FC conventions). */
export function classifyKernel(kernel: string | undefined): KernelClass {
  if (!kernel) return 'unknown';
  const k = kernel.trim();
  if (/lung|chest\s*hr|B7\d|B8\d|Br6[4-9]|Bl\d\d|I7\d|Hr6[4-9]|Hr[78]\d|FC5[0-9]|FC8\d|\bYC\b|\bYD\b|\bL\b/i.test(k)) return 'lung';
  if (/bone|B6\d|Br5\d|Br6[0-3]|I6\d|Hr5\d|Hr6[0-3]|FC3\d|\bYB\b|\bD\b|edge|sharp/i.test(k)) return 'bone';
  if (/standard|soft|body|detail|smooth|abd|B[1-5]\d|Br[1-4]\d|I[1-4]\d|Hr[1-4]\d|Qr\d\d|Bv\d\d|FC0\d|FC1\d|FC2\d|\bYA\b|\bB\b|\bC\b|iDose/i.test(k)) return 'soft-tissue';
  return 'unknown';
}

/** Groups instance metadata by SeriesInstanceUID (order of first appearance). */
export function groupBySeries(instances: DicomJson[]): SeriesCandidate[] {
  const map = new Map<string, DicomJson[]>();
  for (const ds of instances) {
    const uid = getString(ds, TAG.SeriesInstanceUID) ?? '';
    let list = map.get(uid);
    if (!list) map.set(uid, (list = []));
    list.push(ds);
  }
  return [...map.entries()].map(([seriesInstanceUid, list]) => ({ seriesInstanceUid, instances: list }));
}

function isLocalizer(imageType: string[]): boolean {
  return imageType.includes('LOCALIZER') || imageType.includes('SCOUT') || imageType.includes('SCANOGRAM');
}

type V3 = [number, number, number];
const cross = (a: V3, b: V3): V3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const dot = (a: V3, b: V3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** Plane of a slice normal: within 30° of a patient axis, else oblique. */
function planeOf(n: V3): SlicePlane {
  const len = Math.hypot(n[0], n[1], n[2]) || 1;
  const c30 = Math.cos(Math.PI / 6);
  if (Math.abs(n[2]) / len >= c30) return 'axial';
  if (Math.abs(n[0]) / len >= c30) return 'sagittal';
  if (Math.abs(n[1]) / len >= c30) return 'coronal';
  return 'oblique';
}

type Verdict = { ok: true; summary: SeriesSummary } | { ok: false; reason: string };

function evaluate(series: SeriesCandidate, minExtentMm: number): Verdict {
  const first = series.instances[0];
  if (!first) return { ok: false, reason: 'no instances' };
  const modality = getString(first, TAG.Modality);
  const sopClass = getString(first, TAG.SOPClassUID);
  if (sopClass !== undefined && !CT_IMAGE_CLASSES[sopClass]) {
    const what = NON_IMAGE_CLASSES[sopClass];
    return { ok: false, reason: what ? `SOP class ${sopClass}: ${what}` : `SOP class ${sopClass} is not a CT image storage class (CT, Enhanced CT, Legacy Converted Enhanced CT)` };
  }
  if (modality !== 'CT' && !(modality === undefined && sopClass !== undefined)) return { ok: false, reason: `modality ${modality ?? 'missing'} (CT required)` };
  // Localizers are sometimes mixed into the axial series: keep the non-localizer instances.
  const images = series.instances.filter((ds) => !isLocalizer(getStrings(ds, TAG.ImageType).map((s) => s.toUpperCase())));
  if (images.length === 0) {
    const it = getStrings(first, TAG.ImageType).join('\\');
    return { ok: false, reason: `localizer/scout images only (ImageType ${it})` };
  }
  const image0 = images[0] as DicomJson;
  const imageType = getStrings(image0, TAG.ImageType).map((s) => s.toUpperCase());
  const derived = imageType[0] === 'DERIVED';
  const flavour = imageType.slice(2).find((t) => NON_VOLUME_IMAGE_TYPES.test(t));
  if (flavour) return { ok: false, reason: `ImageType ${imageType.join('\\')}: a ${flavour} image, not slices of the anatomy` };
  // Geometry from the frames (Enhanced CT carries it per frame).
  const frames = images.flatMap((ds) => headersFromDicomJson(ds));
  const iop = frames[0]?.imageOrientationPatient ?? getNumbers(image0, TAG.ImageOrientationPatient, 6);
  if (!iop) return { ok: false, reason: 'no ImageOrientationPatient: no patient geometry (a screen save or document)' };
  if (frames.some((f) => f.imageOrientationPatient && f.imageOrientationPatient.some((v, i) => Math.abs(v - (iop[i] as number)) > 1e-3))) {
    return { ok: false, reason: 'frames differ in ImageOrientationPatient (several planes in one series)' };
  }
  const row: V3 = [iop[0] ?? 0, iop[1] ?? 0, iop[2] ?? 0];
  const col: V3 = [iop[3] ?? 0, iop[4] ?? 0, iop[5] ?? 0];
  const n = cross(row, col);
  const nl = Math.hypot(n[0], n[1], n[2]);
  if (!(nl > 0.5)) return { ok: false, reason: 'ImageOrientationPatient is degenerate' };
  const normal: V3 = [n[0] / nl, n[1] / nl, n[2] / nl];
  const plane = planeOf(normal);
  const placed = frames.filter((f) => f.imagePositionPatient !== undefined);
  if (placed.length < 2) return { ok: false, reason: `only ${placed.length} positioned slice(s): no volume` };
  const positions = placed.map((f) => dot(f.imagePositionPatient as V3, normal)).sort((a, b) => a - b);
  const steps: number[] = [];
  for (let i = 1; i < positions.length; i++) steps.push((positions[i] as number) - (positions[i - 1] as number));
  const sortedSteps = [...steps].sort((a, b) => a - b);
  const spacing = sortedSteps[sortedSteps.length >> 1] as number;
  const uniformSpacing = steps.every((s) => Math.abs(s - spacing) <= Math.max(0.01, 0.02 * spacing));
  const extent = (positions[positions.length - 1] as number) - (positions[0] as number);
  // Body-axis extent of the whole volume: slice corners, so that a sagittal series counts its rows.
  const f0 = placed[0]!;
  const ps = f0.pixelSpacing ?? getNumbers(image0, TAG.PixelSpacing, 2);
  const rows = f0.rows || (getNumber(image0, TAG.Rows) ?? 0);
  const cols = f0.columns || (getNumber(image0, TAG.Columns) ?? 0);
  let zLo = Infinity;
  let zHi = -Infinity;
  const rowLen = ps ? Math.max(0, cols - 1) * (ps[1] as number) : 0;
  const colLen = ps ? Math.max(0, rows - 1) * (ps[0] as number) : 0;
  for (const f of placed) {
    const p = f.imagePositionPatient as V3;
    for (const a of [0, rowLen]) {
      for (const b of [0, colLen]) {
        const z = p[2] + a * row[2] + b * col[2];
        if (z < zLo) zLo = z;
        if (z > zHi) zHi = z;
      }
    }
  }
  const bodyAxisExtent = zHi - zLo;
  if (bodyAxisExtent < minExtentMm) {
    return { ok: false, reason: `covers ${round1(bodyAxisExtent)} mm along the body axis: too short to hold a vertebral body (at least ${minExtentMm} mm)` };
  }
  if (plane !== 'axial' && extent < minExtentMm) {
    return { ok: false, reason: `${plane} slab ${round1(extent)} mm thick: too thin to hold a vertebral body (at least ${minExtentMm} mm)` };
  }
  const thickness = f0.sliceThickness ?? getNumber(image0, TAG.SliceThickness);
  const kernel = getStrings(image0, TAG.ConvolutionKernel).join('\\') || undefined;
  const kernelClass = classifyKernel(kernel);
  const coverage = Math.min(1, bodyAxisExtent / SPINE_T1_L5_MM);
  const effective = Math.max(spacing, thickness ?? 0);
  const thin = effective <= 3.0001 ? 3 : effective <= 5.0001 ? 1 : 0;
  const kernelScore = kernelClass === 'soft-tissue' || kernelClass === 'bone' ? 1 : kernelClass === 'unknown' ? 0.5 : 0;
  // Coverage dominates: the thoracolumbar junction, where most fractures are, must be in the volume.
  const score = 4 * coverage + thin + kernelScore + (spacing >= 0.9 ? 0.1 : 0) - (uniformSpacing ? 0 : 0.5);
  return {
    ok: true,
    summary: {
      seriesInstanceUid: series.seriesInstanceUid,
      seriesNumber: getNumber(first, TAG.SeriesNumber),
      description: getString(first, TAG.SeriesDescription),
      modality,
      sopClassUid: sopClass,
      imageType,
      derived,
      plane,
      instances: series.instances.length,
      frames: frames.length,
      sliceSpacingMm: Math.round(spacing * 1000) / 1000,
      sliceThicknessMm: thickness,
      uniformSpacing,
      extentMm: round1(extent),
      bodyAxisExtentMm: round1(bodyAxisExtent),
      kernel,
      kernelClass,
      coverage: Math.round(coverage * 100) / 100,
      tier: (plane === 'axial' ? 0 : 2) + (derived ? 1 : 0),
      score: Math.round(score * 1000) / 1000,
      sopInstanceUids: images.map((ds) => getString(ds, TAG.SOPInstanceUID) ?? ''),
    },
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

function describe(s: SeriesSummary): string {
  return `series ${s.seriesNumber ?? '?'}${s.description ? ` "${s.description}"` : ''}`;
}

/** What the chosen series is, and why a fallback was taken. */
function whatItIs(s: SeriesSummary): string {
  const kind = `${s.derived ? 'derived' : 'original'} ${s.plane} CT`;
  const why =
    s.tier === 0
      ? ''
      : s.plane === 'axial'
        ? ` (ImageType ${s.imageType.join('\\')}): no original axial series is usable, so this reformat is analysed`
        : ` (ImageType ${s.imageType.join('\\')}): no axial series is usable; the volume keeps its ${s.plane} axes and the detector samples it along patient axes`;
  return `${describe(s)}: ${kind}, ${s.frames} slices${why}`;
}

/** Chooses the series to analyse and says why; never throws (no usable series → chosen = null). */
export function selectSeries(input: SeriesCandidate[], opts: SelectOptions = {}): SeriesSelection {
  const minExtentMm = opts.minExtentMm ?? MIN_EXTENT_MM;
  const rejected: SeriesSelection['rejected'] = [];
  const eligible: SeriesSummary[] = [];
  for (const s of input) {
    const v = evaluate(s, minExtentMm);
    if (v.ok) eligible.push(v.summary);
    else {
      const first = s.instances[0];
      const entry: SeriesSelection['rejected'][number] = { seriesInstanceUid: s.seriesInstanceUid, reason: v.reason };
      const num = first ? getNumber(first, TAG.SeriesNumber) : undefined;
      const desc = first ? getString(first, TAG.SeriesDescription) : undefined;
      if (num !== undefined) entry.seriesNumber = num;
      if (desc !== undefined) entry.description = desc;
      rejected.push(entry);
    }
  }
  eligible.sort(
    (a, b) =>
      a.tier - b.tier ||
      b.score - a.score ||
      b.frames - a.frames ||
      (a.seriesNumber ?? Infinity) - (b.seriesNumber ?? Infinity) ||
      a.seriesInstanceUid.localeCompare(b.seriesInstanceUid),
  );
  const chosen = eligible[0] ?? null;
  const reasons: string[] = [];
  if (!chosen) {
    reasons.push(input.length === 0 ? 'no series in the study' : 'no series is a CT volume (CT image class, not a localizer, positioned slices with enough extent)');
    return { chosen, reasons, rejected, ranked: eligible };
  }
  reasons.push(whatItIs(chosen));
  const thick = Math.max(chosen.sliceSpacingMm ?? 0, chosen.sliceThicknessMm ?? 0);
  reasons.push(
    thick <= 3.0001
      ? `slice spacing ${chosen.sliceSpacingMm} mm, thickness ${chosen.sliceThicknessMm ?? '?'} mm (≤ 3 mm)`
      : `thick slices (${thick} mm > 3 mm): heights will be less precise`,
  );
  if (!chosen.uniformSpacing) reasons.push('uneven slice spacing: resampled onto a uniform grid when assembled');
  reasons.push(`kernel ${chosen.kernel ?? 'not stated'} (${chosen.kernelClass})`);
  reasons.push(
    chosen.coverage >= 0.95
      ? `covers ${chosen.bodyAxisExtentMm} mm along the body axis (T1–L5 needs about ${SPINE_T1_L5_MM} mm)`
      : `partial coverage: ${chosen.bodyAxisExtentMm} mm of the ~${SPINE_T1_L5_MM} mm T1–L5 length`,
  );
  if (chosen.instances > chosen.frames && chosen.frames === chosen.sopInstanceUids.length) {
    reasons.push(`${chosen.instances - chosen.sopInstanceUids.length} localizer image(s) inside the series left out`);
  }
  for (const other of eligible.slice(1, 4)) {
    const vs =
      other.tier !== chosen.tier
        ? `${other.derived ? 'derived' : 'original'} ${other.plane}`
        : `score ${chosen.score} vs ${other.score}: ${other.bodyAxisExtentMm} mm, ${other.sliceSpacingMm} mm slices, ${other.kernelClass} kernel`;
    reasons.push(`preferred over ${describe(other)} (${vs})`);
  }
  return { chosen, reasons, rejected, ranked: eligible };
}

/**
 * `selectSeries` in the shape the DICOMweb study fetcher injects (`SelectSeries` in
 * src/ingest/dicomweb/types.ts): the chosen series as its UID, plus the reasons and rejections.
 */
export function selectSeriesUid(candidates: SeriesCandidate[]): {
  chosen: string | null;
  reasons: string[];
  rejected: SeriesSelection['rejected'];
} {
  const s = selectSeries(candidates);
  return { chosen: s.chosen?.seriesInstanceUid ?? null, reasons: s.reasons, rejected: s.rejected };
}
