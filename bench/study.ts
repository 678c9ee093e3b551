/**
 * Notification → volume through a real Orthanc: a 512×512×400 phantom is stored with STOW-RS, the service
 * runs as a child process (`node bin/vcf-sentinel.js serve`, role all) with DICOMWEB_SOURCES pointing at
 * that Orthanc, and each run times POST /notifications/studies → GET /studies/{uid} = awaiting-report
 * (QIDO, metadata, WADO-RS retrieve of 400 instances, parse, assembly). The service's peak RSS is read from
 * /proc/<pid>/status (VmHWM). Then the DICOM parse throughput of bench/study-parse.ts. Prints one JSON object.
 *
 *   npm run bench:study                          # 512×512×400, 3 runs, then bench:study-parse numbers
 *   npx tsx bench/study.ts --slices 100 --runs 1 --no-parse   # quick
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { phantomBuffers } from '../src/imaging/phantom/generate';
import { QUEUES } from '../src/queue/names';
import { studyJobId } from '../src/queue/studies';
import type { StudyState } from '../src/store/studies';
import { startOrthanc, stowRs, type OrthancInstance } from '../test/helpers/orthanc';
import { REDIS_URL, deletePrefix, freePort, testPrefix } from '../test/helpers/service';
import { benchStudyParse } from './study-parse';
import { procStatus, waitHttp } from './harness';

const MB = 1024 * 1024;

interface RunResult {
  notificationToVolumeMs: number;
  /** The worker's own split (GET /studies timingsMs): QIDO + metadata + WADO-RS retrieve, then parse + assembly. */
  workerTimingsMs: StudyState['timingsMs'];
  rssAfterMB: number;
  /** VmHWM after this run: the peak so far (the first run's is the one-study peak). */
  peakRssSoFarMB: number;
}

async function oneRun(base: string, uid: string, pid: number): Promise<RunResult> {
  const t0 = performance.now();
  const res = await fetch(`${base}/notifications/studies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ studyInstanceUid: uid }) });
  if (res.status !== 202) throw new Error(`notification answered ${res.status}: ${await res.text()}`);
  for (;;) {
    const state = (await (await fetch(`${base}/studies/${uid}`)).json()) as StudyState;
    if (state.status === 'awaiting-report') {
      return {
        notificationToVolumeMs: Math.round(performance.now() - t0),
        workerTimingsMs: state.timingsMs,
        rssAfterMB: procStatus(pid).rssMB,
        peakRssSoFarMB: procStatus(pid).hwmMB,
      };
    }
    if (state.status === 'failed') throw new Error(`the study failed: ${JSON.stringify(state.errors)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      slices: { type: 'string', default: '400' },
      size: { type: 'string', default: '512' },
      runs: { type: 'string', default: '3' },
      'no-parse': { type: 'boolean', default: false },
    },
  });
  const size = Number(values.size);
  const slices = Number(values.slices);
  const runs = Number(values.runs);

  const tGen = performance.now();
  const phantom = phantomBuffers({ seed: 1, size, pixelSpacing: 384 / size, slices, sliceSpacing: 1.25, fractures: [{ level: 'L1', grade: 2, morphology: 'wedge' }] });
  const files = phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data);
  const bytes = files.reduce((n, b) => n + b.length, 0);
  const generateMs = Math.round(performance.now() - tGen);
  phantom.files.length = 0;

  const prefix = testPrefix('bench-study');
  let orthanc: OrthancInstance | undefined;
  let child: ChildProcess | undefined;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const studies = new Queue(QUEUES.studies, { connection: redis, prefix });
  try {
    orthanc = await startOrthanc({ gdcm: false });
    const tStow = performance.now();
    await stowRs(orthanc, files, 25);
    const stowMs = Math.round(performance.now() - tStow);
    files.length = 0;

    const port = await freePort();
    child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'vcf-sentinel.js'), 'serve'], {
      env: {
        ...process.env,
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        MLLP_HOST: '127.0.0.1',
        MLLP_PORT: '0',
        LOG_LEVEL: 'warn',
        DICOMWEB_SOURCES: JSON.stringify({ default: { url: orthanc.dicomWebUrl } }),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitHttp(`${base}/healthz`, child);
    const pid = child.pid as number;
    const idle = procStatus(pid);

    const uid = phantom.truth.studyInstanceUid;
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      // Forget the previous analysis so that the next notification analyses the same study again.
      await redis.del(`${prefix}:study:${uid}`, `${prefix}:study-errors:${uid}`);
      await studies.remove(studyJobId(uid));
      results.push(await oneRun(base, uid, pid));
    }
    const peak = procStatus(pid);
    const times = results.map((r) => r.notificationToVolumeMs).sort((a, b) => a - b);
    const study = {
      series: { rows: size, columns: size, slices, megabytes: Math.round((bytes / MB) * 10) / 10, generateMs, stowMs },
      notificationToVolumeMs: { runs: results.map((r) => r.notificationToVolumeMs), median: times[times.length >> 1], min: times[0] },
      perRun: results,
      worker: {
        role: 'all (HTTP + workers in one process)',
        idleRssMB: idle.rssMB,
        peakRssMB: peak.hwmMB,
        volumeMB: Math.round((size * size * slices * 2) / MB),
        retrievedMB: Math.round(bytes / MB),
      },
    };
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    await orthanc.stop();
    orthanc = undefined;

    const parse = values['no-parse'] ? null : await benchStudyParse({ size, slices });
    const out = { study, parse, env: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?' } };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await orthanc?.stop();
    await studies.close();
    await deletePrefix(prefix);
    redis.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`bench:study: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
