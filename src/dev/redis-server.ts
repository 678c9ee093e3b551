/**
 * A throw-away redis-server (Debian package redis-server) for the demo and the tests: 127.0.0.1 on a
 * port of its own, a temporary working directory, no persistence unless asked (`appendonly`), removed at
 * stop. It can be stopped and started again on the same port (tests of a Redis outage), and with
 * `stop({ keepData: true })` it comes back on the same directory, as a crashed Redis restarted by its
 * supervisor would (fault tests of what an AOF keeps). Development tooling: the service itself never
 * starts one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** VCF_TEST_REDIS_SERVER_BIN overrides it (to test what happens on a machine without redis-server). */
export const REDIS_SERVER_BIN = process.env.VCF_TEST_REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

export function redisServerAvailable(): boolean {
  return fs.existsSync(REDIS_SERVER_BIN);
}

export interface LocalRedisOptions {
  /** `--appendonly yes` (fsync every second, Redis's default): what a production Redis should run with. Default false. */
  appendonly?: boolean;
}

export class LocalRedisServer {
  private proc: ChildProcess | null = null;
  private dir: string | null = null;

  /** A server on `port` (see `freePort`), not started yet. */
  constructor(
    readonly port: number,
    private readonly options: LocalRedisOptions = {},
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 5000): Promise<void> {
    this.dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'vcf-redis-'));
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', this.options.appendonly ? 'yes' : 'no'];
    const proc = spawn(REDIS_SERVER_BIN, args, { stdio: 'ignore' });
    this.proc = proc;
    const exited = new Promise<never>((_, reject) => proc.once('error', reject).once('exit', (code) => reject(new Error(`redis-server exited (${code}) on port ${this.port}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await Promise.race([canConnect(this.port), exited])) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`redis-server did not answer on port ${this.port} within ${timeoutMs} ms`);
  }

  /**
   * SIGKILL (an outage as abrupt as a crash); `start()` may follow. The directory is removed, unless
   * `keepData`: then the next `start()` loads what the server had persisted there (its AOF).
   */
  async stop({ keepData = false }: { keepData?: boolean } = {}): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    }
    if (keepData) return;
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
