import { spawn } from 'node:child_process';
import path from 'node:path';
import request from 'supertest';
import { TestRedisServer, deletePrefix, freePort, startTestApp, testPrefix } from '../helpers/service';
import { capturingLogger } from '../helpers/logs';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');

describe('Redis outage while serving (role all: producer, workers, queues)', () => {
  it('logs one line when Redis goes, one when it is back, none per retry; /readyz says why meanwhile', async () => {
    const server = new TestRedisServer(await freePort());
    await server.start();
    const prefix = testPrefix('outage');
    const { logger, lines } = capturingLogger();
    const app = await startTestApp({ QUEUE_PREFIX: prefix, REDIS_URL: server.url }, 'all', logger);
    try {
      const base = `http://127.0.0.1:${app.httpPort}`;
      expect((await request(base).get('/readyz')).status).toBe(200);
      await server.stop();
      // Several reconnect rounds of every connection (ioredis retries every 0.1–2 s).
      const deadline = Date.now() + 4000;
      let ready = await request(base).get('/readyz');
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        ready = await request(base).get('/readyz');
      }
      expect(ready.status).toBe(503);
      expect(JSON.stringify(ready.body)).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ unreachable since \S+Z \(ECONNREFUSED\); retrying/);
      await server.start();
      const back = Date.now() + 10_000;
      while (Date.now() < back && !lines.some((l) => l.event === 'redis.up')) await new Promise((r) => setTimeout(r, 100));
      expect((await request(base).get('/readyz')).status).toBe(200);
      const outage = lines.filter((l) => String(l.event).startsWith('redis.') || /error$/.test(String(l.event)));
      expect(outage.map((l) => l.event)).toEqual(['redis.down', 'redis.up']);
      expect(outage[0]).toMatchObject({ level: 'warn', cause: 'ECONNREFUSED', target: server.url });
      expect(outage[1]).toMatchObject({ level: 'info', downForS: expect.any(Number) });
    } finally {
      await app.stop();
      await deletePrefix(prefix, server.url).catch(() => undefined);
      await server.stop();
    }
  }, 30_000);

  it('logs the effective configuration once at start, secrets redacted', async () => {
    const { logger, lines } = capturingLogger();
    const prefix = testPrefix('effective');
    const app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: 'tok-secret-1' }, 'api', logger);
    await app.stop();
    await deletePrefix(prefix);
    const effective = lines.filter((l) => l.event === 'config.effective');
    expect(effective).toHaveLength(1);
    expect(effective[0]).toMatchObject({ role: 'api', config: { API_TOKEN: 'set', QUEUE_PREFIX: prefix, REDIS_CONNECT_TIMEOUT_S: 30 } });
    expect(JSON.stringify(lines)).not.toContain('tok-secret-1');
  });
});

describe('serve with no Redis at REDIS_URL', () => {
  it('retries for REDIS_CONNECT_TIMEOUT_S, then exits 1 with one line naming REDIS_URL, and logs no retry storm', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const proc = spawn(process.execPath, [BIN, 'serve', '--role', 'all'], {
      env: { ...process.env, REDIS_URL: url, REDIS_CONNECT_TIMEOUT_S: '3', LOG_LEVEL: 'info', HTTP_PORT: '0', MLLP_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    proc.stdout.on('data', (d) => (err += d));
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    const lines = err.trim().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^vcf-sentinel: REDIS_URL=${url.replace(/[/.]/g, '\\$&')}: no answer within 3 s \\(ECONNREFUSED\\); start Redis`));
    // The configuration line, one "down" line: nothing per retry.
    const events = lines.filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events).toEqual(['config.effective', 'redis.down']);
  }, 20_000);
});
