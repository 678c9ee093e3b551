import fs from 'node:fs';
import path from 'node:path';
import { MllpFramer } from '../../src/ingest/hl7/mllp';

/** ../shared/fixtures beside the repository; conformance tests skip (saying so) when it is absent. */
export const SHARED_FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');

export function sharedFixture(...parts: string[]): string | null {
  const p = path.join(SHARED_FIXTURES, ...parts);
  return fs.existsSync(p) ? p : null;
}

export interface FixtureMessage {
  /** file path relative to fixtures/hl7, with #n for the n-th message of a file */
  name: string;
  bytes: Buffer;
}

const MESSAGE_FILE = /\.(hl7|txt|mllp)$/;
const COMMENT = /^\s*(\/\/|\/\*|\*)/;

/**
 * Every HL7 message in fixtures/hl7: .mllp files are de-framed, batch files (FHS/BHS) kept whole, and
 * files that hold many messages (with comment lines between them) split at each MSH.
 */
export function loadHl7Fixtures(dir: string): FixtureMessage[] {
  const out: FixtureMessage[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (MESSAGE_FILE.test(entry.name) && !/readme/i.test(entry.name)) out.push(...splitFile(p, path.relative(dir, p)));
    }
  };
  walk(dir);
  return out;
}

function splitFile(file: string, name: string): FixtureMessage[] {
  const bytes = fs.readFileSync(file);
  if (file.endsWith('.mllp')) {
    const framer = new MllpFramer(16 * 1024 * 1024);
    return framer.push(bytes).flatMap((e, i) => (e.kind === 'frame' ? [{ name: `${name}#${i + 1}`, bytes: e.payload }] : []));
  }
  const text = bytes.toString('latin1');
  if (/^\s*(FHS|BHS)/.test(text)) return [{ name, bytes }];
  const messages: string[][] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (COMMENT.test(line)) continue;
    if (line.startsWith('MSH')) messages.push([]);
    if (messages.length > 0 && line.trim() !== '') messages[messages.length - 1]!.push(line);
  }
  return messages.map((lines, i) => ({ name: messages.length > 1 ? `${name}#${i + 1}` : name, bytes: Buffer.from(lines.join('\r') + '\r', 'latin1') }));
}
