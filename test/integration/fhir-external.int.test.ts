import type { Observation } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair } from 'jose';
import { AppError } from '../../src/errors';
import { ExternalFhirWriter, type ExternalFhirWriterOptions } from '../../src/emit/fhir/external';
import { ensureFhirSchema } from '../../src/emit/fhir/schema';
import { TestFhirServer, outcome } from '../helpers/fhir-server';

function observation(value: string, status: Observation['status'] = 'preliminary'): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: 'urn:vcf-sentinel:finding', value }],
    status,
    code: { coding: [{ system: 'http://snomed.info/sct', code: '42942008' }] },
    subject: { identifier: { system: 'urn:oid:1.2.3', value: 'MRN-1' } },
  };
}

describe('external FHIR writer against a real FHIR server (fhir-router over node:http)', () => {
  let server: TestFhirServer;
  const writers: ExternalFhirWriter[] = [];

  function writer(options: Partial<ExternalFhirWriterOptions> = {}): ExternalFhirWriter {
    const w = new ExternalFhirWriter({ baseUrl: server.fhirBase, attempts: 3, timeoutMs: 2000, baseDelayMs: 20, maxDelayMs: 100, ...options });
    writers.push(w);
    return w;
  }

  beforeAll(() => ensureFhirSchema());
  beforeEach(async () => {
    server = new TestFhirServer();
    await server.start();
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.close()));
    await server.stop();
  });

  it('upserts by conditional update: twice → one resource, same id; a change → same id', async () => {
    const w = writer();
    const first = await w.upsert(observation('f-1'));
    const second = await w.upsert(observation('f-1'));
    expect(second.id).toBe(first.id);
    const changed = await w.upsert(observation('f-1', 'final'));
    expect(changed).toMatchObject({ id: first.id, status: 'final' });
    expect(await server.count('Observation')).toBe(1);
    expect(server.requests.filter((r) => r.method === 'PUT').every((r) => r.url.startsWith('/fhir/R4/Observation?identifier='))).toBe(true);

    const found = await w.search('Observation', { identifier: 'urn:vcf-sentinel:finding|f-1' });
    expect(found.entry?.map((e) => e.resource?.id)).toEqual([first.id]);
  });

  it('retries a 500 and writes exactly one resource', async () => {
    server.faults.push({ kind: 'status', status: 500 });
    const stored = await writer().upsert(observation('f-500'));
    expect(stored.id).toBeTruthy();
    expect(server.fhirRequests('PUT')).toBe(2);
    expect(await server.count('Observation')).toBe(1);
  });

  it('retries after a timeout although the server did write: still exactly one resource', async () => {
    server.faults.push({ kind: 'stall', ms: 1500 });
    const stored = await writer({ timeoutMs: 300 }).upsert(observation('f-stall'));
    expect(stored.id).toBeTruthy();
    expect(server.fhirRequests('PUT')).toBe(2);
    expect(await server.count('Observation')).toBe(1);
  });

  it('does not retry a 400: FHIR_REJECTED, not retryable, with the diagnostics', async () => {
    server.faults.push({ kind: 'status', status: 400, body: outcome('invalid', 'Observation.status: invalid code "bogus"') });
    const err = (await writer()
      .upsert(observation('f-400'))
      .catch((e: unknown) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('FHIR_REJECTED');
    expect(err.spec.retryable).toBe(false);
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('Observation.status: invalid code "bogus"');
    expect(server.fhirRequests('PUT')).toBe(1);
    expect(await server.count('Observation')).toBe(0);
  });

  it('retries a 429 after its Retry-After', async () => {
    server.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const started = Date.now();
    await writer().upsert(observation('f-429'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(server.fhirRequests('PUT')).toBe(2);
    expect(await server.count('Observation')).toBe(1);
  });

  it('gives up with a retryable FHIR_UNAVAILABLE: after the attempts, or at once on a long Retry-After', async () => {
    server.faults.push(...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 503 })));
    await expect(writer().upsert(observation('f-503'))).rejects.toMatchObject({ code: 'FHIR_UNAVAILABLE', spec: { retryable: true } });
    expect(server.fhirRequests('PUT')).toBe(3);

    server.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    await expect(writer().upsert(observation('f-429-long'))).rejects.toMatchObject({ code: 'FHIR_UNAVAILABLE' });
    expect(server.fhirRequests('PUT')).toBe(4);
  });

  it('treats a refused connection as transient', async () => {
    const closed = new TestFhirServer();
    await closed.start();
    const base = closed.fhirBase;
    await closed.stop();
    const w = new ExternalFhirWriter({ baseUrl: base, attempts: 2, baseDelayMs: 10 });
    await expect(w.upsert(observation('f-down'))).rejects.toMatchObject({ code: 'FHIR_UNAVAILABLE', spec: { retryable: true } });
  });

  it('authenticates with OAuth2 client credentials, once, and logs in again after a 401', async () => {
    server.auth = { clientId: 'vcf', clientSecret: 's3cret' };
    const w = writer({ auth: { kind: 'client-credentials', clientId: 'vcf', clientSecret: 's3cret', tokenUrl: server.tokenUrl } });
    await w.upsert(observation('f-auth-1'));
    await w.upsert(observation('f-auth-2'));
    expect(server.tokenRequests).toBe(1);

    server.tokens.clear(); // revoked: the next call is answered 401
    await w.upsert(observation('f-auth-3'));
    expect(server.tokenRequests).toBe(2);
    expect(await server.count('Observation')).toBe(3);

    // Without credentials the server's 401 is final; with wrong ones, so is the token endpoint's.
    await expect(writer().upsert(observation('f-anon'))).rejects.toMatchObject({ code: 'FHIR_REJECTED', spec: { retryable: false } });
    const wrong = writer({ auth: { kind: 'client-credentials', clientId: 'vcf', clientSecret: 'nope', tokenUrl: server.tokenUrl } });
    const before = server.tokenRequests;
    await expect(wrong.upsert(observation('f-wrong'))).rejects.toMatchObject({ code: 'FHIR_REJECTED', message: expect.stringContaining('client authentication failed') });
    expect(server.tokenRequests - before).toBe(1);
    expect(await server.count('Observation')).toBe(3);
  });

  it('authenticates as a SMART backend service with a signed client assertion', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS384');
    server.auth = { clientId: 'vcf-backend', publicKey };
    expect((await exportJWK(publicKey)).kty).toBe('RSA');
    const w = writer({ auth: { kind: 'smart-backend', clientId: 'vcf-backend', privateKey, keyId: 'k1', tokenUrl: server.tokenUrl } });
    const stored = await w.upsert(observation('f-smart'));
    expect(stored.id).toBeTruthy();
    expect(server.tokenRequests).toBe(1);
  });
});
