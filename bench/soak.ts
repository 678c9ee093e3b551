/**
 * bench:soak — the service under a long mixed load, from outside, as a hospital runs it: an interface
 * engine sending ORU^R01 over several MLLP connections while a PACS notifies studies, then checks that
 * nothing acknowledged was lost or processed twice and that memory came back to where it was.
 *
 * 1. One synthetic CT (src/imaging/phantom, `--size` matrix, `--slice-spacing` mm) is generated once and
 *    re-identified per study: every 2.25 UID (study, series, frame of reference, SOP instances, file meta)
 *    and the accession number are rewritten in place with values of the same length, so the files stay
 *    valid byte for byte. The `--studies` copies are stored in a local Orthanc with STOW-RS (setup, timed
 *    apart).
 * 2. A redis-server of the bench's own (free port, no persistence, removed at the end) so that the counts,
 *    the key scans and Redis's memory are this run's alone, nothing of the shared 127.0.0.1:6379 is
 *    touched, and other engineers' tests there neither slow this run nor see its 20,000 reports.
 * 3. The service from dist as separate processes: `serve --role api` and `--workers` × `serve --role
 *    worker`, logging (info, as in production) to files that are read at the end.
 * 4. `--messages` ORU^R01 over `--connections` MLLP connections (closed loop: each connection sends, waits
 *    for the ACK whose MSA-2 matches, sends the next). AR, a timeout (30 s) or a closed connection makes
 *    the sender resend the same message (same MSH-10), as an engine does; AE is counted and not resent
 *    (the README's sender guidance: the same message would get the same AE). Every message has its own
 *    accession and patient, except one per study that carries that study's accession number and patient
 *    id, placed at a random point of the stream (before or after its study is analysed). Study k's
 *    notification (with accession number and patient id, as Orthanc's Lua script sends) is posted once
 *    k/`--studies` of the messages are acknowledged; half the studies' reports mention no fracture (the
 *    correlator writes FHIR outputs for them), half mention L1.
 * 5. RSS (VmRSS) of every process once warmed up (`--warmup` of the messages acknowledged, that share of
 *    the studies analysed, and at least one study analysed by each worker), every 5 s, and at the end
 *    once every queue is drained.
 * 6. Counts: reports stored (report store keys, versions and histories), report and correlate jobs
 *    completed and failed (BullMQ sets), each study's state and correlation (GET /studies/{uid}), FHIR
 *    resources against their business identifiers, the api's and workers' /metrics, the message log, and
 *    the `report.stored` log lines per job (a job stored twice = a message processed twice).
 *
 * usage: npm run bench:soak [-- --messages 20000 --connections 8 --studies 200 --workers 2 --size 96
 *                                --slice-spacing 5 --warmup 0.1 --seed 1 --timeout-s 3600 --keep-logs]
 *        npm run bench:soak -- --preset small     # 2,000 messages, 10 studies, warm-up 0.5 (CI and development)
 * Prints one JSON object on stdout; exit 1 when an invariant fails (`pass` false).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Prng } from '../src/imaging/phantom/prng';
import { encodeMllp } from '../src/ingest/hl7/mllp';
import { QUEUES } from '../src/queue/names';
import type { StudyState } from '../src/store/studies';
import { makeOru } from '../test/helpers/hl7';
import { type OrthancInstance, freePort, startOrthanc, stowRs } from '../src/dev/orthanc';
import { LocalRedisServer } from '../src/dev/redis-server';
import { type BenchAck, BenchConnection, procStatus, quantile, round, stopProcess } from './harness';
import { type FleetStudy, metric, reidentifiedStudies, scrape, startFleet } from './fleet';

/**
 * `small`: for CI and development. Its warm-up is half the run: with 10 studies, a tenth is one study, and
 * a worker's heap is still growing through its first few analyses (measured: 60 studies, 2 workers, RSS
 * climbs for ~30 analyses, then a major GC brings it back), so a tenth would compare warm-up with growth.
 */
const PRESETS: Record<string, { messages: string; studies: string; warmup: string }> = { small: { messages: '2000', studies: '10', warmup: '0.5' } };
const { values } = parseArgs({
  options: {
    preset: { type: 'string' },
    messages: { type: 'string' },
    connections: { type: 'string', default: '8' },
    studies: { type: 'string' },
    workers: { type: 'string', default: '2' },
    size: { type: 'string', default: '96' },
    'slice-spacing': { type: 'string', default: '5' },
    warmup: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'timeout-s': { type: 'string', default: '3600' },
    'keep-logs': { type: 'boolean', default: false },
  },
});
if (values.preset !== undefined && !PRESETS[values.preset]) throw new Error(`--preset: one of ${Object.keys(PRESETS).join(', ')}`);
const preset = values.preset ? PRESETS[values.preset]! : { messages: '20000', studies: '200', warmup: '0.1' };
const N = Number(values.messages ?? preset.messages);
const CONNECTIONS = Number(values.connections);
const S = Number(values.studies ?? preset.studies);
const WORKERS = Number(values.workers);
const SIZE = Number(values.size);
const SLICE_SPACING = Number(values['slice-spacing']);
const WARMUP = Number(values.warmup ?? preset.warmup);
const SEED = Number(values.seed);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
for (const [name, v] of Object.entries({ messages: N, connections: CONNECTIONS, studies: S, workers: WORKERS, size: SIZE, seed: SEED })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
}
if (S > N) throw new Error('--studies must not exceed --messages (each study needs one report)');
if (S > 999_999) throw new Error('--studies: at most 999,999 (six digits are rewritten per identifier)');
if (!(WARMUP > 0 && WARMUP < 1)) throw new Error('--warmup must be a fraction between 0 and 1');

const PREFIX = 'soak';
const TOKEN = randomBytes(16).toString('hex');
const AUTH = { authorization: `Bearer ${TOKEN}` };
const ACK_TIMEOUT_MS = 30_000;
const MAX_ATTEMPTS = 20;
const FACILITY = 'HOSP';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

// ------------------------------------------------------------------------------------------ messages

const TEXTS = {
  l1: ['FINDINGS: Mild wedge compression fracture of L1 with 20% anterior height loss.', 'IMPRESSION: L1 fracture.'],
  none: ['FINDINGS: Vertebral body heights are maintained. No acute osseous abnormality.', 'IMPRESSION: No acute abnormality.'],
  fr: ['CONCLUSION : tassement cunéiforme ancien du corps vertébral de D12, inchangé.'],
};

interface Plan {
  /** Message index → study index, for the one report per study. */
  reportOf: Map<number, number>;
  /** Study k is notified once this many messages are acknowledged. */
  notifyAt: number[];
}

function makePlan(): Plan {
  const rng = new Prng(SEED);
  // A partial Fisher–Yates shuffle: S distinct positions in [0, N).
  const pos = Array.from({ length: N }, (_, i) => i);
  const reportOf = new Map<number, number>();
  for (let k = 0; k < S; k++) {
    const j = k + Math.floor(rng.next() * (N - k));
    [pos[k], pos[j]] = [pos[j]!, pos[k]!];
    reportOf.set(pos[k]!, k);
  }
  return { reportOf, notifyAt: Array.from({ length: S }, (_, k) => Math.floor((k * N) / S)) };
}

const controlId = (i: number) => `SOAK${String(i).padStart(7, '0')}`;
const reportAccession = (i: number) => `SOAKRPT${String(i).padStart(7, '0')}`;

function message(i: number, plan: Plan, studies: FleetStudy[]): Buffer {
  const k = plan.reportOf.get(i);
  if (k !== undefined) {
    const s = studies[k]!;
    return encodeMllp(makeOru({ controlId: controlId(i), sendingFacility: FACILITY, accession: s.accessionNumber, patientId: s.patientId, text: k % 2 === 0 ? TEXTS.none : TEXTS.l1 }));
  }
  const text = [TEXTS.l1, TEXTS.none, TEXTS.fr][i % 3]!;
  return encodeMllp(makeOru({ controlId: controlId(i), sendingFacility: FACILITY, accession: reportAccession(i), patientId: `SOAKR${i}`, text }));
}

// ---------------------------------------------------------------------------------------------- main

interface Sample {
  t: number;
  acked: number;
  studiesAnalysed: number;
  rssMB: Record<string, number>;
  redisUsedMB: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const since = () => round((performance.now() - started) / 1000, 1)!;
  const load0 = loadavg().map((x) => round(x, 2));
  const plan = makePlan();
  const { studies, phantom } = reidentifiedStudies(S, { seed: SEED, size: SIZE, sliceSpacing: SLICE_SPACING, patientIdPrefix: 'SOAKPAT' });

  const logsDir = fs.mkdtempSync(path.join(tmpdir(), 'vcf-soak-'));
  const redisServer = new LocalRedisServer(await freePort());
  let orthanc: OrthancInstance | undefined;
  let service: Awaited<ReturnType<typeof startFleet>> | undefined;
  let redis: Redis | undefined;
  const queues: Record<keyof typeof QUEUES, Queue> = {} as never;
  try {
    await redisServer.start();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    for (const [k, name] of Object.entries(QUEUES)) queues[k as keyof typeof QUEUES] = new Queue(name, { connection: redis, prefix: PREFIX });

    orthanc = await startOrthanc({ gdcm: false });
    const tStow = performance.now();
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < studies.length) {
        const s = studies[next++]!;
        await stowRs(orthanc!, s.files, 50);
        s.files = [];
      }
    }));
    const stowMs = Math.round(performance.now() - tStow);

    service = await startFleet({ redisUrl: redisServer.url, prefix: PREFIX, apiToken: TOKEN, orthanc, logsDir, workers: WORKERS });
    const { api, mllpPort, workers } = service;
    const procs = [api, ...workers];
    const rss = () => Object.fromEntries(procs.map((p) => [p.name, procStatus(p.proc.pid!).rssMB]));
    const redisUsedMB = async () => mb(Number(/used_memory:(\d+)/.exec(await redis!.info('memory'))?.[1] ?? 0));

    // ------------------------------------------------------------------ load: messages and notifications
    const latencies: number[] = [];
    const ackCodes: Record<string, number> = {};
    const failures = { timeouts: 0, connectionsLost: 0, reconnects: 0, resends: 0, rejectedAE: [] as string[], gaveUp: [] as string[] };
    let cursor = 0;
    let acked = 0;
    let strayAcks = 0;
    const tLoad = performance.now();
    let lastAckAt = tLoad;

    const open = async (): Promise<BenchConnection> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await BenchConnection.open(mllpPort);
        } catch (err) {
          if (attempt >= 50) throw err;
          await sleep(200);
        }
      }
    };
    const sender = async () => {
      let conn = await open();
      for (;;) {
        const i = cursor++;
        if (i >= N) break;
        const id = controlId(i);
        const bytes = message(i, plan, studies);
        for (let attempt = 1; ; attempt++) {
          const t0 = performance.now();
          let ack: BenchAck | null = null;
          try {
            ack = await conn.send(id, bytes, ACK_TIMEOUT_MS);
          } catch (err) {
            if (/no ACK within/.test((err as Error).message)) failures.timeouts++;
            else failures.connectionsLost++;
            strayAcks += conn.strayAcks;
            conn.close();
            conn = await open();
            failures.reconnects++;
          }
          if (ack) {
            latencies.push(performance.now() - t0);
            ackCodes[ack.code] = (ackCodes[ack.code] ?? 0) + 1;
            if (ack.code === 'AA') {
              acked++;
              lastAckAt = performance.now();
              break;
            }
            if (ack.code === 'AE') {
              failures.rejectedAE.push(id);
              break;
            }
          }
          if (attempt >= MAX_ATTEMPTS) {
            failures.gaveUp.push(id);
            break;
          }
          failures.resends++;
          if (ack) await sleep(500); // AR: the service asks for a retry later
        }
      }
      strayAcks += conn.strayAcks;
      conn.close();
    };

    const notifications = { posted: 0, answers: {} as Record<string, number>, retries: 0 };
    const notifier = async () => {
      for (let k = 0; k < S; k++) {
        while (acked < plan.notifyAt[k]! && !sendersDone) await sleep(10);
        const s = studies[k]!;
        for (let attempt = 1; ; attempt++) {
          const res = await fetch(`http://127.0.0.1:${api.httpPort}/notifications/studies`, {
            method: 'POST',
            headers: { ...AUTH, 'content-type': 'application/json' },
            body: JSON.stringify({ studyInstanceUid: s.uid, accessionNumber: s.accessionNumber, patientId: s.patientId }),
          }).catch(() => null);
          const code = String(res?.status ?? 'network-error');
          await res?.text();
          notifications.answers[code] = (notifications.answers[code] ?? 0) + 1;
          if (res?.status === 202 || attempt >= 10) break;
          notifications.retries++;
          await sleep(1000);
        }
        notifications.posted++;
      }
    };

    // ---------------------------------------------------------------------------------- sampling
    const timeline: Sample[] = [];
    let warm: Sample | null = null;
    /** The first sample once `--warmup` of the messages are acknowledged, whatever the studies: shows what the study condition changes. */
    let warmMessagesOnly: Sample | null = null;
    let sampling = true;
    const perWorkerStudies = async () => Promise.all(workers.map(async (w) => metric(await scrape(w, TOKEN).catch(() => ''), 'vcf_jobs_processed_total', { queue: QUEUES.studies })));
    const sample = async (): Promise<Sample> => ({
      t: since(),
      acked,
      studiesAnalysed: (await queues.studies.getJobCounts('completed')).completed ?? 0,
      rssMB: rss(),
      redisUsedMB: await redisUsedMB(),
    });
    const sampler = async () => {
      let lastTimeline = 0;
      while (sampling) {
        if (!warm && acked >= WARMUP * N) {
          const s = await sample();
          warmMessagesOnly ??= s;
          const each = await perWorkerStudies();
          if (s.studiesAnalysed >= Math.ceil(WARMUP * S) && (S < WORKERS || each.every((n) => n >= 1))) warm = s;
        }
        if (performance.now() - lastTimeline >= 5_000) {
          timeline.push(await sample());
          lastTimeline = performance.now();
        }
        await sleep(500);
      }
    };
    const samplerDone = sampler();

    let sendersDone = false;
    const senders = Promise.all(Array.from({ length: CONNECTIONS }, sender)).finally(() => {
      sendersDone = true;
    });
    await Promise.all([senders, notifier()]);
    const loadS = (lastAckAt - tLoad) / 1000;

    // ------------------------------------------------------------------------------------- drain
    const tDrain = performance.now();
    let drained = false;
    let drainPolls = 0;
    let lastCounts: Record<string, unknown> = {};
    while (performance.now() - started < TIMEOUT_MS) {
      const r = await queues.reports.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      const st = await queues.studies.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed');
      const c = await queues.correlate.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      const correlateDelayed = c.delayed ? (await queues.correlate.getDelayed(0, -1)).filter((j) => !String(j.id).startsWith('correlate-wait-')).length : 0;
      const pending = (x: Record<string, number>) => Object.entries(x).filter(([k]) => k !== 'completed' && k !== 'failed').reduce((n, [, v]) => n + v, 0);
      lastCounts = { reports: r, studies: st, correlate: c, correlateDelayedRetries: correlateDelayed };
      const empty = pending(r) === 0 && pending(st) === 0 && (st.completed ?? 0) + (st.failed ?? 0) >= S && pending(c) - (c.delayed ?? 0) + correlateDelayed === 0;
      drainPolls = empty ? drainPolls + 1 : 0;
      if (drainPolls >= 2) {
        drained = true;
        break;
      }
      await sleep(1000);
    }
    const drainS = (performance.now() - tDrain) / 1000;
    await sleep(1000); // let the last completions' bookkeeping settle before the end sample
    sampling = false;
    await samplerDone;
    const end = await sample();
    const hwm = Object.fromEntries(procs.map((p) => [p.name, procStatus(p.proc.pid!).hwmMB]));

    // ------------------------------------------------------------------------------------- counts
    const scan = async (match: string): Promise<string[]> => {
      const keys: string[] = [];
      let c = '0';
      do {
        const [nc, batch] = await redis!.scan(c, 'MATCH', match, 'COUNT', 1000);
        c = nc;
        keys.push(...batch);
      } while (c !== '0');
      return keys;
    };
    const reportKeyPrefix = `${PREFIX}:report:`;
    const reportKeys = await scan(`${reportKeyPrefix}*`);
    const stored = new Set(reportKeys.map((k) => k.slice(reportKeyPrefix.length)));
    const expected = Array.from({ length: N }, (_, i) => {
      const k = plan.reportOf.get(i);
      return `${FACILITY}|${k === undefined ? reportAccession(i) : studies[k]!.accessionNumber}`;
    });
    const missing = expected.filter((a) => !stored.has(a));
    const expectedSet = new Set(expected);
    const unexpected = [...stored].filter((a) => !expectedSet.has(a)).length;
    const pipe = redis.pipeline();
    for (const a of stored) pipe.hget(`${reportKeyPrefix}${a}`, 'version').llen(`${PREFIX}:report-history:${a}`);
    const vh = ((await pipe.exec()) ?? []).map(([, v]) => Number(v));
    let versionsAbove1 = 0;
    let historiesAbove1 = 0;
    for (let j = 0; j < vh.length; j += 2) {
      if (vh[j]! > 1) versionsAbove1++;
      if (vh[j + 1]! > 1) historiesAbove1++;
    }
    const zcard = (q: string, set: string) => redis!.zcard(`${PREFIX}:${q}:${set}`);
    const correlateCompletedIds = await redis.zrange(`${PREFIX}:${QUEUES.correlate}:completed`, '0', '-1');
    const byTrigger = (p: string) => correlateCompletedIds.filter((id) => id.startsWith(p)).length;

    // The message log: receptions per control id.
    const logKeys = await scan(`${PREFIX}:hl7-log:*`);
    const lp = redis.pipeline();
    for (const k of logKeys) lp.llen(k);
    const receptions = ((await lp.exec()) ?? []).map(([, v]) => Number(v));

    // FHIR resources against their business identifiers (one each: a second resource for one identifier is a duplicate).
    const fhir: Record<string, { resources: number; identifiers: number }> = {};
    for (const k of await scan(`${PREFIX}:fhir:*:resources`)) {
      const type = k.split(':')[2]!;
      fhir[type] = { resources: await redis.hlen(k), identifiers: await redis.hlen(`${PREFIX}:fhir:${type}:identifiers`) };
    }

    // Each study as a client sees it.
    const studyStates: Record<string, number> = {};
    let correlated = 0;
    let studyErrors = 0;
    let fracturesUnreported = 0;
    for (const s of studies) {
      const st = (await (await fetch(`http://127.0.0.1:${api.httpPort}/studies/${s.uid}`, { headers: AUTH })).json()) as StudyState;
      const c = st.correlation;
      const key = `${st.status}/${c?.outcome ?? 'none'}/${c?.joinedBy ?? 'none'}`;
      studyStates[key] = (studyStates[key] ?? 0) + 1;
      if (st.status === 'done' && c?.outcome === 'evaluated' && c.joinedBy === 'accession-number' && c.report?.version === 1) correlated++;
      studyErrors += st.errors.length;
      fracturesUnreported += c?.fractures.filter((f) => f.outputs).length ?? 0;
    }

    const apiMetrics = await scrape(api, TOKEN);
    const workerMetrics = await Promise.all(workers.map((w) => scrape(w, TOKEN)));
    const jobs = (queue: string, outcome: string) => workerMetrics.reduce((n, t) => n + metric(t, 'vcf_jobs_processed_total', { queue, outcome }), 0);

    // Stop the service (graceful, as SIGTERM in production) before reading its logs whole.
    for (const p of [api, ...workers]) await stopProcess(p.proc);
    service = undefined;
    const logs = await readLogs(api.log, workers.map((w) => w.log));

    const invariants = {
      everyMessageAcknowledged: acked === N && failures.rejectedAE.length === 0 && failures.gaveUp.length === 0,
      reportsStoredEqualsMessages: stored.size === N && missing.length === 0 && unexpected === 0,
      reportJobsCompletedEqualsMessages: (await zcard(QUEUES.reports, 'completed')) === N && (await zcard(QUEUES.reports, 'failed')) === 0,
      correlationsDoneEqualsReports: byTrigger('correlate-report-') === N && (await zcard(QUEUES.correlate, 'failed')) === 0,
      everyStudyCorrelated: correlated === S,
      noDuplicates: logs.jobsStoredTwice === 0 && versionsAbove1 === 0 && historiesAbove1 === 0 && Object.values(fhir).every((f) => f.resources === f.identifiers),
      drained,
      rssWithin20Percent: warm !== null && procs.every((p) => end.rssMB[p.name]! <= 1.2 * warm!.rssMB[p.name]!),
    };
    const pass = Object.values(invariants).every(Boolean);
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      bench: 'soak',
      config: { messages: N, connections: CONNECTIONS, studies: S, workers: WORKERS, warmup: WARMUP, seed: SEED, preset: values.preset ?? null },
      env: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', loadavgAtStart: load0, loadavgAtEnd: loadavg().map((x) => round(x, 2)) },
      setup: { phantom, orthancStowMs: stowMs, orthancInstances: phantom.instances * S },
      hl7: {
        sent: N, acknowledgedAA: acked, ackCodes, ...failures, rejectedAE: failures.rejectedAE.length, gaveUp: failures.gaveUp.length, strayAcks,
        loadSeconds: round(loadS, 1), msgPerS: round(N / loadS, 0),
        ackLatencyMs: { p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)), max: round(sorted[sorted.length - 1] ?? null) },
      },
      notifications,
      drain: { drained, secondsAfterLastAck: round(drainS, 1), lastCounts, endToEndMsgPerS: round(N / (loadS + drainS), 0) },
      counts: {
        messagesIn: acked,
        reportsStored: stored.size,
        reportsMissing: missing.length,
        missingSample: missing.slice(0, 5),
        reportJobs: { completed: await zcard(QUEUES.reports, 'completed'), failed: await zcard(QUEUES.reports, 'failed'), processedByWorkers: jobs(QUEUES.reports, 'completed'), failedAttempts: jobs(QUEUES.reports, 'failed') },
        correlateJobs: {
          completed: correlateCompletedIds.length, reportTrigger: byTrigger('correlate-report-'), studyTrigger: byTrigger('correlate-study-'), failed: await zcard(QUEUES.correlate, 'failed'),
          processedByWorkers: jobs(QUEUES.correlate, 'completed'), failedAttempts: jobs(QUEUES.correlate, 'failed'),
          reportWaitsPending: (await queues.correlate.getJobCounts('delayed')).delayed,
        },
        studyJobs: { completed: await zcard(QUEUES.studies, 'completed'), failed: await zcard(QUEUES.studies, 'failed'), failedAttempts: jobs(QUEUES.studies, 'failed') },
        studies: { correlated, states: studyStates, errorsRecorded: studyErrors, unreportedFractures: fracturesUnreported },
        fhir,
        api: {
          received: metric(apiMetrics, 'vcf_hl7_messages_received_total'),
          acks: { AA: metric(apiMetrics, 'vcf_hl7_acks_total', { code: 'AA' }), AE: metric(apiMetrics, 'vcf_hl7_acks_total', { code: 'AE' }), AR: metric(apiMetrics, 'vcf_hl7_acks_total', { code: 'AR' }) },
          duplicates: metric(apiMetrics, 'vcf_hl7_duplicates_total'),
          connectionsShed: metric(apiMetrics, 'vcf_mllp_connections_shed_total'),
        },
        messageLog: { controlIds: logKeys.length, receptions: receptions.reduce((a, b) => a + b, 0), controlIdsReceivedMoreThanOnce: receptions.filter((n) => n > 1).length },
      },
      duplicates: {
        reportJobsStoredTwice: logs.jobsStoredTwice,
        reportVersionsAbove1: versionsAbove1,
        reportHistoriesAbove1: historiesAbove1,
        hl7DuplicateAcks: logs.duplicateAcks,
        fhirResourcesWithoutOwnIdentifier: Object.values(fhir).reduce((n, f) => n + f.resources - f.identifiers, 0),
      },
      logs: { ...logs.summary, dir: values['keep-logs'] ? logsDir : null },
      rss: {
        warmupDefinition: `${WARMUP * 100}% of the messages acknowledged, ${WARMUP * 100}% of the studies analysed, and at least one analysed by each worker`,
        warmup: warm,
        messagesOnlyWarmup: warmMessagesOnly,
        end,
        ratioEndToWarmup: warm ? Object.fromEntries(procs.map((p) => [p.name, round(end.rssMB[p.name]! / warm!.rssMB[p.name]!, 3)])) : null,
        peakMB: hwm,
        timeline: timeline.map((s) => [s.t, s.acked, s.studiesAnalysed, ...procs.map((p) => s.rssMB[p.name]), s.redisUsedMB]),
        timelineColumns: ['s', 'acked', 'studiesAnalysed', ...procs.map((p) => `${p.name}RssMB`), 'redisUsedMB'],
      },
      invariants,
      pass,
      elapsedSeconds: since(),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (!pass) process.exitCode = 1;
  } finally {
    if (service) for (const p of [service.api, ...service.workers]) await stopProcess(p.proc).catch(() => undefined);
    await Promise.all(Object.values(queues).map((q) => q.close().catch(() => undefined)));
    redis?.disconnect();
    await orthanc?.stop().catch(() => undefined);
    await redisServer.stop().catch(() => undefined);
    if (!values['keep-logs']) fs.rmSync(logsDir, { recursive: true, force: true });
  }
}

/** What the service's own log lines say: reports stored per job, duplicate ACKs, warnings and errors by event. */
async function readLogs(apiLog: string, workerLogs: string[]) {
  const storedPerJob = new Map<string, number>();
  const storedOutcomes: Record<string, number> = {};
  const warnings: Record<string, number> = {};
  let hl7Lines = 0;
  let duplicateAcks = 0;
  for (const file of [apiLog, ...workerLogs]) {
    for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
      if (!line.startsWith('{')) continue;
      let e: { level?: number; event?: string; jobId?: string; outcome?: string; duplicate?: boolean };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        continue;
      }
      if (e.event === 'report.stored' && e.jobId) {
        storedPerJob.set(e.jobId, (storedPerJob.get(e.jobId) ?? 0) + 1);
        storedOutcomes[e.outcome ?? '?'] = (storedOutcomes[e.outcome ?? '?'] ?? 0) + 1;
      }
      if (e.event === 'hl7.message') {
        hl7Lines++;
        if (e.duplicate) duplicateAcks++;
      }
      if ((e.level ?? 0) >= 40) warnings[e.event ?? '?'] = (warnings[e.event ?? '?'] ?? 0) + 1;
    }
  }
  return {
    jobsStoredTwice: [...storedPerJob.values()].filter((n) => n > 1).length,
    duplicateAcks,
    summary: { hl7MessageLines: hl7Lines, reportStoredLines: storedOutcomes, reportJobsLogged: storedPerJob.size, warnOrErrorByEvent: warnings },
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:soak failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
