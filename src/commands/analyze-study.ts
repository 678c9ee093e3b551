import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load';
import { AppError } from '../errors';
import { completeAnalysis, startModel, stopModel } from '../inference';
import { analyzeDirectory } from '../imaging/analyze';
import { renderVolumePngs } from '../imaging/render';
import { voxelToLps } from '../imaging/volume';
import { parseCommandArgs } from './args';

const USAGE = 'usage: vcf-sentinel analyze-study <dir> [--compact] [--png <outdir>]';

/**
 * `analyze-study <dir>`: every DICOM file under the folder → series selection → volume → findings JSON on
 * stdout. A missing folder, or one without a usable CT series, is bad input (exit 2, one line on stderr).
 * `--png <outdir>` also renders the chosen series (mid-sagittal and a mid axial, bone and soft windows) and
 * the key image (curved sagittal reformat, every vertebra labelled, fractures outlined with their grade).
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
    const analysed = analyzeDirectory(positionals[0] as string);
    const { analysis, volume } = analysed;
    // Vertebra detection with the model at MODEL_PATH (its card beside it); MODEL_INVALID exits 1.
    const model = await startModel(loadConfig().MODEL_PATH);
    let keyImage: Buffer | null;
    try {
      keyImage = (await completeAnalysis(analysed, model, { keyImage: !!values.png })).keyImage;
    } finally {
      await stopModel(model);
    }
    if (values.png) {
      mkdirSync(values.png, { recursive: true });
      const [nx, ny, nz] = volume.dims;
      const centre = voxelToLps(volume, (nx - 1) / 2, (ny - 1) / 2, (nz - 1) / 2);
      if (keyImage) writeFileSync(join(values.png, 'key-image.png'), keyImage);
      analysis.notes.push(`rendered: ${keyImage ? `${join(values.png, 'key-image.png')}, ` : ''}${renderVolumePngs(volume, join(values.png, 'series'), { sagittalXMm: centre[0], axialZMm: [centre[2]] }).join(', ')}`);
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
