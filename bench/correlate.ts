/**
 * bench:correlate — the correlate worker on real Redis with the embedded FHIR writer, N stored studies.
 *
 * 1. Seeds N analysed studies as the study worker leaves them (findings with 1–3 fractures of mixed grades,
 *    some levelUncertain / lytic, model identity, accession number, patient id, study date, key image),
 *    indexes them (LinkStore.addStudy) and queues their `study` correlate trigger (the first arrival;
 *    each ends awaiting-report). Seeding is pipelined and not what is measured.
 * 2. Starts the correlate Worker (processCorrelateJob, real Correlator, EmbeddedFhirWriter) in this process.
 * 3. Sends one report per study through the report worker's own path (message JSON under
 *    `<prefix>:hl7:msg:<id>`, then processReportJob): the second arrival, timed when processReportJob
 *    returns. About half the fractures are left out of the reports. Each study is done when its
 *    `report` correlate job completes (the Worker's 'completed' event, job.finishedOn; the study status is
 *    written `done` just before), cross-checked with QueueEvents and by reading every study back.
 * 4. Replays (--replay, default on): (a) every report job redelivered (same message: no new correlate job),
 *    (b) every report re-sent as a new HL7 message with the same content (version 2: every study is
 *    re-evaluated); neither may add a resource or a resource version.
 *
 * usage: npm run bench:correlate [-- --studies 1000 --concurrency 4 --report-concurrency 4 --rate 0
 *                                    --replay true --key-image true --timeout-s 600 --seed 1]
 *   --profile PATH: write a V8 CPU profile (.cpuprofile) of the measured phase (reports → last done).
 *   --rate: reports per second (open loop, latency counts from the scheduled time); 0 = as fast as the
 *           report path allows (a burst: second-arrival→done is then mostly queue wait).
 * Prints one JSON object on stdout. Exits 2 with a message on stderr when --timeout-s is exceeded.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { PNG } from 'pngjs';
import type { Resource } from '@medplum/fhirtypes';
import { Correlator } from '../src/correlate/correlator';
import { type DetectedFracture, decideFracture } from '../src/correlate/decide';
import { SPINE_LEVELS, type SpineLevel, type VertebraFlag } from '../src/domain/vocabulary';
import { EmbeddedFhirWriter, fhirKeys } from '../src/emit/fhir/embedded';
import { referralKinds } from '../src/emit/fhir/resources';
import type { RadiologyReport } from '../src/ingest/hl7/oru';
import { type CorrelateJobData, type CorrelateJobResult, CORRELATE_QUEUE, correlateJobId, enqueueCorrelate, processCorrelateJob } from '../src/queue/correlate';
import { type ReportJobData, processReportJob, reportJobId } from '../src/queue/reports';
import { analyzeReport } from '../src/report';
import { LinkStore } from '../src/store/links';
import { OutputStore } from '../src/store/outputs';
import { ReportStore, reportAccessionKey } from '../src/store/reports';
import { type StoredStudy, StudyStore } from '../src/store/studies';
import { REDIS_URL, deletePrefix, testPrefix } from '../test/helpers/service';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    'report-concurrency': { type: 'string', default: '4' },
    rate: { type: 'string', default: '0' },
    replay: { type: 'string', default: 'true' },
    'key-image': { type: 'string', default: 'true' },
    'timeout-s': { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
    profile: { type: 'string' },
  },
});
const N = Number(values.studies);
const CONCURRENCY = Number(values.concurrency);
const REPORT_CONCURRENCY = Number(values['report-concurrency']);
const RATE = Number(values.rate);
const REPLAY = values.replay !== 'false';
const KEY_IMAGE = values['key-image'] !== 'false';
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const SEED = Number(values.seed);
for (const [name, v] of Object.entries({ studies: N, concurrency: CONCURRENCY, 'report-concurrency': REPORT_CONCURRENCY, 'timeout-s': TIMEOUT_MS })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
}

const MODEL = { name: 'vcf-bench-model', version: '1.0.0-bench', sha256: 'b'.repeat(64) };
const AUTHORITY = 'HOSP';
const SYSTEMS = { [AUTHORITY]: 'urn:oid:1.2.3.4.5' };
const DATE_WINDOW_MS = 24 * 3_600_000;
/** Long enough that no report-wait job fires during the run. */
const REPORT_WAIT_MS = 24 * 3_600_000;
const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });

// ---------------------------------------------------------------------------------------------- stats

const round = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);
const quantile = (sorted: number[], q: number) => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) : null);
function dist(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: round(quantile(s, 0.5)), p95: round(quantile(s, 0.95)), p99: round(quantile(s, 0.99)), max: round(s[s.length - 1]) };
}

/** Call timings by label, in call order (so early and late calls can be compared). */
const calls = new Map<string, number[]>();
function record(label: string, ms: number): void {
  let a = calls.get(label);
  if (!a) calls.set(label, (a = []));
  a.push(ms);
}
function callSummary(keys?: (k: string) => boolean) {
  const out: Record<string, unknown> = {};
  for (const [label, ms] of [...calls.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (keys && !keys(label)) continue;
    const total = ms.reduce((a, b) => a + b, 0);
    const fifth = Math.max(1, Math.floor(ms.length / 5));
    const p50 = (xs: number[]) => round(quantile([...xs].sort((a, b) => a - b), 0.5), 3);
    out[label] = {
      calls: ms.length,
      totalMs: round(total, 0),
      meanMs: round(total / ms.length, 3),
      ...dist(ms),
      // Same call early and late in the phase: a store that slows down as it fills shows here.
      p50FirstFifthMs: p50(ms.slice(0, fifth)),
      p50LastFifthMs: p50(ms.slice(-fifth)),
    };
  }
  return out;
}

/** Wraps an async method of an instance (private ones too) so each call is timed under `label`. */
function instrument(target: object, method: string, label: string | ((args: unknown[], result: unknown) => string)): void {
  const obj = target as Record<string, unknown>;
  const original = obj[method] as (...args: unknown[]) => Promise<unknown>;
  if (typeof original !== 'function') throw new Error(`no method ${method} to instrument`);
  obj[method] = async (...args: unknown[]) => {
    const t0 = performance.now();
    let result: unknown;
    try {
      result = await original.apply(target, args);
      return result;
    } finally {
      record(typeof label === 'string' ? label : label(args, result), performance.now() - t0);
    }
  };
}

// --------------------------------------------------------------------------------------- synthetic data

/** mulberry32: the same studies and reports for the same --seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T,
    weighted: <T>(items: ReadonlyArray<readonly [T, number]>) => {
      const total = items.reduce((a, [, w]) => a + w, 0);
      let r = next() * total;
      for (const [x, w] of items) if ((r -= w) < 0) return x;
      return items[items.length - 1]![0];
    },
  };
}

/** Osteoporotic fractures cluster at the thoracolumbar junction and mid-thoracic spine. */
const LEVEL_WEIGHTS: ReadonlyArray<readonly [SpineLevel, number]> = [
  ['T4', 1], ['T5', 1], ['T6', 2], ['T7', 3], ['T8', 3], ['T9', 2], ['T10', 2], ['T11', 4], ['T12', 8],
  ['L1', 8], ['L2', 4], ['L3', 3], ['L4', 2], ['L5', 1],
];
/** Every vertebra the detector reports on (T1–L5). */
const ALL_LEVELS = SPINE_LEVELS.filter((l) => l !== 'S1');
const adjacent = (l: SpineLevel, d: -1 | 1): SpineLevel | null => SPINE_LEVELS[SPINE_LEVELS.indexOf(l) + d] ?? null;
const frLevel = (l: string) => l.replace(/^T/, 'D');

type JoinKind = 'accession-number' | 'study-instance-uid' | 'patient-and-date';

interface BenchCase {
  uid: string;
  /** The study's accession (null when the study is joined otherwise). */
  studyAccession: string | null;
  patientId: string;
  studyDate: string;
  fractures: DetectedFracture[];
  join: JoinKind;
  report: RadiologyReport;
}

const pad = (n: number) => String(n).padStart(2, '0');

function makeCases(n: number, seed: number): BenchCase[] {
  const r = rng(seed);
  const out: BenchCase[] = [];
  for (let i = 0; i < n; i++) {
    const uid = `1.2.826.0.1.3680043.10.4242.${seed}.${i + 1}`;
    const count = r.weighted([[1, 50], [2, 35], [3, 15]] as const);
    const levels = new Set<SpineLevel>();
    while (levels.size < count) levels.add(r.weighted(LEVEL_WEIGHTS));
    const fractures: DetectedFracture[] = [...levels]
      .sort((a, b) => SPINE_LEVELS.indexOf(a) - SPINE_LEVELS.indexOf(b))
      .map((level) => {
        const grade = r.weighted([[1, 40], [2, 40], [3, 20]] as const);
        const flags: VertebraFlag[] = [];
        if (r.next() < 0.15) flags.push('levelUncertain');
        if (r.next() < 0.06) flags.push('lytic');
        const loss = grade === 1 ? r.int(20, 25) : grade === 2 ? r.int(26, 40) : r.int(41, 60);
        const posterior = 22 + r.int(0, 60) / 10;
        const z = -120 - SPINE_LEVELS.indexOf(level) * 28;
        return {
          level, grade,
          morphology: grade === 3 ? r.pick(['crush', 'biconcave'] as const) : r.pick(['wedge', 'wedge', 'biconcave'] as const),
          heightLossPercent: loss,
          heightsMm: { anterior: round(posterior * (1 - loss / 100), 1)!, middle: round(posterior * (1 - loss / 200), 1)!, posterior: round(posterior, 1)! },
          centerMm: [round(r.next() * 4 - 2, 1)!, round(28 + r.next() * 10, 1)!, z],
          confidence: round(0.6 + r.next() * 0.39, 3)!,
          flags,
        };
      });

    const join: JoinKind = i % 20 === 3 ? 'study-instance-uid' : i % 20 === 7 ? 'patient-and-date' : 'accession-number';
    const accession = `BA${100000 + i}`;
    const patientId = `MRN-B${200000 + i}`;
    const day = new Date(Date.UTC(2026, 0, 1) + (i % 300) * 86_400_000);
    const hour = r.int(7, 18);
    const studyDate = `${day.toISOString().slice(0, 10)}T${pad(hour)}:${pad(r.int(0, 59))}:00`;
    const reportDate = `${day.toISOString().slice(0, 10)}T${pad(Math.min(23, hour + r.int(1, 5)))}:${pad(r.int(0, 59))}:00`;

    // About half the fractures are mentioned; an uncertain level is sometimes reported one level away.
    const french = r.next() < 0.1;
    const lines: string[] = [];
    for (const f of fractures) {
      if (r.next() >= 0.5) continue;
      let level: SpineLevel = f.level;
      if (f.flags.includes('levelUncertain') && r.next() < 0.5) level = adjacent(f.level, r.next() < 0.5 ? -1 : 1) ?? f.level;
      const sev = ['mild', 'moderate', 'severe'][f.grade - 1] as string;
      lines.push(
        french
          ? r.pick([`Tassement cunéiforme de ${frLevel(level)}.`, `Fracture-tassement de ${frLevel(level)}.`, `Tassement biconcave de ${frLevel(level)}.`])
          : r.pick([
              `${sev[0]!.toUpperCase()}${sev.slice(1)} wedge compression fracture of ${level} with approximately ${f.heightLossPercent}% anterior height loss.`,
              `Compression deformity of the ${level} vertebral body.`,
              `Known ${level} compression fracture, unchanged.`,
              `${sev[0]!.toUpperCase()}${sev.slice(1)} compression fracture of ${level}.`,
            ]),
      );
    }
    const filler = french
      ? ['Poumons clairs.', 'Foie, rate et reins sans particularité.', 'Discopathie dégénérative lombaire.']
      : ['Lungs are clear.', 'Liver, spleen and kidneys are unremarkable.', 'Multilevel degenerative disc disease.', 'Atherosclerotic calcification of the aorta.'];
    const findings = [...filler.slice(0, r.int(1, filler.length)), ...lines];
    const text = french
      ? `RESULTATS : ${findings.join(' ')}\nCONCLUSION : ${lines.length ? lines.join(' ') : 'Pas d\'anomalie aiguë.'}`
      : `FINDINGS: ${findings.join(' ')}\nIMPRESSION: ${lines.length ? lines.join(' ') : 'No acute abnormality.'}`;

    const reportAccession = join === 'accession-number' ? accession : `BR${100000 + i}`;
    const report: RadiologyReport = {
      sender: { application: 'RIS', facility: AUTHORITY },
      messageControlId: `BENCH-${i}`,
      version: '2.5.1',
      patient: { identifiers: [{ value: patientId, assigningAuthority: AUTHORITY, typeCode: 'MR' }] },
      placerOrderNumber: reportAccession,
      fillerOrderNumber: reportAccession,
      procedure: { code: 'CTCAP', text: 'CT chest abdomen pelvis', codingSystem: 'L' },
      observationDateTime: reportDate,
      resultStatus: 'F',
      studyInstanceUid: join === 'study-instance-uid' ? uid : null,
      accessionNumber: reportAccession,
      text,
    };
    out.push({ uid, studyAccession: join === 'accession-number' ? accession : null, patientId, studyDate, fractures, join, report });
  }
  return out;
}

/** Findings JSON shaped like the study worker's (every vertebra, volume facts), so reads cost what they do. */
function findingsOf(c: BenchCase): StoredStudy['findings'] {
  const byLevel = new Map(c.fractures.map((f) => [f.level, f]));
  const vertebrae = ALL_LEVELS.map((level, k) => byLevel.get(level) ?? {
    level, grade: 0, morphology: null, heightLossPercent: 3, heightsMm: { anterior: 24.1, middle: 23.8, posterior: 24.6 }, centerMm: [0.3, 31.2, -120 - k * 28], confidence: 0.97, flags: [],
  });
  return {
    studyInstanceUid: c.uid,
    seriesInstanceUid: `${c.uid}.2`,
    model: MODEL,
    vertebrae,
    fractures: c.fractures,
    notes: [],
    series: { chosen: { seriesInstanceUid: `${c.uid}.2`, seriesNumber: 2, description: 'AXIAL 1.25 SOFT TISSUE', instances: 400 }, reasons: ['thinnest axial soft-tissue series'], rejected: [] },
    volume: { dims: [512, 512, 400], spacingMm: [0.75, 0.75, 1.25], originMm: [-192, -192, -500], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], orientation: 'LPS', patientPosition: 'HFS', huRange: [-1024, 3071], assembly: {} },
    input: { files: 400, dicomInstances: 400, skipped: [] },
    timingsMs: { load: 900, inference: 1400, total: 2300 },
  } as unknown as StoredStudy['findings'];
}

/**
 * A key image like the detector's: 320 × 1056 RGBA, a scale-2 render of a sagittal slab (each pixel
 * repeated 2 × 2), air black, CT-like noise. ~170 kB, as the phantom's real key image (167.6 kB, analyze-study --png).
 */
function keyImagePng(): Buffer {
  const W = 320, H = 1056;
  const w = W / 2, h = H / 2;
  const r = rng(7);
  const half = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x <= w * 0.12 || x >= w * 0.9) continue;
      const base = Math.abs(x - w * 0.6) < w * 0.16 && y % 28 > 4 ? 170 : 95 + 20 * Math.sin(y / 20) * Math.cos(x / 12);
      half[y * w + x] = Math.max(0, Math.min(255, Math.round(base + (r.next() - 0.5) * 12)));
    }
  }
  const png = new PNG({ width: W, height: H });
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const g = half[(y >> 1) * w + (x >> 1)] as number;
      const o = (y * W + x) * 4;
      png.data[o] = g;
      png.data[o + 1] = g;
      png.data[o + 2] = g;
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

// ----------------------------------------------------------------------------------------------- redis

async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}
function commandDiff(before: Map<string, number>, after: Map<string, number>, per: number) {
  const rows = [...after.entries()].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((a, [, v]) => a + v, 0);
  return { total, perStudy: round(total / per, 1), top: Object.fromEntries(rows.slice(0, 12).map(([k, v]) => [k, round(v / per, 2)])) };
}
async function redisCpuS(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return v('used_cpu_user') + v('used_cpu_sys');
}

/** Every FHIR resource of the embedded store, by type: count, distinct identifiers, versions, duplicates. */
async function fhirCensus(redis: Redis, prefix: string) {
  const types: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:fhir:*:resources`, 'COUNT', 1000);
    for (const k of keys) types.push(k.slice(`${prefix}:fhir:`.length, -':resources'.length));
    cursor = next;
  } while (cursor !== '0');
  const byType: Record<string, number> = {};
  const versionsByType: Record<string, number> = {};
  let duplicates = 0;
  let total = 0;
  let versions = 0;
  const ids = new Map<string, string[]>();
  for (const type of types.sort()) {
    const keys = fhirKeys(prefix, type);
    const all = (await redis.hgetall(keys.resources)) as Record<string, string>;
    const perIdentifier = new Map<string, number>();
    for (const json of Object.values(all)) {
      const res = JSON.parse(json) as Resource & { identifier?: Array<{ system?: string; value?: string }> };
      const first = res.identifier?.[0];
      const key = `${first?.system ?? ''}|${first?.value ?? ''}`;
      perIdentifier.set(key, (perIdentifier.get(key) ?? 0) + 1);
    }
    for (const c of perIdentifier.values()) duplicates += c - 1;
    byType[type] = Object.keys(all).length;
    total += Object.keys(all).length;
    const p = redis.pipeline();
    for (const id of Object.keys(all)) p.llen(keys.history(id));
    const lens = ((await p.exec()) ?? []).map(([, v]) => Number(v));
    versionsByType[type] = lens.reduce((a, b) => a + b, 0);
    versions += versionsByType[type]!;
    ids.set(type, Object.keys(all));
  }
  return { byType, total, duplicates, versionsByType, versions, ids };
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<number> {
  const prefix = testPrefix('bench-correlate');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const connections: Redis[] = [];
  const dup = () => {
    const c = redis.duplicate();
    connections.push(c);
    return c;
  };
  let worker: Worker<CorrelateJobData> | undefined;
  let events: QueueEvents | undefined;
  let queue: Queue<CorrelateJobData> | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await worker?.close(true).catch(() => undefined);
    await events?.close().catch(() => undefined);
    await queue?.close().catch(() => undefined);
    await deletePrefix(prefix).catch((e: Error) => process.stderr.write(`bench:correlate: cleanup of ${prefix} failed: ${e.message}\n`));
    for (const c of connections) c.disconnect();
    redis.disconnect();
  };

  let phase = 'setup';
  const timer = setTimeout(() => {
    process.stderr.write(`bench:correlate: TIMEOUT after ${TIMEOUT_MS / 1000} s (--timeout-s); phase: ${phase}; cleaning up ${prefix}\n`);
    const hardExit = setTimeout(() => process.exit(2), 20_000);
    hardExit.unref();
    void cleanup().finally(() => process.exit(2));
  }, TIMEOUT_MS);
  timer.unref();

  try {
    const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    const redisMemory0 = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
    queue = new Queue<CorrelateJobData>(CORRELATE_QUEUE, { connection: redis, prefix });
    events = new QueueEvents(CORRELATE_QUEUE, { connection: dup(), prefix });
    const studies = new StudyStore(redis, prefix, 7 * 24 * 3600);
    const reports = new ReportStore(redis, prefix);
    const links = new LinkStore(redis, prefix, 7 * 24 * 3600);
    const outputs = new OutputStore(redis, prefix, 7 * 24 * 3600);
    const fhir = new EmbeddedFhirWriter({ redis, prefix });
    const correlator = new Correlator(
      { redis, prefix, studies, reports, links, outputs, fhir, logger },
      { patientIdSystems: SYSTEMS, taskOwner: { reference: 'Organization/bone-health' }, dateWindowMs: DATE_WINDOW_MS, reportWaitMs: REPORT_WAIT_MS },
    );
    await events.waitUntilReady();

    // ---- 1. seed
    phase = 'seed';
    const tSeed = performance.now();
    const cases = makeCases(N, SEED);
    const png = KEY_IMAGE ? keyImagePng() : null;
    const CHUNK = 100;
    for (let i = 0; i < cases.length; i += CHUNK) {
      await Promise.all(
        cases.slice(i, i + CHUNK).map(async (c, k) => {
          await studies.markQueued(c.uid, { source: 'default', jobId: `study-${c.uid}`, maxAttempts: 3, accessionNumber: c.studyAccession, patientId: c.patientId, traceId: `bench-${i + k}` });
          await Promise.all([
            studies.update(c.uid, { status: 'awaiting-report', studyDate: c.studyDate, issuerOfPatientId: AUTHORITY, settledFingerprint: 'bench', findings: findingsOf(c), timingsMs: { retrieve: 3100, analyse: 2300, total: 5400 } }),
            png ? studies.setKeyImage(c.uid, png) : undefined,
            links.addStudy(c.uid, { accessionNumber: c.studyAccession, patientId: c.patientId, studyTimeMs: Date.parse(`${c.studyDate}Z`) }),
          ]);
          await enqueueCorrelate(queue!, { trigger: 'study', studyInstanceUid: c.uid, analysisId: `bench-${i + k}-1`, traceId: `bench-${i + k}` });
        }),
      );
    }
    const seedMs = performance.now() - tSeed;

    // What the reports should leave unreported (the same decision rule the worker applies).
    let fracturesTotal = 0;
    let unreported = 0;
    const reasons: Record<string, number> = {};
    const expectedByType: Record<string, number> = { Device: 0, Media: 0, Observation: 0, DetectedIssue: 0, ServiceRequest: 0, Task: 0 };
    for (const c of cases) {
      const analysis = analyzeReport(c.report.text);
      let any = false;
      for (const f of c.fractures) {
        const d = decideFracture(f, analysis, false);
        fracturesTotal++;
        reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
        if (d.reported) continue;
        unreported++;
        any = true;
        expectedByType.Observation!++;
        expectedByType.DetectedIssue!++;
        expectedByType.ServiceRequest! += referralKinds(f).length;
        expectedByType.Task! += referralKinds(f).length;
      }
      if (any && png) expectedByType.Media!++;
      if (any) expectedByType.Device = 1;
    }
    const expectedTotal = Object.values(expectedByType).reduce((a, b) => a + b, 0);

    // ---- 2. the correlate worker, instrumented
    phase = 'first-arrival (study triggers)';
    instrument(fhir.repository, 'upsert', (args, result) => `fhir.upsert ${(args[0] as Resource).resourceType} ${(result as { outcome?: string } | undefined)?.outcome ?? 'error'}`);
    instrument(correlator, 'findStudies', 'correlator.findStudies');
    instrument(correlator, 'findReport', 'correlator.findReport');
    instrument(correlator, 'evaluate', 'correlator.evaluate (lock + reads + apply + status)');
    instrument(correlator, 'apply', 'correlator.apply (decide + FHIR writes + outputs)');
    instrument(studies, 'get', 'studies.get');
    instrument(studies, 'getKeyImage', 'studies.getKeyImage');
    instrument(studies, 'update', 'studies.update');
    instrument(reports, 'get', 'reports.get');
    instrument(outputs, 'all', 'outputs.all');
    instrument(outputs, 'put', 'outputs.put');

    const finished = new Map<string, { finishedOn: number; processedOn: number; attempts: number; perfDone: number; result: CorrelateJobResult }>();
    const waiters = new Set<() => void>();
    let attemptFailures = 0;
    const failureSamples: string[] = [];
    const finalFailures: string[] = [];
    const processing: number[] = [];
    worker = new Worker<CorrelateJobData>(
      CORRELATE_QUEUE,
      async (job) => {
        const t0 = performance.now();
        try {
          return await processCorrelateJob(job, { correlator, studies, queue: queue!, reportWaitMs: REPORT_WAIT_MS, logger });
        } finally {
          record(`processCorrelateJob ${job.data.trigger}`, performance.now() - t0);
        }
      },
      { connection: dup(), prefix, concurrency: CONCURRENCY },
    );
    worker.on('completed', (job: Job<CorrelateJobData>, result: CorrelateJobResult) => {
      finished.set(job.id!, { finishedOn: job.finishedOn ?? Date.now(), processedOn: job.processedOn ?? 0, attempts: job.attemptsMade, perfDone: performance.now(), result });
      for (const w of waiters) w();
    });
    worker.on('failed', (job, err) => {
      attemptFailures++;
      if (failureSamples.length < 5) failureSamples.push(`${job?.id}: ${err.message}`);
      // Retries go back to delayed; only a job that ended failed stops the bench.
      void job?.getState().then((state) => {
        if (state === 'failed') finalFailures.push(`${job.id}: ${err.message}`);
        for (const w of waiters) w();
      });
    });
    worker.on('error', (err) => process.stderr.write(`bench:correlate: worker error: ${err.message}\n`));
    const queueEventsCompleted = new Set<string>();
    events.on('completed', ({ jobId }) => void queueEventsCompleted.add(jobId));

    const waitAll = (jobIds: string[]) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (finalFailures.length > 0) {
            waiters.delete(check);
            reject(new Error(`correlate jobs failed for good: ${finalFailures.slice(0, 3).join('; ')}`));
          } else if (jobIds.every((id) => finished.has(id))) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });

    const studyJobIds = cases.map((c, i) => correlateJobId({ trigger: 'study', studyInstanceUid: c.uid, analysisId: `bench-${i}-1`, traceId: '' }));
    const tFirst = performance.now();
    await worker.waitUntilReady();
    await waitAll(studyJobIds);
    const firstArrivalMs = performance.now() - tFirst;
    const awaitingReport = (await Promise.all(cases.map((c) => studies.get(c.uid)))).filter((s) => s?.status === 'awaiting-report' && s.correlation?.outcome === 'awaiting-report').length;
    for (const k of [...calls.keys()]) calls.delete(k); // the measured phase starts clean

    // ---- 3. the second arrival: one report per study through the report worker's path
    phase = 'second arrival (reports)';
    const reportJobIds = cases.map((c) => correlateJobId({ trigger: 'report', accessionKey: reportAccessionKey(c.report), version: 1, traceId: '' }));
    const arrivals: Array<{ perf: number; epoch: number; scheduled: number }> = new Array(cases.length);
    const reportDeps = { redis, prefix, store: reports, links, correlateQueue: queue, logger };
    const sendReport = async (report: RadiologyReport, messageId: string, receivedAt: number) => {
      await redis.set(`${prefix}:hl7:msg:${messageId}`, JSON.stringify([report]), 'EX', 3600);
      const job = { id: reportJobId(messageId), data: { messageId, receivedAt, traceId: `bench-${messageId}` } } as Job<ReportJobData>;
      const t0 = performance.now();
      const r = await processReportJob(job, reportDeps);
      record('processReportJob', performance.now() - t0);
      return r;
    };
    /** Sends every case's report over `lanes` concurrent senders, at RATE/s when set; returns arrival times. */
    const sendAll = async (messageIdOf: (i: number) => string, out: typeof arrivals, reportOf: (c: BenchCase) => RadiologyReport = (c) => c.report) => {
      let next = 0;
      const start = performance.now() + 20;
      await Promise.all(
        Array.from({ length: REPORT_CONCURRENCY }, async () => {
          for (let i = next++; i < cases.length; i = next++) {
            const due = RATE > 0 ? start + (i * 1000) / RATE : performance.now();
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            await sendReport(reportOf(cases[i]!), messageIdOf(i), Date.now());
            out[i] = { perf: performance.now(), epoch: Date.now(), scheduled: due };
          }
        }),
      );
    };

    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const redisCpu0 = await redisCpuS(redis);
    const stats0 = await commandStats(redis);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const profiler = values.profile ? new Session() : null;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
      await profiler.post('Profiler.start');
    }
    const tReports = performance.now();
    await sendAll((i) => `bench-${SEED}-${i}`, arrivals);
    const sendMs = performance.now() - tReports;
    await waitAll(reportJobIds);
    const tDone = Math.max(...reportJobIds.map((id) => finished.get(id)!.perfDone));
    loop.disable();
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(values.profile!, JSON.stringify(profile));
      profiler.disconnect();
    }
    const wallS = (tDone - tReports) / 1000;
    const cpu1 = process.cpuUsage(cpu0);
    const redisCpu1 = await redisCpuS(redis);
    const elu = performance.eventLoopUtilization(elu0);
    const stats1 = await commandStats(redis);
    const measuredCalls = callSummary();

    const perStudy = reportJobIds.map((id, i) => {
      const f = finished.get(id)!;
      const a = arrivals[i]!;
      return {
        // finishedOn: BullMQ's completion time (ms, the worker's clock = this process).
        toDone: f.finishedOn - a.epoch,
        // The same, on the monotonic clock, taken in the Worker's 'completed' handler.
        toDonePerf: f.perfDone - a.perf,
        fromScheduled: f.perfDone - a.scheduled,
        queueWait: f.processedOn - a.epoch,
        processing: f.finishedOn - f.processedOn,
        attempts: f.attempts,
      };
    });

    // Read every study back: done, evaluated, and the decisions the rule predicts.
    const states = await Promise.all(cases.map((c) => studies.get(c.uid)));
    const statusCounts: Record<string, number> = {};
    const joinedBy: Record<string, number> = {};
    let writtenFindings = 0;
    let mismatchedJoins = 0;
    states.forEach((s, i) => {
      statusCounts[`${s?.status}/${s?.correlation?.outcome}`] = (statusCounts[`${s?.status}/${s?.correlation?.outcome}`] ?? 0) + 1;
      const jb = s?.correlation?.joinedBy ?? 'none';
      joinedBy[jb] = (joinedBy[jb] ?? 0) + 1;
      if (jb !== cases[i]!.join) mismatchedJoins++;
      writtenFindings += s?.correlation?.fractures.filter((f) => f.outputs).length ?? 0;
    });
    const census = await fhirCensus(redis, prefix);

    const redisMemoryMB = round((Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) - redisMemory0) / 1024 / 1024, 0);

    // The HTTP read side (/fhir/R4 search): the embedded store reads and matches every resource of the type.
    const searchProbe = async (type: 'Observation' | 'Media') => {
      const id = census.ids.get(type)?.[0];
      if (!id) return null;
      const one = JSON.parse((await redis.hget(fhirKeys(prefix, type).resources, id))!) as { identifier: Array<{ system: string; value: string }> };
      const timed = async (work: () => Promise<unknown>) => {
        const ms: number[] = [];
        for (let k = 0; k < 3; k++) {
          const t0 = performance.now();
          await work();
          ms.push(performance.now() - t0);
        }
        return round(ms.sort((a, b) => a - b)[1]!, 1);
      };
      return {
        resourcesOfType: census.byType[type],
        byIdentifierMedianMs: await timed(() => fhir.search(type, { identifier: `${one.identifier[0]!.system}|${one.identifier[0]!.value}` })),
        noFilterCount1MedianMs: await timed(() => fhir.search(type, { _count: '1' })),
        // What every search pays before matching: HVALS of the type and JSON.parse of each resource.
        hvalsAndParseMedianMs: await timed(async () => (await redis.hvals(fhirKeys(prefix, type).resources)).map((j) => JSON.parse(j) as unknown)),
        hvalsMB: round((await redis.hvals(fhirKeys(prefix, type).resources)).reduce((a, j) => a + j.length, 0) / 1024 / 1024, 1),
      };
    };
    const embeddedSearch = { Observation: await searchProbe('Observation'), Media: await searchProbe('Media') };

    // ---- 4. replays
    let replay: Record<string, unknown> | null = null;
    if (REPLAY) {
      // (a) the same messages redelivered (a report job retried after its ack was lost): store says
      // 'same', the correlate job id exists already, so nothing runs.
      phase = 'replay (redelivery)';
      const jobsBefore = await queue.getJobCounts('completed', 'waiting', 'active', 'delayed', 'failed');
      const tA = performance.now();
      const redelivered = new Array<(typeof arrivals)[number]>(cases.length);
      await sendAll((i) => `bench-${SEED}-${i}`, redelivered);
      await new Promise((r) => setTimeout(r, 300)); // a job a redelivery wrongly added would start by now
      const jobsAfterA = await queue.getJobCounts('completed', 'waiting', 'active', 'delayed', 'failed');
      const censusA = await fhirCensus(redis, prefix);
      const redeliveryMs = performance.now() - tA;

      // (b) every report re-sent as a new HL7 message, same content: version 2, every study re-evaluated;
      // every upsert must find its resource unchanged.
      phase = 'replay (re-sent as new messages)';
      for (const k of [...calls.keys()]) calls.delete(k);
      const resent = new Array<(typeof arrivals)[number]>(cases.length);
      const resentJobIds = cases.map((c) => correlateJobId({ trigger: 'report', accessionKey: reportAccessionKey(c.report), version: 2, traceId: '' }));
      const tB = performance.now();
      // A new MSH-10 (so a new message id), the same report.
      await sendAll((i) => `bench-${SEED}-${i}-resent`, resent, (c) => ({ ...c.report, messageControlId: `${c.report.messageControlId}-R` }));
      await waitAll(resentJobIds);
      const tBDone = Math.max(...resentJobIds.map((id) => finished.get(id)!.perfDone));
      const censusB = await fhirCensus(redis, prefix);
      const upserts = [...calls.entries()].filter(([k]) => k.startsWith('fhir.upsert'));
      replay = {
        redelivery: {
          reports: cases.length,
          newCorrelateJobs: jobsAfterA.completed! + jobsAfterA.waiting! + jobsAfterA.active! + jobsAfterA.failed! - (jobsBefore.completed! + jobsBefore.waiting! + jobsBefore.active! + jobsBefore.failed!),
          resourcesAfterReplay: censusA.total,
          newResources: censusA.total - census.total,
          newVersions: censusA.versions - census.versions,
          replayDuplicates: censusA.duplicates,
          wallMs: round(redeliveryMs, 0),
        },
        resentAsNewMessages: {
          correlateJobs: resentJobIds.length,
          jobsPerSecond: round(resentJobIds.length / ((tBDone - tB) / 1000), 1),
          secondArrivalToDoneMs: dist(resentJobIds.map((id, i) => finished.get(id)!.perfDone - resent[i]!.perf)),
          upsertOutcomes: Object.fromEntries(upserts.map(([k, v]) => [k.replace('fhir.upsert ', ''), v.length])),
          resourcesAfterReplay: censusB.total,
          newResources: censusB.total - census.total,
          newVersions: censusB.versions - census.versions,
          replayDuplicates: censusB.duplicates,
          callTimingsMs: callSummary((k) => k.startsWith('fhir.upsert') || k.startsWith('correlator.apply') || k.startsWith('processCorrelateJob')),
        },
        resourcesAfterReplay: censusB.total,
        replayDuplicates: censusB.duplicates,
        newVersionsOverBothReplays: censusB.versions - census.versions,
      };
    }

    phase = 'cleanup';
    const attemptsOver1 = perStudy.filter((p) => p.attempts > 1).length;
    const result = {
      studies: N,
      concurrency: CONCURRENCY,
      reportConcurrency: REPORT_CONCURRENCY,
      rate: RATE > 0 ? RATE : 'burst (as fast as the report path allows)',
      correlateJobs: reportJobIds.length,
      jobsPerSecond: round(reportJobIds.length / wallS, 1),
      wallMsFirstReportToLastDone: round(wallS * 1000, 0),
      reportSendMs: round(sendMs, 0),
      secondArrivalToDoneMs: dist(perStudy.map((p) => p.toDone)),
      secondArrivalToDoneMsMonotonic: dist(perStudy.map((p) => p.toDonePerf)),
      ...(RATE > 0 ? { scheduledArrivalToDoneMs: dist(perStudy.map((p) => p.fromScheduled)) } : {}),
      split: {
        queueWaitMs: dist(perStudy.map((p) => p.queueWait)),
        processingMs: dist(perStudy.map((p) => p.processing)),
        jobsRetried: attemptsOver1,
        attemptFailures,
        failureSamples,
      },
      fractures: { total: fracturesTotal, unreportedExpected: unreported, unreportedWritten: writtenFindings, byReason: reasons },
      studiesAfter: { statusOutcome: statusCounts, joinedBy, joinNotAsSeeded: mismatchedJoins },
      fhirResourcesWritten: census.byType,
      fhirResourcesExpected: expectedByType,
      fhirResourcesTotal: census.total,
      fhirResourcesMatchExpected: census.total === expectedTotal && Object.entries(expectedByType).every(([t, n]) => (census.byType[t] ?? 0) === n),
      fhirVersions: census.versions,
      duplicates: census.duplicates,
      ...(replay ? { resourcesAfterReplay: replay.resourcesAfterReplay, replayDuplicates: replay.replayDuplicates, replay } : {}),
      firstArrival: { studyTriggerJobs: studyJobIds.length, wallMs: round(firstArrivalMs, 0), jobsPerSecond: round(studyJobIds.length / (firstArrivalMs / 1000), 1), studiesAwaitingReportAfter: awaitingReport },
      seed: { ms: round(seedMs, 0), keyImageBytes: png?.length ?? 0 },
      measuredPhase: {
        nodeCpuPercentOfOneCore: round(((cpu1.user + cpu1.system) / 1000 / (wallS * 1000)) * 100, 0),
        eventLoopUtilization: round(elu.utilization, 2),
        eventLoopDelayMs: { p50: round(loop.percentile(50) / 1e6), p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) },
        redisCpuPercentOfOneCore: round(((redisCpu1 - redisCpu0) / wallS) * 100, 0),
        // Server-wide INFO commandstats diff (any other client of this Redis counts too).
        redisCommands: commandDiff(stats0, stats1, N),
        queueEventsCompletedSeen: reportJobIds.filter((id) => queueEventsCompleted.has(id)).length,
      },
      callTimingsMs: measuredCalls,
      embeddedSearch,
      redisMemoryMB: { afterFirstEvaluation: redisMemoryMB, note: 'used_memory growth since start (seeded studies, key images, reports, queue, FHIR store)' },
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '?',
      redis: redisVersion,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const ok = result.duplicates === 0 && result.fhirResourcesMatchExpected && (!replay || (replay.replayDuplicates === 0 && replay.resourcesAfterReplay === census.total && replay.newVersionsOverBothReplays === 0));
    if (!ok) process.stderr.write('bench:correlate: idempotence or expected-resource check FAILED (see duplicates / fhirResourcesMatchExpected / replay)\n');
    return ok ? 0 : 1;
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:correlate failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
