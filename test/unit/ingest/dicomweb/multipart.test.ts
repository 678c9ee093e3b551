import { Readable } from 'node:stream';
import {
  MultipartError,
  boundaryFromContentType,
  parseContentType,
  parseMultipart,
  type MultipartOptions,
  type MultipartPart,
} from '../../../../src/ingest/dicomweb/multipart';

const BOUNDARY = 'b0und4ry-1234';

/** Binary bodies with bytes that look like CR, LF, dashes and boundary prefixes. */
const BODIES = [
  Buffer.from('first part\r\nwith CRLF inside\r\n', 'latin1'),
  Buffer.from(`\r\n--b0und4ry-123 almost a delimiter\r\n--b0und\r\n-`, 'latin1'),
  Buffer.alloc(0),
  Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0x0d, 0x0d, 0x0a, 0x0a, 0x80]),
];

function build(bodies: Buffer[], opts: { preamble?: string; epilogue?: string; noLeadingCrlf?: boolean } = {}): Buffer {
  const pieces: Buffer[] = [];
  if (opts.preamble !== undefined) pieces.push(Buffer.from(`${opts.preamble}\r\n`, 'latin1'));
  bodies.forEach((body, i) => {
    const lead = i === 0 ? '' : '\r\n';
    pieces.push(Buffer.from(`${lead}--${BOUNDARY}\r\nContent-Type: application/dicom\r\nX-Index: ${i}\r\n\r\n`, 'latin1'));
    pieces.push(body);
  });
  pieces.push(Buffer.from(`\r\n--${BOUNDARY}--`, 'latin1'));
  if (opts.epilogue !== undefined) pieces.push(Buffer.from(`\r\n${opts.epilogue}`, 'latin1'));
  return Buffer.concat(pieces);
}

async function* chunked(data: Buffer, sizes: number[] | number): AsyncGenerator<Uint8Array> {
  let offset = 0;
  let k = 0;
  while (offset < data.length) {
    const size = typeof sizes === 'number' ? sizes : (sizes[k++ % sizes.length] ?? 1);
    // A fresh Uint8Array per chunk, like a socket delivers.
    yield new Uint8Array(data.subarray(offset, offset + size));
    offset += size;
  }
}

async function* splitAt(data: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (const cut of [...cuts, data.length]) {
    yield new Uint8Array(data.subarray(start, cut));
    start = cut;
  }
}

async function collect(
  source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  options?: MultipartOptions,
  boundary = BOUNDARY,
): Promise<MultipartPart[]> {
  const parts: MultipartPart[] = [];
  for await (const part of parseMultipart(source, boundary, options)) parts.push(part);
  return parts;
}

function expectBodies(parts: MultipartPart[], bodies: Buffer[]) {
  expect(parts.map((p) => p.body.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
  parts.forEach((p, i) => {
    expect(p.headers['content-type']).toBe('application/dicom');
    expect(p.headers['x-index']).toBe(String(i));
  });
}

describe('parseContentType / boundaryFromContentType', () => {
  it('reads quoted and unquoted parameters, case-insensitive names', () => {
    expect(parseContentType('Multipart/Related; Type="application/dicom"; boundary=abc')).toEqual({
      mediaType: 'multipart/related',
      params: { type: 'application/dicom', boundary: 'abc' },
    });
    expect(boundaryFromContentType('multipart/related; type="application/dicom"; boundary="a;b= c"')).toBe('a;b= c');
    expect(boundaryFromContentType('multipart/related;boundary="q\\"x";type=application/dicom')).toBe('q"x');
    expect(boundaryFromContentType('multipart/related; type="application/dicom"; boundary=520dd54a-7a67')).toBe(
      '520dd54a-7a67',
    );
  });

  it('rejects a missing boundary or a non-multipart type', () => {
    expect(() => boundaryFromContentType('multipart/related; type="application/dicom"')).toThrow(MultipartError);
    expect(() => boundaryFromContentType('application/dicom+json')).toThrow(/expected a multipart/);
    expect(() => boundaryFromContentType(null)).toThrow(/no Content-Type/);
  });
});

describe('parseMultipart', () => {
  const body = build(BODIES, { preamble: 'This is the preamble.\r\n--not-our-boundary', epilogue: 'epilogue --b0und4ry-1234--' });

  it('parses a whole body in one chunk, with preamble and epilogue', async () => {
    expectBodies(await collect(chunked(body, body.length)), BODIES);
  });

  it('parses a body that starts directly with the delimiter', async () => {
    const noPreamble = build(BODIES);
    expect(noPreamble.subarray(0, 2).toString()).toBe('--');
    expectBodies(await collect(chunked(noPreamble, 7)), BODIES);
  });

  it('gives the same parts for 1-byte chunks', async () => {
    expectBodies(await collect(chunked(body, 1)), BODIES);
  });

  it('gives the same parts for every single split position', async () => {
    for (let cut = 0; cut <= body.length; cut += 1) {
      expectBodies(await collect(splitAt(body, [cut])), BODIES);
    }
  });

  it('gives the same parts for every pair of split positions around the delimiters', async () => {
    // Two cuts within a window around each delimiter: boundary strings split across three chunks.
    const positions: number[] = [];
    let at = body.indexOf(`--${BOUNDARY}`);
    while (at >= 0) {
      positions.push(at);
      at = body.indexOf(`--${BOUNDARY}`, at + 1);
    }
    for (const p of positions) {
      for (let a = Math.max(0, p - 3); a <= Math.min(body.length, p + BOUNDARY.length + 6); a += 1) {
        for (let b = a; b <= Math.min(body.length, p + BOUNDARY.length + 8); b += 1) {
          expectBodies(await collect(splitAt(body, [a, b])), BODIES);
        }
      }
    }
  });

  it('gives the same parts for irregular chunk sizes', async () => {
    for (const sizes of [[2, 3, 5, 7, 11], [13, 1, 1, 64], [BOUNDARY.length + 3, 1]]) {
      expectBodies(await collect(chunked(body, sizes)), BODIES);
    }
  });

  it('reads a web ReadableStream and a Node Readable', async () => {
    const web = Readable.toWeb(Readable.from([body.subarray(0, 40), body.subarray(40)])) as ReadableStream<Uint8Array>;
    expectBodies(await collect(web), BODIES);
    expectBodies(await collect(Readable.from([body])), BODIES);
  });

  it('yields each part before the stream ends', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = build([Buffer.from('one')]).subarray(0, -`\r\n--${BOUNDARY}--`.length);
    async function* slow() {
      yield new Uint8Array(first);
      yield new Uint8Array(Buffer.from(`\r\n--${BOUNDARY}\r\n\r\n`));
      await gate; // the rest never comes until the first part has been seen
      yield new Uint8Array(Buffer.from(`two\r\n--${BOUNDARY}--`));
    }
    const it = parseMultipart(slow(), BOUNDARY)[Symbol.asyncIterator]();
    const a = await it.next();
    expect(a.done).toBe(false);
    expect(a.value && a.value.body.toString()).toBe('one');
    release();
    const b = await it.next();
    expect(b.value && b.value.body.toString()).toBe('two');
    expect(b.value && b.value.headers).toEqual({});
    expect((await it.next()).done).toBe(true);
  });

  it('accepts transport padding after a delimiter, folded and repeated headers', async () => {
    const raw = Buffer.from(
      `--${BOUNDARY}  \t\r\nContent-Type: application/dicom;\r\n  transfer-syntax=1.2.840.10008.1.2.1\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody\r\n--${BOUNDARY}--\r\n`,
      'latin1',
    );
    const [part] = await collect(chunked(raw, 3));
    expect(part?.body.toString()).toBe('body');
    expect(part?.headers['content-type']).toBe('application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
    expect(part?.headers['x-a']).toBe('1, 2');
  });

  it('stops at the closing delimiter and ignores an epilogue, however long', async () => {
    const raw = Buffer.concat([build([Buffer.from('x')]), Buffer.alloc(100_000, 0x41)]);
    expect((await collect(chunked(raw, 4096))).map((p) => p.body.toString())).toEqual(['x']);
  });

  describe('malformed input', () => {
    const closing = `\r\n--${BOUNDARY}--`;

    async function failure(raw: Buffer | string, options?: MultipartOptions, chunkSize = 5): Promise<MultipartError> {
      const data = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
      try {
        await collect(chunked(data, chunkSize), options);
      } catch (err) {
        expect(err).toBeInstanceOf(MultipartError);
        return err as MultipartError;
      }
      throw new Error('expected a MultipartError');
    }

    it('missing closing delimiter → truncated, at every chunk size', async () => {
      const raw = build(BODIES).subarray(0, -closing.length);
      for (const size of [1, 2, 3, 17, raw.length]) {
        const err = await failure(raw, undefined, size);
        expect(err.kind).toBe('truncated');
        expect(err.message).toMatch(/closing delimiter/);
      }
    });

    it('body cut inside the closing delimiter → truncated', async () => {
      const raw = build([Buffer.from('abc')]);
      for (let cut = 1; cut < closing.length; cut += 1) {
        expect((await failure(raw.subarray(0, raw.length - cut))).kind).toBe('truncated');
      }
    });

    it('no delimiter at all → truncated; a wrong boundary too', async () => {
      expect((await failure('just some text with no boundary')).kind).toBe('truncated');
      const raw = build([Buffer.from('abc')]);
      await expect(collect(chunked(raw, 8), {}, 'other-boundary')).rejects.toMatchObject({ kind: 'truncated' });
    });

    it('empty stream → truncated', async () => {
      expect((await failure(Buffer.alloc(0))).kind).toBe('truncated');
    });

    it('garbage after a delimiter → malformed', async () => {
      const err = await failure(`--${BOUNDARY}garbage\r\n\r\nbody${closing}`);
      expect(err.kind).toBe('malformed');
    });

    it('header line without a name → malformed', async () => {
      expect((await failure(`--${BOUNDARY}\r\n: no name\r\n\r\nbody${closing}`)).kind).toBe('malformed');
    });

    it('part larger than maxPartBytes → too-large, at any chunking', async () => {
      const raw = build([Buffer.alloc(10, 1), Buffer.alloc(1000, 2)]);
      for (const size of [1, 64, raw.length]) {
        const err = await failure(raw, { maxPartBytes: 999 }, size);
        expect(err.kind).toBe('too-large');
      }
      expect((await collect(chunked(raw, 64), { maxPartBytes: 1000 })).map((p) => p.body.length)).toEqual([10, 1000]);
    });

    it('unterminated headers beyond maxHeaderBytes → too-large', async () => {
      const raw = `--${BOUNDARY}\r\nX-Long: ${'a'.repeat(5000)}`;
      expect((await failure(raw, { maxHeaderBytes: 1024 }, 512)).kind).toBe('too-large');
    });

    it('preamble beyond maxPreambleBytes → malformed', async () => {
      const raw = Buffer.concat([Buffer.alloc(5000, 0x61), build([Buffer.from('x')])]);
      expect((await failure(raw, { maxPreambleBytes: 1000 }, 256)).kind).toBe('malformed');
    });
  });
});
