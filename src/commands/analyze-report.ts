/**
 * `vcf-sentinel analyze-report [--language en|fr]`: report text on stdin -> CONTRACT JSON on stdout.
 *
 * Input is bounded (5 MB, exit 2 above). Bytes that are not valid UTF-8 are read as Latin-1 (HL7 feeds
 * often are ISO 8859-1, and a lossy UTF-8 decode would break French accents); input with NUL bytes is
 * not text and is refused with exit 2.
 */
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../errors';
import { analyzeReport, type Language } from '../report';
import { parseCommandArgs } from './args';

/** Largest accepted report, in bytes. */
export const MAX_INPUT_BYTES = 5 * 1024 * 1024;

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
}

async function readBounded(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    total += buf.length;
    if (total > max) {
      stream.destroy();
      throw new AppError('BAD_REQUEST', `input larger than ${max} bytes; analyze-report takes one report`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** Decodes report bytes: UTF-8 (BOM stripped) when valid, Latin-1 otherwise; NUL bytes mean binary. */
export function decodeReport(bytes: Buffer): string {
  if (bytes.includes(0)) throw new AppError('BAD_REQUEST', 'input is not text (contains NUL bytes)');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = bytes.toString('latin1');
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function write(stream: Writable, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

const HELP = `usage: vcf-sentinel analyze-report [--language en|fr] < report.txt

Reads a radiology report's text on stdin (UTF-8, or Latin-1 when it is not valid UTF-8; at most
${MAX_INPUT_BYTES / (1024 * 1024)} MiB) and writes the fracture mentions as JSON on stdout (CONTRACT "analyze-report JSON").

options:
  --language, -l en|fr   the report's language (default: detected from the text)

reads no environment variable.
`;

export async function run(args: string[], io: CommandIo = { stdin: process.stdin, stdout: process.stdout }): Promise<number> {
  const { values } = parseCommandArgs(args, { language: { type: 'string', short: 'l' }, help: { type: 'boolean', short: 'h' } }, HELP);
  if (values.help) {
    await write(io.stdout, HELP);
    return 0;
  }
  const lang = values.language;
  if (lang !== undefined && lang !== 'en' && lang !== 'fr') {
    throw new AppError('BAD_REQUEST', `--language must be "en" or "fr", got "${lang}"`);
  }
  const bytes = await readBounded(io.stdin, MAX_INPUT_BYTES);
  const text = decodeReport(bytes);
  const result = analyzeReport(text, lang === undefined ? {} : { language: lang as Language });
  await write(io.stdout, `${JSON.stringify(result)}\n`);
  return 0;
}
