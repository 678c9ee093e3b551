/**
 * Property-based hostile input for the embedded FHIR endpoint's search (issue 16): GET /fhir/R4/{type}?...
 * through createFhirRouter over the real Redis store, with random parameter names and values, `_count` and
 * `_offset` negative, huge, fractional or not numbers, repeated parameters, odd modifiers and prefixes,
 * chains and reverse chains, broken percent-encoding. The answer is always application/fhir+json: a 200
 * Bundle (searchset, total, entries no more than _count) or a 4xx OperationOutcome; never a 5xx. Runs are
 * few and each property stops after a time limit; a failure prints the seed.
 */
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import express from 'express';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import { EmbeddedFhirWriter } from '../../../../src/emit/fhir/embedded';
import { createFhirRouter } from '../../../../src/emit/fhir/http';
import { DEFAULT_COUNT, MAX_COUNT } from '../../../../src/emit/fhir/search';
import { REDIS_URL, deletePrefix, testPrefix } from '../../../helpers/service';

/** Per property: stop generating new cases after this long (what ran is still checked). */
const TIME_LIMIT_MS = 1500;
const settings = (numRuns: number) => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

const PATIENTS = 'urn:oid:1.2.36.146.595.217.0.1';
const TYPES = ['Observation', 'Device', 'DetectedIssue', 'ServiceRequest', 'Task', 'Media'];

describe('GET /fhir/R4/{type}?... under hostile search parameters (real Redis)', () => {
  const prefix = testPrefix('fhir-search-prop');
  let redis: Redis;
  let writer: EmbeddedFhirWriter;
  let app: express.Express;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    writer = new EmbeddedFhirWriter({ redis, prefix });
    app = express();
    app.use(createFhirRouter({ repository: writer.repository, publicBaseUrl: () => 'http://fhir.test' }));
    for (let i = 0; i < 5; i++) {
      const obs: Observation = {
        resourceType: 'Observation',
        identifier: [{ system: 'urn:vcf-sentinel:finding', value: `prop-${i}` }],
        status: i % 2 ? 'final' : 'preliminary',
        code: { coding: [{ system: 'http://snomed.info/sct', code: '42942008' }] },
        subject: { identifier: { system: PATIENTS, value: `MRN-${i % 2}` } },
        effectiveDateTime: `2026-01-0${i + 1}`,
      };
      await writer.upsert(obs);
    }
  });

  afterAll(async () => {
    await writer.close();
    await deletePrefix(prefix);
    redis.disconnect();
  });

  /** GETs the path; checks the answer is a Bundle or a 4xx OperationOutcome in FHIR JSON, and returns it. */
  async function search(path: string): Promise<{ status: number; body: Bundle | OperationOutcome | undefined }> {
    const res = await request(app).get(path);
    expect(res.status).toBeLessThan(500);
    // Node's HTTP parser refuses a request line over its header limit before the app sees it.
    if (res.status === 431) return { status: res.status, body: undefined };
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const body = JSON.parse(res.text) as Bundle | OperationOutcome;
    if (res.status === 200) {
      expect(body.resourceType).toBe('Bundle');
      const bundle = body as Bundle;
      expect(bundle.type).toBe('searchset');
      expect(bundle.total).toEqual(expect.any(Number));
      expect((bundle.entry ?? []).length).toBeLessThanOrEqual(MAX_COUNT);
    } else {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(body.resourceType).toBe('OperationOutcome');
      expect((body as OperationOutcome).issue?.[0]?.severity).toBe('error');
    }
    return { status: res.status, body };
  }

  const type = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TYPES) }, { weight: 1, arbitrary: fc.constantFrom('Patient', 'observation', 'Bundle', '_history', '%00', '..', 'Observation%2F1') });
  const names = fc.constantFrom(
    'status', 'code', 'subject', 'patient', 'identifier', 'date', '_id', '_lastUpdated', '_count', '_offset', '_sort', '_include', '_revinclude',
    '_summary', '_elements', '_total', '_cursor', '_filter', '_has:Observation:subject:status', 'subject.identifier', 'subject.name', 'patient.identifier.system',
    'subject:identifier', 'code:text', 'code:not', 'code:above', 'status:missing', 'status:exact', 'date:missing', 'value-quantity', 'component-code', 'focus', '_type', '_profile', '_tag', '_source',
  );
  const name = fc.oneof({ weight: 4, arbitrary: names }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
  const value = fc.oneof(
    fc.constantFrom('final', 'urn:oid:1.2.36.146.595.217.0.1|MRN-1', 'http://snomed.info/sct|42942008', 'Patient/1', 'eq2026-01-02', 'gt2026', 'le2026-01-03T00:00:00Z', 'sa2026', 'ap2026-01', 'xx2026', 'true', 'false', 'status', '-status', '_lastUpdated', ',', '\\,', '|', '', '%', '%zz', '%00'),
    fc.string({ maxLength: 30 }),
  );
  const number = fc.oneof(
    fc.integer({ min: -1000, max: 2 * MAX_COUNT }).map(String),
    fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e3', '1e309', '0x10', '1.5', '-0', '', ' 5', '9007199254740993', '99999999999999999999', 'abc', '%20'),
  );
  const param = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(name, value) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('_count', '_offset'), number) },
  );
  /** Raw query text: names and values percent-encoded or left as they are (broken escapes included). */
  const query = fc.array(fc.tuple(param, fc.boolean()), { maxLength: 8 }).map((ps) =>
    ps.map(([[k, v], encode]) => (encode ? `${encodeURIComponent(k)}=${encodeURIComponent(v)}` : `${k}=${v}`.replace(/[#\s]/g, '_'))).join('&'),
  );

  it('any query on any type: a Bundle or a 4xx OperationOutcome, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(type, query, async (t, q) => {
        await search(`/fhir/R4/${t}?${q}`);
      }),
      settings(300),
    );
  });

  it('_count and _offset: for 0 ≤ _count ≤ MAX_COUNT and _offset ≥ 0 written as integers, the page and links they say; anything else 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(number), fc.option(number), async (count, offset) => {
        const q = [count === null ? '' : `_count=${encodeURIComponent(count)}`, offset === null ? '' : `_offset=${encodeURIComponent(offset)}`].filter(Boolean).join('&');
        const { status, body } = await search(`/fhir/R4/Observation?${q}`);
        const plain = (v: string | null) => v === null || (/^\d+$/.test(v) && Number.isSafeInteger(Number(v)));
        expect(status === 200).toBe(plain(count) && plain(offset) && Number(count ?? 0) <= MAX_COUNT);
        if (status !== 200) {
          expect(status).toBe(400);
          return;
        }
        const bundle = body as Bundle;
        const c = count === null ? DEFAULT_COUNT : Number(count);
        const o = offset === null ? 0 : Number(offset);
        expect(Number.isInteger(c) && c >= 0 && c <= MAX_COUNT).toBe(true);
        expect(Number.isInteger(o) && o >= 0).toBe(true);
        expect((bundle.entry ?? []).length).toBe(Math.max(0, Math.min(c, (bundle.total ?? 0) - o)));
        // A client that follows `next` sees every match: there is one whenever the page ends before the total,
        // except for `_count=0`, which asks for the total alone (a next page of 0 would never advance).
        const next = bundle.link?.find((l) => l.relation === 'next');
        expect(next !== undefined).toBe(c > 0 && o + (bundle.entry ?? []).length < (bundle.total ?? 0));
        for (const link of bundle.link ?? []) expect(link.url).toMatch(/^http:\/\/fhir\.test\/fhir\/R4\/Observation(\?|$)/);
      }),
      settings(200),
    );
  });

  it('repeated parameters (the same one many times, or many different ones): an answer, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(param, fc.integer({ min: 2, max: 150 }), async ([k, v], times) => {
        await search(`/fhir/R4/Observation?${Array.from({ length: times }, () => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`);
      }),
      settings(60),
    );
  });
});
