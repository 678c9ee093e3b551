/**
 * bench:cds — CDS Hooks patient-view latency as an EHR sees it, JWT verification included.
 *
 * 1. Seeds the CDS index (CdsStore.index, what the correlator writes) for --patients patients with 1–2
 *    unreported findings each (mixed grades, some lytic / levelUncertain, key image, the ServiceRequest
 *    JSON of each proposal). Pipelined; not measured.
 * 2. Starts the api side in a child process (as deployed: its own Node process and event loop): the real
 *    express app with the real CDS router, jose verifier against a JWK Set served on 127.0.0.1, Redis
 *    replay protection, PUBLIC_BASE_URL set.
 * 3. Signs one fresh ES384 JWT per request (a new jti each) before the run, so signing is not measured,
 *    then sends --requests patient-view calls from --concurrency parallel clients, each for a random
 *    seeded patient (10% unknown patients), the Patient prefetched. Every response is checked: 200, the
 *    expected number of cards, and (for a sample) the CDS Hooks validator.
 *
 * usage: npm run bench:cds [-- --patients 10000 --concurrency 20 --requests 4000 --warmup 400]
 * Prints one JSON object on stdout; the target is p99 ≤ 50 ms on 2 cores.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { ServiceRequest } from '@medplum/fhirtypes';
import { startCdsClient } from '../src/dev/cds-client';
import { SERVICE_ID } from '../src/emit/cds-hooks/codes';
import { suggestionIndex } from '../src/emit/cds-hooks/finding';
import { cardUuid } from '../src/emit/cds-hooks/ids';
import { CdsJwtVerifier } from '../src/emit/cds-hooks/jwt';
import { cdsRouter } from '../src/emit/cds-hooks/router';
import type { CdsResponse } from '../src/emit/cds-hooks/types';
import { cdsResponseProblems } from '../src/emit/cds-hooks/validate';
import { REFERRALS, type ReferralKind } from '../src/emit/fhir/codes';
import { createHttpApp } from '../src/http/app';
import { createMetrics } from '../src/observability/metrics';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '../src/queue/redis';
import { type CardFinding, CdsStore } from '../src/store/cds';
import type { FractureGrade, SpineLevel } from '../src/domain/vocabulary';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASE = 'https://cds.bench.example';
const SYSTEM = 'urn:oid:2.999.9.1';
const ENDPOINT = `/cds-services/${SERVICE_ID}`;
const LEVELS: SpineLevel[] = ['T6', 'T7', 'T8', 'T9', 'T10', 'T11', 'T12', 'L1', 'L2', 'L3', 'L4'];

interface ServerConfig {
  prefix: string;
  issuer: string;
  jwksUrl: string;
}

/** The child: the api side only, listening on 127.0.0.1, port sent back over IPC. */
async function serve(cfg: ServerConfig): Promise<void> {
  // As the api role reads it, but allowed to queue commands until connected (the bench starts it cold).
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const store = new CdsStore(redis, cfg.prefix, 3600);
  const logger = pino({ level: 'silent' });
  const app = createHttpApp({
    logger,
    metrics: createMetrics(),
    readiness: {},
    routers: [
      cdsRouter({
        store,
        verifier: new CdsJwtVerifier({ trustedIssuers: { [cfg.issuer]: cfg.jwksUrl }, jkuAllowlist: {}, maxLifetimeS: 300, claimJti: (i, j, e) => store.claimJti(i, j, e) }),
        patientIdSystems: { BENCH: SYSTEM },
        publicBaseUrl: BASE,
        externalFhirBaseUrl: null,
        viewerUrlTemplate: 'https://viewer.example/viewer?StudyInstanceUIDs={{studyInstanceUid}}',
      apiToken: null,
        patientFetch: { timeoutMs: 2000, allowHttpLoopback: false },
        maxBodyBytes: 1 << 20,
        applyFeedback: async () => undefined,
        logger,
      }),
    ],
  });
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.send?.({ port: (server.address() as AddressInfo).port });
  process.on('disconnect', () => {
    server.close();
    redis.disconnect();
    process.exit(0);
  });
}

/** A seeded patient's findings, shaped exactly as the correlator indexes them. */
function findingsOf(i: number): CardFinding[] {
  const n = 1 + (i % 2);
  const uid = `2.25.${1_000_000 + i}`;
  return Array.from({ length: n }, (_, k) => {
    const grade = (1 + ((i + k) % 3)) as FractureGrade;
    const flags = i % 10 === 0 ? ['lytic'] : i % 7 === 0 ? ['levelUncertain'] : [];
    const level = LEVELS[(i + 3 * k) % LEVELS.length] as SpineLevel;
    const kinds: ReferralKind[] = [...(grade === 3 ? ['ir-augmentation-consult' as const] : []), flags.includes('lytic') ? 'oncology-spine-review' : 'bone-health-workup'];
    const key = `${uid}:${level}:0.1.0`;
    return {
      cardUuid: cardUuid(key), findingKey: key, patient: { system: SYSTEM, value: `MRN-${i}` }, studyInstanceUid: uid, studyDate: '2026-03-01', reportDate: '2026-03-02',
      level, levelText: flags.includes('levelUncertain') ? `${level} or adjacent` : level, levelUncertain: flags.includes('levelUncertain'), levelUnanchored: false, grade, morphology: grade === 3 ? 'crush' : 'wedge',
      heightLossPercent: [0, 22, 31, 45][grade] as number, flags, model: { name: 'vcf-unet-ref', version: '0.1.0' }, device: 'Device/dev-1', keyImage: 'Media/img-1',
      observation: `Observation/obs-${i}-${k}`, detectedIssue: `DetectedIssue/iss-${i}-${k}`,
      referrals: kinds.map((kind, j) => ({
        kind, serviceRequestId: `sr-${i}-${k}-${j}`, taskId: `task-${i}-${k}-${j}`,
        serviceRequest: {
          resourceType: 'ServiceRequest', id: `sr-${i}-${k}-${j}`, meta: { versionId: '1', lastUpdated: '2026-03-02T10:00:00Z' },
          identifier: [{ system: 'urn:vcf-sentinel:referral', value: `${key}:${kind}` }], status: 'active', intent: 'proposal', priority: grade === 3 ? 'urgent' : 'routine',
          code: REFERRALS[kind].code, subject: { type: 'Patient', identifier: { system: SYSTEM, value: `MRN-${i}` } }, authoredOn: '2026-03-02T10:00:00Z',
          requester: { reference: 'Device/dev-1' }, reasonReference: [{ reference: `Observation/obs-${i}-${k}` }],
          supportingInfo: [{ reference: `DetectedIssue/iss-${i}-${k}` }, { type: 'ImagingStudy', identifier: { system: 'urn:dicom:uid', value: `urn:oid:${uid}` } }],
          note: [{ text: `Proposed because of an unreported ${level} Genant grade ${grade} fracture on the CT of 2026-03-01.` }],
        } satisfies ServiceRequest,
      })),
      identifiedAt: '2026-03-02T10:00:00Z',
    };
  });
}

function post(agent: http.Agent, port: number, body: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, path: ENDPOINT, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      patients: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '20' },
      requests: { type: 'string', default: '4000' },
      warmup: { type: 'string', default: '400' },
    },
  });
  const patients = Number(values.patients);
  const concurrency = Number(values.concurrency);
  const requests = Number(values.requests);
  const warmup = Number(values.warmup);
  const prefix = `bench-cds-${randomUUID().slice(0, 8)}`;
  const client = await startCdsClient({ issuer: 'https://ehr.bench.example' });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const store = new CdsStore(redis, prefix, 3600);
  const child = fork(__filename, ['--serve', JSON.stringify({ prefix, issuer: client.issuer, jwksUrl: client.jwksUrl } satisfies ServerConfig)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const seedStart = performance.now();
    let findings = 0;
    for (let i = 0; i < patients; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, patients - i) }, async (_, j) => {
          for (const f of findingsOf(i + j)) {
            findings++;
            await store.index(f, suggestionIndex(f));
          }
        }),
      );
    }
    const seedMs = performance.now() - seedStart;
    const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
    // node:http with keep-alive rather than fetch: the client shares the 2 cores with the server and Redis,
    // and undici costs several times more CPU per request.
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const loadBefore = loadavg();

    const signStart = performance.now();
    const tokens = await Promise.all(Array.from({ length: warmup + requests }, () => client.sign({ aud: `${BASE}${ENDPOINT}`, tenant: 'bench' })));
    const signMsEach = (performance.now() - signStart) / tokens.length;

    const latencies: number[] = [];
    let errors = 0;
    let invalid = 0;
    let cardsSeen = 0;
    let next = 0;
    const run = async (count: number, record: boolean) => {
      const end = next + count;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let n = next++; n < end; n = next++) {
            const i = Math.floor(Math.random() * patients * 1.1); // ~10% unknown patients
            const body = JSON.stringify({
              hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/1', patientId: `ehr-${i}` },
              prefetch: { patient: { resourceType: 'Patient', id: `ehr-${i}`, identifier: [{ system: SYSTEM, value: `MRN-${i}` }] } },
            });
            const t0 = performance.now();
            const res = await post(agent, port, body, tokens[n] as string);
            const json = JSON.parse(res.body) as CdsResponse;
            const ms = performance.now() - t0;
            const expected = i < patients ? 1 + (i % 2) : 0;
            if (res.status !== 200 || json.cards.length !== expected) errors++;
            if (record) {
              latencies.push(ms);
              cardsSeen += json.cards.length;
              if (n % 50 === 0 && cdsResponseProblems(json).length > 0) invalid++;
            }
          }
        }),
      );
      next = end;
    };
    await run(warmup, false);
    const t0 = performance.now();
    await run(requests, true);
    const wallMs = performance.now() - t0;
    latencies.sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 100) / 100;
    const result = {
      bench: 'cds patient-view',
      patients,
      findingsStored: findings,
      concurrency,
      requests,
      warmup,
      jwt: 'ES384, a fresh jti per request, verified with jose against a JWK Set on 127.0.0.1, replay-checked in Redis',
      latencyMs: { p50: r(percentile(latencies, 50)), p90: r(percentile(latencies, 90)), p99: r(percentile(latencies, 99)), max: r(latencies.at(-1) ?? 0), mean: r(latencies.reduce((a, b) => a + b, 0) / latencies.length) },
      throughputPerS: Math.round((requests / wallMs) * 1000),
      targetP99Ms: 50,
      meetsTarget: percentile(latencies, 99) <= 50,
      cardsPerResponse: r(cardsSeen / requests),
      errors,
      invalidSampledResponses: invalid,
      seedMs: Math.round(seedMs),
      signMsEachNotMeasured: r(signMsEach),
      cpus: cpus().length,
      loadAverage1m: { before: r(loadBefore[0] as number), after: r(loadavg()[0] as number) },
      node: process.version,
    };
    agent.destroy();
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (errors > 0 || invalid > 0) process.exitCode = 1;
  } finally {
    child.disconnect();
    await client.stop();
    redis.disconnect();
    await deleteKeysWithPrefix(REDIS_URL, prefix);
  }
}

if (process.argv[2] === '--serve') {
  void serve(JSON.parse(process.argv[3] as string) as ServerConfig);
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:cds: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
