/**
 * Writes a volume as a sagittal or coronal DICOM series (CT Image Storage, signed HU pixels), as a
 * scanner's or PACS's multiplanar reconstruction would: so tests can hand the analyser a study whose only
 * CT series is not axial. The volume is first put in canonical LPS order, so voxels are copied, never
 * interpolated: reassembling the series gives back the same canonical volume.
 */
import { toCanonicalLps, type Volume } from '../volume';
import { encodeImage, type CtSliceSpec } from './dicom-writer';
import { deterministicUid } from './prng';

export type ReformatPlane = 'sagittal' | 'coronal';

export interface ReformatSeriesOptions {
  plane: ReformatPlane;
  /** ImageType of the series (default ORIGINAL\PRIMARY\<PLANE>, as a scanner's own reconstruction). */
  imageType?: string[];
  /** UIDs and numbers; defaults are deterministic from `seed`. */
  seed?: number;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  convolutionKernel?: string;
}

/**
 * One Part-10 buffer per slice. Sagittal slices run patient right → left (one per x), rows superior →
 * inferior, columns anterior → posterior; coronal slices run anterior → posterior, rows superior →
 * inferior, columns right → left.
 */
export function reformatSeries(volume: Volume, opts: ReformatSeriesOptions): Array<{ name: string; data: Buffer }> {
  const c = toCanonicalLps(volume);
  const [nx, ny, nz] = c.dims;
  const [sx, sy, sz] = c.spacing;
  const seed = opts.seed ?? 1;
  const sagittal = opts.plane === 'sagittal';
  const studyUid = opts.studyInstanceUid ?? deterministicUid(seed, 'reformat-study');
  const seriesUid = opts.seriesInstanceUid ?? deterministicUid(seed, `reformat-series:${opts.plane}`);
  const slices = sagittal ? nx : ny;
  const columns = sagittal ? ny : nx;
  const rows = nz;
  const out: Array<{ name: string; data: Buffer }> = [];
  const px = new Int16Array(rows * columns);
  for (let s = 0; s < slices; s++) {
    for (let r = 0; r < rows; r++) {
      const k = nz - 1 - r;
      for (let col = 0; col < columns; col++) {
        const idx = sagittal ? s + col * nx + k * nx * ny : col + s * nx + k * nx * ny;
        px[r * columns + col] = c.data[idx] as number;
      }
    }
    const ipp: [number, number, number] = sagittal
      ? [c.origin[0] + s * sx, c.origin[1], c.origin[2] + (nz - 1) * sz]
      : [c.origin[0], c.origin[1] + s * sy, c.origin[2] + (nz - 1) * sz];
    const spec: CtSliceSpec = {
      studyInstanceUid: studyUid,
      seriesInstanceUid: seriesUid,
      sopInstanceUid: deterministicUid(seed, `reformat:${opts.plane}:${s}`),
      frameOfReferenceUid: deterministicUid(seed, 'frame-of-reference'),
      studyDate: '20260101',
      studyTime: '120000',
      accessionNumber: `SYN${String(seed).padStart(6, '0')}`.slice(0, 16),
      studyDescription: 'SYNTHETIC CT',
      seriesNumber: opts.seriesNumber ?? 3,
      instanceNumber: s + 1,
      seriesDescription: opts.seriesDescription ?? `SYNTHETIC ${opts.plane.toUpperCase()}`,
      imageType: opts.imageType ?? ['ORIGINAL', 'PRIMARY', opts.plane.toUpperCase()],
      patient: { name: `SYNTHETIC^PHANTOM^SEED${seed}`, id: `SYNTH-${seed}`, birthDate: '19500101', sex: 'O' },
      patientPosition: 'HFS',
      convolutionKernel: opts.convolutionKernel ?? 'B31f',
      rows,
      columns,
      pixelSpacing: [sz, sagittal ? sy : sx],
      sliceThickness: sagittal ? sx : sy,
      imagePositionPatient: ipp,
      imageOrientationPatient: sagittal ? [0, 1, 0, 0, 0, -1] : [1, 0, 0, 0, 0, -1],
      rescaleSlope: 1,
      rescaleIntercept: 0,
      pixelRepresentation: 1,
    };
    out.push({ name: `CT.${spec.seriesNumber}.${String(s + 1).padStart(4, '0')}.dcm`, data: encodeImage(spec, px) });
  }
  return out;
}
