import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { decodeNiftiVolume } from '../../../src/imaging/nifti';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import type { Vec3, Volume } from '../../../src/imaging/volume';
import { sacralTest } from '../../../src/inference/sacrum';
import { IMAGING_FIXTURES, describeUnless } from '../../helpers/imaging-fixtures';

/** A 1 mm soft-tissue volume (40 HU) with boxes [x0, x1) × [y0, y1) × [z0, z1) at their HU. */
function volume(boxes: Array<[number, number, number, number, number, number, number]>): Volume {
  const dims: [number, number, number] = [170, 140, 80];
  const data = new Int16Array(dims[0] * dims[1] * dims[2]).fill(40);
  for (const [x0, x1, y0, y1, z0, z1, hu] of boxes)
    for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[x + y * dims[0] + z * dims[0] * dims[1]] = hu;
  return { data, dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
}

describe('sacral test', () => {
  // Body centre (85, 60, 40), 30 mm deep (half-width taken as 21.75 mm), 24 mm tall: the boxes beside it
  // span x 110–127 (left) and 43–60 (right), y 48–72, z 33–48.
  const centre: Vec3 = [85, 60, 40];
  const body: [number, number, number, number, number, number, number] = [64, 107, 45, 75, 28, 52, 250];

  it('thin alae (a 6 mm band at 130 HU) running out from both sides of the body: sacral', () => {
    const t = sacralTest(volume([body, [20, 150, 60, 66, 28, 52, 130]]), centre, 24, 30);
    expect(t).toMatchObject({ sacral: true, left: 1, right: 1 });
  });

  it('the psoas beside a lumbar body: not sacral', () => {
    expect(sacralTest(volume([body]), centre, 24, 30)).toMatchObject({ sacral: false, left: 0, right: 0 });
  });

  it('a contrast-filled iliac artery beside the body crosses a few lateral positions on one side: not sacral', () => {
    const t = sacralTest(volume([body, [112, 120, 50, 58, 0, 80, 300]]), centre, 24, 30);
    expect(t.sacral).toBe(false);
    expect(t.left).toBeLessThan(0.7);
  });

  it('an ala on one side only (a unilateral transitional vertebra): not sacral', () => {
    expect(sacralTest(volume([body, [85, 150, 60, 66, 28, 52, 130]]), centre, 24, 30).sacral).toBe(false);
  });

  it('undecided when the boxes leave the volume', () => {
    expect(sacralTest(volume([body]), [85, 60, 2], 24, 30).sacral).toBeNull();
  });

  it.each([
    [false, [false, false, false, true]],
    [true, [false, false, true, true]],
  ])('phantom (sacralised L5: %s): S1 carries alae, and L5 when sacralised (at the true body centres)', (sacralisedL5, expected) => {
    const { truth, files } = phantomBuffers({ seed: 7, size: 256, pixelSpacing: 1.5, sliceSpacing: 3, coverage: { from: 'L2', to: 'S1' }, sacralisedL5 });
    const { volume: v } = analyzeSeriesBuffers(files.filter((f) => f.name.startsWith('CT.')).map((f) => f.data));
    const at = (level: string) => {
      const t = truth.vertebrae.find((x) => x.level === level)!;
      const sp = t.sixPointMm;
      const depth = Math.hypot(...sp.superiorAnterior.map((c, i) => c - sp.superiorPosterior[i]!));
      return sacralTest(v, t.centerMm, t.heightsMm.posterior, depth).sacral;
    };
    expect(['L3', 'L4', 'L5', 'S1'].map(at)).toEqual(expected);
  });
});

const TS = join(IMAGING_FIXTURES, 'totalsegmentator');
const TS_REPORT = join(TS, 'spine_report', 'example_ct_report');
const haveCt = existsSync(join(TS, 'example_ct.nii.gz')) && existsSync(join(TS_REPORT, 'totalseg_vertebrae_body.nii.gz'));

describeUnless(haveCt ? null : `${TS} is absent`)('sacral test on the real CT', () => {
  it('S1 carries alae, L1–L5 do not (at TotalSegmentator body centres, extents from its body masks)', () => {
    const read = (p: string): Volume => decodeNiftiVolume(readFileSync(p));
    const ct = read(join(TS, 'example_ct.nii.gz'));
    const seg = read(join(TS_REPORT, 'totalseg.nii.gz'));
    const body = read(join(TS_REPORT, 'totalseg_vertebrae_body.nii.gz'));
    const [nx, ny, nz] = ct.dims;
    // TotalSegmentator labels: 26 S1, 27 L5 … 31 L1. The volume is axis-aligned (3 mm voxels).
    const result: Record<number, boolean | null> = {};
    for (const label of [26, 27, 28, 29, 30, 31]) {
      const idx: Vec3[] = [];
      for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
        const o = i + j * nx + k * nx * ny;
        if (seg.data[o] === label && body.data[o] === 1) idx.push([i, j, k]);
      }
      const mean = [0, 1, 2].map((a) => idx.reduce((s, p) => s + p[a]!, 0) / idx.length);
      const extent = (a: number) => (Math.max(...idx.map((p) => p[a]!)) - Math.min(...idx.map((p) => p[a]!)) + 1) * ct.spacing[a]!;
      const c = [0, 1, 2].map((r) => ct.origin[r]! + mean.reduce((s, v, a) => s + v * ct.spacing[a]! * ct.direction[a]![r]!, 0)) as Vec3;
      result[label] = sacralTest(ct, c, extent(2), extent(1)).sacral;
    }
    expect(result).toEqual({ 26: true, 27: false, 28: false, 29: false, 30: false, 31: false });
  });
});
