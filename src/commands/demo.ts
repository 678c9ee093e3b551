import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { startApp } from '../app';
import { loadConfig } from '../config/load';
import { startOrthanc, stowRs } from '../dev/orthanc';
import { AppError } from '../errors';
import { createLogger } from '../log';
import { MllpFramer, encodeMllp } from '../ingest/hl7/mllp';
import { phantomBuffers } from '../imaging';
import { parseFractureList } from '../imaging/phantom/generate';
import { deleteKeysWithPrefix } from '../queue/redis';
import { analyzeReport, isLevelReported, type VertebralLevel } from '../report';
import { parseCommandArgs } from './args';

/** The demo's patient: two fractures on the CT, a report that mentions only one of them. */
const FRACTURES = 'T12:2:wedge,L1:3:crush';
const REPORT_LINES = [
  'CT CHEST ABDOMEN PELVIS WITH CONTRAST',
  'INDICATION: Staging of metastatic breast cancer.',
  'FINDINGS: No pulmonary nodule. Liver without focal lesion.',
  'Severe compression fracture of L1 with more than 40% loss of height.',
  'IMPRESSION: L1 compression fracture. No evidence of disease progression.',
];

/**
 * `demo`: the whole loop on one machine. A synthetic CT with fractures at T12 and L1 is stored in a
 * DICOMweb server (a temporary Orthanc, unless DICOMWEB_SOURCES names one), the service runs with
 * role all, an ORU^R01 whose report omits T12 arrives over MLLP, a study notification is posted, and
 * the demo prints what the service found and which fractures the report does not mention.
 */
export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { seed: { type: 'string', default: '7' }, size: { type: 'string', default: '256' } });
  const seed = Number(values.seed);
  const size = Number(values.size);
  if (!Number.isInteger(seed) || !Number.isInteger(size) || size < 64 || size > 512) {
    throw new AppError('BAD_REQUEST', '--seed must be an integer and --size an integer from 64 to 512');
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const prefix = `demo-${randomUUID().slice(0, 8)}`;
  // Free ports and quiet logs unless the caller says otherwise: the demo's own lines tell the story.
  const env: NodeJS.ProcessEnv = { ...process.env, HTTP_PORT: process.env.HTTP_PORT ?? '0', MLLP_PORT: process.env.MLLP_PORT ?? '0', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };

  say('1. Synthetic CT: fractures at T12 (grade 2, wedge) and L1 (grade 3, crush)');
  const { truth, files } = phantomBuffers({ seed, size, pixelSpacing: 384 / size, sliceSpacing: 2.5, fractures: parseFractureList(FRACTURES), localizer: true, doseReport: true });
  say(`   ${files.length} DICOM instances, study ${truth.studyInstanceUid}`);

  const orthanc = process.env.DICOMWEB_SOURCES ? null : await startOrthanc();
  if (orthanc) {
    env.DICOMWEB_SOURCES = JSON.stringify({ default: { url: orthanc.dicomWebUrl } });
    say(`2. Temporary Orthanc PACS at ${orthanc.dicomWebUrl}; storing the study with STOW-RS`);
    await stowRs(orthanc, files.map((f) => f.data));
  } else {
    say('2. Using the DICOMweb source configured in DICOMWEB_SOURCES (the study must already be there)');
  }

  const config = loadConfig(env, { QUEUE_PREFIX: prefix });
  const app = await startApp(config, 'all', createLogger(config.LOG_LEVEL));
  try {
    say(`3. vcf-sentinel running: HTTP ${app.httpPort}, MLLP ${app.mllpPort}`);
    const oru = demoOru(truth.studyInstanceUid);
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
    const unreported = found.filter((f) => !isLevelReported(analysis, f.level));
    say(`8. Fractures on the CT: ${found.map((f) => `${f.level} (grade ${f.grade})`).join(', ') || 'none found'}${status.findings?.model ? '' : ' (no detection model in this build)'}`);
    say(`   Present but not reported: ${unreported.map((f) => `${f.level} (grade ${f.grade})`).join(', ') || 'none'}`);
    say('9. FHIR resources and CDS Hooks cards: not produced by this build (correlation and outputs are not implemented yet)');
    return status.status === 'failed' ? 1 : 0;
  } finally {
    await app.stop();
    await orthanc?.stop();
    await deleteKeysWithPrefix(config.REDIS_URL, prefix);
  }
}

function demoOru(studyInstanceUid: string): string {
  const now = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return [
    `MSH|^~\\&|RIS|DEMO_HOSPITAL|VCF-SENTINEL|DEMO_HOSPITAL|${now}||ORU^R01^ORU_R01|DEMO-${now}|P|2.5.1|||AL|NE||UNICODE UTF-8`,
    'PID|1||DEMO-0001^^^DEMO_HOSPITAL^MR||SYNTHETIC^PATIENT||19580214|F',
    'ORC|RE|DEMO-PL-1|DEMO-ACC-1',
    `OBR|1|DEMO-PL-1|DEMO-ACC-1|CTCAP^CT chest abdomen pelvis^L|||${now}|||||||||||||||${now}||CT|F`,
    `OBX|1|ST|113014^DICOM Study^DCM||${studyInstanceUid}||||||F`,
    ...REPORT_LINES.map((line, i) => `OBX|${i + 2}|TX|18782-3^Radiology Study observation^LN||${line}||||||F`),
  ].join('\r') + '\r';
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
}

async function waitForStudy(base: string, uid: string, headers: Record<string, string>, timeoutMs: number): Promise<StudyStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/studies/${uid}`, { headers });
    if (res.ok) {
      const body = (await res.json()) as StudyStatus;
      if (['awaiting-report', 'done', 'failed'].includes(body.status)) return body;
    }
    if (Date.now() > deadline) throw new AppError('INTERNAL', `study not analysed within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
