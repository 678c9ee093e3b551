/**
 * @jest-environment ./test/unit/inference/onnx-environment.js
 *
 * A study whose only CT series is a sagittal (or coronal) reconstruction: the series is chosen, assembled
 * in its own axes (no resampling to axial), and detection, which samples the volume along patient axes
 * through its direction matrix, finds the same vertebrae as on the axial original.
 */
import { join } from 'node:path';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { reformatSeries } from '../../../src/imaging/phantom/reformat-series';
import { toCanonicalLps } from '../../../src/imaging/volume';
import { completeAnalysis, startModel, type ModelHandle } from '../../../src/inference';

const MODEL = join(__dirname, '..', '..', '..', 'models', 'vcf-unet-ref', 'model.onnx');

describe('sagittal and coronal reconstructions', () => {
  it('are chosen when no axial series is usable and reassemble to the same canonical volume', () => {
    const { truth, files } = phantomBuffers({ size: 48, pixelSpacing: 6, sliceSpacing: 3, coverage: { from: 'T12', to: 'L2' }, seed: 8, localizer: true, doseReport: true });
    const axial = analyzeSeriesBuffers(files.map((f) => f.data));
    const extras = files.filter((f) => !f.name.startsWith('CT.2.')).map((f) => f.data);
    for (const plane of ['sagittal', 'coronal'] as const) {
      const reformatted = reformatSeries(axial.volume, { plane, seed: 8, studyInstanceUid: truth.studyInstanceUid, imageType: ['DERIVED', 'SECONDARY', 'REFORMATTED'] });
      const { analysis, volume } = analyzeSeriesBuffers([...extras, ...reformatted.map((f) => f.data)]);
      expect(analysis.series.chosen.plane).toBe(plane);
      expect(analysis.series.reasons[0]).toMatch(new RegExp(`derived ${plane} CT, \\d+ slices .*no axial series is usable; the volume keeps its ${plane} axes`));
      expect(analysis.series.rejected.map((r) => r.reason).join('\n')).toMatch(/localizer[\s\S]*secondary capture/);
      // Native axes: sagittal slices step right → left… stacked along +normal, rows inferior, columns posterior.
      expect(analysis.volume.orientation).toBe(plane === 'sagittal' ? 'PIR' : 'LIP');
      const a = toCanonicalLps(axial.volume);
      const b = toCanonicalLps(volume);
      expect(b.dims).toEqual(a.dims);
      expect(b.spacing).toEqual(a.spacing);
      b.origin.forEach((x, i) => expect(x).toBeCloseTo(a.origin[i]!, 4));
      expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
    }
  });

  describe('with the committed reference model', () => {
    let model: ModelHandle;
    beforeAll(async () => {
      model = await startModel(MODEL, { threads: 2 });
    });
    afterAll(async () => {
      await model.close();
    });

    it('detects the same vertebrae and grades on a sagittal series as on the axial original', async () => {
      const { files } = phantomBuffers({
        seed: 31,
        size: 256,
        pixelSpacing: 1.5,
        sliceSpacing: 2.5,
        coverage: { from: 'T9', to: 'S1' },
        fractures: [{ level: 'L1', grade: 3, morphology: 'wedge' }],
      });
      const axial = analyzeSeriesBuffers(files.map((f) => f.data));
      const sagittal = analyzeSeriesBuffers(reformatSeries(axial.volume, { plane: 'sagittal', seed: 31 }).map((f) => f.data));
      expect(sagittal.analysis.volume.orientation).toBe('PIR');
      const fromAxial = (await completeAnalysis(axial, model)).analysis.vertebrae;
      const fromSagittal = (await completeAnalysis(sagittal, model)).analysis.vertebrae;
      expect(fromSagittal.map((v) => [v.level, v.grade])).toEqual(fromAxial.map((v) => [v.level, v.grade]));
      expect(fromSagittal.map((v) => v.level)).toContain('L1');
      fromSagittal.forEach((v, i) => expect(Math.hypot(...v.centerMm.map((c, a) => c - fromAxial[i]!.centerMm[a]!))).toBeLessThan(1));
    });
  });
});
