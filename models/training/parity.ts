/**
 * ONNX parity: onnxruntime-node, through the service's own loader, must reproduce the trainer's
 * probabilities on whole validation slabs. train.py leaves them in `<data>/parity/` (`parity.json` and one
 * float32 [classes × rows × cols] file per slab); the slabs themselves are the exported `<id>.img`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SagittalSlab } from '../../src/inference/reformat';
import { startModel } from '../../src/inference/session';

/** Largest probability difference accepted (float32 kernels differ in summation order, not more). */
export const PARITY_MAX_ABS_DIFF = 1e-3;

export interface ParityResult {
  samples: number;
  pixels: number;
  maxAbsDiff: number;
  /** Fraction of pixels whose most probable class is the same in both runtimes. */
  argmaxAgreement: number;
  ok: boolean;
}

export async function checkOnnxParity(modelPath: string, dataDir: string): Promise<ParityResult> {
  const listPath = join(dataDir, 'parity', 'parity.json');
  if (!existsSync(listPath)) throw new Error(`${listPath} not found: train.py writes it after training`);
  const list = JSON.parse(readFileSync(listPath, 'utf8')) as Array<{ id: string; channels: number; rows: number; cols: number; classes: number }>;
  if (list.length === 0) throw new Error(`${listPath} lists no slab: nothing to compare`);
  const model = await startModel(modelPath, { threads: 2 });
  let pixels = 0;
  let same = 0;
  let maxAbsDiff = 0;
  try {
    for (const e of list) {
      const img = readFileSync(join(dataDir, `${e.id}.img`));
      const data = new Int16Array(img.buffer.slice(img.byteOffset, img.byteOffset + img.byteLength));
      const slab: SagittalSlab = { channels: e.channels, rows: e.rows, cols: e.cols, data, zTop: 0, y0: 0, spacing: model.card.input.spacingMm, xAt: new Float32Array(e.rows), offsetsMm: model.card.input.channelOffsetsMm };
      const ours = await model.predict(slab);
      const ref = readFileSync(join(dataDir, 'parity', `${e.id}.f32`));
      const theirs = new Float32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + ref.byteLength));
      if (theirs.length !== ours.length) throw new Error(`${e.id}: trainer wrote ${theirs.length} values, onnxruntime returned ${ours.length}`);
      const n = e.rows * e.cols;
      for (let i = 0; i < ours.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs((ours[i] as number) - (theirs[i] as number)));
      const argmax = (p: Float32Array, i: number): number => {
        let best = 0;
        for (let c = 1; c < e.classes; c++) if ((p[c * n + i] as number) > (p[best * n + i] as number)) best = c;
        return best;
      };
      for (let i = 0; i < n; i++) if (argmax(ours, i) === argmax(theirs, i)) same++;
      pixels += n;
    }
  } finally {
    await model.close();
  }
  const argmaxAgreement = same / pixels;
  return { samples: list.length, pixels, maxAbsDiff: Number(maxAbsDiff.toExponential(2)), argmaxAgreement: Math.round(argmaxAgreement * 1e6) / 1e6, ok: maxAbsDiff <= PARITY_MAX_ABS_DIFF };
}
