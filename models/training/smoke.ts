/**
 * Training smoke test for CI (`npm run train:smoke`): exports 2 small phantoms, trains 6 steps with
 * train.py --smoke, then loads the exported ONNX with its card through the service's own loader and checks
 * that it reproduces the trainer's outputs on a held-out slab (models/training/parity.ts). Skips (exit 0,
 * saying why) when /usr/bin/python3 lacks torch/onnx: CI needs the Debian packages python3-torch
 * python3-numpy python3-onnx.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { samplesFromPhantom } from '../../src/inference/dataset';
import { checkOnnxParity } from './parity';
import { writeSamples } from './slabs';

const PY = process.env.VCF_PYTHON ?? '/usr/bin/python3';

async function main(): Promise<number> {
  const probe = spawnSync(PY, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    process.stdout.write(`train:smoke SKIPPED: ${PY} cannot import torch/onnx/numpy (install python3-torch python3-numpy python3-onnx)\n`);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vcf-train-smoke-'));
  try {
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    const index = [1, 2].flatMap((seed) => writeSamples(data, `p${seed}`, samplesFromPhantom(seed, 1)));
    writeFileSync(join(data, 'index-smoke.json'), JSON.stringify(index));
    const out = join(dir, 'model');
    const t0 = performance.now();
    const r = spawnSync(PY, [join(__dirname, 'train.py'), '--smoke', '--data', data, '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      process.stderr.write(`train.py --smoke failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}\n`);
      return 1;
    }
    // The exported model, through the service's loader, must reproduce the trainer's own outputs.
    const parity = await checkOnnxParity(join(out, 'model.onnx'), data);
    if (!parity.ok) {
      process.stderr.write(`train:smoke: onnxruntime-node does not reproduce the trainer: ${JSON.stringify(parity)}\n`);
      return 1;
    }
    process.stdout.write(`train:smoke ok: trained, exported and reproduced in onnxruntime-node (${JSON.stringify(parity)}; ${Math.round(performance.now() - t0)} ms)\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`train:smoke: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
