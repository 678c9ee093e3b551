import { describeErrorBody, parseRetryAfter } from '../../../../src/emit/fhir/external';

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    const now = Date.parse('2024-05-01T10:00:00Z');
    expect(parseRetryAfter('Wed, 01 May 2024 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 May 2024 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('describeErrorBody', () => {
  it('prefers OperationOutcome diagnostics, then OAuth errors, then text, bounded', () => {
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'bad status' }] };
    expect(describeErrorBody(JSON.stringify(oo))).toBe('bad status');
    expect(describeErrorBody(JSON.stringify({ error: 'invalid_client', error_description: 'nope' }))).toBe('invalid_client: nope');
    expect(describeErrorBody('Bad Gateway')).toBe('Bad Gateway');
    expect(describeErrorBody('x'.repeat(1000))).toHaveLength(301);
  });
});
