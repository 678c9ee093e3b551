/**
 * The model contract (models/README.md): an ONNX file with a JSON model card beside it. The card says
 * what the network expects and returns; the service reads everything it needs from the card, so a
 * hospital can drop in another model that follows the contract without touching code.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors';

/** Model card schema, version 1. */
export const modelCardSchema = z.object({
  schema: z.literal('vcf-sentinel/model-card@1'),
  name: z.string().min(1),
  version: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  file: z.string().min(1).optional(),
  /** Must say the model is not for clinical use (the service is a research tool). */
  intendedUse: z.string().regex(/not for clinical use/i, 'intendedUse must say "not for clinical use"'),
  task: z.literal('vertebral-body-segmentation'),
  input: z.object({
    name: z.string().min(1),
    layout: z.literal('NCHW'),
    /** [1, channels, "rows", "cols"]. */
    shape: z.tuple([z.literal(1), z.number().int().positive(), z.string(), z.string()]),
    multipleOf: z.number().int().positive(),
    view: z.literal('curved-sagittal'),
    spacingMm: z.number().positive().max(5),
    /** x offsets (mm) of the channels from the spine's centre line; one per channel. */
    channelOffsetsMm: z.array(z.number()).min(1),
    orientation: z.literal('LPS'),
    hu: z.object({ min: z.number(), max: z.number(), center: z.number(), scale: z.number().positive() }).refine((h) => h.min < h.max, 'hu.min must be below hu.max'),
    outsideHu: z.number().default(-1024),
    rows: z.string().optional(),
    cols: z.string().optional(),
  }),
  output: z.object({
    name: z.string().min(1),
    layout: z.literal('NCHW'),
    activation: z.enum(['softmax', 'logits']),
    /** Class names in channel order; must include "background" and "vertebral-body"; "s1-body" optional. */
    classes: z.array(z.string().min(1)).min(2).refine((c) => c.includes('background') && c.includes('vertebral-body'), 'classes must include "background" and "vertebral-body"'),
  }),
  training: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()),
}).refine((c) => c.input.channelOffsetsMm.length === c.input.shape[1], 'input.channelOffsetsMm must have one offset per channel');

export type ModelCard = z.infer<typeof modelCardSchema>;

/** Where the card of a model lives: `<dir>/model.card.json` for `<dir>/model.onnx`, else `<name>.card.json`. */
export function cardPathFor(modelPath: string): string {
  const base = basename(modelPath).replace(/\.onnx$/i, '');
  return join(dirname(modelPath), `${base}.card.json`);
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Validates a parsed card; throws MODEL_INVALID naming the first problem. */
export function parseModelCard(json: unknown, where = 'model card'): ModelCard {
  const r = modelCardSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError('MODEL_INVALID', `${where}: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}

/** Reads the ONNX bytes and the card beside them, validates the card and checks the sha256. */
export function readModel(modelPath: string): { bytes: Uint8Array; card: ModelCard } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(modelPath);
  } catch {
    throw new AppError('MODEL_INVALID', `MODEL_PATH: cannot read ${modelPath}`);
  }
  const cardPath = cardPathFor(modelPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch (err) {
    throw new AppError('MODEL_INVALID', `model card ${cardPath}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (it must sit beside the model)' : 'not valid JSON'}`);
  }
  const card = parseModelCard(json, cardPath);
  const sha = sha256Of(bytes);
  if (sha !== card.sha256) throw new AppError('MODEL_INVALID', `${modelPath}: sha256 ${sha} does not match its model card (${card.sha256})`);
  return { bytes, card };
}
