import { SPINE_LEVELS } from '../../../src/domain/vocabulary';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { decodeNifti, encodeNifti } from '../../../src/imaging/nifti';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { lpsToVoxel, type Volume } from '../../../src/imaging/volume';

const SMALL = { size: 96, pixelSpacing: 4, sliceSpacing: 3, coverage: { from: 'T11' as const, to: 'L2' as const }, labels: true };

describe('phantom label map (labels.nii.gz)', () => {
  it.each(['HFS', 'FFS', 'HFP'] as const)('labels each vertebral body at its truth centre (%s)', (position) => {
    const { truth, files } = phantomBuffers({ ...SMALL, seed: 6, position });
    const file = files.find((f) => f.name === 'labels.nii.gz')!;
    expect(truth.labels?.values['13']).toBe('L1 vertebral body');
    const grid = decodeNifti(file.data);
    const { volume } = analyzeSeriesBuffers(files.map((f) => f.data));
    // Same grid as the assembled CT volume.
    expect(grid.dims).toEqual(volume.dims);
    expect(grid.origin.map((x) => Math.round(x * 100) / 100)).toEqual(volume.origin.map((x) => Math.round(x * 100) / 100));
    expect(grid.direction.map((d) => d.map((x) => Math.round(x)))).toEqual(volume.direction.map((d) => d.map((x) => Math.round(x))));
    const asVol = { ...grid, data: new Int16Array(0) } as unknown as Volume;
    for (const v of truth.vertebrae.filter((x) => x.inFieldOfView)) {
      const [i, j, k] = lpsToVoxel(asVol, v.centerMm).map(Math.round) as [number, number, number];
      expect(grid.data[i + j * grid.dims[0] + k * grid.dims[0] * grid.dims[1]]).toBe(SPINE_LEVELS.indexOf(v.level) + 1);
    }
    const values = new Set(grid.data);
    expect([...values].some((x) => x > 100)).toBe(true);
  });

  it('round-trips a CT volume through NIfTI with its geometry', () => {
    const vol: Volume = {
      data: Int16Array.from({ length: 24 }, (_, i) => i * 10 - 100),
      dims: [2, 3, 4],
      spacing: [0.5, 0.75, 2],
      origin: [10, -20, 30],
      direction: [
        [-1, 0, 0],
        [0, 1, 0],
        [0, 0, -1],
      ],
    };
    const back = decodeNifti(encodeNifti(vol));
    expect(Array.from(back.data)).toEqual(Array.from(vol.data));
    expect(back.dims).toEqual(vol.dims);
    expect(back.spacing).toEqual(vol.spacing);
    expect(back.origin).toEqual(vol.origin);
    expect(back.direction.map((d) => d.map((x) => x + 0))).toEqual(vol.direction);
  });

  it('reads float32 voxels with scl_slope and scl_inter (as other tools write CTs) into HU int16', () => {
    const vol: Volume = { data: new Int16Array(8), dims: [2, 2, 2], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
    const header = encodeNifti(vol, { gzip: false }).subarray(0, 352);
    header.writeInt16LE(16, 70); // datatype float32
    header.writeInt16LE(32, 72); // bitpix
    header.writeFloatLE(2, 112); // scl_slope
    header.writeFloatLE(-1024, 116); // scl_inter
    const body = Buffer.alloc(8 * 4);
    [0, 100.2, 512, 1000, 20000, 3, 7.6, 600].forEach((v, i) => body.writeFloatLE(v, i * 4));
    const back = decodeNifti(Buffer.concat([header, body]));
    expect(back.data).toBeInstanceOf(Int16Array);
    expect(Array.from(back.data)).toEqual([-1024, -824, 0, 976, 32767, -1018, -1009, 176]);
  });

  it('rejects what it cannot read with a clear error', () => {
    const vol: Volume = { data: new Int16Array(8), dims: [2, 2, 2], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
    const file = encodeNifti(vol, { gzip: false });
    file.writeInt16LE(32, 70); // complex64
    expect(() => decodeNifti(file)).toThrow('NIfTI datatype 32 not supported');
    expect(() => decodeNifti(Buffer.alloc(400))).toThrow('not a NIfTI-1 file');
    file.writeInt16LE(64, 70); // float64 is read, but this file holds 2 bytes per voxel
    expect(() => decodeNifti(file)).toThrow(/NIfTI file truncated/);
  });
});
