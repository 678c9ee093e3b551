import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../errors';
import { analyzeDirectory } from '../imaging/analyze';
import { renderVolumePngs } from '../imaging/render';
import { voxelToLps } from '../imaging/volume';
import { parseCommandArgs } from './args';

const USAGE = 'usage: vcf-sentinel analyze-study <dir> [--compact] [--png <outdir>]';

/**
 * `analyze-study <dir>`: every DICOM file under the folder → series selection → volume → findings JSON on
 * stdout. A missing folder, or one without a usable CT series, is bad input (exit 2, one line on stderr).
 * `--png <outdir>` also renders the chosen series (mid-sagittal and a mid axial, bone and soft windows).
 */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { compact: { type: 'boolean' }, png: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new AppError('BAD_REQUEST', USAGE);
  try {
    const { analysis, volume } = analyzeDirectory(positionals[0] as string);
    if (values.png) {
      mkdirSync(values.png, { recursive: true });
      const [nx, ny, nz] = volume.dims;
      const centre = voxelToLps(volume, (nx - 1) / 2, (ny - 1) / 2, (nz - 1) / 2);
      analysis.notes.push(`rendered: ${renderVolumePngs(volume, join(values.png, 'series'), { sagittalXMm: centre[0], axialZMm: [centre[2]] }).join(', ')}`);
    }
    process.stdout.write(`${JSON.stringify(analysis, null, values.compact ? undefined : 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof AppError && (err.code === 'STUDY_UNUSABLE' || err.code === 'VOLUME_INVALID')) {
      process.stderr.write(`vcf-sentinel: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
