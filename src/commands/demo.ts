import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import net from 'node:net';
import { startApp } from '../app';
import { Redis } from 'ioredis';
import { loadConfig, readDefaults, redactUrl } from '../config/load';
import { startCdsClient } from '../dev/cds-client';
import { freePort, startOrthanc, stowRs } from '../dev/orthanc';
import { LocalRedisServer, redisServerAvailable } from '../dev/redis-server';
import { SERVICE_ID } from '../emit/cds-hooks/codes';
import type { CdsCard, CdsResponse } from '../emit/cds-hooks/types';
import { cdsResponseProblems } from '../emit/cds-hooks/validate';
import { AppError } from '../errors';
import { createLogger } from '../log';
import { MllpFramer, encodeMllp } from '../ingest/hl7/mllp';
import { parseFractureList, phantomBuffers } from '../imaging/phantom/generate';
import { deleteKeysWithPrefix } from '../queue/redis';
import type { VertebralLevel } from '../domain/vocabulary';
import type { CorrelatedFracture } from '../store/studies';
import { analyzeReport } from '../report';
import { parseCommandArgs } from './args';
import { syntheticOru } from '../dev/oru';

/** The demo's patient: two fractures on the CT, a report that mentions only one of them. */
const FRACTURES = 'T12:2:wedge,L1:3:crush';
const REPORT_LINES = [
  'CT CHEST ABDOMEN PELVIS WITH CONTRAST',
  'INDICATION: Staging of metastatic breast cancer.',
  'FINDINGS: No pulmonary nodule. Liver without focal lesion.',
  'Severe compression fracture of L1 with more than 40% loss of height.',
  'IMPRESSION: L1 compression fracture. No evidence of disease progression.',
];

const HELP = `usage: vcf-sentinel demo [--seed N] [--size PX] [--out DIR] [--use-env]

The whole loop on one machine: a synthetic CT with fractures at T12 and L1 is stored in a temporary Orthanc,
the service runs on a temporary Redis (both removed at exit, whatever the shell's REDIS_URL and
DICOMWEB_SOURCES say), an ORU^R01 mentioning only L1 is sent over MLLP, a study notification is posted; the demo prints the findings, the correlation and the FHIR resources written, then
opens the patient's chart as an EHR would (a CDS Hooks patient-view call signed with a demo ES384 key whose
JWK Set it serves on 127.0.0.1) and prints the card(s). Every resource and the CDS response are saved as JSON.

options:
  --seed N     phantom seed (default 7)
  --size PX    phantom matrix, 64-512 (default 256)
  --out DIR    folder for the FHIR resources and cds-hooks-response.json (default demo-output/<time>)
  --use-env    use the Redis in REDIS_URL (and the DICOMweb source in DICOMWEB_SOURCES, if set: the study is
               stored there first) instead of temporary ones; without redis-server installed the demo
               uses REDIS_URL anyway, and exits 1 within 10 s naming it when nothing answers

reads: REDIS_URL and DICOMWEB_SOURCES (with --use-env), PATIENT_ID_SYSTEMS (default maps DEMO_HOSPITAL), REFERRAL_TASK_OWNER,
VIEWER_URL_TEMPLATE, MODEL_PATH, LOG_LEVEL (default warn), and every serve setting; HTTP_PORT/MLLP_PORT default
to 0 (free ports); CDS_TRUSTED_ISSUERS is set to the demo's own issuer (CDS_AUTH=off skips the JWT).
`;

/**
 * `demo`: the whole loop on one machine. A synthetic CT with fractures at T12 and L1 is stored in a
 * DICOMweb server (a temporary Orthanc, unless DICOMWEB_SOURCES names one), the service runs with
 * role all, an ORU^R01 whose report omits T12 arrives over MLLP, a study notification is posted, and
 * the demo prints what the service found, which fractures the report does not mention, and the FHIR
 * resources the correlation wrote (also saved as JSON under --out).
 */
export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, {
    seed: { type: 'string', default: '7' },
    size: { type: 'string', default: '256' },
    out: { type: 'string', default: path.join('demo-output', new Date().toISOString().replace(/[:.]/g, '-')) },
    'use-env': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }, HELP);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const outDir = path.resolve(values.out as string);
  const seed = Number(values.seed);
  const size = Number(values.size);
  if (!Number.isInteger(seed) || !Number.isInteger(size) || size < 64 || size > 512) {
    throw new AppError('BAD_REQUEST', '--seed must be an integer and --size an integer from 64 to 512');
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const prefix = `demo-${randomUUID().slice(0, 8)}`;
  const useEnv = values['use-env'] === true;
  // Isolated by default: its own Redis and PACS, so nothing in the shell (or left by an earlier run) mixes in.
  const { DICOMWEB_SOURCES: shellSources, ...shell } = process.env;
  const redis = await demoRedis(useEnv, say);
  // Everything started is stopped in reverse order, whatever step fails.
  const cleanup: Array<() => Promise<void>> = [redis.server ? () => redis.server!.stop() : () => deleteKeysWithPrefix(redis.url, prefix)];
  try {
    // Free ports and quiet logs unless the caller says otherwise: the demo's own lines tell the story.
    const env: NodeJS.ProcessEnv = {
      ...shell,
      REDIS_URL: redis.url,
      // The temporary Redis keeps nothing by design: no durability warning for it.
      ...(redis.server ? { REDIS_DURABILITY: 'off' } : {}),
      ...(useEnv && shellSources ? { DICOMWEB_SOURCES: shellSources } : {}),
      HTTP_PORT: process.env.HTTP_PORT ?? '0',
      MLLP_PORT: process.env.MLLP_PORT ?? '0',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      // The demo hospital's MRN authority → a FHIR identifier system, as a site configures it.
      PATIENT_ID_SYSTEMS: process.env.PATIENT_ID_SYSTEMS ?? JSON.stringify({ DEMO_HOSPITAL: 'urn:oid:2.999.1.1' }),
      REFERRAL_TASK_OWNER: process.env.REFERRAL_TASK_OWNER ?? 'Organization?identifier=urn:oid:2.999.1.2|oncology-team',
    };

    say('1. Synthetic CT: fractures at T12 (grade 2, wedge) and L1 (grade 3, crush)');
    // Fresh UIDs on every run (the seed fixes the anatomy only): a PACS that keeps studies never mixes two runs.
    const uidSalt = randomUUID().replace(/-/g, '').slice(0, 12);
    const { truth, files } = phantomBuffers({ seed, size, uidSalt, pixelSpacing: 384 / size, sliceSpacing: 2.5, fractures: parseFractureList(FRACTURES), localizer: true, doseReport: true });
    say(`   ${files.length} DICOM instances, study ${truth.studyInstanceUid}`);

    // The EHR side of CDS Hooks: a key pair and its JWK Set on 127.0.0.1, trusted by the service it starts.
    const ehr = await startCdsClient({ issuer: 'https://ehr.demo.invalid' });
    cleanup.push(() => ehr.stop());
    env.CDS_TRUSTED_ISSUERS = JSON.stringify({ [ehr.issuer]: ehr.jwksUrl });
    const orthanc = env.DICOMWEB_SOURCES ? null : await startOrthanc();
    if (orthanc) {
      cleanup.push(() => orthanc.stop());
      env.DICOMWEB_SOURCES = JSON.stringify({ default: { url: orthanc.dicomWebUrl } });
      say(`2. Temporary Orthanc PACS at ${orthanc.dicomWebUrl}; storing the study with STOW-RS`);
      await stowRs(orthanc, files.map((f) => f.data));
    } else {
      say('2. --use-env: using the DICOMweb source in DICOMWEB_SOURCES (the study must already be there)');
    }

    const config = loadConfig(env, { QUEUE_PREFIX: prefix });
    const app = await startApp(config, 'all', createLogger(config.LOG_LEVEL));
    cleanup.push(() => app.stop());
    say(`3. vcf-sentinel running: HTTP ${app.httpPort}, MLLP ${app.mllpPort}`);
    // The hospital's own accession and MRN (not the phantom's): the report joins its study by the UID it carries.
    const oru = syntheticOru({
      controlId: `DEMO-${Date.now()}`,
      patientId: 'DEMO-0001',
      assigningAuthority: 'DEMO_HOSPITAL',
      accessionNumber: 'DEMO-ACC-1',
      studyInstanceUid: truth.studyInstanceUid,
      lines: REPORT_LINES,
    });
    const ack = await sendMllp(app.mllpPort!, oru);
    say(`4. ORU^R01 sent over MLLP; ACK: ${ack.split('\r').find((s) => s.startsWith('MSA'))}`);

    const base = `http://127.0.0.1:${app.httpPort}`;
    const headers = { 'content-type': 'application/json', ...(config.API_TOKEN ? { authorization: `Bearer ${config.API_TOKEN}` } : {}) };
    const posted = await fetch(`${base}/notifications/studies`, { method: 'POST', headers, body: JSON.stringify({ studyInstanceUid: truth.studyInstanceUid }) });
    say(`5. Study notification: HTTP ${posted.status} ${await posted.text()}`);

    const status = await waitForStudy(base, truth.studyInstanceUid, headers, 300_000);
    say(`6. GET /studies/{uid}: status ${status.status}${status.errors.length ? `, errors: ${JSON.stringify(status.errors)}` : ''}`);
    for (const reason of status.series?.reasons ?? []) say(`   chosen: ${reason}`);
    for (const r of status.series?.rejected ?? []) say(`   not chosen: ${r.reason}`);
    const volume = status.findings?.volume;
    if (volume) say(`   volume ${volume.dims.join('×')} voxels at ${volume.spacingMm.map((v) => v.toFixed(2)).join('×')} mm, ${volume.orientation}`);
    for (const v of status.findings?.vertebrae ?? []) {
      say(`   ${v.level.padEnd(4)} grade ${v.grade}${v.morphology ? ` ${v.morphology}` : ''}, heights A/M/P ${v.heightsMm.anterior}/${v.heightsMm.middle}/${v.heightsMm.posterior} mm${v.flags.length ? `, flags ${v.flags.join(',')}` : ''}`);
    }

    const analysis = analyzeReport(REPORT_LINES.join('\n'));
    say(`7. The report mentions fractures at: ${analysis.reportedLevels.join(', ') || 'none'}`);
    const found = status.findings?.fractures ?? [];
    const decisions = status.correlation?.fractures ?? [];
    say(`8. Fractures on the CT: ${found.map((f) => `${f.level} (grade ${f.grade})`).join(', ') || 'none found'}${status.findings?.model ? '' : ' (no detection model in this build)'}`);
    say(`   Correlation: ${status.correlation?.outcome ?? 'none'}${status.correlation?.joinedBy ? `, report joined by ${status.correlation.joinedBy}` : ''}`);
    for (const d of decisions) say(`   ${d.levelText} grade ${d.grade}: ${d.reported ? 'reported' : 'NOT reported'} (${d.explanation})`);
    const unreported = decisions.filter((d) => d.outputs);
    say(`   Present but not reported: ${unreported.map((d) => `${d.levelText} (grade ${d.grade})`).join(', ') || 'none'}`);

    const written = await fetchOutputs(base, headers, unreported);
    mkdirSync(outDir, { recursive: true });
    for (const r of written) writeFileSync(path.join(outDir, `${r.resourceType}-${r.id}.json`), `${JSON.stringify(r, null, 2)}\n`);
    say(`9. FHIR R4 resources written to the embedded store (GET ${base}/fhir/R4/...), ${written.length} saved as JSON in ${outDir}`);
    for (const r of written) say(`   ${summarise(r)}`);
    const cds = await openChart(base, config, ehr);
    writeFileSync(path.join(outDir, 'cds-hooks-response.json'), `${JSON.stringify(cds.response, null, 2)}\n`);
    say(`10. The clinician opens the chart: CDS Hooks patient-view → HTTP ${cds.status}, ${cds.response.cards?.length ?? 0} card(s)${cds.problems.length ? `, INVALID: ${cds.problems.join('; ')}` : ', valid per CDS Hooks 2.0'}; saved as ${path.join(outDir, 'cds-hooks-response.json')}`);
    for (const card of cds.response.cards ?? []) for (const line of renderCard(card)) say(line);
    return status.status === 'failed' || cds.status !== 200 ? 1 : 0;
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }
}

/**
 * The demo's Redis: a temporary redis-server unless --use-env (or none is installed), else REDIS_URL,
 * checked at once so that a missing Redis ends the demo within seconds with the setting to fix.
 */
async function demoRedis(useEnv: boolean, say: (line: string) => void): Promise<{ url: string; server: LocalRedisServer | null }> {
  if (!useEnv && redisServerAvailable()) {
    const server = new LocalRedisServer(await freePort());
    await server.start();
    say(`0. Temporary Redis at ${server.url} (removed at exit; --use-env uses REDIS_URL instead)`);
    return { url: server.url, server };
  }
  const url = process.env.REDIS_URL || (readDefaults().REDIS_URL as string);
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 8000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // The socket's error says why (ECONNREFUSED); connect() itself only rejects with "Connection is closed".
  let cause: string | undefined;
  probe.on('error', (err: NodeJS.ErrnoException) => (cause ??= err.code));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    const why = cause ?? (err as Error).message;
    throw new AppError(
      'QUEUE_UNAVAILABLE',
      `REDIS_URL=${redactUrl(url)}: no answer (${why}); start Redis (Debian: apt-get install redis-server, then redis-server --daemonize yes) or point REDIS_URL at one`,
    );
  } finally {
    probe.disconnect();
  }
  say(`0. Using the Redis at REDIS_URL=${redactUrl(url)}${useEnv ? '' : ' (no redis-server installed to start a temporary one)'}`);
  return { url, server: null };
}

/**
 * What an EHR does when the chart opens: POST patient-view with the Patient prefetched (the identifier
 * the demo hospital's MRN maps to) and a freshly signed JWT whose aud is the endpoint.
 */
async function openChart(base: string, config: ReturnType<typeof loadConfig>, ehr: Awaited<ReturnType<typeof startCdsClient>>) {
  const endpoint = `/cds-services/${SERVICE_ID}`;
  const system = config.PATIENT_ID_SYSTEMS.DEMO_HOSPITAL ?? Object.values(config.PATIENT_ID_SYSTEMS)[0] ?? 'urn:oid:2.999.1.1';
  const body = {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/demo-clinician', patientId: 'demo-patient-1' },
    prefetch: { patient: { resourceType: 'Patient', id: 'demo-patient-1', identifier: [{ system, value: 'DEMO-0001' }] } },
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.CDS_AUTH !== 'off') headers.authorization = `Bearer ${await ehr.sign({ aud: `${(config.PUBLIC_BASE_URL ?? base).replace(/\/+$/, '')}${endpoint}`, tenant: 'demo-hospital' })}`;
  const res = await fetch(`${base}${endpoint}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const response = (await res.json()) as CdsResponse;
  return { status: res.status, response, problems: res.ok ? cdsResponseProblems(response) : [] };
}

/** A card as a clinician reads it: indicator and summary, the detail, the suggestions, the links. */
function renderCard(card: CdsCard): string[] {
  const out = [`   ┌ [${card.indicator.toUpperCase()}] ${card.summary}`];
  for (const l of (card.detail ?? '').split('\n')) out.push(`   │ ${l.replace(/\*\*/g, '')}`);
  for (const s of card.suggestions ?? []) out.push(`   │ [button] ${s.label}${s.isRecommended ? ' (recommended)' : ''}: ${(s.actions ?? []).map((a) => `${a.type} ${a.resource?.resourceType}`).join(', ')}`);
  for (const l of card.links ?? []) out.push(`   │ [link] ${l.label}: ${l.url}`);
  out.push(`   │ dismiss reasons: ${(card.overrideReasons ?? []).map((r) => r.display).join(' | ')}`);
  out.push(`   └ source: ${card.source.label}; card ${card.uuid}`);
  return out;
}

function sendMllp(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const framer = new MllpFramer(1 << 20);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(encodeMllp(message)));
    socket.on('data', (d) => {
      const frame = framer.push(d).find((e) => e.kind === 'frame');
      if (frame && frame.kind === 'frame') {
        socket.end();
        resolve(frame.payload.toString('utf8'));
      }
    });
    socket.on('error', reject);
  });
}

interface DemoVertebra {
  level: VertebralLevel;
  grade: number;
  morphology: string | null;
  heightsMm: { anterior: number; middle: number; posterior: number };
  flags: string[];
}

/** The parts of GET /studies/{uid} the demo prints. */
interface StudyStatus {
  status: string;
  errors: unknown[];
  series?: { reasons: string[]; rejected: Array<{ reason: string }> };
  findings?: {
    model: unknown;
    volume?: { dims: number[]; spacingMm: number[]; orientation: string };
    vertebrae: DemoVertebra[];
    fractures: DemoVertebra[];
  };
  correlation?: { outcome: string; joinedBy: string | null; fractures: CorrelatedFracture[] } | null;
}

async function waitForStudy(base: string, uid: string, headers: Record<string, string>, timeoutMs: number): Promise<StudyStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/studies/${uid}`, { headers });
    if (res.ok) {
      const body = (await res.json()) as StudyStatus;
      if (['done', 'failed'].includes(body.status)) return body;
    }
    if (Date.now() > deadline) throw new AppError('INTERNAL', `study not analysed and correlated within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every resource written for the unreported findings, read back over the service's own FHIR API. */
async function fetchOutputs(base: string, headers: Record<string, string>, findings: CorrelatedFracture[]): Promise<Resource[]> {
  const refs = new Set<string>();
  for (const f of findings) {
    const o = f.outputs!;
    refs.add(`Observation/${o.observation}`);
    refs.add(`DetectedIssue/${o.detectedIssue}`);
    for (const id of Object.values(o.serviceRequests)) refs.add(`ServiceRequest/${id}`);
    for (const id of Object.values(o.tasks)) refs.add(`Task/${id}`);
  }
  const out: Resource[] = [];
  const read = async (ref: string) => {
    const res = await fetch(`${base}/fhir/R4/${ref}`, { headers });
    if (!res.ok) throw new AppError('INTERNAL', `GET /fhir/R4/${ref}: HTTP ${res.status}`);
    return (await res.json()) as Resource;
  };
  for (const ref of refs) out.push(await read(ref));
  // The Device and the key image the Observations point at.
  const linked = new Set<string>();
  for (const r of out) {
    if (r.resourceType !== 'Observation') continue;
    if (r.device?.reference) linked.add(r.device.reference);
    for (const d of r.derivedFrom ?? []) if (d.reference) linked.add(d.reference);
  }
  for (const ref of linked) out.push(await read(ref));
  return out;
}

/** One line per resource: what a clinician or an integration engineer would look at first. */
function summarise(r: Resource): string {
  switch (r.resourceType) {
    case 'Observation': {
      const grade = r.component?.find((c) => c.code.coding?.[0]?.code === 'RDES150')?.valueInteger;
      return `Observation/${r.id} [${r.status}] ${r.code.text} at ${r.bodySite?.text}, Genant grade ${grade}: ${r.note?.[0]?.text ?? ''}`;
    }
    case 'DetectedIssue':
      return `DetectedIssue/${r.id} [${r.status}, severity ${r.severity}] ${r.detail}`;
    case 'ServiceRequest':
      return `ServiceRequest/${r.id} [${r.status}, ${r.intent}, ${r.priority}] ${r.code?.text}`;
    case 'Task':
      return `Task/${r.id} [${r.status}] ${r.description} → owner ${r.owner?.reference ?? r.owner?.identifier?.value ?? 'unassigned'}`;
    case 'Device':
      return `Device/${r.id} ${r.deviceName?.[0]?.name} ${r.version?.[0]?.value}`;
    case 'Media':
      return `Media/${r.id} key image (${r.content.contentType}, ${Math.round(((r.content.data?.length ?? 0) * 3) / 4 / 1024)} KiB)`;
    default:
      return `${r.resourceType}/${r.id}`;
  }
}
