import type { Request } from 'express';
import { isSameOrigin, isValidSession, readCookie, sessionCookie, sessionValue, tokenMatches } from '../../../../src/http/console/session';

const TOKEN = 'console-token-1';
const NOW = Date.parse('2026-05-01T10:00:00Z');

/** Just the header lookup the functions use. */
function req(headers: Record<string, string>): Request {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (name: string) => lower[name.toLowerCase()] } as unknown as Request;
}

describe('console session cookie', () => {
  it('is valid with the token that minted it until it expires', () => {
    const value = sessionValue(TOKEN, NOW, 60);
    expect(isValidSession(TOKEN, value, NOW)).toBe(true);
    expect(isValidSession(TOKEN, value, NOW + 59_000)).toBe(true);
    expect(isValidSession(TOKEN, value, NOW + 60_000)).toBe(false);
  });

  it('is refused with another token (a changed API_TOKEN ends every session), altered, or malformed', () => {
    const value = sessionValue(TOKEN, NOW, 60);
    expect(isValidSession('another-token', value, NOW)).toBe(false);
    const [v, exp, mac] = value.split('.') as [string, string, string];
    // A later expiry with the same MAC: the MAC covers the expiry.
    expect(isValidSession(TOKEN, `${v}.${Number(exp) + 3600}.${mac}`, NOW)).toBe(false);
    expect(isValidSession(TOKEN, `${v}.${exp}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, NOW)).toBe(false);
    for (const bad of [undefined, '', 'v1', `v1.${exp}`, `v2.${exp}.${mac}`, `v1.${exp}.${mac}x`, TOKEN]) expect(isValidSession(TOKEN, bad, NOW)).toBe(false);
  });

  it('Set-Cookie: HttpOnly, SameSite=Strict, only for /console, Secure when asked; clearing sets Max-Age=0', () => {
    expect(sessionCookie('abc', false, 100)).toBe('vcf_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=100');
    expect(sessionCookie('abc', true, 100)).toMatch(/; Secure$/);
    expect(sessionCookie(null, false)).toBe('vcf_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it('reads one cookie among others', () => {
    expect(readCookie(req({ cookie: 'a=1; vcf_console=v1.2.xyz; b=2' }), 'vcf_console')).toBe('v1.2.xyz');
    expect(readCookie(req({ cookie: 'xvcf_console=1' }), 'vcf_console')).toBeUndefined();
    expect(readCookie(req({}), 'vcf_console')).toBeUndefined();
  });

  it('compares a typed token whatever its length', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, `${TOKEN} `)).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
  });
});

describe('console CSRF check (isSameOrigin)', () => {
  it('trusts Sec-Fetch-Site when the browser sends it', () => {
    expect(isSameOrigin(req({ 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' }), null)).toBe(true);
    for (const site of ['cross-site', 'same-site', 'none']) expect(isSameOrigin(req({ 'sec-fetch-site': site, host: 'svc:8080', origin: 'http://svc:8080' }), null)).toBe(false);
  });

  it('else needs an Origin whose host is this host or PUBLIC_BASE_URL', () => {
    expect(isSameOrigin(req({ host: 'svc:8080', origin: 'http://svc:8080' }), null)).toBe(true);
    // Behind a TLS proxy: the browser's origin is the public https one.
    expect(isSameOrigin(req({ host: '10.0.0.5:8080', origin: 'https://vcf.example.org' }), 'https://vcf.example.org/')).toBe(true);
    expect(isSameOrigin(req({ host: 'svc:8080', origin: 'http://evil.example' }), 'https://vcf.example.org')).toBe(false);
    expect(isSameOrigin(req({ host: 'svc:8080', origin: 'null' }), null)).toBe(false);
    expect(isSameOrigin(req({ host: 'svc:8080', origin: 'not a url' }), null)).toBe(false);
    expect(isSameOrigin(req({ host: 'svc:8080' }), null)).toBe(false);
  });
});
