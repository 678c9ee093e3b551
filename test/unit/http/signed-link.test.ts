import { isSignedLink, signLink } from '../../../src/http/signed-link';

const query = (link: string) => Object.fromEntries(new URL(link, 'http://x').searchParams);

describe('signed links', () => {
  const path = '/studies/1.2.3/key-image.png';
  const now = Date.UTC(2026, 11, 4, 12);

  it('opens the signed path until it expires, and nothing else', () => {
    const link = signLink('secret', path, 3600, now);
    expect(link).toMatch(/^\/studies\/1\.2\.3\/key-image\.png\?expires=\d+&signature=[\w-]{43}$/);
    expect(isSignedLink('secret', path, query(link), now + 3599_000)).toBe(true);
    expect(isSignedLink('secret', path, query(link), now + 3601_000)).toBe(false);
    expect(isSignedLink('other secret', path, query(link), now)).toBe(false);
    expect(isSignedLink('secret', '/studies/1.2.4/key-image.png', query(link), now)).toBe(false);
  });

  it('refuses a missing, malformed or altered signature or expiry', () => {
    const q = query(signLink('secret', path, 3600, now));
    expect(isSignedLink('secret', path, {}, now)).toBe(false);
    expect(isSignedLink('secret', path, { ...q, expires: String(Number(q.expires) + 1) }, now)).toBe(false);
    expect(isSignedLink('secret', path, { ...q, signature: 'short' }, now)).toBe(false);
    expect(isSignedLink('secret', path, { ...q, expires: 'soon' }, now)).toBe(false);
  });
});
