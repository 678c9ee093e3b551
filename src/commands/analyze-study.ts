import { AppError } from '../errors';
import { analyzeDirectory } from '../imaging/analyze';
import { parseCommandArgs } from './args';

const USAGE = 'usage: vcf-sentinel analyze-study <dir> [--compact]';

/**
 * `analyze-study <dir>`: every DICOM file under the folder → series selection → volume → findings JSON on
 * stdout. A missing folder, or one without a usable CT series, is bad input (exit 2, one line on stderr).
 */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { compact: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new AppError('BAD_REQUEST', USAGE);
  try {
    const { analysis } = analyzeDirectory(positionals[0] as string);
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
