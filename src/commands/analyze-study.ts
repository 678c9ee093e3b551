import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load';
import { AppError } from '../errors';
import { completeAnalysis, startModel, stopModel } from '../inference';
import { analyzeDirectory, analyzeVolumeFile, type StudyAnalysis, type VolumeFileAnalysis } from '../imaging/analyze';
import { renderVolumePngs } from '../imaging/render';
import { voxelToLps, type Volume } from '../imaging/volume';
import { volumeFileFormat } from '../imaging/volume-file';
import { parseCommandArgs } from './args';

const USAGE = [
  'usage: vcf-sentinel analyze-study <dir | file> [--compact] [--png <outdir>]',
  '  <dir>   a folder of DICOM files (one CT series or a whole study); the CT series is chosen by what it is',
  '  <file>  one DICOM file (e.g. multi-frame Enhanced CT), or a research volume: NIfTI (.nii, .nii.gz),',
  '          NRRD (.nrrd, .nhdr + data; raw or gzip), MetaImage (.mha, .mhd + data; raw or compressed);',
  '          values are taken as HU; the JSON has studyInstanceUid/seriesInstanceUid null for these',
  '  --compact       one-line JSON',
  '  --png <outdir>  also render the volume and the key image as PNGs',
  '  reads MODEL_PATH (default models/vcf-unet-ref/model.onnx)',
].join('\n');

/**
 * `analyze-study <dir | file>`: every DICOM file under the folder (or the one DICOM file) → series
 * selection → volume → findings JSON on stdout; a NIfTI, NRRD or MetaImage file is read as one volume.
 * A missing or unreadable path, an unsupported file, or a study without a usable CT series is bad input
 * (exit 2, one line on stderr).
 * `--png <outdir>` also renders the chosen series (mid-sagittal and a mid axial, bone and soft windows) and
 * the key image (curved sagittal reformat, every vertebra labelled, fractures outlined with their grade).
 */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { compact: { type: 'boolean' }, png: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    USAGE,
    true,
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new AppError('BAD_REQUEST', USAGE.split('\n')[0] as string);
  try {
    const target = positionals[0] as string;
    // A research volume has no DICOM UIDs (null); detection reads only the volume and fills in the
    // findings, so the file's analysis goes through the same completion step.
    const analysed: { analysis: StudyAnalysis | VolumeFileAnalysis; volume: Volume } = volumeFileFormat(target) ? await analyzeVolumeFile(target) : analyzeDirectory(target);
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
