/**
 * @jest-environment ./test/unit/inference/onnx-environment.js
 */
import { join } from 'node:path';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { phantomBuffers, type PhantomOptions } from '../../../src/imaging/phantom/generate';
import { completeAnalysis, detectVertebrae, startModel, type ModelHandle } from '../../../src/inference';

const MODEL = join(__dirname, '..', '..', '..', 'models', 'vcf-unet-ref', 'model.onnx');

/** A small phantom: T9–S1 at 1.5 mm pixels, 2.5 mm slices, a grade-3 wedge fracture of L1. */
const L1_FRACTURE: Partial<PhantomOptions> = {
  seed: 31,
  size: 256,
  pixelSpacing: 1.5,
  sliceSpacing: 2.5,
  coverage: { from: 'T9', to: 'S1' },
  fractures: [{ level: 'L1', grade: 3, morphology: 'wedge' }],
};

/** The committed reference model on that phantom. */
describe('detection with the committed reference model', () => {
  let model: ModelHandle;
  beforeAll(async () => {
    model = await startModel(MODEL, { threads: 2 });
  });
  afterAll(async () => {
    await model.close();
  });

  it('finds and labels T10–L5, and grades an injected grade-3 wedge fracture of L1', async () => {
    const { truth, files } = phantomBuffers(L1_FRACTURE);
    const analysed = analyzeSeriesBuffers(files.map((f) => f.data));
    const { analysis, keyImage } = await completeAnalysis(analysed, model);
    const levels = analysis.vertebrae.map((v) => v.level);
    for (const l of ['T10', 'T11', 'T12', 'L1', 'L2', 'L3', 'L4', 'L5'] as const) expect(levels).toContain(l);
    const l1 = analysis.vertebrae.find((v) => v.level === 'L1')!;
    const t = truth.vertebrae.find((v) => v.level === 'L1')!;
    expect(l1.grade).toBe(3);
    expect(l1.morphology).toBe('wedge');
    expect(Math.hypot(...l1.centerMm.map((c, i) => c - t.centerMm[i]!))).toBeLessThan(5);
    expect(analysis.fractures.map((f) => f.level)).toContain('L1');
    expect(analysis.model).toMatchObject({ name: 'vcf-unet-ref', sha256: model.card.sha256 });
    expect(analysis.notes.join(' ')).not.toMatch(/not available/);
    // Unfractured lumbar levels get no moderate or severe grade (on 2.5 mm slices a grade-1 over-call
    // happens: see the model card's held-out per-vertebra grade-1 PPV).
    for (const l of ['L2', 'L3', 'L4', 'L5'] as const) expect(analysis.vertebrae.find((v) => v.level === l)?.grade).toBeLessThan(2);
    expect(keyImage?.subarray(1, 4).toString()).toBe('PNG');
  });

  it('a field of view that ends beside the bodies (a crop through the spine): the fracture is not graded, and the note says why', async () => {
    const { truth, files } = phantomBuffers(L1_FRACTURE);
    const { volume } = analyzeSeriesBuffers(files.map((f) => f.data));
    expect(volume.direction[0]).toEqual([1, 0, 0]);
    // Keep the columns up to 8 mm to the patient's left of L1's centre: every body is cut at its left side.
    const t = truth.vertebrae.find((v) => v.level === 'L1')!;
    const [nx, ny, nz] = volume.dims;
    const keep = Math.round((t.centerMm[0] + 8 - volume.origin[0]) / volume.spacing[0]);
    expect(keep).toBeLessThan(nx);
    const data = new Int16Array(keep * ny * nz);
    for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) data.set(volume.data.subarray((k * ny + j) * nx, (k * ny + j) * nx + keep), (k * ny + j) * keep);
    const cropped = { ...volume, dims: [keep, ny, nz] as [number, number, number], data };
    const d = await detectVertebrae(cropped, model, { keyImage: false });
    const l1 = d.vertebrae.find((v) => v.level === 'L1');
    expect(l1).toBeDefined();
    expect(l1!.grade).toBe(0);
    expect(l1!.flags).toContain('partialCoverage');
    expect(l1!.gradingNotes.join(' ')).toMatch(/cut by the edge of the scan/);
    expect(d.fractures).toHaveLength(0);
  });
});
