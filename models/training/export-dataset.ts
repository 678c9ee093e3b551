/**
 * Writes the reference model's training set: curved sagittal slabs of phantoms (int16 HU, 3 channels)
 * and their targets (uint8), plus index.json. Run: npx tsx models/training/export-dataset.ts
 *   --out models/training/data --seed0 1000 --count 80 --per 4
 * Seeds are phantom seeds (the recipe comes from `trainingPhantomOptions(seed)`); the held-out bench
 * uses other seeds and ranges.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { samplesFromPhantom } from '../../src/inference/dataset';
import { writeSamples } from './slabs';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'models/training/data' },
    seed0: { type: 'string', default: '1000' },
    count: { type: 'string', default: '80' },
    per: { type: 'string', default: '4' },
    tag: { type: 'string', default: 'a' },
  },
});
const out = values.out as string;
mkdirSync(out, { recursive: true });
const seed0 = Number(values.seed0);
const count = Number(values.count);
const per = Number(values.per);
const indexPath = join(out, `index-${values.tag as string}.json`);
const index: Array<Record<string, unknown>> = existsSync(indexPath) ? (JSON.parse(readFileSync(indexPath, 'utf8')) as Array<Record<string, unknown>>) : [];
const done = new Set(index.map((e) => e.seed));
for (let s = seed0; s < seed0 + count; s++) {
  if (done.has(s)) continue;
  const t0 = performance.now();
  const samples = samplesFromPhantom(s, per);
  index.push(...writeSamples(out, `p${s}`, samples));
  writeFileSync(indexPath, JSON.stringify(index));
  process.stdout.write(`seed ${s}: ${samples.length} samples in ${Math.round(performance.now() - t0)} ms\n`);
}
