import { AppError } from './errors';

/** A CLI command: gets its own arguments, returns the process exit code (CONTRACT: 0 ok, 1 failure, 2 bad input). */
export type Command = (args: string[]) => Promise<number>;

/** Commands are loaded on demand so `analyze-report` never pays for onnxruntime or BullMQ. */
const COMMANDS: Record<string, { summary: string; load: () => Command }> = {
  serve: { summary: 'run the service: --role all|api|worker', load: () => require('./commands/serve').run },
  demo: { summary: 'the whole loop on one machine, printing the cards and FHIR resources', load: () => require('./commands/demo').run },
  'analyze-report': { summary: 'report text on stdin -> fracture mentions JSON', load: () => require('./commands/analyze-report').run },
  'analyze-study': { summary: 'analyze-study <dir | file>: DICOM files, or a NIfTI / NRRD / MetaImage volume -> findings JSON', load: () => require('./commands/analyze-study').run },
  phantom: { summary: 'phantom --out <dir> [--seed N] [--fractures T12:2,L1:3] [--oru FILE --mention T12]: a synthetic CT series (+ a matching ORU^R01)', load: () => require('./commands/phantom').run },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`);
  return `usage: vcf-sentinel <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Prints one line on stderr and returns the exit code for an error thrown by a command. */
export function reportCliError(err: unknown): number {
  if (err instanceof AppError) {
    process.stderr.write(`vcf-sentinel: ${err.message}\n`);
    return err.code === 'BAD_REQUEST' || err.code === 'CONFIG_INVALID' ? 2 : 1;
  }
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`vcf-sentinel: ${msg.split('\n')[0]}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write('vcf-sentinel: missing command (try --help)\n');
    process.exitCode = 2;
    return;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`vcf-sentinel: unknown command "${name}" (try --help)\n`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await entry.load()(rest);
  } catch (err) {
    process.exitCode = reportCliError(err);
  }
}
