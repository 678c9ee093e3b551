/**
 * bench:hl7 — HL7 intake measured end to end (ACK = job durably in Redis), beside bare peers that ACK
 * without doing anything, and parse throughput beside @medplum/core and node-hl7-client.
 *
 * usage: npm run bench:hl7 [-- --messages 4000 --rate 500 --seconds 5 --only all|parse|service|analysing]
 * Prints one JSON object on stdout. The service runs as its own process (serve --role api) so client
 * and server do not share an event loop.
 *
 * `analysing` (also part of `all`): the same fixed-rate HL7 load on `serve --role all` (HTTP, MLLP and
 * workers in one process, the demo's and a small site's deployment), first idle, then while a
 * 512×512×`--analysis-slices` phantom study is retrieved from a local Orthanc and analysed again and again.
 * ACK latency should not depend on imaging load (issue 16, item 13). `--cli` runs another checkout's
 * compiled CLI (to measure a commit before a change with this bench).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Hl7Message } from '@medplum/core';
import { Message } from 'node-hl7-client';
import { Er7Message } from '../src/ingest/hl7/er7';
import { parseOru, readHeader } from '../src/ingest/hl7/oru';
import { encodeMllp } from '../src/ingest/hl7/mllp';
import { deletePrefix, freePort } from '../test/helpers/service';
import { loadHl7Fixtures, sharedFixture } from '../test/helpers/fixtures';
import { makeOru } from '../test/helpers/hl7';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { phantomBuffers } from '../src/imaging/phantom/generate';
import { QUEUES } from '../src/queue/names';
import { studyJobId } from '../src/queue/studies';
import { startOrthanc, stowRs, type OrthancInstance } from '../test/helpers/orthanc';
import { REDIS_URL } from '../test/helpers/service';
import { BenchConnection, CLI, ROOT, quantile, round, startProcess, stopProcess } from './harness';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '4000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '5' },
    'peer-budget-s': { type: 'string', default: '20' },
    only: { type: 'string', default: 'all' },
    'analysis-slices': { type: 'string', default: '400' },
    'analysis-seconds': { type: 'string', default: '30' },
    cli: { type: 'string', default: CLI },
  },
});
const N = Number(values.messages);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const PEER_BUDGET_MS = Number(values['peer-budget-s']) * 1000;

let seq = 0;
function nextMessage(): { id: string; bytes: Buffer } {
  const id = `B${process.pid}-${Date.now()}-${seq++}`;
  return { id, bytes: encodeMllp(makeOru({ controlId: id, accession: `ACC${seq}` })) };
}

/** Closed loop: each connection sends its share back to back. */
async function closedLoop(port: number, connections: number, total: number, budgetMs = Infinity) {
  const conns = await Promise.all(Array.from({ length: connections }, () => BenchConnection.open(port)));
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + budgetMs;
  await Promise.all(
    conns.map(async (c) => {
      for (let i = 0; i < Math.ceil(total / connections); i++) {
        if (performance.now() > deadline) return;
        const m = nextMessage();
        const t0 = performance.now();
        await c.send(m.id, m.bytes);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const stray = conns.reduce((a, c) => a + c.strayAcks, 0);
  conns.forEach((c) => c.close());
  latencies.sort((a, b) => a - b);
  return {
    connections,
    messages: latencies.length,
    completedAll: latencies.length >= total,
    msgPerS: round(latencies.length / elapsed, 0),
    ackLatencyMs: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)), max: round(latencies[latencies.length - 1] ?? null) },
    unexpectedAcks: stray,
  };
}

/**
 * Open loop at a fixed rate over `connections`: latency counts from the scheduled send time, so a
 * server that falls behind shows it (no coordinated omission).
 */
async function fixedRate(port: number, connections: number, rate: number, seconds: number) {
  const conns = await Promise.all(Array.from({ length: connections }, () => BenchConnection.open(port)));
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const start = performance.now() + 50;
  const queues = conns.map(() => Promise.resolve());
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    // Never send early (that would understate latency); timers round up, which only overstates it.
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const k = i % connections;
    const m = nextMessage();
    const job = queues[k]!.then(() => conns[k]!.send(m.id, m.bytes)).then(() => void latencies.push(performance.now() - due));
    queues[k] = job;
    jobs.push(job);
  }
  await Promise.all(jobs);
  conns.forEach((c) => c.close());
  latencies.sort((a, b) => a - b);
  return { connections, rate, seconds, messages: latencies.length, ackLatencyMs: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)), max: round(latencies[latencies.length - 1] ?? null) } };
}

function parseBench() {
  const dir = sharedFixture('hl7');
  const corpus = dir ? loadHl7Fixtures(dir).map((m) => m.bytes) : Array.from({ length: 50 }, (_, i) => Buffer.from(makeOru({ controlId: `P${i}` })));
  const bytes = corpus.reduce((a, b) => a + b.length, 0);
  const texts = corpus.map((b) => b.toString('latin1'));
  const time = (fn: () => void) => {
    for (let i = 0; i < 3; i++) fn(); // warm-up
    let rounds = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2000) {
      fn();
      rounds++;
    }
    const s = (performance.now() - t0) / 1000;
    return { msgPerS: round((rounds * corpus.length) / s, 0), mbPerS: round((rounds * bytes) / s / 1e6, 1) };
  };
  const tryEach = (f: (i: number) => void) => () => {
    for (let i = 0; i < corpus.length; i++) {
      try {
        f(i);
      } catch {
        /* malformed fixtures throw in every parser; the work done still counts */
      }
    }
  };
  return {
    corpus: dir ? '../shared/fixtures/hl7' : 'generated ORU^R01',
    messages: corpus.length,
    bytes,
    vcfSentinel: time(tryEach((i) => {
      const msg = Er7Message.parse(corpus[i]!);
      if (readHeader(msg).messageType === 'ORU') parseOru(msg);
    })),
    medplumCore: time(tryEach((i) => void Hl7Message.parse(texts[i]!))),
    nodeHl7Client: time(tryEach((i) => void new Message({ text: texts[i]! }))),
  };
}

async function loadRuns(port: number, budgetMs = Infinity) {
  await closedLoop(port, 8, 400, budgetMs); // warm-up
  return {
    oneConnection: await closedLoop(port, 1, N, budgetMs),
    eightConnections: await closedLoop(port, 8, N, budgetMs),
    fixedRate: await fixedRate(port, 8, RATE, SECONDS),
  };
}

/**
 * Fixed-rate HL7 on `serve --role all`, idle and then while one big study is analysed over and over (its
 * state and job are forgotten after each analysis so that the same notification analyses it again).
 */
async function whileAnalysing() {
  const slices = Number(values['analysis-slices']);
  const seconds = Number(values['analysis-seconds']);
  const phantom = phantomBuffers({ seed: 1, size: 512, pixelSpacing: 0.75, slices, sliceSpacing: 1.25, fractures: [{ level: 'L1', grade: 2, morphology: 'wedge' }] });
  const files = phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data);
  const megabytes = Math.round(files.reduce((n, b) => n + b.length, 0) / 1e6);
  const uid = phantom.truth.studyInstanceUid;
  const prefix = `bench-hl7-analysing-${process.pid}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const studies = new Queue(QUEUES.studies, { connection: redis, prefix });
  let orthanc: OrthancInstance | undefined;
  let svc: Awaited<ReturnType<typeof startProcess>> | undefined;
  try {
    orthanc = await startOrthanc({ gdcm: false });
    await stowRs(orthanc, files, 25);
    files.length = 0;
    const [mllpPort, httpPort] = [await freePort(), await freePort()];
    svc = await startProcess([values.cli as string, 'serve', '--role', 'all'], {
      QUEUE_PREFIX: prefix, MLLP_PORT: String(mllpPort), HTTP_PORT: String(httpPort), HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', LOG_LEVEL: 'info',
      DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
    }, /"event":"app.started"/, { readyTimeoutMs: 60_000 });
    const base = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) || null, 60_000);
    await closedLoop(mllpPort, 8, 400); // warm-up
    const idle = await fixedRate(mllpPort, 8, RATE, SECONDS);

    // Analyses back to back for as long as the HL7 load runs.
    let running = true;
    const analysesMs: number[] = [];
    const analyses = (async () => {
      while (running) {
        await redis.del(`${prefix}:study:${uid}`, `${prefix}:study-errors:${uid}`);
        await studies.remove(studyJobId(uid));
        const t0 = performance.now();
        const res = await fetch(`${base}/notifications/studies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ studyInstanceUid: uid }) });
        if (res.status !== 202) throw new Error(`notification answered ${res.status}: ${await res.text()}`);
        await waitFor(async () => {
          const state = (await (await fetch(`${base}/studies/${uid}`)).json()) as { status: string; errors?: unknown[] };
          if (state.status === 'failed') throw new Error(`the study failed: ${JSON.stringify(state.errors)}`);
          return state.status === 'awaiting-report' || state.status === 'done' ? true : null;
        }, 300_000);
        analysesMs.push(Math.round(performance.now() - t0));
      }
    })();
    // Let the first retrieval start, so that the whole window has a study in flight.
    await new Promise((r) => setTimeout(r, 500));
    const loaded = await fixedRate(mllpPort, 8, RATE, seconds);
    running = false;
    await analyses;
    return { role: 'all', study: { rows: 512, columns: 512, slices, megabytes }, idle, whileAnalysing: { ...loaded, analysesCompleted: analysesMs.length, notificationToAnalysedMs: analysesMs } };
  } finally {
    if (svc) await stopProcess(svc);
    await orthanc?.stop();
    await studies.close();
    await redis.quit();
    await deletePrefix(prefix);
  }
}

async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const result: Record<string, unknown> = { node: process.version, cpus: require('node:os').cpus().length, messagesPerRun: N };
  if (values.only === 'all' || values.only === 'parse') result.parse = parseBench();
  if (values.only === 'parse') return void process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (values.only === 'all' || values.only === 'analysing') result.serviceWhileAnalysing = await whileAnalysing();
  if (values.only === 'analysing') return void process.stdout.write(JSON.stringify(result, null, 2) + '\n');

  // vcf-sentinel: ACK only after the job is in Redis.
  const prefix = `bench-hl7-${process.pid}`;
  let port = await freePort();
  const svc = await startProcess([values.cli as string, 'serve', '--role', 'api'], {
    QUEUE_PREFIX: prefix, MLLP_PORT: String(port), HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', LOG_LEVEL: 'info',
  }, /"event":"app.started"/);
  try {
    result.vcfSentinel = { ackMeans: 'job durably in Redis (BullMQ)', ...(await loadRuns(port)) };
  } finally {
    await stopProcess(svc);
    await deletePrefix(prefix);
  }

  // Bare peers that ACK without doing anything, same client and load (time-bounded: node-hl7-server
  // 2.5.0 re-handles every earlier message of a connection, so its runs slow down as they go).
  const peers: Record<string, unknown> = {};
  for (const kind of values.only === 'all' ? (['node-hl7-server', 'medplum'] as const) : []) {
    port = await freePort();
    const proc = await startProcess([require.resolve('tsx/cli'), path.join(ROOT, 'bench', 'hl7-peer.ts'), kind, String(port)], {}, /ready/);
    try {
      peers[kind === 'medplum' ? '@medplum/hl7 Hl7Server' : 'node-hl7-server 2.5.0'] = { ackMeans: 'nothing stored', budgetSecondsPerRun: PEER_BUDGET_MS / 1000, ...(await loadRuns(port, PEER_BUDGET_MS)) };
    } catch (err) {
      peers[kind] = { error: (err as Error).message };
    } finally {
      await stopProcess(proc);
    }
  }
  result.barePeers = peers;
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:hl7 failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
