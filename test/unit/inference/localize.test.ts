import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { localizeSpine } from '../../../src/inference/localize';
import { curvedSagittal } from '../../../src/inference/reformat';

describe('spine localisation and the curved sagittal reformat', () => {
  it.each([
    ['straight, head-first supine', { position: 'HFS' as const, scoliosisMm: 0 }],
    ['scoliotic, feet-first prone', { position: 'FFP' as const, scoliosisMm: 22 }],
  ])('follows the spine (%s)', (_name, o) => {
    const { truth, files } = phantomBuffers({ seed: 26, size: 160, pixelSpacing: 2.4, sliceSpacing: 3, ...o });
    const { volume } = analyzeSeriesBuffers(files.map((f) => f.data));
    const line = localizeSpine(volume);
    const inner = truth.vertebrae.filter((v) => v.inFieldOfView && ['T3', 'T5', 'T7', 'T9', 'T11', 'L1', 'L3', 'L4'].includes(v.level));
    for (const v of inner) expect(Math.abs(line.xAtZ(v.centerMm[2]) - v.centerMm[0])).toBeLessThan(6);
    // The scoliotic spine really moves sideways over these levels, and the centre line moves with it.
    if (o.scoliosisMm) expect(Math.max(...inner.map((v) => v.centerMm[0])) - Math.min(...inner.map((v) => v.centerMm[0]))).toBeGreaterThan(8);
    const slab = curvedSagittal(volume, { xAtZ: line.xAtZ, yRange: [line.yRange[0] - 80, line.yRange[1] + 45] });
    expect(slab.rows % 16).toBe(0);
    expect(slab.cols % 16).toBe(0);
    // The centre plane passes through the L1 body: bone-like HU at its centre.
    const l1 = truth.vertebrae.find((v) => v.level === 'L1')!;
    const r = Math.round((slab.zTop - l1.centerMm[2]) / slab.spacing);
    const c = Math.round((l1.centerMm[1] - slab.y0) / slab.spacing);
    expect(slab.data[slab.rows * slab.cols + r * slab.cols + c]).toBeGreaterThan(100);
  });
});
