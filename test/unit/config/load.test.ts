import { effectiveConfig, loadConfig } from '../../../src/config/load';

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', HTTP_PORT: 8080, MLLP_PORT: 2575, API_TOKEN: null, CDS_AUTH: 'on' });
    expect(Object.keys(c.DICOMWEB_SOURCES)).toEqual(['default']);
  });

  it('takes environment overrides, JSON maps included', () => {
    const c = loadConfig({ MLLP_PORT: '0', DICOMWEB_SOURCES: '{"pacs":{"url":"https://pacs.example/dicom-web","auth":{"type":"bearer","token":"t"}}}', API_TOKEN: 's3cret' });
    expect(c.MLLP_PORT).toBe(0);
    expect(c.DICOMWEB_SOURCES.pacs!.auth).toEqual({ type: 'bearer', token: 't' });
    expect(c.API_TOKEN).toBe('s3cret');
  });

  it.each([
    [{ HTTP_PORT: 'eighty' }, /^HTTP_PORT: /],
    [{ MLLP_PORT: '70000' }, /^MLLP_PORT: /],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL: /],
    [{ DICOMWEB_SOURCES: '{not json' }, /^DICOMWEB_SOURCES: is not valid JSON/],
    [{ DICOMWEB_SOURCES: '{}' }, /^DICOMWEB_SOURCES: at least one source/],
    [{ HL7_OTHER_MESSAGE_ACK: 'XX' }, /^HL7_OTHER_MESSAGE_ACK: /],
    // Inside a JSON setting: the path to the field, as an engineer would look for it.
    [{ DICOMWEB_SOURCES: '{"pacs":{"url":"not a url"}}' }, /^DICOMWEB_SOURCES\.pacs\.url: Invalid URL/],
    [{ DICOMWEB_SOURCES: '{"pacs":{"url":"https://p.example","auth":{"type":"bearer"}}}' }, /^DICOMWEB_SOURCES\.pacs\.auth/],
    [{ CDS_JKU_ALLOWLIST: '{"https://ehr.example":["ftp://x"]}' }, /^CDS_JKU_ALLOWLIST\.https:\/\/ehr\.example\[0\]: /],
    [{ REDIS_CONNECT_TIMEOUT_S: '0' }, /^REDIS_CONNECT_TIMEOUT_S: /],
  ])('names the bad variable: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(message) }));
  });
});

describe('loadConfig edge cases', () => {
  it('keeps the default for an empty non-nullable variable, and unsets an empty nullable one', () => {
    const c = loadConfig({ MLLP_PORT: '', HTTP_PORT: '', DICOMWEB_RETRIES: '', API_TOKEN: '' });
    expect([c.MLLP_PORT, c.HTTP_PORT, c.DICOMWEB_RETRIES, c.API_TOKEN]).toEqual([2575, 8080, 4, null]);
  });

  it('refuses a DICOMweb source URL with credentials, a query or a fragment at start', () => {
    for (const url of ['https://u:p@pacs.example/dicom-web', 'https://pacs.example/dicom-web?x=1', 'https://pacs.example/dicom-web#f']) {
      expect(() => loadConfig({ DICOMWEB_SOURCES: JSON.stringify({ pacs: { url } }) })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^DICOMWEB_SOURCES\.pacs\.url: must not carry credentials/) }),
      );
    }
  });
});

describe('effectiveConfig (the start-up line)', () => {
  it('shows every setting, with credentials redacted', () => {
    const c = loadConfig({
      REDIS_URL: 'redis://:hunter2@redis.example:6379/0',
      API_TOKEN: 'tok-123',
      FHIR_CLIENT_SECRET: 'sec-456',
      DICOMWEB_SOURCES: '{"pacs":{"url":"https://pacs.example/dicom-web","auth":{"type":"basic","username":"u","password":"pw-789"}}}',
    });
    const shown = effectiveConfig(c);
    expect(Object.keys(shown).sort()).toEqual(Object.keys(c).sort());
    const text = JSON.stringify(shown);
    for (const secret of ['hunter2', 'tok-123', 'sec-456', 'pw-789']) expect(text).not.toContain(secret);
    expect(shown).toMatchObject({ REDIS_URL: 'redis://:***@redis.example:6379/0', API_TOKEN: 'set', FHIR_CLIENT_SECRET: 'set', DICOMWEB_SOURCES: { pacs: { url: 'https://pacs.example/dicom-web', auth: 'basic ***' } } });
    expect(effectiveConfig(loadConfig({})).API_TOKEN).toBeNull();
  });
});
