/**
 * bench:scale — does analysis scale out with worker processes, and does every study run exactly once?
 *
 * For each worker count (`--workers 1,2,4`): a redis-server of its own (fresh, so every run starts empty),
 * one `serve --role api` and that many `serve --role worker` processes from dist, the same `--studies`
 * phantom studies in one local Orthanc (re-identified copies of one phantom, see bench/fleet.ts) and
 * their ORU^R01 reports (POST /hl7, sent first: half mention L1, half no fracture, so correlation writes
 * outputs for those). Then every study is notified at once and each is followed to `done` (analysed and
 * correlated). Printed per worker count: throughput (studies per minute, first notification to last
 * `done`), notification-to-done p50/p99, studies each worker analysed, and the proof: analyses logged
 * (`study.analysed`, by study) = studies, none twice, studies `done` = studies, no failed job.
 *
 * On this 2-core machine more workers cannot add CPU: the table shows what the queue does with them
 * (even sharing, no job twice), not the speed-up a cluster of nodes would give.
 *
 * usage: npm run bench:scale [-- --studies 24 --workers 1,2,4 --size 96 --slice-spacing 5 --seed 1 --keep-logs]
 * Prints one JSON object on stdout; exit 1 when a proof fails.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type OrthancInstance, freePort, startOrthanc, stowRs } from '../src/dev/orthanc';
import { LocalRedisServer } from '../src/dev/redis-server';
import type { StudyState } from '../src/store/studies';
import { makeOru } from '../test/helpers/hl7';
import { type FleetStudy, metric, reidentifiedStudies, scrape, startFleet } from './fleet';
import { quantile, round, stopProcess } from './harness';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '24' },
    workers: { type: 'string', default: '1,2,4' },
    size: { type: 'string', default: '96' },
    'slice-spacing': { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    'timeout-s': { type: 'string', default: '1800' },
    'keep-logs': { type: 'boolean', default: false },
  },
});
const S = Number(values.studies);
const WORKER_COUNTS = String(values.workers).split(',').map(Number);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const TOKEN = randomBytes(16).toString('hex');
const AUTH = { authorization: `Bearer ${TOKEN}` };
const PREFIX = 'scale';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const REPORT_TEXT = {
  l1: ['FINDINGS: Mild wedge compression fracture of L1 with 20% anterior height loss.', 'IMPRESSION: L1 fracture.'],
  none: ['FINDINGS: Vertebral body heights are maintained. No acute osseous abnormality.', 'IMPRESSION: No acute abnormality.'],
};

async function postReport(base: string, s: FleetStudy, k: number): Promise<void> {
  const body = makeOru({ controlId: `SCALE${String(k).padStart(6, '0')}`, accession: s.accessionNumber, patientId: s.patientId, text: k % 2 === 0 ? REPORT_TEXT.none : REPORT_TEXT.l1 });
  const res = await fetch(`${base}/hl7`, { method: 'POST', headers: { ...AUTH, 'content-type': 'x-application/hl7-v2+er7' }, body });
  const ack = await res.text();
  if (res.status !== 200) throw new Error(`POST /hl7 answered ${res.status}: ${ack.slice(0, 200)}`);
}

async function notify(base: string, s: FleetStudy): Promise<void> {
  const res = await fetch(`${base}/notifications/studies`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ studyInstanceUid: s.uid, accessionNumber: s.accessionNumber, patientId: s.patientId }),
  });
  await res.text();
  if (res.status !== 202) throw new Error(`notification answered ${res.status}`);
}

/** `study.analysed` log lines per study (their `study` tag): one per analysis that ran to the end. */
function analysesByStudy(logs: string[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const file of logs) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('"event":"study.analysed"')) continue;
      const tag = (JSON.parse(line) as { study?: string }).study ?? '?';
      count.set(tag, (count.get(tag) ?? 0) + 1);
    }
  }
  return count;
}

async function runWith(workerCount: number, studies: FleetStudy[], orthanc: OrthancInstance, logsRoot: string) {
  const redis = new LocalRedisServer(await freePort());
  await redis.start();
  const logsDir = path.join(logsRoot, `workers-${workerCount}`);
  fs.mkdirSync(logsDir, { recursive: true });
  const fleet = await startFleet({ redisUrl: redis.url, prefix: PREFIX, apiToken: TOKEN, orthanc, logsDir, workers: workerCount });
  const base = `http://127.0.0.1:${fleet.api.httpPort}`;
  try {
    for (const [k, s] of studies.entries()) await postReport(base, s, k);

    const notifiedAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    const failed = new Set<string>();
    const t0 = performance.now();
    await Promise.all(studies.map(async (s) => {
      await notify(base, s);
      notifiedAt.set(s.uid, performance.now());
    }));
    const deadline = Date.now() + TIMEOUT_MS;
    while (doneAt.size + failed.size < studies.length && Date.now() < deadline) {
      for (const s of studies) {
        if (doneAt.has(s.uid) || failed.has(s.uid)) continue;
        const state = (await (await fetch(`${base}/studies/${s.uid}`, { headers: AUTH })).json()) as StudyState;
        if (state.status === 'done') doneAt.set(s.uid, performance.now());
        else if (state.status === 'failed') failed.add(s.uid);
      }
      await sleep(250);
    }
    const elapsedS = (Math.max(...doneAt.values(), t0) - t0) / 1000;
    const latencies = [...doneAt.entries()].map(([uid, t]) => t - (notifiedAt.get(uid) as number)).sort((a, b) => a - b);

    const metrics = await Promise.all(fleet.workers.map((w) => scrape(w, TOKEN)));
    const studyJobs = (outcome: string) => metrics.map((m) => metric(m, 'vcf_jobs_processed_total', { queue: 'studies', outcome }));
    const analyses = analysesByStudy(fleet.workers.map((w) => w.log));
    const runTwice = [...analyses.values()].filter((n) => n > 1).length;
    const analysed = [...analyses.values()].reduce((a, b) => a + b, 0);
    const proof = {
      studiesDone: doneAt.size,
      studiesFailed: failed.size,
      analysesLogged: analysed,
      studiesAnalysedTwice: runTwice,
      studyJobsFailed: studyJobs('failed').reduce((a, b) => a + b, 0),
      noneLost: doneAt.size === studies.length,
      noneTwice: runTwice === 0 && analysed === studies.length,
    };
    return {
      workers: workerCount,
      studiesPerMinute: round((doneAt.size / elapsedS) * 60, 1),
      notificationToDoneMs: { p50: round(quantile(latencies, 0.5), 0), p99: round(quantile(latencies, 0.99), 0), max: round(latencies.at(-1) ?? null, 0) },
      elapsedS: round(elapsedS, 1),
      studiesAnalysedPerWorker: studyJobs('completed'),
      proof,
      pass: proof.noneLost && proof.noneTwice && proof.studyJobsFailed === 0,
    };
  } finally {
    for (const p of [fleet.api, ...fleet.workers]) await stopProcess(p.proc);
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const { studies, phantom } = reidentifiedStudies(S, { seed: Number(values.seed), size: Number(values.size), sliceSpacing: Number(values['slice-spacing']), patientIdPrefix: 'SCALEPAT' });
  const logsRoot = fs.mkdtempSync(path.join(tmpdir(), 'vcf-bench-scale-'));
  const orthanc = await startOrthanc({ gdcm: false });
  try {
    const tStow = performance.now();
    for (const s of studies) await stowRs(orthanc, s.files, 25);
    const stowS = round((performance.now() - tStow) / 1000, 1);
    const runs = [];
    for (const w of WORKER_COUNTS) {
      runs.push(await runWith(w, studies, orthanc, logsRoot));
      process.stderr.write(`bench:scale: ${w} worker(s) done\n`);
    }
    const out = {
      studies: S,
      phantom,
      stowSeconds: stowS,
      runs,
      pass: runs.every((r) => r.pass),
      env: { node: process.version, cpus: cpus().length, loadAverage1m: round(loadavg()[0] ?? 0, 1) },
      elapsedS: round((performance.now() - started) / 1000, 1),
      logs: values['keep-logs'] ? logsRoot : null,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    if (!out.pass) process.exitCode = 1;
  } finally {
    await orthanc.stop();
    if (!values['keep-logs']) fs.rmSync(logsRoot, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
