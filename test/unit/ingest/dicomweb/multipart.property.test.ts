/**
 * Property-based hostile input for the WADO-RS multipart/related parser (issue 16): whatever a DICOMweb
 * source answers — random bytes, bad or missing boundaries, the boundary inside the data, truncated
 * bodies, parts over the limit, thousands of tiny parts, endless streams — the parser yields the parts
 * that were really there and then ends, or throws a MultipartError; it never throws anything else, never
 * holds more than its limits, and never reads an endless stream for ever. Runs are few and each property
 * stops after a time limit (fast-check's interruptAfterTimeLimit); a failure prints the seed.
 */
import fc from 'fast-check';
import {
  MultipartError,
  boundaryFromContentType,
  parseContentType,
  parseMultipart,
  type MultipartOptions,
  type MultipartPart,
} from '../../../../src/ingest/dicomweb/multipart';

/** Per property: stop generating new cases after this long (what ran is still checked). */
const TIME_LIMIT_MS = 1500;
const settings = (numRuns: number) => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

const BOUNDARY = 'b0und4ry-1234';
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_PREAMBLE_BYTES = 64 * 1024;

/** Bytes with CR, LF, dashes and the boundary's characters over-represented, so near-delimiters happen. */
const byte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 2, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x2d, ...Buffer.from(BOUNDARY, 'latin1')) },
);
const bytes = (maxLength: number) => fc.array(byte, { maxLength }).map((a) => Buffer.from(a));
/** Pieces that make (broken) multipart syntax: delimiters, closers, header lines, blank lines. */
const syntaxPiece = fc.constantFrom(
  `\r\n--${BOUNDARY}`, `--${BOUNDARY}`, `\r\n--${BOUNDARY}--`, `--${BOUNDARY.slice(0, 5)}`, '\r\n', '\r\n\r\n', ' \t',
  'Content-Type: application/dicom\r\n', ': no name\r\n', ' folded\r\n', '--', '-', '\r', '\n',
);
const hostileBody = fc
  .array(fc.oneof(syntaxPiece.map((s) => Buffer.from(s, 'latin1')), bytes(40)), { maxLength: 60 })
  .map((pieces) => Buffer.concat(pieces));

/** The bytes, delivered in chunks of the given sizes (cycled), each a fresh Uint8Array like a socket gives. */
async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let k = 0; offset < data.length; k++) {
    const size = Math.max(1, sizes.length ? (sizes[k % sizes.length] as number) : data.length);
    yield new Uint8Array(data.subarray(offset, offset + size));
    offset += size;
  }
}
const chunkSizes = fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 8 });

/** A well-formed body with these parts. */
function build(bodies: Buffer[], preamble = '', epilogue = ''): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble ? `${preamble}\r\n` : '', 'latin1')];
  bodies.forEach((body, i) => {
    pieces.push(Buffer.from(`${i === 0 ? '' : '\r\n'}--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`, 'latin1'), body);
  });
  pieces.push(Buffer.from(`\r\n--${BOUNDARY}--${epilogue}`, 'latin1'));
  return Buffer.concat(pieces);
}

interface Outcome {
  parts: MultipartPart[];
  error: MultipartError | undefined;
}

/** Runs the parser to its end: the parts it yielded, and the MultipartError it ended with (anything else fails). */
async function run(source: AsyncIterable<Uint8Array>, boundary = BOUNDARY, options: MultipartOptions = {}): Promise<Outcome> {
  const parts: MultipartPart[] = [];
  try {
    for await (const part of parseMultipart(source, boundary, options)) {
      if (options.maxPartBytes !== undefined) expect(part.body.length).toBeLessThanOrEqual(options.maxPartBytes);
      parts.push(part);
    }
    return { parts, error: undefined };
  } catch (err) {
    if (!(err instanceof MultipartError)) throw new Error(`not a MultipartError: ${String((err as Error)?.stack ?? err)}`);
    expect(['truncated', 'malformed', 'too-large']).toContain(err.kind);
    return { parts, error: err };
  }
}

/** `prefix`, then `filler` repeated for ever; counts what the parser pulled. */
function endless(prefix: Buffer, filler: Buffer): { source: AsyncIterable<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  return {
    pulled: () => pulled,
    source: (async function* () {
      pulled += prefix.length;
      yield new Uint8Array(prefix);
      for (;;) {
        pulled += filler.length;
        yield new Uint8Array(filler);
      }
    })(),
  };
}

const delimiter = Buffer.from(`\r\n--${BOUNDARY}`, 'latin1');
const withoutDelimiter = (b: Buffer) => !Buffer.concat([Buffer.from('\r\n'), b, b]).includes(delimiter);

describe('parseMultipart under hostile bodies', () => {
  it('gives back exactly the parts sent, however chunked, whatever bytes they hold (near-delimiters included)', async () => {
    const body = fc.oneof(bytes(400), hostileBody).filter(withoutDelimiter);
    await fc.assert(
      fc.asyncProperty(fc.array(body, { maxLength: 8 }), chunkSizes, fc.constantFrom('', 'preamble --b0und'), async (bodies, sizes, preamble) => {
        const got = await run(chunked(build(bodies, preamble, '\r\nepilogue'), sizes));
        expect(got.error).toBeUndefined();
        expect(got.parts.map((p) => p.body.toString('latin1'))).toEqual(bodies.map((b) => b.toString('latin1')));
      }),
      settings(200),
    );
  });

  it('random bytes and broken syntax: some parts then a MultipartError, or a clean end; never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(bytes(3000), hostileBody), chunkSizes, async (data, sizes) => {
        await run(chunked(data, sizes), BOUNDARY, { maxPartBytes: 1000 });
      }),
      settings(300),
    );
  });

  it('every truncation of a valid body before its closing delimiter ends in "truncated", after a prefix of the parts', async () => {
    const body = bytes(200).filter(withoutDelimiter);
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 6 }), fc.nat(), chunkSizes, async (bodies, cut, sizes) => {
        const whole = build(bodies);
        // Everything up to "--" after the last delimiter is needed; the parser stops reading there.
        const at = cut % (whole.length - 1);
        const got = await run(chunked(whole.subarray(0, at), sizes));
        expect(got.error?.kind).toBe('truncated');
        expect(got.parts.map((p) => p.body.toString('latin1'))).toEqual(bodies.slice(0, got.parts.length).map((b) => b.toString('latin1')));
      }),
      settings(200),
    );
  });

  it('a part over maxPartBytes is "too-large" after reading little more than the limit; smaller parts before it come through', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 0, max: 5 }), async (max, over, before) => {
        const small = Array.from({ length: before }, () => Buffer.alloc(Math.min(max, 10), 0x41));
        const prefix = build(small).subarray(0, -2); // without the closing "--": a delimiter, then the big part
        const big = endless(Buffer.concat([prefix, Buffer.from('\r\n\r\n', 'latin1')]), Buffer.alloc(over, 0x42));
        const got = await run(big.source, BOUNDARY, { maxPartBytes: max });
        expect(got.error?.kind).toBe('too-large');
        expect(got.parts).toHaveLength(before);
        expect(big.pulled()).toBeLessThanOrEqual(prefix.length + 4 + max + over + delimiter.length);
      }),
      settings(150),
    );
  });

  it('many tiny parts come through (no per-part cost beyond the part)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1000, max: 5000 }), chunkSizes, async (count, sizes) => {
        const bodies = Array.from({ length: count }, (_, i) => Buffer.from(String(i % 10), 'latin1'));
        const got = await run(chunked(build(bodies), sizes.length ? sizes : [65536]));
        expect(got.error).toBeUndefined();
        expect(got.parts).toHaveLength(count);
      }),
      settings(20),
    );
  });

  it('an endless stream without a delimiter where one is due ends in an error within the limits (preamble, headers, delimiter line)', async () => {
    const filler = bytes(500).filter((b) => b.length > 0 && withoutDelimiter(b) && !b.includes(Buffer.from('\r\n')));
    const state = fc.constantFrom(
      { prefix: '', bound: MAX_PREAMBLE_BYTES }, // preamble: no delimiter ever
      { prefix: `--${BOUNDARY}\r\n`, bound: MAX_HEADER_BYTES }, // headers that never end
      { prefix: `--${BOUNDARY}`, bound: 1024 }, // a delimiter line that never ends
    );
    await fc.assert(
      fc.asyncProperty(state, filler, async ({ prefix, bound }, fill) => {
        const stream = endless(Buffer.from(prefix, 'latin1'), fill);
        const got = await run(stream.source, BOUNDARY, { maxPartBytes: 1 << 20 });
        expect(got.error).toBeDefined();
        expect(stream.pulled()).toBeLessThanOrEqual(prefix.length + bound + 2 * fill.length + delimiter.length);
      }),
      settings(100),
    );
  });

  it('the boundary inside a part (without the CRLF that makes it a delimiter) stays data', async () => {
    const inside = fc.array(fc.oneof(bytes(30), fc.constantFrom(`--${BOUNDARY}`, `\n--${BOUNDARY}`, `\r--${BOUNDARY}--`, ` --${BOUNDARY}\r\n`).map((s) => Buffer.from(s, 'latin1'))), { maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(fc.array(inside.map((p) => Buffer.concat(p)).filter(withoutDelimiter), { minLength: 1, maxLength: 5 }), chunkSizes, async (bodies, sizes) => {
        const got = await run(chunked(build(bodies), sizes));
        expect(got.parts.map((p) => p.body.toString('latin1'))).toEqual(bodies.map((b) => b.toString('latin1')));
      }),
      settings(150),
    );
  });

  it('Content-Type values: parseContentType never throws; boundaryFromContentType gives 1–200 characters or a MultipartError', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc
        .tuple(
          fc.constantFrom('multipart/related', 'MULTIPART/RELATED', 'application/dicom', '', 'multipart/'),
          fc.array(fc.tuple(fc.constantFrom('boundary', 'BOUNDARY', 'type', 'boundary ', ''), fc.oneof(fc.string({ maxLength: 250 }), fc.string({ maxLength: 20 }).map((s) => `"${s}"`))), { maxLength: 4 }),
        )
        .map(([type, params]) => [type, ...params.map(([k, v]) => `${k}=${v}`)].join('; ')),
    );
    fc.assert(
      fc.property(value, (ct) => {
        const parsed = parseContentType(ct);
        expect(typeof parsed.mediaType).toBe('string');
        try {
          const boundary = boundaryFromContentType(ct);
          expect(boundary.length).toBeGreaterThanOrEqual(1);
          expect(boundary.length).toBeLessThanOrEqual(200);
        } catch (err) {
          expect(err).toBeInstanceOf(MultipartError);
        }
      }),
      settings(500),
    );
  });

  it('a wrong boundary (the server used another one): a MultipartError, never parts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(bytes(100), { maxLength: 4 }), fc.string({ minLength: 1, maxLength: 70 }).filter((b) => !BOUNDARY.startsWith(b) && !b.includes('\r')), async (bodies, other) => {
        const data = build(bodies);
        fc.pre(!data.includes(Buffer.from(`\r\n--${other}`, 'latin1')) && !data.subarray(0, other.length + 2).equals(Buffer.from(`--${other}`, 'latin1')));
        const got = await run(chunked(data, [64]), other);
        expect(got.parts).toEqual([]);
        expect(got.error).toBeDefined();
      }),
      settings(150),
    );
  });
});
