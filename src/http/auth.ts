import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors';

/** Bearer-token check for ingest and admin routes; a no-op when no token is configured (CONTRACT API_TOKEN). */
export function requireApiToken(token: string | null): RequestHandler {
  if (token === null) return (_req, _res, next) => next();
  const expected = Buffer.from(token);
  return (req, _res, next) => {
    // The scheme name is case-insensitive (RFC 7235 §2.1).
    const match = /^bearer +(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    const given = Buffer.from(match?.[1] ?? '');
    // Constant-time compare: the token must not leak through response timing.
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    next(ok ? undefined : new AppError('UNAUTHORIZED', 'a valid bearer token is required'));
  };
}
