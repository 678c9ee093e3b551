import { ReplyError } from 'ioredis';
import type { Redis } from 'ioredis';
import { RedisDurability, durabilityProblem, readPersistence } from '../../../src/queue/redis-durability';
import { capturingLogger } from '../../helpers/logs';

const TARGET = 'redis://127.0.0.1:6379';

/** A Redis that answers CONFIG GET and INFO like a real one, or refuses them like a managed service. */
function fakeRedis(o: { appendonly?: 'yes' | 'no' | 'refused'; aofEnabled?: 0 | 1 | 'refused'; slaves?: number; down?: boolean }): Redis {
  const fail = (msg: string) => Promise.reject(new ReplyError(msg));
  return {
    config: (_sub: string, _param: string) => {
      if (o.down) return Promise.reject(Object.assign(new Error('Connection is closed.'), {}));
      return o.appendonly === 'refused' ? fail("ERR unknown command 'CONFIG'") : Promise.resolve(['appendonly', o.appendonly ?? 'no']);
    },
    info: (section: string) => {
      if (o.down) return Promise.reject(new Error('Connection is closed.'));
      if (section === 'persistence') return o.aofEnabled === 'refused' ? fail('NOPERM this user has no permissions to run the info command') : Promise.resolve(`# Persistence\r\nloading:0\r\naof_enabled:${o.aofEnabled ?? 0}\r\n`);
      return Promise.resolve(`# Replication\r\nrole:master\r\nconnected_slaves:${o.slaves ?? 0}\r\n`);
    },
  } as unknown as Redis;
}

describe('readPersistence: CONFIG GET appendonly, else INFO persistence; INFO replication', () => {
  it('reads appendonly and connected replicas', async () => {
    expect(await readPersistence(fakeRedis({ appendonly: 'yes', slaves: 0 }))).toEqual({ appendonly: true, replicas: 0 });
    expect(await readPersistence(fakeRedis({ appendonly: 'no', slaves: 2 }))).toEqual({ appendonly: false, replicas: 2 });
  });

  it('falls back to INFO persistence aof_enabled when CONFIG is not allowed (managed Redis)', async () => {
    expect(await readPersistence(fakeRedis({ appendonly: 'refused', aofEnabled: 1 }))).toEqual({ appendonly: true, replicas: 0 });
    expect(await readPersistence(fakeRedis({ appendonly: 'refused', aofEnabled: 0 }))).toEqual({ appendonly: false, replicas: 0 });
    expect(await readPersistence(fakeRedis({ appendonly: 'refused', aofEnabled: 'refused' }))).toEqual({ appendonly: null, replicas: 0 });
  });

  it('throws on a connection failure: no answer is not "no persistence"', async () => {
    await expect(readPersistence(fakeRedis({ down: true }))).rejects.toThrow('Connection is closed');
  });
});

describe('durabilityProblem', () => {
  it('is null with AOF or with a replica, else names REDIS_URL and what to set', () => {
    expect(durabilityProblem({ appendonly: true, replicas: 0 }, TARGET)).toBeNull();
    expect(durabilityProblem({ appendonly: false, replicas: 1 }, TARGET)).toBeNull();
    const problem = durabilityProblem({ appendonly: false, replicas: 0 }, TARGET)!;
    expect(problem).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:6379: .*appendonly no.*set appendonly yes.*add a replica.*WAIT/);
    expect(problem.split('\n')).toHaveLength(1);
    expect(durabilityProblem({ appendonly: null, replicas: 0 }, TARGET)).toMatch(/appendonly unknown/);
  });
});

describe('RedisDurability (REDIS_DURABILITY)', () => {
  it('require: refuses to start without AOF or replica, with one line naming REDIS_URL (exit 1: QUEUE_UNAVAILABLE)', async () => {
    const d = new RedisDurability(fakeRedis({ appendonly: 'no' }), 'require', TARGET);
    await expect(d.atStart(capturingLogger().logger)).rejects.toMatchObject({
      code: 'QUEUE_UNAVAILABLE',
      message: expect.stringMatching(/^REDIS_URL=redis:\/\/127\.0\.0\.1:6379: .*appendonly yes.*\(REDIS_DURABILITY=require; =warn starts anyway\)$/),
    });
  });

  it('require: starts with AOF (AA as usual) or with a replica only (AA after WAIT); /readyz fails when it changes later', async () => {
    const state: { appendonly: 'yes' | 'no'; slaves: number } = { appendonly: 'yes', slaves: 0 };
    const redis = { config: () => fakeRedis(state).config('GET', 'appendonly'), info: (s: string) => fakeRedis(state).info(s) } as unknown as Redis;
    const d = new RedisDurability(redis, 'require', TARGET);
    expect(await d.atStart(capturingLogger().logger)).toBeNull();
    expect(d.intake()).toBe('ok');
    expect(await d.readiness()).toBeNull();
    state.appendonly = 'no';
    state.slaves = 1;
    expect(await d.readiness()).toBeNull();
    expect(d.intake()).toBe('wait-replica');
    state.slaves = 0;
    expect(await d.readiness()).toMatch(/^REDIS_URL=.*appendonly no/);
    expect(d.intake()).toBe('refuse');
  });

  it('warn: one warn line at start, a /readyz warning (not a failure), and never holds an AA', async () => {
    const { logger, lines } = capturingLogger();
    const d = new RedisDurability(fakeRedis({ appendonly: 'no' }), 'warn', TARGET);
    const warning = await d.atStart(logger);
    expect(warning).toMatch(/^REDIS_URL=.*appendonly no/);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([expect.objectContaining({ event: 'durability.warning', msg: warning, appendonly: false, replicas: 0 })]);
    expect(await d.readiness()).toEqual({ warning });
    expect(d.intake()).toBe('ok');
  });

  it('keeps the last answer when Redis does not answer (the redis check reports the outage)', async () => {
    let down = false;
    const redis = { config: () => fakeRedis({ appendonly: 'yes', down }).config('GET', 'appendonly'), info: (s: string) => fakeRedis({ down }).info(s) } as unknown as Redis;
    const d = new RedisDurability(redis, 'require', TARGET);
    await d.atStart(capturingLogger().logger);
    down = true;
    expect(await d.readiness()).toBeNull();
    expect(d.intake()).toBe('ok');
  });

  it('off: never reads Redis', async () => {
    const redis = {} as Redis;
    const d = new RedisDurability(redis, 'off', TARGET);
    expect(await d.atStart(capturingLogger().logger)).toBeNull();
    expect(await d.readiness()).toBeNull();
    expect(d.intake()).toBe('ok');
  });
});
