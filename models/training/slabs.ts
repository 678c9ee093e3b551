/**
 * The training set's on-disk form, read by train.py: `<id>.img` (int16 HU, channels × rows × cols),
 * `<id>.lab` (uint8 targets) and one index entry per slab (written by the caller into index-*.json).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainingSample } from '../../src/inference/dataset';

/** Writes one volume's slabs into `dir` (ids `<prefix>-<i>`) and returns their index entries. */
export function writeSamples(dir: string, prefix: string, samples: TrainingSample[]): Array<Record<string, unknown>> {
  return samples.map((smp, i) => {
    const id = `${prefix}-${i}`;
    writeFileSync(join(dir, `${id}.img`), Buffer.from(smp.slab.data.buffer, smp.slab.data.byteOffset, smp.slab.data.byteLength));
    writeFileSync(join(dir, `${id}.lab`), smp.target);
    // meta carries the seed and the centre-line jitter.
    return { id, channels: smp.slab.channels, rows: smp.slab.rows, cols: smp.slab.cols, spacing: smp.slab.spacing, ...smp.meta };
  });
}
