/**
 * Writes the real part of the reference model's training set: curved sagittal slabs of real CTs with a
 * published vertebral-body segmentation, in the same form as the phantom slabs (models/training/slabs.ts),
 * each index entry marked `source: "real"` so train.py never takes them for validation phantoms.
 *
 * One case trains: the TotalSegmentator example (T12–L5 and S1 at 3 mm, bodies from spine_report's
 * totalseg.nii.gz restricted to totalseg_vertebrae_body). It is then no longer a measurement: bench:detection
 * --real marks it as trained on, and the other real development scans stay held out (hold-out by source).
 *
 *   npx tsx models/training/export-real.ts --out models/training/data [--per 24] [--fixtures ../shared/fixtures/imaging]
 * Without the fixtures folder it writes nothing and says so (CI's training smoke runs on phantoms only).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { samplesFromLabelledVolume } from '../../src/inference/dataset';
import { decodeNifti, type GridData } from '../../src/imaging/nifti';
import { readVolumeFile } from '../../src/imaging/volume-file';
import { writeSamples } from './slabs';

/** The real case that trains, named as bench/real-ct.ts names it (the card's `training.realCases`). */
const CASE = 'totalseg-example';

/** TotalSegmentator's vertebra codes (26 = S1, 27 = L5 … 33 = T11) in the phantom's (18 = S1, 17 = L5 … 11 = T11). */
const TOTALSEG_TO_PHANTOM: Record<number, number> = { 26: 18, 27: 17, 28: 16, 29: 15, 30: 14, 31: 13, 32: 12, 33: 11 };

function totalsegBodies(imaging: string): GridData {
  const dir = join(imaging, 'totalsegmentator/spine_report/example_ct_report');
  const seg = decodeNifti(readFileSync(join(dir, 'totalseg.nii.gz')));
  const body = decodeNifti(readFileSync(join(dir, 'totalseg_vertebrae_body.nii.gz')));
  const data = new Uint8Array(seg.data.length);
  for (let i = 0; i < data.length; i++) data[i] = body.data[i] === 1 ? (TOTALSEG_TO_PHANTOM[seg.data[i] as number] ?? 0) : 0;
  return { ...seg, data };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'models/training/data' },
      per: { type: 'string', default: '24' },
      fixtures: { type: 'string', default: resolve(__dirname, '../../../shared/fixtures/imaging') },
    },
  });
  const imaging = values.fixtures as string;
  const ct = join(imaging, 'totalsegmentator/example_ct.nii.gz');
  if (!existsSync(ct)) {
    process.stdout.write(`export-real: ${ct} not found: no real slabs (phantoms only)\n`);
    return;
  }
  const out = values.out as string;
  mkdirSync(out, { recursive: true });
  const { volume } = await readVolumeFile(ct);
  const samples = samplesFromLabelledVolume(volume, totalsegBodies(imaging), 1, Number(values.per));
  const index = writeSamples(out, `r-${CASE}`, samples).map((e) => ({ ...e, source: 'real', case: CASE }));
  writeFileSync(join(out, 'index-real.json'), JSON.stringify(index));
  process.stdout.write(`export-real: ${CASE}: ${samples.length} slabs\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`export-real: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
