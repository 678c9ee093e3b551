import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import { type Role, type RunningApp, startApp } from '../../src/app';
import { loadConfig } from '../../src/config/load';
import { deleteKeysWithPrefix } from '../../src/queue/redis';
import type { Config } from '../../src/config/schema';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A queue/key prefix of its own per test file, so tests never see each other's jobs. */
export function testPrefix(name: string): string {
  return `test-${name}-${randomUUID().slice(0, 8)}`;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({}, { HTTP_PORT: 0, MLLP_PORT: 0, HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', LOG_LEVEL: 'silent', REDIS_URL, ...overrides });
}

export async function startTestApp(overrides: Partial<Config>, role: Role = 'all', logger?: pino.Logger): Promise<RunningApp & { config: Config }> {
  const config = testConfig(overrides);
  const app = await startApp(config, role, logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  return { ...app, config };
}

/** Deletes every key under a prefix (BullMQ keys are `<prefix>:<queue>:...`). */
export function deletePrefix(prefix: string, url = REDIS_URL): Promise<void> {
  return deleteKeysWithPrefix(url, prefix);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own on a free port, to stop and start while the service runs. */
export { LocalRedisServer as TestRedisServer } from '../../src/dev/redis-server';
