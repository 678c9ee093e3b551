/**
 * What the end-to-end benches share: the service started from the compiled CLI as its own process, its
 * memory read from /proc, an MLLP client that waits for the ACK whose MSA-2 matches, and the quantiles
 * every bench prints. Used by bench/hl7.ts, bench/study.ts and bench/soak.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MllpFramer } from '../src/ingest/hl7/mllp';

export const ROOT = path.resolve(__dirname, '..');
/** The compiled CLI (`npm run build` first). */
export const CLI = path.join(ROOT, 'bin', 'vcf-sentinel.js');

export const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null);
export const round = (x: number | null, d = 2) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

/** VmRSS (now) and VmHWM (peak so far) of a process, in MB. */
export function procStatus(pid: number): { hwmMB: number; rssMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { hwmMB: Math.round(kb('VmHWM') / 1024), rssMB: Math.round(kb('VmRSS') / 1024) };
}

export async function waitHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StartProcessOptions {
  /** Everything the process writes (stdout and stderr, from its first byte); otherwise it is discarded after `ready`. */
  log?: NodeJS.WritableStream;
  readyTimeoutMs?: number;
}

/** Spawns `node <args>` in the repository and resolves once its output matches `ready`. */
export async function startProcess(args: string[], env: Record<string, string>, ready: RegExp, options: StartProcessOptions = {}): Promise<ChildProcess> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        options.log?.write(d);
        out += d.toString();
        if (ready.test(out)) resolve();
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.on('exit', (code) => reject(new Error(`process exited ${code}: ${out.slice(-500)}`)));
      setTimeout(() => reject(new Error(`not ready: ${out.slice(-500)}`)), options.readyTimeoutMs ?? 20_000);
    });
  } catch (err) {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw err;
  }
  proc.stdout!.removeAllListeners('data');
  proc.stderr!.removeAllListeners('data');
  if (options.log) {
    proc.stdout!.pipe(options.log, { end: false });
    proc.stderr!.pipe(options.log, { end: false });
  } else {
    proc.stdout!.resume();
    proc.stderr!.resume();
  }
  return proc;
}

export async function stopProcess(proc: ChildProcess) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 15_000).unref();
  });
}

/** The ACK of one message: MSA-1 and the whole ACK text. */
export interface BenchAck {
  code: string;
  text: string;
}

/** One MLLP connection that sends a message and waits for the ACK whose MSA-2 matches. */
export class BenchConnection {
  private framer = new MllpFramer(64 * 1024 * 1024);
  private waiting: { id: string; resolve: (ack: BenchAck) => void; reject: (err: Error) => void; timer?: NodeJS.Timeout } | null = null;
  acks = 0;
  strayAcks = 0;
  closed = false;
  private constructor(private socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      for (const e of this.framer.push(d)) {
        if (e.kind !== 'frame') continue;
        this.acks++;
        const text = e.payload.toString('latin1');
        const msa = text.split('\r').find((s) => s.startsWith('MSA'))?.split('|');
        if (this.waiting && msa?.[2] === this.waiting.id) {
          const w = this.waiting;
          this.waiting = null;
          clearTimeout(w.timer);
          w.resolve({ code: msa[1] ?? '', text });
        } else this.strayAcks++;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.fail(new Error('connection closed before the ACK'));
    });
  }
  static open(port: number): Promise<BenchConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new BenchConnection(s)));
      s.once('error', reject);
    });
  }
  private fail(err: Error) {
    const w = this.waiting;
    this.waiting = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
  /**
   * Sends one framed message and resolves with its ACK. Rejects when the connection closes first, or
   * after `timeoutMs` (when given) without the ACK: the caller should then reconnect and resend.
   */
  send(id: string, bytes: Buffer, timeoutMs?: number): Promise<BenchAck> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.waiting = { id, resolve, reject };
      if (timeoutMs !== undefined) this.waiting.timer = setTimeout(() => this.fail(new Error(`no ACK within ${timeoutMs} ms`)), timeoutMs);
      this.socket.write(bytes);
    });
  }
  close() {
    this.socket.destroy();
  }
}
