import type { Bundle, DetectedIssue, Observation, OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { EmbeddedFhirWriter, fhirKeys } from '../../src/emit/fhir/embedded';
import { createFhirRouter } from '../../src/emit/fhir/http';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';

const PATIENTS = 'urn:oid:1.2.36.146.595.217.0.1';
const FINDINGS = 'urn:vcf-sentinel:finding';
const VCF = { system: 'http://snomed.info/sct', code: '42942008' };
const OTHER = { system: 'http://snomed.info/sct', code: '123037004' };
const BASE = 'http://fhir.test';

function observation(value: string, patient: string, overrides: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: FINDINGS, value }],
    status: 'preliminary',
    code: { coding: [VCF] },
    subject: { identifier: { system: PATIENTS, value: patient } },
    ...overrides,
  };
}

describe('embedded FHIR store (real Redis) and its read-only /fhir/R4 API', () => {
  const prefix = testPrefix('fhir-embedded');
  let redis: Redis;
  let writer: EmbeddedFhirWriter;
  let app: express.Express;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    writer = new EmbeddedFhirWriter({ redis, prefix });
    app = express();
    app.use(createFhirRouter({ repository: writer.repository, publicBaseUrl: () => BASE }));
  });
  afterAll(async () => {
    await writer.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  const get = (path: string) => request(app).get(path.startsWith(BASE) ? path.slice(BASE.length) : path);
  const ids = (bundle: Bundle) => (bundle.entry ?? []).map((e) => e.resource?.id);

  describe('upsert', () => {
    it('writes one resource per identifier: same content → untouched, new content → same id, next version', async () => {
      const first = await writer.upsert(observation('study-1-T12', 'MRN-UPSERT'));
      expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(first.meta).toMatchObject({ versionId: '1' });

      const again = await writer.upsert(observation('study-1-T12', 'MRN-UPSERT'));
      expect(again).toEqual(first);

      const changed = await writer.upsert(observation('study-1-T12', 'MRN-UPSERT', { status: 'final' }));
      expect(changed.id).toBe(first.id);
      expect(changed.meta?.versionId).toBe('2');
      expect(changed.meta?.lastUpdated! >= first.meta!.lastUpdated!).toBe(true);

      const found = await writer.search('Observation', { identifier: `${FINDINGS}|study-1-T12` });
      expect(found.total).toBe(1);
      expect(found.entry?.[0]?.resource).toMatchObject({ id: first.id, status: 'final' });

      const history = (await get(`/fhir/R4/Observation/${first.id}/_history`).expect(200)).body as Bundle;
      expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
      const v1 = (await get(`/fhir/R4/Observation/${first.id}/_history/1`).expect(200)).body as Observation;
      expect(v1.status).toBe('preliminary');
    });

    it('concurrent upserts of one identifier create one resource', async () => {
      const writes = Array.from({ length: 12 }, (_, i) => writer.upsert(observation('study-2-L1', 'MRN-RACE', { status: i % 2 ? 'final' : 'preliminary' })));
      const results = await Promise.all(writes);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      const found = await writer.search('Observation', { identifier: `${FINDINGS}|study-2-L1` });
      expect(found.total).toBe(1);
      expect(await redis.hlen(fhirKeys(prefix, 'Observation').identifiers)).toBeGreaterThanOrEqual(1);
      // Every version was written over the one before it: the history is 1..n without gaps.
      const history = await writer.repository.readHistory('Observation', results[0]!.id);
      const versions = history.entry!.map((e) => Number(e.resource!.meta!.versionId)).reverse();
      expect(versions).toEqual(versions.map((_, i) => i + 1));
    });

    it('refuses a resource without identifier (not retryable)', async () => {
      await expect(writer.upsert({ resourceType: 'Observation', status: 'final', code: { coding: [VCF] } })).rejects.toMatchObject({
        code: 'FHIR_REJECTED',
        spec: { retryable: false },
      });
    });
  });

  describe('search', () => {
    let between = '';
    beforeAll(async () => {
      for (let i = 1; i <= 5; i++) await writer.upsert(observation(`study-3-L${i}`, 'MRN-A', { status: i <= 2 ? 'final' : 'preliminary' }));
      await new Promise((r) => setTimeout(r, 20));
      between = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      await writer.upsert(observation('study-4-T1', 'MRN-B', { code: { coding: [OTHER] } }));
      await writer.upsert(observation('study-4-T2', 'MRN-B'));
      const issue: DetectedIssue = {
        resourceType: 'DetectedIssue',
        identifier: [{ system: 'urn:vcf-sentinel:unreported-finding', value: 'study-3-L1' }],
        status: 'preliminary',
        patient: { identifier: { system: PATIENTS, value: 'MRN-A' } },
      };
      await writer.upsert(issue);
    });

    it.each([
      ['subject:identifier', 'Observation'],
      ['patient:identifier', 'Observation'],
      ['subject.identifier', 'Observation'],
      ['patient:identifier', 'DetectedIssue'],
      ['subject:identifier', 'DetectedIssue'],
    ])('by patient identifier: %s on %s', async (param, type) => {
      const res = await get(`/fhir/R4/${type}?${param}=${encodeURIComponent(`${PATIENTS}|MRN-A`)}`).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const bundle = res.body as Bundle;
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: type === 'Observation' ? 5 : 1 });
      expect(bundle.entry?.[0]?.fullUrl).toMatch(new RegExp(`^${BASE}/fhir/R4/${type}/`));
    });

    it('by code, status and _lastUpdated, combined', async () => {
      const patientB = `subject:identifier=${encodeURIComponent(`${PATIENTS}|MRN-B`)}`;
      expect((await get(`/fhir/R4/Observation?${patientB}&code=${encodeURIComponent(`${VCF.system}|${VCF.code}`)}`).expect(200)).body.total).toBe(1);
      expect((await get(`/fhir/R4/Observation?${patientB}&code=${OTHER.code}`).expect(200)).body.total).toBe(1);
      const patientA = `patient:identifier=${encodeURIComponent(`${PATIENTS}|MRN-A`)}`;
      expect((await get(`/fhir/R4/Observation?${patientA}&status=final`).expect(200)).body.total).toBe(2);
      expect((await get(`/fhir/R4/Observation?${patientA}&status=final,preliminary`).expect(200)).body.total).toBe(5);
      const after = (await get(`/fhir/R4/Observation?_lastUpdated=gt${encodeURIComponent(between)}`).expect(200)).body as Bundle;
      expect(after.total).toBe(2);
      expect(after.entry?.map((e) => (e.resource as Observation).subject?.identifier?.value)).toEqual(['MRN-B', 'MRN-B']);
    });

    it('pages with _count and next links, every match exactly once', async () => {
      const patientA = `subject:identifier=${encodeURIComponent(`${PATIENTS}|MRN-A`)}`;
      let url: string | undefined = `/fhir/R4/Observation?${patientA}&_count=2`;
      const seen: (string | undefined)[] = [];
      let pages = 0;
      while (url) {
        const bundle = (await get(url).expect(200)).body as Bundle;
        expect(bundle.total).toBe(5);
        expect(bundle.link?.find((l) => l.relation === 'self')?.url).toMatch(new RegExp(`^${BASE}/fhir/R4/Observation\\?`));
        seen.push(...ids(bundle));
        url = bundle.link?.find((l) => l.relation === 'next')?.url;
        pages++;
      }
      expect(pages).toBe(3);
      expect(new Set(seen).size).toBe(5);
      expect(seen).toHaveLength(5);
    });

    it('through the FhirWriter interface', async () => {
      const bundle = await writer.search('Observation', { 'subject:identifier': `${PATIENTS}|MRN-B`, status: 'preliminary' });
      expect(bundle.total).toBe(2);
      await expect(writer.search('Observation', { 'no-such-param': 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    });
  });

  describe('HTTP', () => {
    it('reads by id; unknown id and unknown type are 404 OperationOutcomes', async () => {
      const stored = await writer.upsert(observation('study-5-T8', 'MRN-C'));
      const res = await get(`/fhir/R4/Observation/${stored.id}`).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.body).toEqual(stored);

      for (const path of ['/fhir/R4/Observation/does-not-exist', '/fhir/R4/Patient/1', '/fhir/R4/Patient?name=x', '/fhir/R4']) {
        const miss = await get(path).expect(404);
        expect(miss.headers['content-type']).toMatch(/^application\/fhir\+json/);
        expect((miss.body as OperationOutcome).resourceType).toBe('OperationOutcome');
        expect(miss.body.issue[0].code).toBe('not-found');
      }
    });

    it.each([['foo=bar'], ['_lastUpdated=banana'], ['_count=abc'], ['_count=5000'], ['_include=Observation:subject'], ['subject:missing=maybe'], ['code:text=x'], ['status:exact=final']])(
      'rejects bad search parameters with 400: %s',
      async (query) => {
        const res = await get(`/fhir/R4/Observation?${query}`).expect(400);
        expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] });
      },
    );

    it('is read-only: 405 with an OperationOutcome and Allow', async () => {
      for (const method of ['post', 'put', 'delete', 'patch'] as const) {
        const res = await request(app)[method]('/fhir/R4/Observation').set('content-type', 'application/fhir+json').send({ resourceType: 'Observation' }).expect(405);
        expect(res.headers.allow).toBe('GET, HEAD');
        expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-supported' }] });
      }
      expect(await redis.hlen(fhirKeys(prefix, 'Observation').resources)).toBeGreaterThan(0);
    });

    it('requires the bearer token when one is configured (metadata stays open)', async () => {
      const secured = express();
      secured.use(createFhirRouter({ repository: writer.repository, apiToken: 's3cret' }));
      const denied = await request(secured).get('/fhir/R4/Observation').expect(401);
      expect(denied.headers['www-authenticate']).toBe('Bearer');
      expect(denied.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
      await request(secured).get('/fhir/R4/Observation').set('authorization', 'Bearer wrong').expect(401);
      await request(secured).get('/fhir/R4/Observation').set('authorization', 'Bearer s3cret').expect(200);
      await request(secured).get('/fhir/R4/metadata').expect(200);
    });

    it('serves a CapabilityStatement listing the written types and their search parameters', async () => {
      const res = await get('/fhir/R4/metadata').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const cs = res.body;
      expect(cs).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance', status: 'active' });
      const types = cs.rest[0].resource.map((r: { type: string }) => r.type);
      expect(types.sort()).toEqual(['DetectedIssue', 'Device', 'Media', 'Observation', 'ServiceRequest', 'Task']);
      const obs = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
      const names = obs.searchParam.map((p: { name: string }) => p.name);
      expect(names).toEqual(expect.arrayContaining(['patient', 'subject', 'code', 'status', 'identifier', '_lastUpdated']));
      expect(obs.interaction.map((i: { code: string }) => i.code)).toEqual(expect.arrayContaining(['read', 'search-type']));
      expect(obs.interaction.map((i: { code: string }) => i.code)).not.toContain('create');
    });
  });
});
