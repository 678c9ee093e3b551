/**
 * Predict: the network on the slab (session.ts runs it as its model card says) → per-class probabilities,
 * with the classes post-processing reads located by name (the card's class order is the model's own).
 */
import type { SagittalSlab } from '../reformat';
import type { ModelHandle } from '../session';

/** The network's answer on one slab. */
export interface SlabPrediction {
  /** Per-class probabilities [classes × rows × cols]. */
  probs: Float32Array;
  /** Channel of the `background` class. */
  background: number;
  /** Channel of the `s1-body` class, or -1 when the model has none. */
  s1: number;
}

export async function predictSlab(model: ModelHandle, slab: SagittalSlab): Promise<SlabPrediction> {
  const probs = await model.predict(slab);
  return { probs, background: model.classIndex('background'), s1: model.classIndex('s1-body') };
}
