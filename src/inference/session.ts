/**
 * The model session: one onnxruntime-node InferenceSession per process, created by `startModel` and
 * released by `stopModel` (symmetric lifecycle, wired by the app). Everything about the network's input
 * and output comes from its model card.
 */
import * as ort from 'onnxruntime-node';
import { AppError } from '../errors';
import { readModel, type ModelCard } from './model-card';
import type { SagittalSlab } from './reformat';

export interface ModelHandle {
  card: ModelCard;
  path: string;
  /** Runs the network on a slab; returns per-class probabilities [classes × rows × cols]. */
  predict(slab: SagittalSlab): Promise<Float32Array>;
  /** Index of a class name in the output, or -1. */
  classIndex(name: string): number;
  close(): Promise<void>;
}

export interface StartModelOptions {
  /** Intra-op threads (default 2: the service shares the machine with its Redis and HTTP loop). */
  threads?: number;
}

function softmaxInPlace(p: Float32Array, classes: number, n: number): void {
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, p[c * n + i] as number);
    let s = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp((p[c * n + i] as number) - m);
      p[c * n + i] = e;
      s += e;
    }
    for (let c = 0; c < classes; c++) p[c * n + i] = (p[c * n + i] as number) / s;
  }
}

/** Loads the model at `modelPath` (MODEL_PATH) with its card; throws MODEL_INVALID when it breaks the contract. */
export async function startModel(modelPath: string, opts: StartModelOptions = {}): Promise<ModelHandle> {
  const { bytes, card } = readModel(modelPath);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
  } catch (err) {
    throw new AppError('MODEL_INVALID', `${modelPath}: onnxruntime cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  if (!session.inputNames.includes(card.input.name)) throw new AppError('MODEL_INVALID', `${modelPath}: no input named "${card.input.name}" (has ${session.inputNames.join(', ')})`);
  if (!session.outputNames.includes(card.output.name)) throw new AppError('MODEL_INVALID', `${modelPath}: no output named "${card.output.name}" (has ${session.outputNames.join(', ')})`);
  const { hu } = card.input;
  const nClasses = card.output.classes.length;
  return {
    card,
    path: modelPath,
    classIndex: (name) => card.output.classes.indexOf(name),
    async predict(slab) {
      if (slab.channels !== card.input.shape[1]) throw new AppError('INTERNAL', `slab has ${slab.channels} channels, the model wants ${card.input.shape[1]}`);
      const n = slab.rows * slab.cols;
      const x = new Float32Array(slab.channels * n);
      for (let i = 0; i < x.length; i++) {
        const v = slab.data[i] as number;
        x[i] = ((v < hu.min ? hu.min : v > hu.max ? hu.max : v) - hu.center) / hu.scale;
      }
      const feeds: Record<string, ort.Tensor> = { [card.input.name]: new ort.Tensor('float32', x, [1, slab.channels, slab.rows, slab.cols]) };
      const out = await session.run(feeds);
      const t = out[card.output.name];
      if (!t || t.type !== 'float32' || t.dims.length !== 4 || t.dims[1] !== nClasses || t.dims[2] !== slab.rows || t.dims[3] !== slab.cols) {
        throw new AppError('MODEL_INVALID', `${modelPath}: output "${card.output.name}" is not float32 [1, ${nClasses}, ${slab.rows}, ${slab.cols}]`);
      }
      const p = t.data as Float32Array;
      if (card.output.activation === 'logits') softmaxInPlace(p, nClasses, n);
      return p;
    },
    async close() {
      await session.release();
    },
  };
}

export async function stopModel(m: ModelHandle | null | undefined): Promise<void> {
  if (m) await m.close();
}
