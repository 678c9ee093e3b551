import { spawn } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '../../src/queue/names';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, deletePrefix, testPrefix } from '../helpers/service';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');

function run(args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(proc: ReturnType<typeof run>) {
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { out: () => stdout, err: () => stderr, exit };
}

describe('vcf-sentinel serve (the built CLI)', () => {
  it('stops with exit 2 and one line naming a bad variable', async () => {
    const c = collect(run(['serve'], { MLLP_PORT: 'abc' }));
    expect(await c.exit).toBe(2);
    expect(c.err().trim().split('\n')).toEqual([expect.stringMatching(/^vcf-sentinel: MLLP_PORT: /)]);
  });

  it('rejects an unknown role with exit 2', async () => {
    const c = collect(run(['serve', '--role', 'boss']));
    expect(await c.exit).toBe(2);
    expect(c.err()).toContain('--role must be one of all, api, worker');
  });

  it('drains on SIGTERM: every message acknowledged AA is in Redis, then exit 0', async () => {
    const prefix = testPrefix('serve');
    const proc = run(['serve', '--role', 'api'], { QUEUE_PREFIX: prefix, HTTP_PORT: '0', MLLP_PORT: '0', HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1' });
    const c = collect(proc);
    const deadline = Date.now() + 15_000;
    let port = 0;
    while (!port && Date.now() < deadline) {
      const m = /"event":"mllp.listening","port":(\d+)/.exec(c.err());
      if (m) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(port).toBeGreaterThan(0);
    const burst = Buffer.concat(Array.from({ length: 50 }, (_, i) => frame(makeOru({ controlId: `TERM-${i}` }))));
    const sending = sendRaw(port, [burst], 50).catch((e: Error) => ({ acks: [] as string[], error: e }));
    await new Promise((r) => setTimeout(r, 20));
    proc.kill('SIGTERM');
    const { acks } = await sending;
    expect(await c.exit).toBe(0);
    expect(c.err()).toContain('"event":"app.stopped"');
    const redis = new Redis(REDIS_URL);
    const queue = new Queue(QUEUES.reports, { connection: redis, prefix });
    try {
      const aa = acks.filter((a) => msa(a).code === 'AA').length;
      expect(aa).toBeGreaterThan(0);
      expect(await queue.getJobCountByTypes('waiting')).toBe(aa);
    } finally {
      await queue.close();
      await deletePrefix(prefix);
      redis.disconnect();
    }
  }, 30_000);
});
