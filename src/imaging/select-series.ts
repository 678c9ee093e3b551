/**
 * Series selection: a pure function over DICOM JSON instance metadata (PS3.18 F.2, as WADO-RS
 * `/studies/{uid}/series/{uid}/metadata` returns it, or as read from local files), so the DICOMweb worker
 * and `analyze-study` choose the same series for the same study.
 *
 * Hard rules: CT, CT Image Storage or Enhanced CT, ORIGINAL, axial; no localizer/scout, dose report or
 * secondary capture. Preferences: covers most of T1–L5 (≈ 450 mm along the body axis), slices ≤ 3 mm,
 * soft-tissue or bone kernels rather than lung kernels.
 */
import { getNumber, getNumbers, getString, getStrings, TAG, type DicomJson } from './dicom-json';
import { headersFromDicomJson, SOP_CLASSES } from './dicom';

export interface SeriesCandidate {
  seriesInstanceUid: string;
  /** Instance-level metadata of the series (one DICOM JSON object per instance). */
  instances: DicomJson[];
}

export type KernelClass = 'soft-tissue' | 'bone' | 'lung' | 'unknown';

export interface SeriesSummary {
  seriesInstanceUid: string;
  seriesNumber: number | undefined;
  description: string | undefined;
  modality: string | undefined;
  imageType: string[];
  instances: number;
  /** Frames usable for the volume (after dropping localizer images mixed into the series). */
  frames: number;
  sliceSpacingMm: number | undefined;
  sliceThicknessMm: number | undefined;
  /** Extent along the slice normal, first to last position, mm. */
  extentMm: number;
  kernel: string | undefined;
  kernelClass: KernelClass;
  /** Fraction of the T1–L5 length (450 mm) covered, 0–1. */
  coverage: number;
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

/** Expected T1 top to L5 bottom length in an adult, mm. */
export const SPINE_T1_L5_MM = 450;

const NON_DIAGNOSTIC_DESCRIPTION = /scout|topo|localiz|surview|scanogram|pilot|dose|protocol|report|screen ?save|patient ?info/i;

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

function normalOf(iop: number[]): [number, number, number] {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = iop;
  return [b * f - c * e, c * d - a * f, a * e - b * d];
}

type Verdict = { ok: true; summary: SeriesSummary } | { ok: false; reason: string };

function evaluate(series: SeriesCandidate): Verdict {
  const first = series.instances[0];
  if (!first) return { ok: false, reason: 'no instances' };
  const modality = getString(first, TAG.Modality);
  if (modality !== 'CT') return { ok: false, reason: `modality ${modality ?? 'missing'} (CT required)` };
  const sopClass = getString(first, TAG.SOPClassUID);
  if (sopClass === SOP_CLASSES.secondaryCapture) return { ok: false, reason: 'secondary capture (e.g. a dose screen), not CT image data' };
  if (sopClass === SOP_CLASSES.xRayDoseSr) return { ok: false, reason: 'radiation dose structured report' };
  if (sopClass !== undefined && sopClass !== SOP_CLASSES.ct && sopClass !== SOP_CLASSES.enhancedCt) {
    return { ok: false, reason: `SOP class ${sopClass} is not CT Image Storage` };
  }
  const description = getString(first, TAG.SeriesDescription);
  // Localizers are sometimes mixed into the axial series: keep the non-localizer instances.
  const images = series.instances.filter((ds) => !isLocalizer(getStrings(ds, TAG.ImageType).map((s) => s.toUpperCase())));
  if (images.length === 0) return { ok: false, reason: 'localizer/scout images only' };
  const imageType = getStrings(images[0] as DicomJson, TAG.ImageType).map((s) => s.toUpperCase());
  if (imageType.length > 0 && imageType[0] !== 'ORIGINAL') {
    return { ok: false, reason: `ImageType ${imageType.join('\\')}: derived or secondary (reformat, MIP, screen capture)` };
  }
  if (description && NON_DIAGNOSTIC_DESCRIPTION.test(description)) {
    return { ok: false, reason: `series description "${description}" names a scout, dose or protocol page` };
  }
  // Geometry from the frames (Enhanced CT carries it per frame).
  const frames = images.flatMap((ds) => headersFromDicomJson(ds));
  const iop = frames[0]?.imageOrientationPatient ?? getNumbers(images[0] as DicomJson, TAG.ImageOrientationPatient, 6);
  if (!iop) return { ok: false, reason: 'no ImageOrientationPatient' };
  const n = normalOf(iop);
  const tiltFromAxial = (Math.acos(Math.min(1, Math.abs(n[2]) / (Math.hypot(n[0], n[1], n[2]) || 1))) * 180) / Math.PI;
  if (tiltFromAxial > 30) return { ok: false, reason: `not axial (slice normal ${tiltFromAxial.toFixed(0)}° from the body axis: sagittal/coronal)` };
  const positions = frames
    .map((f) => f.imagePositionPatient)
    .filter((p): p is [number, number, number] => p !== undefined)
    .map((p) => p[0] * n[0] + p[1] * n[1] + p[2] * n[2])
    .sort((a, b) => a - b);
  if (positions.length < 2) return { ok: false, reason: `only ${positions.length} positioned slice(s): no volume` };
  const steps: number[] = [];
  for (let i = 1; i < positions.length; i++) steps.push((positions[i] as number) - (positions[i - 1] as number));
  const sortedSteps = [...steps].sort((a, b) => a - b);
  const spacing = sortedSteps[sortedSteps.length >> 1] as number;
  const extent = (positions[positions.length - 1] as number) - (positions[0] as number);
  const thickness = frames[0]?.sliceThickness ?? getNumber(images[0] as DicomJson, TAG.SliceThickness);
  const kernel = getStrings(images[0] as DicomJson, TAG.ConvolutionKernel).join('\\') || undefined;
  const kernelClass = classifyKernel(kernel);
  const coverage = Math.min(1, extent / SPINE_T1_L5_MM);
  const effective = Math.max(spacing, thickness ?? 0);
  const thin = effective <= 3.0001 ? 3 : effective <= 5.0001 ? 1 : 0;
  const kernelScore = kernelClass === 'soft-tissue' || kernelClass === 'bone' ? 1 : kernelClass === 'unknown' ? 0.5 : 0;
  // Coverage dominates: the thoracolumbar junction, where most fractures are, must be in the volume.
  const score = 4 * coverage + thin + kernelScore + (spacing >= 0.9 ? 0.1 : 0);
  return {
    ok: true,
    summary: {
      seriesInstanceUid: series.seriesInstanceUid,
      seriesNumber: getNumber(first, TAG.SeriesNumber),
      description,
      modality,
      imageType,
      instances: series.instances.length,
      frames: frames.length,
      sliceSpacingMm: Math.round(spacing * 1000) / 1000,
      sliceThicknessMm: thickness,
      extentMm: Math.round(extent * 10) / 10,
      kernel,
      kernelClass,
      coverage: Math.round(coverage * 100) / 100,
      score: Math.round(score * 1000) / 1000,
      sopInstanceUids: images.map((ds) => getString(ds, TAG.SOPInstanceUID) ?? ''),
    },
  };
}

function describe(s: SeriesSummary): string {
  return `series ${s.seriesNumber ?? '?'}${s.description ? ` "${s.description}"` : ''}`;
}

/** Chooses the series to analyse and says why; never throws (no usable series → chosen = null). */
export function selectSeries(input: SeriesCandidate[]): SeriesSelection {
  const rejected: SeriesSelection['rejected'] = [];
  const eligible: SeriesSummary[] = [];
  for (const s of input) {
    const v = evaluate(s);
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
      b.score - a.score ||
      b.frames - a.frames ||
      (a.seriesNumber ?? Infinity) - (b.seriesNumber ?? Infinity) ||
      a.seriesInstanceUid.localeCompare(b.seriesInstanceUid),
  );
  const chosen = eligible[0] ?? null;
  const reasons: string[] = [];
  if (!chosen) {
    reasons.push(input.length === 0 ? 'no series in the study' : 'no series is an original axial CT');
    return { chosen, reasons, rejected, ranked: eligible };
  }
  reasons.push(`${describe(chosen)}: original axial CT, ${chosen.frames} slices`);
  const thick = Math.max(chosen.sliceSpacingMm ?? 0, chosen.sliceThicknessMm ?? 0);
  reasons.push(
    thick <= 3.0001
      ? `slice spacing ${chosen.sliceSpacingMm} mm, thickness ${chosen.sliceThicknessMm ?? '?'} mm (≤ 3 mm)`
      : `thick slices (${thick} mm > 3 mm): heights will be less precise`,
  );
  reasons.push(`kernel ${chosen.kernel ?? 'not stated'} (${chosen.kernelClass})`);
  reasons.push(
    chosen.coverage >= 0.95
      ? `covers ${chosen.extentMm} mm along the body axis (T1–L5 needs about ${SPINE_T1_L5_MM} mm)`
      : `partial coverage: ${chosen.extentMm} mm of the ~${SPINE_T1_L5_MM} mm T1–L5 length`,
  );
  if (chosen.instances > chosen.frames && chosen.frames === chosen.sopInstanceUids.length) {
    reasons.push(`${chosen.instances - chosen.sopInstanceUids.length} localizer image(s) inside the series left out`);
  }
  for (const other of eligible.slice(1, 4)) {
    reasons.push(
      `preferred over ${describe(other)} (score ${chosen.score} vs ${other.score}: ${other.extentMm} mm, ${other.sliceSpacingMm} mm slices, ${other.kernelClass} kernel)`,
    );
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
