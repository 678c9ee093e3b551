/**
 * Browser authentication for the integration console. A browser cannot send our bearer header, so the
 * login form takes API_TOKEN once and answers a session cookie: its expiry and an HMAC-SHA256 of it keyed
 * by API_TOKEN. No server-side session store: the cookie proves the token was known, until it expires or
 * API_TOKEN changes (which ends every session). It is HttpOnly (no script reads it), SameSite=Strict (no
 * other site's page sends it) and Secure when the console is reached over https, and only sent to /console.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

export const SESSION_COOKIE = 'vcf_console';
/** A working day: long enough for a shift at the console, short enough that a forgotten tab times out. */
const SESSION_TTL_S = 8 * 3600;

function mac(token: string, expires: number): Buffer {
  return createHmac('sha256', token).update(`vcf-sentinel console session\n${expires}`).digest();
}

/** The cookie value for a session valid `ttlS` seconds from `nowMs`. */
export function sessionValue(token: string, nowMs = Date.now(), ttlS = SESSION_TTL_S): string {
  const expires = Math.floor(nowMs / 1000) + ttlS;
  return `v1.${expires}.${mac(token, expires).toString('base64url')}`;
}

/** Whether the cookie value is a session minted with this token and not expired (constant-time compare). */
export function isValidSession(token: string, value: string | undefined, nowMs = Date.now()): boolean {
  const m = /^v1\.(\d{1,12})\.([\w-]{43})$/.exec(value ?? '');
  if (!m) return false;
  const expires = Number(m[1]);
  if (expires * 1000 <= nowMs) return false;
  const given = Buffer.from(m[2] as string, 'base64url');
  const expected = mac(token, expires);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Whether a typed token is API_TOKEN. Both sides are hashed first so the compare is constant-time whatever
 * length was typed (a length mismatch must not answer faster).
 */
export function tokenMatches(token: string, given: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** One cookie from the Cookie header (no dependency for one name-value pair). */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value; `value` null clears the cookie. */
export function sessionCookie(value: string | null, secure: boolean, ttlS = SESSION_TTL_S): string {
  const parts = [`${SESSION_COOKIE}=${value ?? ''}`, 'Path=/console', 'HttpOnly', 'SameSite=Strict', `Max-Age=${value === null ? 0 : ttlS}`];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/**
 * CSRF defence for a state-changing request that a cookie authenticates. SameSite=Strict already keeps
 * other sites' requests cookie-less; this second check refuses any request a browser marks as coming from
 * elsewhere: `Sec-Fetch-Site` (sent by current browsers on https and localhost) must be same-origin, else
 * the `Origin` host (sent on every cross-origin and same-origin POST/PUT) must be this host or
 * PUBLIC_BASE_URL's. A request with neither header is refused: every browser that can run the console
 * sends one of them.
 */
export function isSameOrigin(req: Request, publicBaseUrl: string | null): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = req.get('origin');
  if (!origin || origin === 'null') return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  // The scheme is not compared: behind a TLS proxy the request arrives over http while Origin says https.
  const hosts = [req.get('host'), publicBaseUrl ? new URL(publicBaseUrl).host : undefined];
  return hosts.includes(host);
}
