/**
 * The CDS Hooks service end to end on real Redis: studies and reports are seeded and correlated as in
 * correlate.int.test.ts (real BullMQ worker, embedded FHIR store), and the real HTTP app answers
 * discovery, patient-view and feedback, with JWTs signed by a local CDS Client whose JWK Set is served
 * over HTTP on 127.0.0.1. Every response is checked with the CDS Hooks validator (spec invariants) and
 * every FHIR resource in a card with the FHIR R4 validators.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import request from 'supertest';
import type { Observation, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { SignJWT, base64url, generateKeyPair } from 'jose';
import type { DetectedFracture } from '../../src/correlate/decide';
import { type CdsClient, startCdsClient } from '../../src/dev/cds-client';
import { OVERRIDE_REASON_SYSTEM } from '../../src/emit/cds-hooks/codes';
import { CdsJwtVerifier } from '../../src/emit/cds-hooks/jwt';
import { cdsRouter } from '../../src/emit/cds-hooks/router';
import type { CdsCard, CdsResponse } from '../../src/emit/cds-hooks/types';
import { cdsDiscoveryProblems, cdsResponseProblems } from '../../src/emit/cds-hooks/validate';
import { createHttpApp } from '../../src/http/app';
import type { RadiologyReport } from '../../src/ingest/hl7/oru';
import { createMetrics } from '../../src/observability/metrics';
import { CdsStore } from '../../src/store/cds';
import { CorrelationHarness, fracture } from '../helpers/correlation';
import { expectValidFhir } from '../helpers/fhir';
import { startTestApp, testPrefix } from '../helpers/service';

const SYSTEM = 'urn:oid:1.2.3.4.5';
const SYSTEMS = { HOSP: SYSTEM };
const BASE = 'https://cds.test.example';
const SERVICE = '/cds-services/vcf-unreported-fracture';
const API_TOKEN = 'cds-test-api-token';
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const patient = (mrn: string, id = `ehr-${mrn}`): Patient => ({ resourceType: 'Patient', id, identifier: [{ system: 'urn:other:system', value: 'X-1' }, { system: SYSTEM, value: mrn }] });

function hookRequest(p: Patient | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: crypto.randomUUID(),
    context: { userId: 'Practitioner/123', patientId: p?.id ?? 'ehr-unknown' },
    ...(p ? { prefetch: { patient: p } } : {}),
    ...extra,
  };
}

describe('CDS Hooks service (real Redis, BullMQ correlation, embedded FHIR store, local JWKS)', () => {
  let h: CorrelationHarness;
  let client: CdsClient;
  let app: ReturnType<typeof createHttpApp>;
  let fhirStub: http.Server;
  let fhirStubUrl: string;
  const fhirStubAuth: string[] = [];
  const cds = () => h.cds as CdsStore;

  function makeApp(overrides: Partial<Parameters<typeof cdsRouter>[0]> = {}) {
    return createHttpApp({
      logger,
      metrics: createMetrics(),
      readiness: {},
      routers: [
        cdsRouter({
          store: cds(),
          verifier: new CdsJwtVerifier({
            trustedIssuers: { [client.issuer]: client.jwksUrl },
            jkuAllowlist: { [client.issuer]: [`${client.jwksUrl}?rotated=1`] },
            maxLifetimeS: 300,
            claimJti: (iss, jti, exp) => cds().claimJti(iss, jti, exp),
            jwksCooldownMs: 0,
          }),
          patientIdSystems: SYSTEMS,
          publicBaseUrl: BASE,
          externalFhirBaseUrl: null,
          viewerUrlTemplate: 'https://viewer.example/viewer?StudyInstanceUIDs={{studyInstanceUid}}',
          apiToken: API_TOKEN,
          patientFetch: { timeoutMs: 2000, allowHttpLoopback: true },
          maxBodyBytes: 1 << 20,
          applyFeedback: (uid, key) => h.correlator.applyFeedback(uid, key),
          logger,
          ...overrides,
        }),
      ],
    });
  }

  beforeAll(async () => {
    const prefix = testPrefix('cds');
    h = await new CorrelationHarness({
      prefix,
      patientIdSystems: SYSTEMS,
      taskOwner: { reference: 'Organization/oncology' },
      reportWaitMs: 60_000,
      cds: (redis) => new CdsStore(redis, prefix, 3600),
    }).start();
    client = await startCdsClient();
    app = makeApp();
    // The EHR's FHIR server, for requests that do not prefetch the Patient.
    fhirStub = http.createServer((req, res) => {
      fhirStubAuth.push(req.headers.authorization ?? '');
      const id = decodeURIComponent(req.url?.split('/Patient/')[1] ?? '');
      if (id === 'ehr-MRN-9') {
        res.setHeader('content-type', 'application/fhir+json');
        res.end(JSON.stringify(patient('MRN-9')));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    await new Promise<void>((r) => fhirStub.listen(0, '127.0.0.1', r));
    fhirStubUrl = `http://127.0.0.1:${(fhirStub.address() as AddressInfo).port}/fhir`;
  });

  afterAll(async () => {
    await client?.stop();
    await new Promise((r) => fhirStub?.close(r));
    await h?.stop();
  });

  const analysedStudy = (uid: string, fractures: DetectedFracture[], accessionNumber: string, patientId: string) =>
    h.analysedStudy(uid, fractures, { accessionNumber, patientId, keyImage: Buffer.from('89504e470d0a1a0a', 'hex') });
  /** The study notification again: the same analysis finishing again, and its correlate trigger. */
  const replayStudy = (uid: string) => h.replayStudy(uid);
  const report = (accessionNumber: string, mrn: string, text: string, resultStatus: RadiologyReport['resultStatus'] = 'F') =>
    h.report({ accessionNumber, text, resultStatus, patient: { identifiers: [{ value: mrn, assigningAuthority: 'HOSP', typeCode: 'MR' }] } });

  const jwt = (path = SERVICE, o: Partial<Parameters<CdsClient['sign']>[0]> = {}) => client.sign({ aud: `${BASE}${path}`, tenant: 'tenant-1', ...o });

  async function callService(body: unknown, token?: string) {
    return request(app).post(SERVICE).set('authorization', `Bearer ${token ?? (await jwt())}`).send(body as object);
  }

  async function cardsFor(p: Patient): Promise<CdsCard[]> {
    const res = await callService(hookRequest(p));
    expect({ status: res.status, problems: cdsResponseProblems(res.body) }).toEqual({ status: 200, problems: [] });
    for (const card of (res.body as CdsResponse).cards) for (const s of card.suggestions ?? []) for (const a of s.actions ?? []) expectValidFhir(a.resource);
    return (res.body as CdsResponse).cards;
  }

  async function feedback(items: unknown[], token?: string) {
    return request(app)
      .post(`${SERVICE}/feedback`)
      .set('authorization', `Bearer ${token ?? (await jwt(`${SERVICE}/feedback`))}`)
      .send({ feedback: items });
  }

  const read = <T extends Observation | Task | ServiceRequest>(ref: string) => h.fhir.repository.readResource<T>(ref.split('/')[0] as string, ref.split('/')[1] as string);

  it('discovery: one service on patient-view with the CONTRACT prefetch, valid per the spec; CORS preflight allows Authorization', async () => {
    const res = await request(app).get('/cds-services');
    expect(res.status).toBe(200);
    expect(cdsDiscoveryProblems(res.body)).toEqual([]);
    expect(res.body.services).toEqual([
      expect.objectContaining({ id: 'vcf-unreported-fracture', hook: 'patient-view', title: expect.any(String), description: expect.any(String), usageRequirements: expect.any(String), prefetch: { patient: 'Patient/{{context.patientId}}' } }),
    ]);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const pre = await request(app).options(SERVICE).set('origin', 'https://ehr.example').set('access-control-request-method', 'POST').set('access-control-request-headers', 'authorization,content-type');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect(pre.headers['access-control-allow-methods']).toMatch(/POST/);
  });

  it('two fractures, a report that mentions one: exactly one card, for the other, with the right proposal; replays change nothing; a corrected report that mentions it removes the card', async () => {
    const uid = '1.2.826.0.1.3680043.10.777.1';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], 'CDS-1', 'MRN-2001');
    expect(await cardsFor(patient('MRN-2001'))).toEqual([]); // no report yet: nothing decided
    await report('CDS-1', 'MRN-2001', 'FINDINGS: Severe compression fracture of L1. IMPRESSION: L1 fracture.');

    const cards = await cardsFor(patient('MRN-2001'));
    expect(cards).toHaveLength(1);
    const [card] = cards as [CdsCard];
    expect(card.summary).toBe('Unreported T12 vertebral compression fracture on CT: Genant grade 2 (moderate)');
    expect(card.summary.length).toBeLessThan(140);
    expect(card.indicator).toBe('warning');
    expect(card.detail).toMatch(/not mentioned in the report of 2026-03-01/);
    expect(card.detail).toMatch(/vcf-test-model 9\.9\.9/);
    expect(card.detail).toMatch(/Not for clinical use/);
    expect(card.detail).not.toMatch(/L1/);
    expect(card.source).toMatchObject({ label: expect.stringContaining('vcf-test-model 9.9.9'), url: expect.stringMatching(new RegExp(`^${BASE}/fhir/R4/Device/`)), topic: { code: 'unreported-vertebral-fracture' } });
    expect(card.selectionBehavior).toBe('at-most-one');
    expect(card.suggestions).toHaveLength(1);
    const [suggestion] = card.suggestions!;
    expect(suggestion).toMatchObject({ isRecommended: true, label: 'Propose bone-health work-up' });
    const sr = suggestion!.actions![0]!.resource as ServiceRequest;
    expect(suggestion!.actions![0]).toMatchObject({ type: 'create', description: expect.any(String) });
    expect(sr).toMatchObject({ resourceType: 'ServiceRequest', intent: 'proposal', status: 'active', subject: { reference: 'Patient/ehr-MRN-2001', identifier: { system: SYSTEM, value: 'MRN-2001' } } });
    expect(sr.id).toBeUndefined();
    expect(sr.code?.coding?.[0]?.code).toBe('bone-health-workup');
    expect(sr.reasonReference?.[0]?.reference).toMatch(new RegExp(`^${BASE}/fhir/R4/Observation/`));
    expect(card.links).toEqual([
      // Signed with API_TOKEN: the clinician's browser cannot send our bearer token.
      { label: 'Key image: sagittal CT, T12 outlined', url: expect.stringMatching(new RegExp(`^${BASE}/studies/${uid}/key-image\\.png\\?expires=\\d+&signature=[\\w-]{43}$`)), type: 'absolute' },
      { label: 'Open the CT in the image viewer', url: `https://viewer.example/viewer?StudyInstanceUIDs=${uid}`, type: 'absolute' },
    ]);
    expect(card.overrideReasons!.map((r) => r.code)).toEqual(['already-known', 'not-a-fracture', 'patient-declined', 'goals-of-care']);

    // The report and the study notification again: the same card, the same uuid, the same resources.
    const state = await h.studies.get(uid);
    const obsRef = `Observation/${state!.correlation!.fractures.find((f) => f.level === 'T12')!.outputs!.observation}`;
    const before = await read<Observation>(obsRef);
    await report('CDS-1', 'MRN-2001', 'FINDINGS: Severe compression fracture of L1. IMPRESSION: L1 fracture.');
    await replayStudy(uid);
    // The same cards, but for the key-image link's expiry and signature, minted per answer.
    const unsigned = (cs: CdsCard[]) => cs.map((c) => ({ ...c, links: c.links?.map((l) => ({ ...l, url: l.url.replace(/\?expires=.*$/, '') })) }));
    expect(unsigned(await cardsFor(patient('MRN-2001')))).toEqual(unsigned(cards));
    expect((await read<Observation>(obsRef)).meta?.versionId).toBe(before.meta?.versionId);

    // Corrected report that now mentions T12 too: the finding is retracted, no card.
    await report('CDS-1', 'MRN-2001', 'FINDINGS: Severe compression fracture of L1 and moderate T12 wedge fracture.', 'C');
    expect(await cardsFor(patient('MRN-2001'))).toEqual([]);
    expect((await read<Observation>(obsRef)).status).toBe('entered-in-error');
  });

  it('feedback accepted: the Task becomes accepted, the card is not shown again, repeats and replays change nothing; who and when are recorded', async () => {
    const uid = '1.2.826.0.1.3680043.10.777.2';
    await analysedStudy(uid, [fracture('T12', 2), fracture('L1', 3)], 'CDS-2', 'MRN-2002');
    await report('CDS-2', 'MRN-2002', 'FINDINGS: Severe compression fracture of L1.');
    const [card] = (await cardsFor(patient('MRN-2002'))) as [CdsCard];
    const taskId = (await h.studies.get(uid))!.correlation!.fractures.find((f) => f.level === 'T12')!.outputs!.tasks['bone-health-workup']!;
    expect((await read<Task>(`Task/${taskId}`)).status).toBe('requested');

    const item = { card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: card.suggestions![0]!.uuid }], outcomeTimestamp: '2026-03-02T09:00:00Z' };
    expect((await feedback([item])).status).toBe(200);
    const accepted = await read<Task>(`Task/${taskId}`);
    expect(accepted).toMatchObject({ status: 'accepted', owner: { reference: 'Organization/oncology' } });
    expect(await cardsFor(patient('MRN-2002'))).toEqual([]);

    // The same feedback again (a client retry): 200, nothing changes.
    expect((await feedback([item])).status).toBe(200);
    expect((await read<Task>(`Task/${taskId}`)).meta?.versionId).toBe(accepted.meta?.versionId);
    const log = await cds().feedbackLog(card.uuid!);
    expect(log).toEqual([expect.objectContaining({ outcome: 'accepted', acceptedKinds: ['bone-health-workup'], by: { iss: client.issuer, sub: 'Practitioner/demo-clinician', tenant: 'tenant-1' }, outcomeTimestamp: '2026-03-02T09:00:00Z', receivedAt: expect.any(String) })]);

    // Replaying the report and the study keeps the clinician's answer.
    await report('CDS-2', 'MRN-2002', 'FINDINGS: Severe compression fracture of L1.');
    await replayStudy(uid);
    expect((await read<Task>(`Task/${taskId}`)).meta?.versionId).toBe(accepted.meta?.versionId);
    expect(await cardsFor(patient('MRN-2002'))).toEqual([]);
  });

  it('overridden "not a fracture": the Observation is entered-in-error and stays so through replays; "already known" hides the card and leaves the record', async () => {
    const uid = '1.2.826.0.1.3680043.10.777.3';
    await analysedStudy(uid, [fracture('L3', 3, ['lytic']), fracture('T9', 1)], 'CDS-3', 'MRN-2003');
    await report('CDS-3', 'MRN-2003', 'FINDINGS: Unremarkable spine.');
    const cards = await cardsFor(patient('MRN-2003'));
    expect(cards.map((c) => c.summary)).toEqual([
      'Unreported L3 vertebral fracture on CT, possibly pathologic: Genant grade 3 (severe)',
      'Unreported T9 vertebral compression fracture on CT: Genant grade 1 (mild)',
    ]);
    const [l3, t9] = cards as [CdsCard, CdsCard];
    expect(l3.indicator).toBe('warning');
    expect(l3.detail).toMatch(/Possibly pathologic/);
    expect(l3.detail).toMatch(/Oncology \/ spine review/);
    expect(l3.detail).not.toMatch(/Osteoporosis/);
    expect(l3.suggestions!.map((s) => [s.label, s.isRecommended ?? false])).toEqual([
      ['Propose IR consult for vertebral augmentation + oncology / spine review', true],
      ['Propose oncology / spine review', false],
    ]);
    expect(t9.indicator).toBe('info');
    expect(t9.suggestions![0]!.isRecommended).toBeUndefined();

    const outputs = (await h.studies.get(uid))!.correlation!.fractures;
    const l3Obs = `Observation/${outputs.find((f) => f.level === 'L3')!.outputs!.observation}`;
    const t9Obs = `Observation/${outputs.find((f) => f.level === 'T9')!.outputs!.observation}`;
    const override = (card: CdsCard, code: string) => ({ card: card.uuid, outcome: 'overridden', overrideReason: { reason: { system: OVERRIDE_REASON_SYSTEM, code }, userComment: 'reviewed' }, outcomeTimestamp: '2026-03-02T10:00:00Z' });
    expect((await feedback([override(l3, 'not-a-fracture'), override(t9, 'already-known')])).status).toBe(200);
    expect((await read<Observation>(l3Obs)).status).toBe('entered-in-error');
    expect((await read<Observation>(t9Obs)).status).toBe('preliminary');
    expect(await cardsFor(patient('MRN-2003'))).toEqual([]);

    const l3Version = (await read<Observation>(l3Obs)).meta?.versionId;
    await report('CDS-3', 'MRN-2003', 'FINDINGS: Unremarkable spine.');
    await replayStudy(uid);
    expect(await read<Observation>(l3Obs)).toMatchObject({ status: 'entered-in-error', meta: { versionId: l3Version } });
    expect(await cardsFor(patient('MRN-2003'))).toEqual([]);
  });

  it('feedback: an unknown card is 404 and changes nothing; malformed feedback is 400 naming the invariant', async () => {
    const unknown = await feedback([{ card: '00000000-0000-4000-8000-000000000000', outcome: 'overridden', outcomeTimestamp: '2026-03-02T10:00:00Z' }]);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringMatching(/no card/) } });
    const bad = await feedback([{ card: 'x', outcome: 'accepted', outcomeTimestamp: '2026-03-02T10:00:00Z' }]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/cds-fb-2/);
    const badOutcome = await feedback([{ card: 'x', outcome: 'ignored', outcomeTimestamp: '2026-03-02T10:00:00Z' }]);
    expect(badOutcome.status).toBe(400);
    expect(badOutcome.body.error.message).toMatch(/cds-fb-1/);
  });

  it('the Patient: read from fhirServer with fhirAuthorization when not prefetched; 412 when neither is possible; unknown → no cards; another Patient → 400', async () => {
    await analysedStudy('1.2.826.0.1.3680043.10.777.9', [fracture('T11', 2)], 'CDS-9', 'MRN-9');
    await report('CDS-9', 'MRN-9', 'FINDINGS: No fracture.');
    const fetched = await callService({
      ...hookRequest(null),
      context: { userId: 'Practitioner/1', patientId: 'ehr-MRN-9' },
      fhirServer: fhirStubUrl,
      fhirAuthorization: { access_token: 'ehr-token-1', token_type: 'Bearer', expires_in: 300, scope: 'user/Patient.read', subject: 'vcf-sentinel' },
    });
    expect(fetched.status).toBe(200);
    expect(fetched.body.cards.map((c: CdsCard) => c.summary)).toEqual(['Unreported T11 vertebral compression fracture on CT: Genant grade 2 (moderate)']);
    expect(fhirStubAuth.at(-1)).toBe('Bearer ehr-token-1');

    // The prefetch key present but null ("no data"): read it from fhirServer too.
    const nullPrefetch = await callService({ ...hookRequest(null), context: { patientId: 'ehr-MRN-9' }, prefetch: { patient: null }, fhirServer: fhirStubUrl });
    expect(nullPrefetch.body.cards).toHaveLength(1);

    const neither = await callService(hookRequest(null));
    expect(neither.status).toBe(412);
    expect(neither.body.error.code).toBe('PRECONDITION_FAILED');
    const notHttps = await callService({ ...hookRequest(null), fhirServer: 'http://fhir.example.org/r4' });
    expect(notHttps.status).toBe(412);
    const missing = await callService({ ...hookRequest(null), context: { patientId: 'ehr-nobody' }, fhirServer: fhirStubUrl });
    expect(missing.status).toBe(412);

    expect((await cardsFor(patient('MRN-unknown')))).toEqual([]);
    const noMappedId: Patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:other', value: 'MRN-9' }] };
    expect(await cardsFor(noMappedId)).toEqual([]);
    const wrong = await callService({ ...hookRequest(patient('MRN-9')), context: { patientId: 'someone-else' } });
    expect(wrong.status).toBe(400);
  });

  it("the spec's example requests: the patient-view example is answered 200 with a valid response; order-sign and a patient-view without patientId are 400", async () => {
    const dir = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'cds-hooks', 'examples');
    if (!fs.existsSync(dir)) return console.warn(`${dir} is absent: the spec's example requests were not posted`);
    const example = (n: string) => JSON.parse(fs.readFileSync(path.join(dir, `spec-example-${n}.json`), 'utf8')) as Record<string, unknown>;
    // Example 01 prefetches the Patient under its own key (patientToGreet): found by context.patientId.
    const ok = await callService(example('01'));
    expect({ status: ok.status, body: ok.body, problems: cdsResponseProblems(ok.body) }).toEqual({ status: 200, body: { cards: [] }, problems: [] });
    expect((await callService(example('03'))).body.error.message).toMatch(/answers patient-view/);
    expect((await callService(example('28'))).body.error.message).toMatch(/context: patientId/);
  });

  it('malformed requests are 400 with a JSON error naming the member', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ hookInstance: 'x', context: { patientId: '1' } }, /hook/],
      [{ hook: 'patient-view', context: { patientId: '1' } }, /hookInstance/],
      [{ hook: 'patient-view', hookInstance: 'x', context: { patientId: '1' }, fhirAuthorization: { access_token: 't', token_type: 'Bearer', expires_in: 1, scope: 's', subject: 'c' } }, /cds-r-1/],
      [{ hook: 'order-sign', hookInstance: 'x', context: { patientId: '1' } }, /patient-view/],
      [{ hook: 'patient-view', hookInstance: 'x', context: { userId: 'Practitioner/1' } }, /patientId/],
    ];
    for (const [body, why] of cases) {
      const res = await callService(body);
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
      expect(res.body.error.message).toMatch(why);
    }
    const notJson = await request(app).post(SERVICE).set('authorization', `Bearer ${await jwt()}`).set('content-type', 'application/json').send('{"hook":');
    expect(notJson.status).toBe(400);
  });

  describe('JWT (CDS Hooks "Trusting CDS Clients")', () => {
    const body = () => hookRequest(patient('MRN-none'));
    async function status(token: string, path = SERVICE): Promise<{ status: number; message: string }> {
      const res = await request(app).post(path).set('authorization', `Bearer ${token}`).send(path === SERVICE ? body() : { feedback: [] });
      return { status: res.status, message: res.body?.error?.message ?? '' };
    }
    const now = () => Math.floor(Date.now() / 1000);

    it('accepts ES384 and RS384, aud as a string or an array, and rejects everything else with 401 and a JSON reason', async () => {
      expect((await status(await jwt())).status).toBe(200);
      expect((await status(await jwt(SERVICE, { alg: 'RS384' }))).status).toBe(200);
      expect((await status(await client.sign({ aud: [`${BASE}${SERVICE}`, 'https://other.example'] }))).status).toBe(200);

      const refused: Array<[string, Promise<string>, RegExp]> = [
        ['wrong aud', jwt(`${SERVICE}/feedback`), /aud/],
        ['aud of another host', client.sign({ aud: `https://evil.example${SERVICE}` }), /aud/],
        ['expired', jwt(SERVICE, { iat: now() - 400, lifetimeS: 300 }), /expired/],
        ['not yet valid (nbf)', jwt(SERVICE, { nbf: now() + 200 }), /not yet valid/],
        ['issued in the future', jwt(SERVICE, { iat: now() + 200 }), /iat/],
        ['too long a lifetime', jwt(SERVICE, { lifetimeS: 3600 }), /CDS_JWT_MAX_LIFETIME_S/],
        ['unknown iss', jwt(SERVICE, { iss: 'https://untrusted.example' }), /trusted issuer/],
        ['unknown kid', jwt(SERVICE, { kid: 'no-such-kid' }), /kid/],
        ['missing kid', jwt(SERVICE, { kid: null }), /no kid/],
        ['signed by another key', (async () => jwt(SERVICE, { key: (await generateKeyPair('ES384')).privateKey }))(), /signature/],
        ['jku not allow-listed', jwt(SERVICE, { jku: 'https://attacker.example/jwks' }), /jku/],
        ['alg none', Promise.resolve(unsecured({ alg: 'none', kid: 'es384-1', typ: 'JWT' }, claims())), /alg "none"/],
        ['HS256', new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'es384-1', typ: 'JWT' }).sign(new TextEncoder().encode('x'.repeat(32))), /alg "HS256"/],
        ['not a JWT', Promise.resolve('abc.def'), /Bearer JWT/],
      ];
      for (const [name, token, why] of refused) {
        const r = await status(await token);
        expect({ name, ...r }).toEqual({ name, status: 401, message: expect.stringMatching(why) });
      }
      const none = await request(app).post(SERVICE).send(body());
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/Bearer/) } });
    });

    it('a jti is used once (replay → 401); feedback needs its own aud', async () => {
      const token = await jwt();
      expect((await status(token)).status).toBe(200);
      expect(await status(token)).toEqual({ status: 401, message: expect.stringMatching(/replay/) });
      expect((await status(await jwt(), `${SERVICE}/feedback`)).status).toBe(401);
    });

    it('a rotated key is found by refetching the JWK Set on an unknown kid; an allow-listed jku is honoured', async () => {
      const fetches = client.jwksFetches();
      const key = await client.addKey('ES384', 'es384-rotated');
      expect((await status(await jwt(SERVICE, { kid: 'es384-rotated', key }))).status).toBe(200);
      expect(client.jwksFetches()).toBeGreaterThan(fetches);
      expect((await status(await jwt(SERVICE, { jku: `${client.jwksUrl}?rotated=1` }))).status).toBe(200);
    });

    function claims() {
      const iat = now();
      return { iss: client.issuer, aud: `${BASE}${SERVICE}`, iat, exp: iat + 60, jti: crypto.randomUUID() };
    }
    function unsecured(header: object, payload: object): string {
      return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.`;
    }
  });

  it('CDS_AUTH=off: no JWT needed, and the service says so loudly on /readyz', async () => {
    const open = makeApp({ verifier: null });
    const res = await request(open).post(SERVICE).send(hookRequest(patient('MRN-none')));
    expect(res.status).toBe(200);
    const running = await startTestApp({ QUEUE_PREFIX: testPrefix('cds-off'), CDS_AUTH: 'off' }, 'api');
    try {
      const ready = await request(`http://127.0.0.1:${running.httpPort}`).get('/readyz');
      expect(ready.body.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/CDS_AUTH=off/)]));
    } finally {
      await running.stop();
    }
  });
});
