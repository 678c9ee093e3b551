/**
 * The study worker's analysis threads against the in-process analyser: the same findings from the real
 * model on a phantom series, errors that keep their code across the thread boundary, and a thread that
 * dies is replaced.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../../src/errors';
import { loadConfig } from '../../../src/config/load';
import { phantomBuffers } from '../../../src/imaging/phantom/generate';
import { AnalysisThreads, analyseInProcess, startModel, stopModel, type ModelHandle } from '../../../src/inference';
import { toThreadError } from '../../../src/inference/study-analyser';

const MODEL_PATH = loadConfig({}).MODEL_PATH;
// A small series (3 mm voxels, T10–S1): the thread boundary is under test here, not detection quality.
const SERIES = phantomBuffers({ seed: 11, size: 128, pixelSpacing: 3, sliceSpacing: 3, coverage: { from: 'T10', to: 'S1' }, fractures: [{ level: 'L1', grade: 3, morphology: 'wedge' }] }).files.map((f) => f.data);
const seriesBuffers = () => SERIES.map((b) => Buffer.from(b));

describe('AnalysisThreads (worker threads, real model)', () => {
  let threads: AnalysisThreads;
  let model: ModelHandle;
  beforeAll(async () => {
    [threads, model] = await Promise.all([AnalysisThreads.start(1, { modelPath: MODEL_PATH, ortThreads: 1 }), startModel(MODEL_PATH, { threads: 1 })]);
  }, 60_000);
  afterAll(async () => {
    await threads?.close();
    await stopModel(model);
  });

  it('finds what the in-process analyser finds, with the key image, and says which model', async () => {
    const [off, on] = await Promise.all([threads.analyse(seriesBuffers()), analyseInProcess(model)(seriesBuffers())]);
    expect(threads.card.sha256).toBe(model.card.sha256);
    expect(off.analysis.vertebrae).toEqual(on.analysis.vertebrae);
    expect(off.analysis.fractures).toEqual(on.analysis.fractures);
    expect(off.analysis.vertebrae.length).toBeGreaterThan(0);
    expect(off.analysis.model).toEqual(on.analysis.model);
    expect(off.keyImage).toBeInstanceOf(Buffer);
    expect(off.keyImage?.subarray(1, 4).toString()).toBe('PNG');
    expect(off.keyImage?.equals(on.keyImage as Buffer)).toBe(true);
  }, 60_000);

  it('hands the bytes over: the caller\'s buffers are released as they are copied', async () => {
    const buffers = seriesBuffers();
    const pending = threads.analyse(buffers);
    await pending;
    expect(buffers.every((b) => b.length === 0)).toBe(true);
  }, 60_000);

  it('an AppError keeps its code and text across the thread; other errors become internal without their text', async () => {
    const err = await threads.analyse([Buffer.from('not dicom at all')]).catch((e: unknown) => e);
    const direct = await analyseInProcess(null)([Buffer.from('not dicom at all')]).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(AppError);
    expect(err).toBeInstanceOf(AppError);
    expect({ code: (err as AppError).code, message: (err as AppError).message }).toEqual({ code: (direct as AppError).code, message: (direct as AppError).message });
    expect(toThreadError(new TypeError('cannot read DOE^JANE'))).toEqual({ code: null, message: 'internal error', name: 'TypeError' });
  }, 60_000);

  it('a thread that dies fails its series (retryable) and is replaced before the next one', async () => {
    const pool = await AnalysisThreads.start(1, { modelPath: MODEL_PATH, ortThreads: 1 });
    try {
      // Terminated from outside (as an out-of-memory kill would) while the series is on its way to it.
      const dying = pool.analyse(seriesBuffers());
      (pool as unknown as { all: Set<{ terminate(): Promise<number> }> }).all.forEach((t) => void t.terminate());
      const err = (await dying.catch((e: unknown) => e)) as Error;
      expect(err.name).toBe('AnalysisThreadExit');
      const next = await pool.analyse(seriesBuffers());
      expect(next.analysis.vertebrae.length).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  }, 90_000);

  it('a model that breaks the contract stops the start with MODEL_INVALID', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vcf-model-'));
    try {
      const bad = path.join(dir, 'model.onnx');
      fs.writeFileSync(bad, 'not an onnx model');
      fs.copyFileSync(MODEL_PATH.replace(/\.onnx$/, '.card.json'), path.join(dir, 'model.card.json'));
      const err = await AnalysisThreads.start(2, { modelPath: bad, ortThreads: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('MODEL_INVALID');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
