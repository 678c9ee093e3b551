import { type Role, startApp } from '../app';
import { loadConfig, readDefaults, redactSetting } from '../config/load';
import { configSchema } from '../config/schema';
import { AppError } from '../errors';
import { createLogger } from '../log';
import { startTracing } from '../observability/tracing';
import { parseCommandArgs } from './args';

const ROLES: readonly Role[] = ['all', 'api', 'worker'];
const USAGE = 'usage: vcf-sentinel serve [--role all|api|worker]';

/** The usage, with every setting the service reads and its default (secrets shown as set or not). */
function help(): string {
  const defaults = readDefaults();
  const settings = Object.keys(configSchema.shape).map((name) => {
    const value = redactSetting(name, defaults[name]);
    const shown = value === null ? 'unset' : JSON.stringify(value);
    return `  ${name}=${shown}`;
  });
  return `${USAGE}

The service. --role all (default) runs everything in one process; api = HTTP + MLLP listeners that only
enqueue; worker = the report, study, correlate and results jobs (and /healthz, /readyz, /metrics). Any
number of api and worker processes may share one Redis. SIGTERM/SIGINT: stop accepting, drain, exit 0.

reads these environment variables (defaults from config/default.json; see README "Configuration"):
${settings.join('\n')}
`;
}

/** \`serve --role all|api|worker\`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { role: { type: 'string', default: 'all' }, help: { type: 'boolean', short: 'h' } }, USAGE);
  if (values.help) {
    process.stdout.write(help());
    return 0;
  }
  const role = values.role as Role;
  if (!ROLES.includes(role)) throw new AppError('BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}`);
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  // Before the app: its first spans must find the provider (or, when off, the context manager).
  const tracing = startTracing(config.OTEL_TRACES_EXPORTER);
  const app = await startApp(config, role, logger).catch(async (err: unknown) => {
    await tracing.shutdown();
    throw err;
  });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ event: 'app.stopping', signal }, 'stopping: draining in-flight work');
      // A second signal, or a drain that takes too long, ends the process anyway.
      const force = setTimeout(() => {
        logger.error({ event: 'app.stop_timeout' }, 'drain timed out');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS);
      force.unref();
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(1));
      void app.stop().then(async () => {
        // The last spans (the drained jobs') are exported before exit; an unreachable collector cannot hold it up past the force timer.
        await tracing.shutdown().catch(() => undefined);
        logger.info({ event: 'app.stopped' }, 'stopped');
        logger.flush();
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return 0;
}
