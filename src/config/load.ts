import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { type Config, configSchema } from './schema';
import { AppError } from '../errors';

/** The package root: config/, models/ and the defaults are found relative to it, not to the cwd. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** config/default.json: every setting's default, by the environment variable that overrides it. */
export function readDefaults(): Record<string, unknown> {
  const file = path.join(PACKAGE_ROOT, 'config', 'default.json');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/**
 * Builds the one validated config object: config/default.json, then environment variables of the same
 * names (an empty variable means "unset" for nullable settings and "default" for the others). Throws AppError CONFIG_INVALID naming
 * the first bad variable, so `serve` can stop with one clear line.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = readDefaults();
  for (const [key, schema] of Object.entries(configSchema.shape)) {
    const v = env[key];
    if (v === undefined) continue;
    // An empty variable unsets a nullable setting; for any other it keeps the default (never a silent 0).
    if (v !== '') raw[key] = v;
    else if (schema instanceof z.ZodNullable) raw[key] = null;
  }
  Object.assign(raw, overrides);
  try {
    const cfg = configSchema.parse(raw);
    if (!path.isAbsolute(cfg.MODEL_PATH)) cfg.MODEL_PATH = path.join(PACKAGE_ROOT, cfg.MODEL_PATH);
    return cfg;
  } catch (err) {
    if (err instanceof z.ZodError) {
      const issue = err.issues[0]!;
      const name = String(issue.path[0] ?? 'config');
      throw new AppError('CONFIG_INVALID', `${name}: ${issue.message}`);
    }
    throw err;
  }
}
