import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AppError } from '../../../src/errors';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { SOP_CLASSES } from '../../../src/imaging/dicom';
import { encodeImage } from '../../../src/imaging/phantom/dicom-writer';
import { renderVolumePngs } from '../../../src/imaging/render';
import { assembleVolume, lpsToVoxel, orientationCode, toCanonicalLps, voxelToLps } from '../../../src/imaging/volume';
import { makeSlice, sources } from './helpers';

const zs = (n: number, step: number, start = 0): number[] => Array.from({ length: n }, (_, i) => start + i * step);

function stack(positions: number[], extra: Parameters<typeof makeSlice>[0] extends infer T ? Partial<T> : never = {}) {
  // Stored value encodes the slice's z so we can check ordering: HU = z*10.
  return positions.map((z) => makeSlice({ ...extra, imagePositionPatient: [0, 0, z] }, () => 1024 + Math.round(z * 10)));
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('VOLUME_INVALID');
    expect((err as AppError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected VOLUME_INVALID');
}

describe('volume assembly geometry', () => {
  it('sorts shuffled slices along the normal and takes spacing from positions, not SliceThickness', () => {
    const pos = zs(6, 2.5, -10);
    const shuffled = [3, 0, 5, 1, 4, 2].map((i) => pos[i] as number);
    const { volume, report } = assembleVolume(sources(stack(shuffled, { sliceThickness: 5 })));
    expect(volume.dims).toEqual([4, 4, 6]);
    expect(volume.spacing[2]).toBeCloseTo(2.5, 6);
    expect(report.nominalSliceThicknessMm).toBe(5);
    for (let k = 0; k < 6; k++) expect(volume.data[k * 16]).toBe(Math.round((pos[k] as number) * 10));
    expect(volume.origin).toEqual([0, 0, -10]);
    expect(orientationCode(volume)).toBe('LPS');
  });

  it('interpolates one missing slice and says so', () => {
    const pos = zs(8, 2).filter((_, i) => i !== 4);
    const { volume, report } = assembleVolume(sources(stack(pos)));
    expect(volume.dims[2]).toBe(8);
    expect(report.missingSlices).toBe(1);
    expect(report.resampled).toBe(true);
    expect(report.notes.join(' ')).toMatch(/1 missing slice/);
    // z = 8 was missing: interpolated between z = 6 (60) and z = 10 (100).
    expect(volume.data[4 * 16]).toBe(80);
  });

  it('rejects a gap too wide to interpolate', () => {
    const pos = [...zs(5, 2), ...zs(5, 2, 20)];
    expectInvalid(() => assembleVolume(sources(stack(pos))), /gap of 12\.0 mm/);
  });

  it('resamples uneven spacing onto a uniform grid', () => {
    const pos = [0, 1, 2, 3, 4.5, 6, 7, 8, 9];
    const { volume, report } = assembleVolume(sources(stack(pos)));
    expect(report.resampled).toBe(true);
    expect(report.notes.join(' ')).toMatch(/uneven|missing/);
    expect(volume.spacing[2]).toBeCloseTo(1, 6);
    expect(volume.dims[2]).toBe(10);
    expect(volume.data[5 * 16]).toBe(50);
  });

  it('rejects gantry tilt (sheared stack) with a reason', () => {
    // The table moves along z while the image plane is tilted: positions are sheared against the normal.
    const tilt = (20 * Math.PI) / 180;
    const bufs = zs(6, 2).map((z) =>
      makeSlice({ imagePositionPatient: [0, 0, z], imageOrientationPatient: [1, 0, 0, 0, Math.cos(tilt), -Math.sin(tilt)], gantryDetectorTilt: 20 }),
    );
    expectInvalid(() => assembleVolume(sources(bufs)), /gantry tilt.*GantryDetectorTilt 20/);
  });

  it('rejects two slices at one position (mixed acquisitions) and mixed orientations', () => {
    expectInvalid(() => assembleVolume(sources(stack([0, 2, 2, 4]))), /share a position/);
    const bufs = [...stack([0, 2, 4]), makeSlice({ imagePositionPatient: [0, 0, 6], imageOrientationPatient: [1, 0, 0, 0, 0, -1] })];
    expectInvalid(() => assembleVolume(sources(bufs)), /ImageOrientationPatient/);
  });

  it('honours feet-first and prone orientations and maps voxels to LPS', () => {
    // Feet-first supine: rows run to patient right; the normal points to the feet.
    const ffs = zs(4, 3).map((z) => makeSlice({ imagePositionPatient: [10, -5, z], imageOrientationPatient: [-1, 0, 0, 0, 1, 0] }, (c, r) => 1024 + c + 10 * r));
    const { volume } = assembleVolume(sources(ffs));
    expect(orientationCode(volume)).toBe('RPI');
    // Sorted along the normal (−z): k = 0 is the highest z.
    expect(volume.origin).toEqual([10, -5, 9]);
    expect(voxelToLps(volume, 2, 1, 3)).toEqual([8, -4, 0]);
    expect(lpsToVoxel(volume, [8, -4, 0]).map((x) => Math.round(x * 1e6) / 1e6)).toEqual([2, 1, 3]);
    const canon = toCanonicalLps(volume);
    expect(orientationCode(canon)).toBe('LPS');
    expect(canon.origin).toEqual([7, -5, 0]);
    // The voxel at LPS (8, -4, 0) holds column 2, row 1 of the slice at z = 0.
    const [i, j, k] = lpsToVoxel(canon, [8, -4, 0]).map(Math.round) as [number, number, number];
    expect(canon.data[i + j * 4 + k * 16]).toBe(2 + 10);
    // Prone: both in-plane axes flipped.
    const hfp = zs(3, 2).map((z) => makeSlice({ imagePositionPatient: [0, 0, z], imageOrientationPatient: [-1, 0, 0, 0, -1, 0] }));
    expect(orientationCode(assembleVolume(sources(hfp)).volume)).toBe('RAS');
  });

  it('resamples an oblique volume onto an LPS grid', () => {
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    const bufs = zs(4, 1).map((z) => makeSlice({ imagePositionPatient: [0, 0, z], imageOrientationPatient: [c, s, 0, -s, c, 0] }, () => 1124));
    const { volume } = assembleVolume(sources(bufs));
    const canon = toCanonicalLps(volume);
    expect(canon.direction).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    const [i, j, k] = lpsToVoxel(canon, voxelToLps(volume, 1.5, 1.5, 1)).map(Math.round) as [number, number, number];
    expect(canon.data[i + j * canon.dims[0] + k * canon.dims[0] * canon.dims[1]]).toBe(100);
  });
});

describe('multi-frame Enhanced CT', () => {
  it('splits frames by their functional groups, sorts them and applies the shared rescale', () => {
    const zsFrames = [4, 0, 8, 2, 6];
    const px = new Uint16Array(16 * zsFrames.length);
    zsFrames.forEach((z, f) => px.fill(1000 + z * 10, f * 16, (f + 1) * 16));
    const buf = encodeImage(
      {
        sopClassUid: SOP_CLASSES.enhancedCt,
        studyInstanceUid: '2.25.71',
        seriesInstanceUid: '2.25.72',
        sopInstanceUid: '2.25.73',
        frameOfReferenceUid: '2.25.74',
        studyDate: '20260101',
        studyTime: '120000',
        accessionNumber: 'E1',
        studyDescription: 'TEST',
        seriesNumber: 3,
        instanceNumber: 1,
        seriesDescription: 'ENHANCED',
        imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL', 'NONE'],
        patient: { name: 'SYNTHETIC^TEST', id: 'SYN', birthDate: '19500101', sex: 'O' },
        rows: 4,
        columns: 4,
        pixelRepresentation: 0,
        numberOfFrames: zsFrames.length,
        extra: {
          SharedFunctionalGroupsSequence: [
            {
              PixelMeasuresSequence: [{ PixelSpacing: [0.5, 0.5], SliceThickness: 2 }],
              PlaneOrientationSequence: [{ ImageOrientationPatient: [1, 0, 0, 0, 1, 0] }],
              PixelValueTransformationSequence: [{ RescaleIntercept: -1000, RescaleSlope: 1, RescaleType: 'HU' }],
            },
          ],
          PerFrameFunctionalGroupsSequence: zsFrames.map((z) => ({ PlanePositionSequence: [{ ImagePositionPatient: [0, 0, z] }] })),
        },
      },
      px,
    );
    // An 8 mm stack is below the 20 mm a series needs to hold a vertebra: lift that rule to test the frames.
    const { analysis, volume } = analyzeSeriesBuffers([buf], { minExtentMm: 0 });
    expect(analysis.volume.dims).toEqual([4, 4, 5]);
    expect(analysis.volume.spacingMm).toEqual([0.5, 0.5, 2]);
    expect(analysis.series.chosen.frames).toBe(5);
    expect([0, 1, 2, 3, 4].map((k) => volume.data[k * 16])).toEqual([0, 20, 40, 60, 80]);
  });
});

describe('canonical resampling and renders', () => {
  it('resamples to a requested spacing and renders windowed PNGs with square pixels', () => {
    const bufs = zs(5, 3).map((z) => makeSlice({ imagePositionPatient: [0, 0, z], imageOrientationPatient: [-1, 0, 0, 0, 1, 0], rows: 8, columns: 8 }, (c) => 1024 + c * 100));
    const { volume } = assembleVolume(sources(bufs));
    const iso = toCanonicalLps(volume, { spacingMm: [1, 1, 1] });
    expect(iso.dims).toEqual([8, 8, 13]);
    // Along x (patient left), HU rises as the original column index falls (rows ran to patient right).
    const row = Array.from(iso.data.slice(6 * 64, 6 * 64 + 8));
    expect(row).toEqual([700, 600, 500, 400, 300, 200, 100, 0]);
    const dir = mkdtempSync(`${tmpdir()}/vcf-render-`);
    try {
      const paths = renderVolumePngs(volume, `${dir}/t`, { axialZMm: [6] });
      expect(paths).toHaveLength(4);
      const png = readFileSync(paths[0]!);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      // Sagittal: 8 columns × 1 mm wide, 5 slices × 3 mm tall → 8 × 15 display pixels at 1 mm.
      expect(png.readUInt32BE(16)).toBe(8);
      expect(png.readUInt32BE(20)).toBe(15);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
