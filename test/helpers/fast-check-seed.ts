/**
 * Jest setup: with FC_SEED set (CI sets it), every fast-check property runs from that seed, so a CI run
 * is repeatable and a red CI is a change's doing, not the draw's. Without it (local runs) each run draws a
 * new seed and keeps exploring; a failure prints the seed and path to replay it (`FC_SEED=<seed>`).
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED;
if (seed !== undefined && seed !== '') fc.configureGlobal({ seed: Number(seed) });
