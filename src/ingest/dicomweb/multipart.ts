/**
 * Streaming multipart/related parser (RFC 2046 5.1, RFC 2387) for WADO-RS responses.
 *
 * A series retrieve can be gigabytes: the parser keeps only the part being read (and a tail shorter than
 * the delimiter) in memory, and yields each part as soon as its closing delimiter arrives. It does not
 * trust part Content-Length headers (servers omit them or get them wrong); the delimiter ends a part.
 */

const CRLF = Buffer.from('\r\n', 'latin1');
const DOUBLE_CRLF = Buffer.from('\r\n\r\n', 'latin1');
const DASH_DASH = Buffer.from('--', 'latin1');

export type MultipartErrorKind =
  /** The stream ended before the closing delimiter "--boundary--". */
  | 'truncated'
  /** The bytes do not follow the multipart syntax. */
  | 'malformed'
  /** A part or its headers exceed the configured maximum. */
  | 'too-large';

export class MultipartError extends Error {
  readonly kind: MultipartErrorKind;

  constructor(kind: MultipartErrorKind, message: string) {
    super(message);
    this.name = 'MultipartError';
    this.kind = kind;
  }
}

export interface MultipartPart {
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface MultipartOptions {
  /** Largest body of one part, in bytes; exceeded → MultipartError 'too-large'. Default: unlimited. */
  maxPartBytes?: number;
  /** Largest header block of one part, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Largest preamble discarded before the first delimiter. Default 64 KiB. */
  maxPreambleBytes?: number;
}

/** A parsed Content-Type: lower-cased media type and parameters (names lower-cased, values unquoted). */
export interface ContentType {
  mediaType: string;
  params: Record<string, string>;
}

/**
 * Parses a Content-Type header value (RFC 9110 8.3.1), including quoted parameter values with
 * backslash escapes: `multipart/related; type="application/dicom"; boundary="a;b"`.
 */
export function parseContentType(value: string): ContentType {
  let i = value.indexOf(';');
  const mediaType = (i < 0 ? value : value.slice(0, i)).trim().toLowerCase();
  const params: Record<string, string> = {};
  while (i >= 0 && i < value.length) {
    i += 1; // past ';'
    const eq = value.indexOf('=', i);
    if (eq < 0) break;
    const name = value.slice(i, eq).trim().toLowerCase();
    let j = eq + 1;
    while (j < value.length && (value[j] === ' ' || value[j] === '\t')) j += 1;
    let v = '';
    if (value[j] === '"') {
      j += 1;
      while (j < value.length && value[j] !== '"') {
        if (value[j] === '\\' && j + 1 < value.length) j += 1;
        v += value[j];
        j += 1;
      }
      j += 1; // past the closing quote
      const next = value.indexOf(';', j);
      i = next;
    } else {
      const next = value.indexOf(';', j);
      v = (next < 0 ? value.slice(j) : value.slice(j, next)).trim();
      i = next;
    }
    if (name && !(name in params)) params[name] = v;
  }
  return { mediaType, params };
}

/** The boundary of a multipart Content-Type; throws MultipartError 'malformed' when absent or invalid. */
export function boundaryFromContentType(contentType: string | null | undefined): string {
  if (!contentType) throw new MultipartError('malformed', 'response has no Content-Type');
  const ct = parseContentType(contentType);
  if (!ct.mediaType.startsWith('multipart/')) {
    throw new MultipartError('malformed', `expected a multipart response, got ${ct.mediaType || 'none'}`);
  }
  const boundary = ct.params.boundary;
  // RFC 2046: 1 to 70 characters. Some servers exceed 70 (Orthanc sends ~110); accept up to 200.
  if (!boundary || boundary.length > 200) {
    throw new MultipartError('malformed', 'multipart Content-Type has no usable boundary parameter');
  }
  return boundary;
}

type Source = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

function toAsyncIterable(source: Source): AsyncIterable<Uint8Array> {
  if (Symbol.asyncIterator in source) return source as AsyncIterable<Uint8Array>;
  const stream = source as ReadableStream<Uint8Array>;
  return {
    async *[Symbol.asyncIterator]() {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  };
}

function parseHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  // Header values are ASCII in practice; latin1 keeps every byte without throwing.
  const lines = block.toString('latin1').split('\r\n');
  const unfolded: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && unfolded.length > 0) {
      unfolded[unfolded.length - 1] += ' ' + line.trim();
    } else {
      unfolded.push(line);
    }
  }
  for (const line of unfolded) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError('malformed', 'part header line without a name');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

const enum State {
  Preamble,
  AfterDelimiter,
  Headers,
  Body,
  Done,
}

/**
 * Yields each part of a multipart body as it completes. `boundary` is the Content-Type's boundary
 * parameter (see `boundaryFromContentType`). Throws MultipartError when the stream ends before the
 * closing delimiter, when the syntax is broken, or when a limit is exceeded. Stops reading at the closing
 * delimiter (the epilogue is ignored).
 */
export async function* parseMultipart(
  source: Source,
  boundary: string,
  options: MultipartOptions = {},
): AsyncGenerator<MultipartPart, void, undefined> {
  const maxPartBytes = options.maxPartBytes ?? Number.POSITIVE_INFINITY;
  const maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
  const maxPreambleBytes = options.maxPreambleBytes ?? 64 * 1024;
  // The delimiter is CRLF "--" boundary; the CRLF belongs to it, not to the body before it.
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  // A body may start with the delimiter itself (no preamble, no CRLF): pretend a CRLF came first.
  let buf: Buffer = Buffer.from(CRLF);
  let state: State = State.Preamble;
  let preambleBytes = 0;
  let headers: Record<string, string> = {};
  let bodyChunks: Buffer[] = [];
  let bodyBytes = 0;

  const keepBody = (chunk: Buffer) => {
    if (chunk.length === 0) return;
    bodyBytes += chunk.length;
    if (bodyBytes > maxPartBytes) {
      throw new MultipartError('too-large', `a part exceeds the maximum of ${maxPartBytes} bytes`);
    }
    bodyChunks.push(chunk);
  };

  for await (const chunk of toAsyncIterable(source)) {
    if (chunk.length === 0) continue;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    buf = buf.length === 0 ? bytes : Buffer.concat([buf, bytes]);

    // Consume as much of buf as the current state allows; leave the rest for the next chunk.
    for (;;) {
      if (state === State.Preamble) {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          const drop = Math.max(0, buf.length - (delimiter.length - 1));
          preambleBytes += drop;
          if (preambleBytes > maxPreambleBytes) {
            throw new MultipartError('malformed', `no delimiter within the first ${maxPreambleBytes} bytes`);
          }
          buf = buf.subarray(drop);
          break;
        }
        buf = buf.subarray(at + delimiter.length);
        state = State.AfterDelimiter;
      } else if (state === State.AfterDelimiter) {
        // "--" closes the body; otherwise optional transport padding (spaces, tabs) then CRLF.
        if (buf.length < 2) break;
        if (buf[0] === DASH_DASH[0] && buf[1] === DASH_DASH[1]) {
          state = State.Done;
          break;
        }
        const eol = buf.indexOf(CRLF);
        if (eol < 0) {
          if (buf.length > 1024) throw new MultipartError('malformed', 'delimiter line is not terminated');
          break;
        }
        for (let k = 0; k < eol; k += 1) {
          if (buf[k] !== 0x20 && buf[k] !== 0x09) {
            throw new MultipartError('malformed', 'unexpected bytes after a delimiter');
          }
        }
        buf = buf.subarray(eol + 2);
        state = State.Headers;
      } else if (state === State.Headers) {
        // No headers at all: the part starts with the blank line.
        if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
          headers = {};
          buf = buf.subarray(2);
        } else {
          const end = buf.indexOf(DOUBLE_CRLF);
          if (end < 0) {
            if (buf.length > maxHeaderBytes) {
              throw new MultipartError('too-large', `part headers exceed ${maxHeaderBytes} bytes`);
            }
            break;
          }
          if (end > maxHeaderBytes) throw new MultipartError('too-large', `part headers exceed ${maxHeaderBytes} bytes`);
          headers = parseHeaders(buf.subarray(0, end));
          buf = buf.subarray(end + 4);
        }
        bodyChunks = [];
        bodyBytes = 0;
        state = State.Body;
      } else if (state === State.Body) {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          // Everything except a possible delimiter prefix at the end is body.
          const safe = buf.length - (delimiter.length - 1);
          if (safe > 0) {
            keepBody(buf.subarray(0, safe));
            buf = buf.subarray(safe);
          }
          break;
        }
        keepBody(buf.subarray(0, at));
        buf = buf.subarray(at + delimiter.length);
        const body = bodyChunks.length === 1 ? (bodyChunks[0] as Buffer) : Buffer.concat(bodyChunks, bodyBytes);
        const part: MultipartPart = { headers, body };
        bodyChunks = [];
        bodyBytes = 0;
        state = State.AfterDelimiter;
        yield part;
      } else {
        break;
      }
    }
    if (state === State.Done) return;
    // Keep the retained tail independent of the (possibly large) chunk it was sliced from.
    if (buf.length > 0 && buf.length < 4096 && buf.buffer.byteLength > 65536) buf = Buffer.from(buf);
  }

  if (state === State.Preamble) throw new MultipartError('truncated', 'the body ended before the first delimiter');
  throw new MultipartError('truncated', 'the body ended before the closing delimiter');
}
