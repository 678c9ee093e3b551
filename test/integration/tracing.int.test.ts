/**
 * Traces (issue 17 item 3): with OTEL_TRACES_EXPORTER=otlp the service exports over OTLP/HTTP (JSON here)
 * to a receiver in this process, and one trace runs from the HL7 message, or the study notification,
 * through every job it causes to the FHIR writes; every log line of those carries that trace's id as
 * `traceId`. A CDS Hooks call is a trace of its own, a child of the EHR's span when it sends `traceparent`.
 * The built CLI (`serve --role all`, as deployed: tracing is set up by the serve command, and the OTLP
 * exporter's dynamic imports do not run inside Jest's VM), real Redis, a real Orthanc with the phantom
 * study, the real analysis. A second run with the default (OTEL_TRACES_EXPORTER unset) exports nothing
 * and still gives every line of a message the same trace id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startCdsClient, type CdsClient } from '../../src/dev/cds-client';
import { parseFractureList, phantomBuffers } from '../../src/imaging/phantom/generate';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { type OrthancInstance, orthancSkipReason, startOrthanc, stowRs } from '../helpers/orthanc';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');

/** `serve --role all` with its JSON log lines (stderr) parsed as they come; ports from its own lines. */
async function serve(env: Record<string, string>) {
  const lines: Array<Record<string, unknown>> = [];
  let rest = '';
  const proc: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--role', 'all'], {
    env: { ...process.env, REDIS_URL, HTTP_PORT: '0', MLLP_PORT: '0', HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr!.on('data', (d: Buffer) => {
    const text = rest + d.toString('utf8');
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  let started: Record<string, unknown> | undefined;
  while (!(started = lines.find((l) => l.event === 'app.started')) && Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`serve exited ${proc.exitCode}: ${rest}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!started) throw new Error('serve did not start');
  return {
    lines,
    base: `http://127.0.0.1:${started.httpPort as number}`,
    mllpPort: started.mllpPort as number,
    /** SIGTERM: drain, export the last spans, exit. */
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exit;
    },
  };
}

const skip = orthancSkipReason();
if (skip) console.warn(`tracing.int: ${skip}`);
jest.setTimeout(300_000);

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
}

/** OTLP/JSON ids are hex (the spec); base64 is what protobuf's JSON mapping would give: accept both. */
const hexId = (id: unknown, bytes: number) => (typeof id !== 'string' || id === '' ? '' : new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(id) ? id : Buffer.from(id, 'base64').toString('hex'));

/** A minimal OTLP/HTTP receiver: POST /v1/traces with an ExportTraceServiceRequest in JSON. */
function startReceiver(): Promise<{ url: string; spans: ExportedSpan[]; requests: () => number; close(): Promise<void> }> {
  const spans: ExportedSpan[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
      };
      for (const rs of body.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: Record<string, unknown> = {};
            for (const a of (s.attributes ?? []) as Array<{ key: string; value: Record<string, unknown> }>) attributes[a.key] = Object.values(a.value)[0];
            const links = ((s.links ?? []) as Array<Record<string, unknown>>).map((l) => ({ traceId: hexId(l.traceId, 16), spanId: hexId(l.spanId, 8) }));
            spans.push({ traceId: hexId(s.traceId, 16), spanId: hexId(s.spanId, 8), parentSpanId: hexId(s.parentSpanId, 8), name: String(s.name), attributes, links });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, spans, requests: () => requests, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

const SYSTEM = 'urn:oid:2.999.17.3';

(skip ? describe.skip : describe)(`one trace from the HL7 message or the notification to the FHIR writes${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const prefix = testPrefix('tracing');
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let orthanc: OrthancInstance | undefined;
  let client: CdsClient | undefined;
  let app: Awaited<ReturnType<typeof serve>> | undefined;

  beforeAll(async () => {
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await app?.stop();
    await client?.stop();
    await orthanc?.stop();
    await receiver?.close();
    await deletePrefix(prefix);
  });

  it('joins intake, jobs, FHIR writes and log lines under one trace id per arrival', async () => {
    const { truth, files } = phantomBuffers({
      seed: 7, size: 256, pixelSpacing: 1.5, sliceSpacing: 2.5, uidSalt: randomUUID().replace(/-/g, '').slice(0, 12),
      fractures: parseFractureList('T12:2:wedge,L1:3:crush'),
    });
    orthanc = await startOrthanc();
    await stowRs(orthanc, files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
    client = await startCdsClient();
    app = await serve({
      QUEUE_PREFIX: prefix,
      DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
      PATIENT_ID_SYSTEMS: JSON.stringify({ HOSP: SYSTEM }),
      CDS_TRUSTED_ISSUERS: JSON.stringify({ [client.issuer]: client.jwksUrl }),
      STUDY_WORKER_CONCURRENCY: '1',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'vcf-sentinel-test',
    });
    const { base, lines } = app;
    const captured = { lines };
    const poll = async <T>(get: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> => {
      const deadline = Date.now() + 240_000;
      for (;;) {
        const v = await get();
        if (done(v)) return v;
        if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v).slice(0, 800)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // The report mentions L1 only: T12 is the unreported fracture, whose outputs are FHIR writes.
    const oru = (controlId: string, status: string) =>
      makeOru({ controlId, status, accession: truth.accessionNumber, patientId: truth.patientId, studyInstanceUid: truth.studyInstanceUid });

    // 1. The report first: its correlate job finds no analysed study yet.
    const first = await sendRaw(app.mllpPort!, [frame(oru('TRACE-1', 'F'))], 1);
    expect(msa(first.acks[0]!).code).toBe('AA');
    await poll(async () => captured.lines.filter((l) => l.event === 'report.stored').length, (n) => n === 1, 'report stored');
    // 2. The notification: study job → correlate job → FHIR writes, in the notification's trace.
    const notified = await request(base).post('/notifications/studies').send({ studyInstanceUid: truth.studyInstanceUid });
    expect(notified.status).toBe(202);
    const study = await poll(() => request(base).get(`/studies/${truth.studyInstanceUid}`), (r) => ['done', 'failed'].includes(r.body.status), 'study');
    expect(study.body.status).toBe('done');
    // 3. A corrected report: report job → correlate job → FHIR writes, in the message's trace.
    const corrected = await sendRaw(app.mllpPort!, [frame(oru('TRACE-2', 'C'))], 1);
    expect(msa(corrected.acks[0]!).code).toBe('AA');
    await poll(async () => captured.lines.filter((l) => l.event === 'correlate.evaluated').length, (n) => n >= 2, 'corrected report correlated');
    // 4. The EHR's CDS Hooks call, with its own span as the parent.
    const ehrTrace = randomUUID().replace(/-/g, '');
    const ehrSpan = randomUUID().replace(/-/g, '').slice(0, 16);
    const service = '/cds-services/vcf-unreported-fracture';
    const view = await request(base)
      .post(service)
      .set('authorization', `Bearer ${await client.sign({ aud: `${base}${service}` })}`)
      .set('traceparent', `00-${ehrTrace}-${ehrSpan}-01`)
      .send({
        hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/1', patientId: 'p1' },
        prefetch: { patient: { resourceType: 'Patient', id: 'p1', identifier: [{ system: SYSTEM, value: truth.patientId }] } },
      });
    expect(view.status).toBe(200);
    expect(view.body.cards.length).toBeGreaterThan(0);

    // A metric for every stage.
    const metrics = (await request(base).get('/metrics')).text;
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    for (const queue of ['reports', 'studies', 'correlate']) {
      expect([queue, value(`vcf_job_queue_wait_seconds_count{queue="${queue}"}`) > 0]).toEqual([queue, true]);
      expect([queue, value(`vcf_job_duration_seconds_count{queue="${queue}",outcome="completed"}`) > 0]).toEqual([queue, true]);
    }
    expect(value('vcf_dicomweb_bytes_total{operation="retrieveSeries",direction="received"}')).toBeGreaterThan(1_000_000);
    expect(value('vcf_dicomweb_request_seconds_count{operation="retrieveSeries",outcome="ok"}')).toBe(1);
    expect(value('vcf_inference_seconds_count{outcome="ok"}')).toBe(1);
    expect(value('vcf_fhir_writes_total{resource="Observation",outcome="ok"}')).toBeGreaterThanOrEqual(2);
    const cardKinds = (view.body.cards as Array<{ indicator: string }>).map((c) => c.indicator);
    expect(value(`vcf_cds_cards_served_total{hook="patient-view",kind="${cardKinds[0]}"}`)).toBe(cardKinds.filter((k) => k === cardKinds[0]).length);

    // SIGTERM: the drain, then the last spans exported before exit.
    expect(await app.stop()).toBe(0);
    app = undefined;

    const spans = receiver.spans;
    const lineOf = (event: string, match: (l: Record<string, unknown>) => boolean = () => true) => {
      const found = captured.lines.filter((l) => l.event === event && match(l));
      expect([event, found.length]).toEqual([event, 1]);
      return found[0]!;
    };
    const traceOf = (line: Record<string, unknown>) => {
      expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
      return line.traceId as string;
    };
    /** Every span of a trace has its parent in the trace, but the root (whose parent is the caller's, if any). */
    const treeOf = (traceId: string, root: string) => {
      const inTrace = spans.filter((s) => s.traceId === traceId);
      const ids = new Set(inTrace.map((s) => s.spanId));
      const roots = inTrace.filter((s) => !ids.has(s.parentSpanId));
      expect(roots.map((s) => s.name)).toEqual([root]);
      return inTrace;
    };
    const names = (ss: ExportedSpan[]) => new Set(ss.map((s) => s.name));

    // The notification's trace: intake → study job (retrieve, analyse, store) → correlate job → FHIR writes.
    const notificationTrace = traceOf(lineOf('study.notified'));
    const nSpans = treeOf(notificationTrace, 'study notification');
    for (const name of ['studies process', 'study retrieve', 'dicomweb retrieveSeries', 'study analyse', 'study store', 'correlate process', 'correlate evaluate', 'fhir upsert Observation', 'fhir upsert DetectedIssue']) {
      expect([name, names(nSpans).has(name)]).toEqual([name, true]);
    }
    expect(traceOf(lineOf('study.analysed'))).toBe(notificationTrace);
    expect(captured.lines.filter((l) => l.event === 'correlate.evaluated').map(traceOf)).toContain(notificationTrace);

    // The corrected report's trace: MLLP intake → report job → correlate job → FHIR writes.
    const messageTrace = traceOf(lineOf('hl7.message', (l) => l.controlId === 'TRACE-2'));
    const mSpans = treeOf(messageTrace, 'hl7 message');
    for (const name of ['hl7 parse', 'hl7 enqueue', 'reports process', 'correlate process', 'correlate evaluate', 'fhir upsert Observation']) {
      expect([name, names(mSpans).has(name)]).toEqual([name, true]);
    }
    expect(mSpans.find((s) => s.name === 'hl7 message')?.attributes['vcf.hl7.control_id']).toBe('TRACE-2');
    const reportLines = captured.lines.filter((l) => l.event === 'report.stored');
    expect(reportLines.map(traceOf)).toEqual([traceOf(lineOf('hl7.message', (l) => l.controlId === 'TRACE-1')), messageTrace]);
    expect(captured.lines.filter((l) => l.event === 'correlate.evaluated').map(traceOf)).toContain(messageTrace);
    // The job spans are children of the spans that queued them, across the queue.
    const byId = new Map(mSpans.map((s) => [s.spanId, s]));
    expect(byId.get(mSpans.find((s) => s.name === 'reports process')!.parentSpanId)?.name).toBe('hl7 enqueue');
    expect(byId.get(mSpans.find((s) => s.name === 'correlate process')!.parentSpanId)?.name).toBe('reports process');

    // The CDS call joined the EHR's trace.
    const cds = spans.find((s) => s.name === 'cds patient-view');
    expect(cds).toMatchObject({ traceId: ehrTrace, parentSpanId: ehrSpan });
    expect(traceOf(lineOf('cds.patient_view'))).toBe(ehrTrace);
    // ... and links to the trace that last wrote its cards (the corrected report's evaluation), at the
    // span that wrote them.
    const writers = new Map(mSpans.filter((s) => s.name === 'correlate evaluate').map((s) => [s.spanId, s]));
    expect(cds!.links.length).toBe(view.body.cards.length);
    for (const link of cds!.links) expect(writers.get(link.spanId)?.traceId).toBe(link.traceId);

    // Every line about a message, a study, a job or a card carries a trace id that was exported.
    const exported = new Set(spans.map((s) => s.traceId));
    const processLines = new Set(['config.effective', 'mllp.listening', 'model.loaded', 'http.listening', 'app.started', 'cds.config_warning', 'app.stopping', 'app.stopped', 'durability.warning']);
    const flowLines = captured.lines.filter((l) => !processLines.has(l.event as string));
    expect(flowLines.length).toBeGreaterThan(8);
    expect(flowLines.filter((l) => !exported.has(l.traceId as string)).map((l) => l.event)).toEqual([]);

    // No UID, patient id or accession number in any span attribute.
    const attributes = JSON.stringify(spans.map((s) => s.attributes));
    for (const phi of [truth.studyInstanceUid, truth.seriesInstanceUid, truth.patientId, truth.accessionNumber]) expect(attributes).not.toContain(phi);
  });
});

describe('tracing off (the default): nothing exported, the trace id still joins the lines of a message', () => {
  const prefix = testPrefix('tracing-off');
  afterAll(() => deletePrefix(prefix));

  it('exports no span and logs the same 32-hex trace id from the MLLP intake to the report job', async () => {
    const receiver = await startReceiver();
    // The collector's address is set: only OTEL_TRACES_EXPORTER (unset, so none) keeps the spans home.
    const app = await serve({ QUEUE_PREFIX: prefix, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    try {
      const sent = await sendRaw(app.mllpPort, [frame(makeOru({ controlId: 'TRACE-OFF-1', accession: 'ACC-TRACE-OFF' }))], 1);
      expect(msa(sent.acks[0]!).code).toBe('AA');
      const deadline = Date.now() + 30_000;
      while (!app.lines.some((l) => l.event === 'report.stored') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      expect(await app.stop()).toBe(0);
      await receiver.close();
    }
    expect(app.lines.find((l) => l.event === 'config.effective')?.config).toMatchObject({ OTEL_TRACES_EXPORTER: 'none' });
    const message = app.lines.find((l) => l.event === 'hl7.message');
    const stored = app.lines.find((l) => l.event === 'report.stored');
    expect(message?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(stored?.traceId).toBe(message?.traceId);
    expect(receiver.requests()).toBe(0);
  });
});
