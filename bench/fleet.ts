/**
 * What bench:soak and bench:scale share: many distinct CT studies made cheaply from one phantom, and the
 * service run as separate processes (one api, N workers) from the compiled CLI, as a site deploys it.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type OrthancInstance, freePort } from '../src/dev/orthanc';
import { phantomBuffers } from '../src/imaging/phantom/generate';
import { CLI, startProcess } from './harness';

// ------------------------------------------------------------------------------------------- studies

export interface FleetStudy {
  uid: string;
  accessionNumber: string;
  patientId: string;
  files: Buffer[];
}

/** Where a template file holds an identifier to rewrite: byte offset and the original value. */
interface Spot {
  offset: number;
  value: string;
  kind: 'uid' | 'accession';
}

/**
 * One phantom, re-identified per study. Every UID the generator makes is `2.25.<decimal>` (30+ digits);
 * its last six digits become the study's number, so values keep their length and the DICOM encoding
 * (element lengths, padding, group lengths) stays valid without re-encoding.
 */
export function reidentifiedStudies(count: number, o: { seed: number; size: number; sliceSpacing: number; patientIdPrefix: string }) {
  const t0 = performance.now();
  const { truth, files } = phantomBuffers({
    seed: o.seed, uidSalt: 'soak000000000', size: o.size, pixelSpacing: 384 / o.size, sliceSpacing: o.sliceSpacing,
    fractures: [{ level: 'T12', grade: 2, morphology: 'wedge' }, { level: 'L1', grade: 3, morphology: 'crush' }],
  });
  const template = files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data);
  const generateMs = Math.round(performance.now() - t0);
  const accession = truth.accessionNumber;
  if (accession.length < 8) throw new Error(`unexpected phantom accession ${accession}`);
  const spots = template.map((buf) => {
    const text = buf.toString('latin1');
    const found: Spot[] = [];
    for (const m of text.matchAll(/2\.25\.\d{20,}/g)) found.push({ offset: m.index, value: m[0], kind: 'uid' });
    for (let at = text.indexOf(accession); at >= 0; at = text.indexOf(accession, at + 1)) found.push({ offset: at, value: accession, kind: 'accession' });
    return found;
  });
  if (!spots[0]!.some((s) => s.value === truth.studyInstanceUid)) throw new Error('the phantom study UID was not found in its files');
  const tail = (k: number) => String(k + 1).padStart(6, '0');
  const rewrite = (value: string, k: number) => value.slice(0, -6) + tail(k);
  const t1 = performance.now();
  const studies: FleetStudy[] = [];
  for (let k = 0; k < count; k++) {
    const out = template.map((buf, i) => {
      const copy = Buffer.from(buf);
      for (const s of spots[i]!) copy.write(rewrite(s.value, k), s.offset, s.value.length, 'latin1');
      return copy;
    });
    studies.push({ uid: rewrite(truth.studyInstanceUid, k), accessionNumber: rewrite(accession, k), patientId: `${o.patientIdPrefix}${tail(k)}`, files: out });
  }
  const uidsPerStudy = new Set(spots.flat().filter((s) => s.kind === 'uid').map((s) => s.value)).size;
  return {
    studies,
    phantom: { size: o.size, sliceSpacingMm: o.sliceSpacing, instances: template.length, bytes: template.reduce((n, b) => n + b.length, 0), uidsPerStudy, generateMs, reidentifyMs: Math.round(performance.now() - t1) },
  };
}

// ------------------------------------------------------------------------------------------- service

export interface Proc {
  name: string;
  proc: ChildProcess;
  httpPort: number;
  log: string;
}

export interface FleetOptions {
  /** A Redis of the bench's own, without persistence on purpose (REDIS_DURABILITY off). */
  redisUrl: string;
  prefix: string;
  apiToken: string;
  orthanc: OrthancInstance;
  /** Each process writes its log (info level) to <logsDir>/<name>.log. */
  logsDir: string;
  workers: number;
}

/** One `serve --role api` and `workers` × `serve --role worker`, from dist, each with its HTTP port. */
export async function startFleet(o: FleetOptions): Promise<{ api: Proc; mllpPort: number; workers: Proc[] }> {
  const env = (httpPort: number, mllpPort: number): Record<string, string> => ({
    REDIS_URL: o.redisUrl,
    QUEUE_PREFIX: o.prefix,
    REDIS_DURABILITY: 'off',
    API_TOKEN: o.apiToken,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    MLLP_HOST: '127.0.0.1',
    MLLP_PORT: String(mllpPort),
    LOG_LEVEL: 'info',
    DICOMWEB_SOURCES: JSON.stringify({ default: { url: o.orthanc.dicomWebUrl } }),
  });
  const start = async (name: string, role: string, httpPort: number, mllpPort: number): Promise<Proc> => {
    const log = path.join(o.logsDir, `${name}.log`);
    const proc = await startProcess([CLI, 'serve', '--role', role], env(httpPort, mllpPort), /"event":"app.started"/, { log: fs.createWriteStream(log), readyTimeoutMs: 60_000 });
    return { name, proc, httpPort, log };
  };
  const mllpPort = await freePort();
  const api = await start('api', 'api', await freePort(), mllpPort);
  const workers: Proc[] = [];
  for (let w = 1; w <= o.workers; w++) workers.push(await start(`worker-${w}`, 'worker', await freePort(), 0));
  return { api, mllpPort, workers };
}

/** Prometheus text → sum of a counter's samples whose labels include `match`. */
export function metric(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
export const scrape = (p: Proc, apiToken: string) => fetch(`http://127.0.0.1:${p.httpPort}/metrics`, { headers: { authorization: `Bearer ${apiToken}` } }).then((r) => r.text());

