import { Writable } from 'node:stream';
import { createLogger } from '../../src/log';

/** The service's own logger (same redaction), writing into `lines` as parsed JSON objects, in order. */
export function capturingLogger(level: Parameters<typeof createLogger>[0] = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger(level, stream), lines };
}
