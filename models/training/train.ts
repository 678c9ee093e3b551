/**
 * `npm run train`: the reference model from nothing, on this machine, in one command.
 *   1. exports the training slabs from the project's phantom generator (seeds 1000–1099, 4 slabs each,
 *      `--jobs` processes in parallel; the data folder is emptied first so a changed recipe never mixes
 *      with stale slabs) and from the real CT that has a published body segmentation (export-real.ts),
 *   2. trains and exports the U-Net with models/training/train.py (PyTorch from Debian, seeded, a fixed
 *      number of steps),
 *   3. checks that onnxruntime-node reproduces the trainer's outputs on held-out slabs and records the
 *      result in the model card (exit 1 when it does not).
 * Then `npm run bench:detection -- --update-card` measures it on the held-out bench.
 *
 *   npm run train [-- --phantoms 100 --per 4 --steps 2500 --minutes 26 --jobs 2 --inserted-fractures 0 --out models/vcf-unet-ref]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkOnnxParity, PARITY_MAX_ABS_DIFF } from './parity';

const ROOT = join(__dirname, '..', '..');
const PY = process.env.VCF_PYTHON ?? '/usr/bin/python3';
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(ROOT, 'models', 'training', 'data') },
    out: { type: 'string', default: join(ROOT, 'models', 'vcf-unet-ref') },
    seed0: { type: 'string', default: '1000' },
    phantoms: { type: 'string', default: '100' },
    per: { type: 'string', default: '4' },
    steps: { type: 'string', default: '2500' },
    minutes: { type: 'string', default: '26' },
    jobs: { type: 'string', default: '2' },
    // Share of real slabs given an inserted fracture (train.py --inserted-fractures).
    'inserted-fractures': { type: 'string', default: '0' },
  },
});

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

async function main(): Promise<number> {
  const probe = spawnSync(PY, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    process.stderr.write(`train: ${PY} cannot import torch/onnx/numpy: apt-get install python3-torch python3-numpy python3-onnx\n`);
    return 2;
  }
  const t0 = performance.now();
  const data = values.data as string;
  const seed0 = Number(values.seed0);
  const phantoms = Number(values.phantoms);
  const jobs = Math.max(1, Number(values.jobs));
  rmSync(data, { recursive: true, force: true });
  const share = Math.ceil(phantoms / jobs);
  await Promise.all(
    Array.from({ length: jobs }, (_, j) => {
      const from = seed0 + j * share;
      const count = Math.min(share, seed0 + phantoms - from);
      return run(TSX, [join(__dirname, 'export-dataset.ts'), '--out', data, '--seed0', String(from), '--count', String(count), '--per', values.per as string, '--tag', `j${j}`]);
    }),
  );
  // Real CT with published body masks (skipped, saying so, without ../shared/fixtures).
  await run(TSX, [join(__dirname, 'export-real.ts'), '--out', data]);
  const tExport = performance.now() - t0;
  await run(PY, [join(__dirname, 'train.py'), '--data', data, '--out', values.out as string, '--steps', values.steps as string, '--minutes', values.minutes as string, '--inserted-fractures', values['inserted-fractures'] as string]);
  const modelPath = join(values.out as string, 'model.onnx');
  const parity = await checkOnnxParity(modelPath, data);
  const cardPath = join(values.out as string, 'model.card.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { training: Record<string, unknown> };
  card.training.onnxParity = { ...parity, runtime: 'onnxruntime-node (the service loader)', maxAbsDiffAllowed: PARITY_MAX_ABS_DIFF };
  card.training.exportSeconds = Math.round(tExport / 1000);
  writeFileSync(cardPath, `${JSON.stringify(card, null, 2)}\n`);
  const minutes = (performance.now() - t0) / 60000;
  process.stdout.write(`${JSON.stringify({ train: 'done', model: modelPath, exportMinutes: Math.round(tExport / 600) / 100, totalMinutes: Math.round(minutes * 100) / 100, onnxParity: parity })}\n`);
  if (!parity.ok) {
    process.stderr.write(`train: onnxruntime-node does not reproduce the trainer (max |Δp| ${parity.maxAbsDiff})\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`train: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
