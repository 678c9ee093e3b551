import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AppError } from '../errors';

/**
 * node:util parseArgs with usage mistakes turned into BAD_REQUEST (exit 2, one line): the mistake, then
 * the command's usage line (the first line of `usage`).
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  usage: string,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${(err as Error).message} (${usage.split('\n')[0]})`);
  }
}
