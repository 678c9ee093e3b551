import { createHash } from 'node:crypto';
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { cos, imul, log, max, sqrt } = Math;

/** A seeded PRNG (mulberry32): fast, 32-bit state, good enough for anatomy jitter and noise. Never Math.random. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller). */
  gauss(): number {
    const u = max(this.next(), 1e-12);
    const v = this.next();
    return sqrt(-2 * log(u)) * cos(2 * Math.PI * v);
  }

  /** A child generator whose stream does not depend on how much of this one was consumed later. */
  fork(label: string): Prng {
    const h = createHash('sha256').update(`${this.state}:${label}`).digest();
    return new Prng(h.readUInt32LE(0));
  }
}

/** 65,536 standard-normal samples: per-voxel noise is a table lookup indexed by the PRNG (fast, deterministic). */
export function gaussianTable(rng: Prng, size = 65536): Float32Array {
  const t = new Float32Array(size);
  for (let i = 0; i < size; i++) t[i] = rng.gauss();
  return t;
}

/**
 * A DICOM UID under the 2.25 root (ISO/IEC 9834-8: a UUID-sized integer), derived from the seed and a label
 * so that the same phantom always gets the same UIDs, and different phantoms never share one.
 */
export function deterministicUid(seed: number, label: string): string {
  const h = createHash('sha256').update(`vcf-sentinel-phantom:${seed}:${label}`).digest();
  // 122 bits keep the decimal at most 37 digits: "2.25." + 37 < 64 characters.
  const hex = h.subarray(0, 16).toString('hex');
  const n = BigInt(`0x${hex}`) >> 6n;
  return `2.25.${n.toString(10)}`;
}
