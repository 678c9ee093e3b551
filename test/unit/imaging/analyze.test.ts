/**
 * @jest-environment ./test/unit/inference/onnx-environment.js
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as analyzeStudy } from '../../../src/commands/analyze-study';
import { run as phantom } from '../../../src/commands/phantom';
import { AppError } from '../../../src/errors';
import { analyzeSeriesBuffers } from '../../../src/imaging/analyze';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';

const SMALL = { size: 64, pixelSpacing: 6, sliceSpacing: 3, coverage: { from: 'T12' as const, to: 'L2' as const } };

function capture(stream: 'stdout' | 'stderr'): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const spy = jest.spyOn(process[stream], 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  });
  return { text: () => chunks.join(''), restore: () => spy.mockRestore() };
}

describe('analyze-study', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vcf-analyze-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('analyzeSeriesBuffers picks the axial series out of a study with a localizer and a dose report', () => {
    const { truth, files } = phantomBuffers({ ...SMALL, seed: 2, localizer: true, doseReport: true, position: 'FFS' });
    const buffers = [...files.map((f) => f.data), Buffer.from('not dicom at all')];
    const { analysis, volume } = analyzeSeriesBuffers(buffers);
    expect(analysis.studyInstanceUid).toBe(truth.studyInstanceUid);
    expect(analysis.seriesInstanceUid).toBe(truth.seriesInstanceUid);
    expect(analysis.series.rejected.map((r) => r.reason).join('\n')).toMatch(/localizer[\s\S]*secondary capture/);
    expect(analysis.input.skipped).toHaveLength(1);
    expect(analysis.volume.dims).toEqual([64, 64, truth.geometry.slices]);
    expect(analysis.volume.orientation).toBe('RPI');
    expect(analysis.volume.patientPosition).toBe('FFS');
    expect(analysis.volume.huRange[0]).toBeLessThan(-900);
    expect(analysis.volume.huRange[1]).toBeGreaterThan(500);
    expect(analysis.fractures).toEqual([]);
    expect(analysis.model).toBeNull();
    expect(analysis.notes[0]).toMatch(/not available/);
    expect(volume.data.length).toBe(64 * 64 * truth.geometry.slices);
  });

  it('throws STUDY_UNUSABLE when no series is an original axial CT', () => {
    const { files } = phantomBuffers({ ...SMALL, slices: 2, localizer: true, doseReport: true });
    const extras = files.filter((f) => !f.name.startsWith('CT.2.')).map((f) => f.data);
    expect(() => analyzeSeriesBuffers(extras)).toThrow(AppError);
    try {
      analyzeSeriesBuffers(extras);
    } catch (err) {
      expect((err as AppError).code).toBe('STUDY_UNUSABLE');
      expect((err as AppError).message).toMatch(/localizer/);
    }
  });

  it('the commands: phantom writes a folder, analyze-study prints JSON; bad input exits 2 with one line', async () => {
    const out = join(dir, 'ph');
    let cap = capture('stdout');
    try {
      expect(await phantom(['--out', out, '--seed', '4', '--size', '64', '--spacing', '3', '--coverage', 'T12-L2', '--fractures', 'L1:2'])).toBe(0);
    } finally {
      cap.restore();
    }
    expect(JSON.parse(cap.text()).fractures).toEqual(['L1:2:wedge']);
    writeFileSync(join(out, 'notes.txt'), 'hello');
    cap = capture('stdout');
    try {
      expect(await analyzeStudy([out, '--compact', '--png', join(dir, 'png')])).toBe(0);
    } finally {
      cap.restore();
    }
    const result = JSON.parse(cap.text());
    // Detection ran with the model at MODEL_PATH (the committed reference model); the key image is written.
    expect(result.model.name).toBe('vcf-unet-ref');
    expect(Array.isArray(result.vertebrae)).toBe(true);
    expect(result.notes.join(' ')).toMatch(/rendered: .*key-image\.png.*series-sagittal-bone\.png/);
    expect(readdirSync(join(dir, 'png'))).toHaveLength(5);
    expect(result.input.skipped.map((s: { file: string }) => s.file).sort()).toEqual(['ground-truth.json', 'notes.txt']);
    await expect(analyzeStudy([join(dir, 'missing')])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(analyzeStudy([])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(phantom(['--out', out, '--fractures', 'T13:2'])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const empty = join(dir, 'empty');
    writeFileSync(join(dir, 'x.txt'), '');
    mkdirSync(empty);
    const err = capture('stderr');
    try {
      expect(await analyzeStudy([empty])).toBe(2);
    } finally {
      err.restore();
    }
    expect(err.text().trim().split('\n')).toHaveLength(1);
  });
});
