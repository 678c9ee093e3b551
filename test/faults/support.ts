/**
 * What the fault tests share: the service as child processes of the compiled CLI (so a SIGKILL or SIGTERM
 * hits a real process), an HL7 sender that behaves like an interface engine, a phantom study with its
 * report, and polling. The fault tests run apart from `npm test` (`npm run test:faults`,
 * jest.faults.config.js): they need `npm run build` first, which that script does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { syntheticOru, reportLinesMentioning } from '../../src/dev/oru';
import { type OrthancInstance, stowRs } from '../../src/dev/orthanc';
import { type GroundTruth, type PhantomOptions, phantomBuffers } from '../../src/imaging/phantom/generate';
import { MllpFramer, encodeMllp } from '../../src/ingest/hl7/mllp';
import { QUEUES } from '../../src/queue/names';
import type { StudyState } from '../../src/store/studies';
import { msa } from '../helpers/hl7';

export const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'vcf-sentinel.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not null), or gives up after `ms` and returns the last null. */
export async function eventually<T>(probe: () => Promise<T | null>, ms: number, everyMs = 100): Promise<T | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null || Date.now() > deadline) return v;
    await sleep(everyMs);
  }
}

export type LogLine = Record<string, unknown> & { level: string; event?: string };

/** Children still running, killed if the test run dies without its afterAll. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * `vcf-sentinel serve --role <role>` as a child process, its JSON log lines (stderr) kept in order. Loopback
 * listeners on the given ports (0: free ones, read from the `app.started` line).
 */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  httpPort = 0;
  mllpPort: number | null = null;
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly role: 'api' | 'worker' | 'all',
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
    // The log is JSON lines on stderr; anything else there (a start-up refusal) is kept for the failure message.
    let partial = '';
    child.stderr!.on('data', (d: Buffer) => {
      const parts = (partial + d.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line.startsWith('{')) this.lines.push(JSON.parse(line) as LogLine);
        else this.stderr = (this.stderr + line + '\n').slice(-4000);
      }
    });
    child.stdout!.resume();
  }

  /** Starts the process and waits for its `app.started` line (the model is loaded, the listeners bound). */
  static async start(role: 'api' | 'worker' | 'all', env: Record<string, string>, timeoutMs = 60_000): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [BIN, 'serve', '--role', role], {
      cwd: ROOT,
      env: { ...process.env, HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', HTTP_PORT: '0', MLLP_PORT: '0', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(role, child);
    const started = await Promise.race([
      eventually(async () => service.lines.find((l) => l.event === 'app.started') ?? null, timeoutMs, 50),
      service.exited.then(() => null),
    ]);
    if (!started) {
      child.kill('SIGKILL');
      throw new Error(`serve --role ${role} did not start: ${service.stderr.slice(-2000)}`);
    }
    service.httpPort = started.httpPort as number;
    service.mllpPort = (started.mllpPort as number | null) ?? null;
    return service;
  }

  get base(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  events(event: string): LogLine[] {
    return this.lines.filter((l) => l.event === event);
  }

  /**
   * The lines of `event` once at least `count` have arrived (or after `ms`). A line comes through a pipe,
   * after the state it describes was written: a test that saw the state waits for the line.
   */
  async eventsAtLeast(event: string, count: number, ms = 10_000): Promise<LogLine[]> {
    await eventually(async () => (this.events(event).length >= count ? true : null), ms, 50);
    return this.events(event);
  }

  /** Sends a signal and waits for the exit. */
  async signal(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  /** For afterAll: SIGTERM (the drain), SIGKILL if it has not exited within 25 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 25_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export type SendResult = 'AA' | 'AE' | 'AR' | 'none';

/**
 * An HL7 sender as an interface engine runs one (README "Connect your feed"): one persistent MLLP
 * connection, one message at a time, the ACK awaited (matched by MSA-2) before the next; a connection
 * that is refused, closed or silent past the ACK timeout is `none`, and the next send reconnects.
 */
export class MllpSender {
  private socket: net.Socket | null = null;
  private framer = new MllpFramer(1 << 20);
  private waiting: ((ack: string | null) => void) | null = null;
  /** ACK frames that arrived while no message was waiting for one (must stay 0). */
  strayAcks = 0;

  constructor(
    private readonly port: () => number,
    private readonly ackTimeoutMs = 10_000,
  ) {}

  async send(er7: string, controlId: string): Promise<SendResult> {
    let socket: net.Socket;
    try {
      socket = await this.connection();
    } catch {
      return 'none';
    }
    const ack = await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), this.ackTimeoutMs); // 'close' answers null
      this.waiting = (a) => {
        clearTimeout(timer);
        this.waiting = null;
        resolve(a);
      };
      socket.write(encodeMllp(er7));
    });
    if (ack === null) return 'none';
    const { code, controlId: echoed } = msa(ack);
    if (echoed !== controlId) throw new Error(`ACK for ${echoed} while waiting for ${controlId}`);
    if (code !== 'AA' && code !== 'AE' && code !== 'AR') throw new Error(`unexpected MSA-1 ${code}`);
    return code;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connection(): Promise<net.Socket> {
    if (this.socket) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port(), '127.0.0.1');
      socket.once('connect', () => {
        this.socket = socket;
        this.framer = new MllpFramer(1 << 20);
        resolve(socket);
      });
      socket.on('data', (d: Buffer) => {
        for (const e of this.framer.push(d)) {
          if (e.kind !== 'frame') continue;
          if (this.waiting) this.waiting(e.payload.toString('utf8'));
          else this.strayAcks++;
        }
      });
      socket.on('error', reject); // before 'connect'; later errors are followed by 'close'
      socket.on('close', () => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.waiting?.(null);
      });
    });
  }
}

/** One ORU of a burst: its MSH-10, accession number, and every answer it got, in order. */
export interface BurstMessage {
  controlId: string;
  accession: string;
  er7: string;
  results: SendResult[];
}

/** `count` ORUs, each with its own MSH-10 and accession number (one report each). */
export function burstMessages(tag: string, count: number): BurstMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const controlId = `${tag}-${String(i).padStart(4, '0')}`;
    const accession = `ACC-${controlId}`;
    const er7 = syntheticOru({
      controlId,
      patientId: `MRN-${tag}-${i % 17}`,
      assigningAuthority: 'HOSP',
      accessionNumber: accession,
      studyInstanceUid: `2.25.${1_000_000 + i}${tag.length}`,
      lines: reportLinesMentioning(i % 3 === 0 ? ['L1'] : []),
    });
    return { controlId, accession, er7, results: [] };
  });
}

/**
 * Delivers `messages` in order over one sender as an engine does: AA → next; AR or no answer → wait
 * `retryDelayMs` and resend the same message (same MSH-10); AE → recorded, not resent (these tests send
 * none that deserve one). Gives up (throws) at `deadline`.
 */
export async function deliverInOrder(sender: MllpSender, messages: BurstMessage[], opts: { retryDelayMs: number; deadline: number; onResult?: (m: BurstMessage, r: SendResult) => void }): Promise<void> {
  for (const m of messages) {
    for (;;) {
      const r = await sender.send(m.er7, m.controlId);
      m.results.push(r);
      opts.onResult?.(m, r);
      if (r === 'AA' || r === 'AE') break;
      if (Date.now() > opts.deadline) throw new Error(`${m.controlId} still not acknowledged (answers: ${m.results.join(' ')})`);
      await sleep(opts.retryDelayMs);
    }
  }
}

/** Splits `items` round-robin into `n` lists (one per connection). */
export function spread<T>(items: T[], n: number): T[][] {
  const lists: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => lists[i % n]!.push(item));
  return lists;
}

/** GET a JSON resource of the service (no API_TOKEN in these tests); null on 404. */
export async function getJson<T>(base: string, pathname: string): Promise<T | null> {
  const res = await fetch(`${base}${pathname}`, { signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${pathname}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function postJson(base: string, pathname: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GET /reports/{accession}: each stored report with its version and every message that carried it. */
export interface ReportLookup {
  reports: Array<{ version: number; versions: Array<{ version: number; outcome: string; controlId: string }> }>;
}

/**
 * After a burst whose every message ended AA: each accession has one report, version 1, carried by one
 * message (GET /reports/{accession} on `api`, waited for); each message made one report job, completed;
 * the worker stored each report once (`report.stored` with outcome new, one per job) and queued one
 * correlate job per report. Returns how many report jobs ran again with nothing left to store.
 */
export async function expectEachStoredAndProcessedOnce(messages: BurstMessage[], api: ServiceProcess, worker: ServiceProcess, redis: Redis, prefix: string): Promise<{ sameRuns: number }> {
  const lookups = new Map<string, ReportLookup>();
  await eventually(
    async () => {
      for (const m of messages) {
        if (!lookups.has(m.accession)) {
          const found = await getJson<ReportLookup>(api.base, `/reports/${m.accession}`);
          if (found) lookups.set(m.accession, found);
        }
      }
      return lookups.size === messages.length ? true : null;
    },
    90_000,
    500,
  );
  const missing = messages.filter((m) => !lookups.has(m.accession)).map((m) => `${m.controlId} (${m.results.join(' ')})`);
  expect(missing).toEqual([]);
  for (const m of messages) {
    const { reports } = lookups.get(m.accession)!;
    expect({ controlId: m.controlId, reports: reports.map((r) => ({ version: r.version, versions: r.versions.map((v) => [v.version, v.outcome, v.controlId]) })) }).toEqual({
      controlId: m.controlId,
      reports: [{ version: 1, versions: [[1, 'new', m.controlId]] }],
    });
  }

  const reportsQueue = new Queue(QUEUES.reports, { connection: redis, prefix });
  const correlateQueue = new Queue(QUEUES.correlate, { connection: redis, prefix });
  try {
    // Completed jobs are counted once their worker says so: wait for the last ones.
    const counts = await eventually(async () => {
      const c = await reportsQueue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
      return (c.completed ?? 0) + (c.failed ?? 0) >= messages.length ? c : null;
    }, 30_000, 250);
    expect(counts).toEqual({ completed: messages.length, failed: 0, waiting: 0, active: 0, delayed: 0 });
    const stored = await worker.eventsAtLeast('report.stored', messages.length);
    const byOutcome = (o: string) => stored.filter((l) => l.outcome === o);
    expect(byOutcome('new')).toHaveLength(messages.length);
    expect(new Set(byOutcome('new').map((l) => l.jobId)).size).toBe(messages.length);
    expect(byOutcome('replaced')).toHaveLength(0);
    const correlations = (await correlateQueue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed'])).filter((j) => j.data.trigger === 'report');
    expect(correlations).toHaveLength(messages.length);
    expect(new Set(correlations.map((j) => (j.data as { accessionKey: string }).accessionKey)).size).toBe(messages.length);
    return { sameRuns: byOutcome('same').length };
  } finally {
    await reportsQueue.close();
    await correlateQueue.close();
  }
}

/**
 * Polls GET /studies/{uid} until `done(state)`, recording every status seen; throws with the last state
 * after `timeoutMs`.
 */
export async function waitForStudy(base: string, uid: string, done: (s: StudyState) => boolean, timeoutMs: number, everyMs = 50): Promise<{ state: StudyState; statuses: string[] }> {
  const statuses: string[] = [];
  let last: StudyState | null = null;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    last = await getJson<StudyState>(base, `/studies/${uid}`).catch(() => last);
    if (last && statuses.at(-1) !== last.status) statuses.push(last.status);
    if (last && done(last)) return { state: last, statuses };
    if (Date.now() > deadline) throw new Error(`study did not get there in ${timeoutMs} ms: statuses ${statuses.join(' → ')}; last ${JSON.stringify(last).slice(0, 1500)}`);
    await sleep(everyMs);
  }
}

/** The small phantom of the imaging tests: 128×128, 3 mm pixels, 4.5 mm slices over T1–S1 (116 slices). */
export const SMALL_PHANTOM = { size: 128, pixelSpacing: 3, sliceSpacing: 4.5 } as const;

/**
 * A phantom CT with fractures at T12 and L1, stored in Orthanc with STOW-RS, and its ORU^R01 (same
 * accession number, patient id and Study Instance UID) whose report mentions no fracture: every
 * fracture the model grades becomes an unreported finding with FHIR outputs.
 */
export async function phantomStudy(orthanc: OrthancInstance, salt: string, extra: Partial<PhantomOptions> = {}): Promise<{ truth: GroundTruth; oru: string; controlId: string }> {
  const { truth, files } = phantomBuffers({ seed: 5, uidSalt: salt, ...SMALL_PHANTOM, fractures: [{ level: 'T12', grade: 2, morphology: 'wedge' }, { level: 'L1', grade: 3, morphology: 'crush' }], ...extra });
  await stowRs(orthanc, files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
  const controlId = `FAULT-${salt}`;
  const oru = syntheticOru({
    controlId,
    patientId: truth.patientId,
    assigningAuthority: 'HOSP',
    accessionNumber: truth.accessionNumber,
    studyInstanceUid: truth.studyInstanceUid,
    lines: reportLinesMentioning([]),
  });
  return { truth, oru, controlId };
}
