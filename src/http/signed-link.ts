import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived links to a resource that otherwise needs API_TOKEN: a clinician opens the key image from a
 * CDS card in a browser, which cannot send our bearer token. The link carries its expiry and an
 * HMAC-SHA256 over the path and expiry, keyed by API_TOKEN (the same secret that guards the route), so a
 * link opens one path until it expires and cannot be altered or minted without the token.
 */
export const SIGNED_LINK_TTL_S = 3600;

function signature(secret: string, path: string, expires: number): Buffer {
  return createHmac('sha256', secret).update(`vcf-sentinel signed link\n${path}\n${expires}`).digest();
}

/** `path?expires=…&signature=…`, valid for `ttlS` seconds. */
export function signLink(secret: string, path: string, ttlS = SIGNED_LINK_TTL_S, nowMs = Date.now()): string {
  const expires = Math.floor(nowMs / 1000) + ttlS;
  return `${path}?expires=${expires}&signature=${signature(secret, path, expires).toString('base64url')}`;
}

/** Whether the query signs this path and has not expired (constant-time compare). */
export function isSignedLink(secret: string, path: string, query: Record<string, unknown>, nowMs = Date.now()): boolean {
  const expires = Number(query.expires);
  if (typeof query.signature !== 'string' || !Number.isInteger(expires) || expires * 1000 < nowMs) return false;
  const given = Buffer.from(query.signature, 'base64url');
  const expected = signature(secret, path, expires);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
