/**
 * Fault 5 (issue 16 item 2): the api process SIGTERMed in the middle of an HL7 burst over MLLP, then
 * started again on the same ports (as a rolling restart or a node drain does). Nothing acknowledged may
 * be lost: every message answered AA before the stop is stored once the api is back; the senders resend
 * what got no ACK (the drain answers what it already read, then closes the connections), and nothing
 * is processed twice.
 *
 * Real processes: `serve --role api` and `serve --role worker`; the shared Redis under this test's prefix.
 */
import { Redis } from 'ioredis';
import { REDIS_URL, deletePrefix, freePort, testPrefix } from '../helpers/service';
import { type BurstMessage, MllpSender, ServiceProcess, burstMessages, deliverInOrder, expectEachStoredAndProcessedOnce, spread } from './support';

const MESSAGES = 200;
const CONNECTIONS = 4;
/** SIGTERM once this many messages were acknowledged: well inside the burst. */
const STOP_AFTER_AA = 60;

describe('fault: the api process SIGTERMed during an HL7 burst', () => {
  const prefix = testPrefix('fault-sigterm');
  let api: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    redis?.disconnect();
    await deletePrefix(prefix);
  }, 60_000);

  it('drains and exits 0; after its restart every AA is stored once, and what got no ACK is resent and processed once', async () => {
    const env = { REDIS_URL, QUEUE_PREFIX: prefix, REDIS_DURABILITY: 'off' };
    // Fixed ports for the api: the restarted one must be where the senders reconnect.
    const httpPort = await freePort();
    let mllpPort = await freePort();
    while (mllpPort === httpPort) mllpPort = await freePort();
    const apiEnv = { ...env, HTTP_PORT: String(httpPort), MLLP_PORT: String(mllpPort) };
    worker = await ServiceProcess.start('worker', env);
    api = await ServiceProcess.start('api', apiEnv);
    const first = api;
    const messages = burstMessages('ST', MESSAGES);
    const senders = Array.from({ length: CONNECTIONS }, () => new MllpSender(() => mllpPort));

    let acked = 0;
    let ackedBeforeExit = 0;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let restart: Promise<void> | null = null;
    const onResult = (_m: BurstMessage, r: string) => {
      if (r !== 'AA') return;
      acked++;
      if (acked === STOP_AFTER_AA) {
        restart = (async () => {
          exit = await first.signal('SIGTERM');
          ackedBeforeExit = acked;
          api = await ServiceProcess.start('api', apiEnv);
        })();
        restart.catch(() => undefined); // awaited after the burst; no unhandled rejection meanwhile
      }
    };
    const deadline = Date.now() + 90_000;
    await Promise.all(spread(messages, CONNECTIONS).map((list, i) => deliverInOrder(senders[i]!, list, { retryDelayMs: 200, deadline, onResult })));
    await restart;
    senders.forEach((s) => s.close());

    const resent = messages.filter((m) => m.results.some((r) => r !== 'AA'));
    console.log(
      `fault 5: ${MESSAGES} messages over ${CONNECTIONS} connections; api SIGTERMed after ${STOP_AFTER_AA} AA, ${ackedBeforeExit} AA when it exited; ` +
        `${resent.length} messages resent (${messages.reduce((n, m) => n + m.results.filter((r) => r === 'none').length, 0)} sends unanswered, ` +
        `${messages.reduce((n, m) => n + m.results.filter((r) => r === 'AR').length, 0)} AR)`,
    );
    // A clean drain: exit 0 after answering what it had read, logged as stopped.
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await first.eventsAtLeast('app.stopped', 1)).toHaveLength(1);
    // The stop hit the burst: acknowledged messages before it, unanswered ones during it.
    expect(ackedBeforeExit).toBeGreaterThanOrEqual(STOP_AFTER_AA);
    expect(resent.length).toBeGreaterThan(0);
    expect(messages.every((m) => m.results.at(-1) === 'AA' && !m.results.includes('AE'))).toBe(true);
    expect(senders.map((s) => s.strayAcks)).toEqual(senders.map(() => 0));

    const { sameRuns } = await expectEachStoredAndProcessedOnce(messages, api, worker, redis, prefix);
    expect(sameRuns).toBe(0);
  });
});
