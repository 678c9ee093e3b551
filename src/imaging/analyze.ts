/**
 * Study analysis up to the volume: DICOM instances → series selection → assembled volume → the
 * `analyze-study` JSON (CONTRACT). The CLI calls `analyzeDirectory` (a folder or one DICOM file) or
 * `analyzeVolumeFile` (NIfTI, NRRD, MetaImage); the worker calls `analyzeSeriesBuffers` on the Part-10
 * buffers it retrieved. Detection (inference/study.ts) fills `model`, `vertebrae` and `fractures` later;
 * until then they are null and empty.
 *
 * Memory: headers are parsed without pixel data first; pixels are then decoded one instance at a time
 * straight into the preallocated volume (files are re-read from disk, buffers are only viewed).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { ModelIdentity, VertebraFinding } from '../domain/findings';
import { AppError } from '../errors';
import { looksLikePart10, parseHeaders, readFrameHu, releasePixelCache, type SliceHeader } from './dicom';
import type { DicomJson } from './dicom-json';
import { groupBySeries, selectSeries, type SelectOptions, type SeriesSelection, type SeriesSummary } from './select-series';
import { assembleVolume, huRange, orientationCode, type AssemblyReport, type FrameSource, type Volume } from './volume';
import { readVolumeFile, type VolumeFileFacts, type VolumeFileFormat } from './volume-file';

/** Media Storage Directory Storage: a DICOMDIR index, not an image. */
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

export const DETECTION_UNAVAILABLE_NOTE = 'vertebra detection is not available yet: volume and series facts only';

export interface StudyAnalysis {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** The detection model, null until detection has run (inference/study.ts `completeAnalysis`). */
  model: ModelIdentity | null;
  /** T1–L5 as detected; empty until detection has run. */
  vertebrae: VertebraFinding[];
  /** The vertebrae graded 1 or more; empty until detection has run. */
  fractures: VertebraFinding[];
  notes: string[];
  series: {
    chosen: Omit<SeriesSummary, 'sopInstanceUids'>;
    reasons: string[];
    rejected: SeriesSelection['rejected'];
  };
  volume: {
    dims: [number, number, number];
    spacingMm: [number, number, number];
    originMm: [number, number, number];
    /** Row, column and slice-normal cosines (LPS). */
    direction: [[number, number, number], [number, number, number], [number, number, number]];
    /** Patient directions of the i, j, k axes, e.g. "LPS" (head-first supine) or "RPI" (feet-first supine). */
    orientation: string;
    patientPosition: string | undefined;
    huRange: [number, number];
    assembly: AssemblyReport;
  };
  input: { files: number; dicomInstances: number; skipped: Array<{ file: string; reason: string }> };
  timingsMs: { load: number; inference: number; total: number };
}

/**
 * The `analyze-study` JSON for a research volume file (NIfTI, NRRD, MetaImage): the same fields as for
 * DICOM, except that there are no DICOM UIDs (null), `series.chosen` states the file's format and how
 * its geometry and intensities were read, and `volume` has no DICOM assembly report.
 */
export interface VolumeFileAnalysis extends Omit<StudyAnalysis, 'studyInstanceUid' | 'seriesInstanceUid' | 'series' | 'volume' | 'input'> {
  studyInstanceUid: null;
  seriesInstanceUid: null;
  series: { chosen: VolumeFileFacts; reasons: string[]; rejected: SeriesSelection['rejected'] };
  volume: Omit<StudyAnalysis['volume'], 'patientPosition' | 'assembly'>;
  input: { files: 1; format: VolumeFileFormat; file: string; bytes: number; dicomInstances: 0; skipped: StudyAnalysis['input']['skipped'] };
}

/** One DICOM instance seen in the first pass: its metadata, frames and a way to get its bytes again. */
export interface InstanceRef {
  dataset: DicomJson;
  frames: SliceHeader[];
  bytes: () => Uint8Array;
  label: string;
}

const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d;

/**
 * The core shared by the CLI and the worker: select a series among the instances and assemble it.
 * Returns the analysis JSON and the volume (for the model); throws STUDY_UNUSABLE / VOLUME_INVALID.
 */
export function analyzeInstances(
  instances: InstanceRef[],
  input: StudyAnalysis['input'],
  started: number = performance.now(),
  opts: SelectOptions = {},
): { analysis: StudyAnalysis; volume: Volume } {
  const groups = groupBySeries(instances.map((i) => i.dataset));
  const selection = selectSeries(groups, opts);
  if (!selection.chosen) {
    const why = selection.rejected.map((r) => `series ${r.seriesNumber ?? r.seriesInstanceUid}: ${r.reason}`).join('; ');
    throw new AppError('STUDY_UNUSABLE', `no usable CT series${why ? ` (${why})` : ''}`);
  }
  // Try the ranked series in order: a series that looks right in its metadata can still fail assembly
  // (a gap, mixed phases); the next best one is then analysed and the failure recorded as a rejection.
  let chosen: SeriesSummary | undefined;
  let assembled: { volume: Volume; report: AssemblyReport } | undefined;
  let studyUid = '';
  const failures: string[] = [];
  for (const candidate of selection.ranked) {
    const wanted = new Set(candidate.sopInstanceUids);
    const sources: FrameSource[] = [];
    let uid = '';
    for (const inst of instances) {
      const f0 = inst.frames[0];
      if (!f0 || f0.seriesInstanceUid !== candidate.seriesInstanceUid || !wanted.has(f0.sopInstanceUid)) continue;
      uid ||= f0.studyInstanceUid;
      for (const fr of inst.frames) sources.push({ header: fr, read: (out, off) => readFrameHu(inst.bytes(), fr, out, off) });
    }
    try {
      assembled = assembleVolume(sources);
      chosen = candidate;
      studyUid = uid;
      break;
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'VOLUME_INVALID') throw err;
      failures.push(`series ${candidate.seriesNumber ?? candidate.seriesInstanceUid}: ${err.message}`);
      const entry: SeriesSelection['rejected'][number] = { seriesInstanceUid: candidate.seriesInstanceUid, reason: `cannot assemble a volume: ${err.message}` };
      if (candidate.seriesNumber !== undefined) entry.seriesNumber = candidate.seriesNumber;
      if (candidate.description !== undefined) entry.description = candidate.description;
      selection.rejected.push(entry);
    } finally {
      releasePixelCache();
    }
  }
  if (!chosen || !assembled) throw new AppError('VOLUME_INVALID', failures.join('; '));
  const reasons =
    chosen === selection.chosen
      ? selection.reasons
      : [
          `the better-ranked series could not be assembled (${failures.join('; ')})`,
          ...selectSeries(groups.filter((g) => g.seriesInstanceUid === chosen.seriesInstanceUid), opts).reasons,
        ];
  const { volume, report } = assembled;
  const load = performance.now() - started;
  const { sopInstanceUids: _omit, ...chosenPublic } = chosen;
  const analysis: StudyAnalysis = {
    studyInstanceUid: studyUid,
    seriesInstanceUid: chosen.seriesInstanceUid,
    model: null,
    vertebrae: [],
    fractures: [],
    notes: [DETECTION_UNAVAILABLE_NOTE],
    series: { chosen: chosenPublic, reasons, rejected: selection.rejected },
    volume: {
      ...volumeFacts(volume),
      patientPosition: report.patientPosition,
      assembly: { ...report, medianStepMm: round(report.medianStepMm, 4), minStepMm: round(report.minStepMm, 4), maxStepMm: round(report.maxStepMm, 4) },
    },
    input,
    timingsMs: { load: Math.round(load), inference: 0, total: Math.round(performance.now() - started) },
  };
  return { analysis, volume };
}

/** Geometry and HU range of a volume as the analysis JSON states them. */
function volumeFacts(volume: Volume): Omit<StudyAnalysis['volume'], 'patientPosition' | 'assembly'> {
  return {
    dims: volume.dims,
    spacingMm: [round(volume.spacing[0], 4), round(volume.spacing[1], 4), round(volume.spacing[2], 4)],
    originMm: [round(volume.origin[0]), round(volume.origin[1]), round(volume.origin[2])],
    direction: volume.direction.map((d) => [round(d[0], 6), round(d[1], 6), round(d[2], 6)]) as StudyAnalysis['volume']['direction'],
    orientation: orientationCode(volume),
    huRange: huRange(volume),
  };
}

const FORMAT_NAMES: Record<VolumeFileFormat, string> = { nifti: 'NIfTI', nrrd: 'NRRD', metaimage: 'MetaImage' };

/**
 * CLI entry point for a research volume file (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd): the file is one
 * volume, so there is no series to choose; the volume keeps the file's own axes (the detector samples
 * along patient axes through the direction matrix). Throws BAD_REQUEST / VOLUME_INVALID naming the file.
 */
export async function analyzeVolumeFile(path: string): Promise<{ analysis: VolumeFileAnalysis; volume: Volume }> {
  const started = performance.now();
  const { volume, facts, notes } = await readVolumeFile(path);
  const v = volumeFacts(volume);
  const [lo, hi] = v.huRange;
  const extraNotes: string[] = [];
  // Files are taken as HU; say so when the values cannot be HU (no air, or beyond any tissue).
  if (lo >= 0) extraNotes.push(`lowest value ${lo}: no air at about -1000, the intensities may not be HU (e.g. HU + 1024) and bone thresholds will be wrong`);
  const load = performance.now() - started;
  const analysis: VolumeFileAnalysis = {
    studyInstanceUid: null,
    seriesInstanceUid: null,
    model: null,
    vertebrae: [],
    fractures: [],
    notes: [DETECTION_UNAVAILABLE_NOTE, ...notes, ...extraNotes],
    series: {
      chosen: facts,
      reasons: [
        `${FORMAT_NAMES[facts.format]} file ${facts.file}: one volume, nothing to choose; no DICOM identifiers (studyInstanceUid and seriesInstanceUid are null)`,
        `${v.dims.join('×')} voxels at ${v.spacingMm.join('×')} mm, axes ${v.orientation}, analysed in the file's own axes`,
      ],
      rejected: [],
    },
    volume: v,
    input: { files: 1, format: facts.format, file: facts.file, bytes: statSync(path).size, dicomInstances: 0, skipped: [] },
    timingsMs: { load: Math.round(load), inference: 0, total: Math.round(performance.now() - started) },
  };
  return { analysis, volume };
}

/**
 * Worker entry point: Part-10 buffers of a study (or of one series) → analysis + volume. Buffers that are
 * not DICOM are skipped with a note. The buffers are only viewed, never copied.
 */
export function analyzeSeriesBuffers(buffers: Uint8Array[], opts: SelectOptions = {}): { analysis: StudyAnalysis; volume: Volume } {
  const started = performance.now();
  const instances: InstanceRef[] = [];
  const skipped: StudyAnalysis['input']['skipped'] = [];
  buffers.forEach((buf, i) => {
    const label = `#${i}`;
    try {
      const h = parseHeaders(buf);
      instances.push({ dataset: h.dataset, frames: h.frames, bytes: () => buf, label });
    } catch (err) {
      skipped.push({ file: label, reason: (err as Error).message });
    }
  });
  return analyzeInstances(instances, { files: buffers.length, dicomInstances: instances.length, skipped }, started, opts);
}

function peek(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(132);
    const n = readSync(fd, b, 0, 132, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * CLI entry point: every file under `dir` (recursively), or the one DICOM file `dir` names (e.g. a
 * multi-frame Enhanced CT); non-DICOM files are skipped with a note.
 */
export function analyzeDirectory(dir: string, opts: SelectOptions = {}): { analysis: StudyAnalysis; volume: Volume } {
  const started = performance.now();
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new AppError('BAD_REQUEST', `no such file or directory: ${dir}`);
  }
  if (!st.isDirectory() && !st.isFile()) throw new AppError('BAD_REQUEST', `not a directory or file: ${dir}`);
  const files = st.isDirectory() ? listFiles(dir) : [dir];
  const root = st.isDirectory() ? dir : dirname(dir);
  const instances: InstanceRef[] = [];
  const skipped: StudyAnalysis['input']['skipped'] = [];
  // A one-file cache so the frames of a multi-frame file do not re-read it.
  let last: { path: string; buf: Uint8Array } | null = null;
  const reread = (path: string) => (): Uint8Array => {
    if (last?.path !== path) last = { path, buf: readFileSync(path) };
    return last.buf;
  };
  for (const path of files) {
    const rel = st.isDirectory() ? relative(root, path) : basename(path);
    let buf: Buffer;
    try {
      // Peek at the preamble first so that large non-DICOM files (NIfTI, archives) are never read whole.
      if (!looksLikePart10(peek(path))) {
        skipped.push({ file: rel, reason: 'not a DICOM Part-10 file' });
        continue;
      }
      buf = readFileSync(path);
    } catch (err) {
      skipped.push({ file: rel, reason: `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      continue;
    }
    try {
      const h = parseHeaders(buf);
      if (h.mediaStorageSopClassUid === MEDIA_STORAGE_DIRECTORY || h.frames[0]?.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
        skipped.push({ file: rel, reason: 'DICOMDIR index' });
        continue;
      }
      instances.push({ dataset: h.dataset, frames: h.frames, bytes: reread(path), label: rel });
    } catch (err) {
      skipped.push({ file: rel, reason: (err as Error).message });
    }
  }
  try {
    return analyzeInstances(instances, { files: files.length, dicomInstances: instances.length, skipped }, started, opts);
  } finally {
    last = null;
  }
}
