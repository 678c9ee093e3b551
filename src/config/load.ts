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
      throw new AppError('CONFIG_INVALID', `${settingPath(issue.path)}: ${issue.message}`);
    }
    throw err;
  }
}

/** Where in a setting a problem is: `DICOMWEB_SOURCES.pacs.url`, `CDS_JKU_ALLOWLIST.https://ehr[0]`. */
function settingPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'config';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Settings whose value is a credential: shown as "set" or null, never their value. */
const SECRET_SETTINGS: ReadonlySet<string> = new Set(['API_TOKEN', 'FHIR_CLIENT_SECRET']);

/** A URL with its password (and a username that may be one) replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    else if (u.username) u.username = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * What a setting may show in logs and `--help`: credentials as "set" (null when unset), the password of
 * REDIS_URL and the `auth` of each DICOMweb source as "***".
 */
export function redactSetting(name: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (SECRET_SETTINGS.has(name)) return 'set';
  if (name === 'REDIS_URL' && typeof value === 'string') return redactUrl(value);
  if (name === 'DICOMWEB_SOURCES' && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, { url: string; auth?: { type: string } }>).map(([k, s]) => [k, { url: s.url, ...(s.auth ? { auth: `${s.auth.type} ***` } : {}) }]),
    );
  }
  return value;
}

/** The effective configuration, every setting redacted as `redactSetting` says: logged once at start. */
export function effectiveConfig(config: Config): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, redactSetting(k, v)]));
}
