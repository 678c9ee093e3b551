import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DicomwebClient,
  DicomwebHttpError,
  createDicomwebClient,
  type DicomwebClientOptions,
  type RetryEvent,
} from '../../../../src/ingest/dicomweb/client';
import { ACCEPT_DICOM_EXPLICIT_LE, TRANSFER_SYNTAX } from '../../../../src/ingest/dicomweb/constants';
import { readPart10Meta } from '../../../../src/ingest/dicomweb/part10';
import type { DicomwebSource } from '../../../../src/config/schema';
import { caught, part10 } from '../../../helpers/dicomweb';

const STUDY = '1.2.3.4';
const SERIES = '1.2.3.4.5';

function multipart(parts: Buffer[], boundary = 'xYz-boundary'): { body: Buffer; contentType: string } {
  const pieces: Buffer[] = [];
  for (const p of parts) {
    pieces.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    pieces.push(p, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/related; type="application/dicom"; boundary="${boundary}"` };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

interface TestServer {
  url: string;
  requests: { url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function serve(handler: Handler): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/dicom-web/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function clientFor(
  server: TestServer,
  options: DicomwebClientOptions & { auth?: DicomwebSource['auth']; timeoutMs?: number; retries?: number } = {},
) {
  const retries: RetryEvent[] = [];
  const sleeps: number[] = [];
  const { auth, timeoutMs, retries: retryCount, ...rest } = options;
  const client = createDicomwebClient(
    {
      DICOMWEB_SOURCES: { pacs: { url: server.url, ...(auth ? { auth } : {}) } },
      DICOMWEB_TIMEOUT_MS: timeoutMs ?? 2000,
      DICOMWEB_RETRIES: retryCount ?? 3,
    },
    'pacs',
    {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onRetry: (e) => retries.push(e),
      random: () => 0.5,
      ...rest,
    },
  );
  return { client, retries, sleeps };
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('source binding', () => {
  const config = {
    DICOMWEB_SOURCES: { default: { url: 'http://127.0.0.1:1/dicom-web' } },
    DICOMWEB_TIMEOUT_MS: 1000,
    DICOMWEB_RETRIES: 0,
  };

  it('binds to a configured source by name', () => {
    expect(createDicomwebClient(config, 'default').sourceName).toBe('default');
    expect(DicomwebClient.fromConfig(config, 'default')).toBeInstanceOf(DicomwebClient);
  });

  it.each(['other', '', 'constructor', '__proto__', 'toString'])('unknown source %p → DICOMWEB_SOURCE_UNKNOWN', (name) => {
    expect(() => createDicomwebClient(config, name)).toThrow(expect.objectContaining({ code: 'DICOMWEB_SOURCE_UNKNOWN' }));
  });

  it('refuses a source URL with credentials, a query or a fragment (CONFIG_INVALID)', () => {
    for (const url of ['http://u:p@127.0.0.1/dicom-web', 'http://127.0.0.1/dicom-web?x=1', 'http://127.0.0.1/dw#f']) {
      expect(() => createDicomwebClient({ ...config, DICOMWEB_SOURCES: { s: { url } } }, 's')).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    }
  });

  it('refuses anything but a UID in a path, before any request', async () => {
    server = await serve((_req, res) => res.end('[]'));
    const { client } = clientFor(server);
    for (const bad of ['../../system', '1.2.3/../4', '1.2.a', '', '1.'.repeat(40) + '1']) {
      expect((await caught(client.searchSeries(bad))).code).toBe('BAD_REQUEST');
    }
    expect((await caught(client.retrieveInstance(STUDY, SERIES, '1.2?x=1'))).code).toBe('BAD_REQUEST');
    expect(server.requests).toHaveLength(0);
  });
});

describe('QIDO-RS and metadata', () => {
  it('sends Accept, bearer auth and the query; returns DICOM JSON', async () => {
    server = await serve((_req, res) => {
      res.setHeader('content-type', 'application/dicom+json');
      res.end(JSON.stringify([{ '0020000E': { vr: 'UI', Value: [SERIES] } }]));
    });
    const { client } = clientFor(server, { auth: { type: 'bearer', token: 't0k' } });
    const series = await client.searchSeries(STUDY, { includefield: ['00080060', '0008103E'], Modality: 'CT', limit: 10 });
    expect(series).toEqual([{ '0020000E': { vr: 'UI', Value: [SERIES] } }]);
    const req = server.requests[0];
    expect(req?.url).toBe(`/dicom-web/studies/${STUDY}/series?includefield=00080060&includefield=0008103E&Modality=CT&limit=10`);
    expect(req?.headers.authorization).toBe('Bearer t0k');
    expect(req?.headers.accept).toMatch(/^application\/dicom\+json/);
  });

  it('sends basic auth; paths for studies, instances and metadata', async () => {
    server = await serve((_req, res) => res.end('[]'));
    const { client } = clientFor(server, { auth: { type: 'basic', username: 'alice', password: 'pä:ss' } });
    await client.searchStudies();
    await client.searchInstances(STUDY, SERIES);
    await client.retrieveSeriesMetadata(STUDY, SERIES);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/dicom-web/studies',
      `/dicom-web/studies/${STUDY}/series/${SERIES}/instances`,
      `/dicom-web/studies/${STUDY}/series/${SERIES}/metadata`,
    ]);
    expect(server.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('alice:pä:ss').toString('base64')}`);
  });

  it('204 No Content and an empty body are no matches', async () => {
    server = await serve((_req, res, n) => {
      res.statusCode = n === 1 ? 204 : 200;
      res.end();
    });
    const { client } = clientFor(server);
    expect(await client.searchStudies()).toEqual([]);
    expect(await client.searchStudies()).toEqual([]);
  });

  it('JSON that is not a DICOM JSON array → DICOMWEB_CLIENT_ERROR, no retry', async () => {
    server = await serve((_req, res) => res.end('{"not":"an array"}'));
    const { client, retries } = clientFor(server);
    expect((await caught(client.searchStudies())).code).toBe('DICOMWEB_CLIENT_ERROR');
    expect(retries).toHaveLength(0);
  });

  it('JSON larger than maxJsonBytes → STUDY_UNUSABLE', async () => {
    server = await serve((_req, res) => res.end(JSON.stringify([{ a: { vr: 'LO', Value: ['x'.repeat(5000)] } }])));
    const { client } = clientFor(server, { maxJsonBytes: 1000 });
    const err = await caught(client.searchStudies());
    expect(err.code).toBe('STUDY_UNUSABLE');
    expect(err.message).toMatch(/exceeds the maximum of 1000 bytes/);
  });
});

describe('retries', () => {
  it('retries 5xx with exponential backoff and jitter, then succeeds', async () => {
    server = await serve((_req, res, n) => {
      res.statusCode = n <= 2 ? 503 : 200;
      res.end('[]');
    });
    const { client, retries, sleeps } = clientFor(server, { backoffBaseMs: 100 });
    expect(await client.searchStudies()).toEqual([]);
    expect(server.requests).toHaveLength(3);
    expect(retries.map((r) => [r.attempt, r.reason])).toEqual([
      [1, 'HTTP 503'],
      [2, 'HTTP 503'],
    ]);
    // random() = 0.5 → 75% of 100·2^(n-1)
    expect(sleeps).toEqual([75, 150]);
  });

  it('gives up after DICOMWEB_RETRIES retries with DICOMWEB_UNAVAILABLE (retryable)', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const { client, retries } = clientFor(server, { retries: 2 });
    const err = await caught(client.searchSeries(STUDY));
    expect(err.code).toBe('DICOMWEB_UNAVAILABLE');
    expect(err.spec.retryable).toBe(true);
    expect(err.message).toMatch(/HTTP 500 \(3 attempts\)/);
    expect(server.requests).toHaveLength(3);
    expect(retries).toHaveLength(2);
  });

  it.each([400, 401, 403, 404, 406, 410])('HTTP %i → DICOMWEB_CLIENT_ERROR with the status, no retry', async (status) => {
    server = await serve((_req, res) => {
      res.statusCode = status;
      res.end('{}');
    });
    const { client, retries } = clientFor(server);
    const err = await caught(client.retrieveSeriesMetadata(STUDY, SERIES));
    expect(err).toBeInstanceOf(DicomwebHttpError);
    expect(err.code).toBe('DICOMWEB_CLIENT_ERROR');
    expect((err as DicomwebHttpError).status).toBe(status);
    expect(server.requests).toHaveLength(1);
    expect(retries).toHaveLength(0);
  });

  it('429 is retried, honouring Retry-After up to backoffMaxMs', async () => {
    server = await serve((_req, res, n) => {
      if (n === 1) {
        res.statusCode = 429;
        res.setHeader('retry-after', '3');
      }
      res.end('[]');
    });
    const { client, sleeps } = clientFor(server, { backoffBaseMs: 10, backoffMaxMs: 2000 });
    await client.searchStudies();
    expect(sleeps).toEqual([2000]);
  });

  it('does not follow redirects (a source answers from its configured URL)', async () => {
    const elsewhere = await serve((_req, res) => res.end('[]'));
    try {
      server = await serve((_req, res) => {
        res.statusCode = 302;
        res.setHeader('location', elsewhere.url + 'studies');
        res.end();
      });
      const { client } = clientFor(server);
      expect(((await caught(client.searchStudies())) as DicomwebHttpError).status).toBe(302);
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('network errors are retried', async () => {
    server = await serve((_req, res) => res.end('[]'));
    const url = server.url;
    await server.close();
    server = undefined;
    const closed = { url, requests: [], close: async () => undefined } as TestServer;
    const { client, retries } = clientFor(closed, { retries: 2 });
    const err = await caught(client.searchStudies());
    expect(err.code).toBe('DICOMWEB_UNAVAILABLE');
    expect(retries.map((r) => r.reason)).toEqual(['network error (ECONNREFUSED)', 'network error (ECONNREFUSED)']);
  });

  it('a server that never answers times out, is retried, then DICOMWEB_UNAVAILABLE', async () => {
    server = await serve(() => undefined);
    const { client, retries } = clientFor(server, { timeoutMs: 100, retries: 1 });
    const started = Date.now();
    const err = await caught(client.searchStudies());
    expect(err.code).toBe('DICOMWEB_UNAVAILABLE');
    expect(retries[0]?.reason).toMatch(/^timeout/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('the timeout is an idle timeout: a slow but steady body completes, a stalled one is retried', async () => {
    const parts = [part10('1.1'), part10('1.2'), part10('1.3')];
    const { body, contentType } = multipart(parts);
    server = await serve((_req, res, n) => {
      res.setHeader('content-type', contentType);
      const pieces = [0, 1, 2, 3, 4].map((k) => body.subarray((k * body.length) / 5, ((k + 1) * body.length) / 5));
      let i = 0;
      const tick = () => {
        if (n === 1 && i === 2) return; // first request: stall before the end
        const piece = pieces[i++];
        if (!piece) return void res.end();
        res.write(piece);
        setTimeout(tick, 80);
      };
      tick();
    });
    // 5 pieces 80 ms apart: the whole body takes longer than 150 ms, but no gap is that long.
    const { client, retries } = clientFor(server, { timeoutMs: 150, retries: 1 });
    const result = await client.retrieveSeries(STUDY, SERIES);
    expect(result.instances.map((i) => i.sopInstanceUid)).toEqual(['1.1', '1.2', '1.3']);
    expect(retries.map((r) => r.reason)).toEqual([expect.stringMatching(/^timeout/)]);
  });

  it('a caller abort stops retrying at once and throws the abort reason', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const controller = new AbortController();
    const { client } = clientFor(server, {
      sleep: async () => {
        controller.abort(new Error('shutting down'));
      },
    });
    await expect(client.searchStudies({}, { signal: controller.signal })).rejects.toThrow('shutting down');
    expect(server.requests).toHaveLength(1);
  });
});

describe('WADO-RS retrieve', () => {
  it('asks for Explicit VR LE and returns every Part-10 instance with its transfer syntax', async () => {
    const parts = [part10('1.2.3.1'), part10('1.2.3.2'), part10('1.2.3.3')];
    const { body, contentType } = multipart(parts);
    server = await serve((_req, res) => {
      res.setHeader('content-type', contentType);
      // Small writes: parts split across chunks.
      let offset = 0;
      const next = () => {
        if (offset >= body.length) return void res.end();
        res.write(body.subarray(offset, offset + 97));
        offset += 97;
        setImmediate(next);
      };
      next();
    });
    const { client } = clientFor(server);
    const result = await client.retrieveSeries(STUDY, SERIES);
    expect(server.requests[0]?.url).toBe(`/dicom-web/studies/${STUDY}/series/${SERIES}`);
    expect(server.requests[0]?.headers.accept).toBe(ACCEPT_DICOM_EXPLICIT_LE);
    expect(result.transcodingRefused).toBe(false);
    expect(result.instances.map((i) => i.sopInstanceUid)).toEqual(['1.2.3.1', '1.2.3.2', '1.2.3.3']);
    expect(result.instances.every((i) => i.transferSyntaxUid === TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN)).toBe(true);
    expect(result.instances.map((i) => i.buffer.toString('hex'))).toEqual(parts.map((p) => p.toString('hex')));
    expect(result.bytes).toBe(parts.reduce((s, p) => s + p.length, 0));
  });

  it('406 for the transfer-syntax → asks again with transfer-syntax=* and says the instances may be compressed', async () => {
    const { body, contentType } = multipart([part10('1.2.3.1', TRANSFER_SYNTAX.JPEG_2000_LOSSLESS)]);
    server = await serve((req, res) => {
      if (req.headers.accept?.includes(TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN)) {
        res.statusCode = 406;
        return void res.end();
      }
      res.setHeader('content-type', contentType);
      res.end(body);
    });
    const { client, retries } = clientFor(server);
    const result = await client.retrieveInstance(STUDY, SERIES, '1.2.3.1');
    expect(server.requests.map((r) => r.headers.accept)).toEqual([
      ACCEPT_DICOM_EXPLICIT_LE,
      'multipart/related; type="application/dicom"; transfer-syntax=*',
    ]);
    expect(result.transcodingRefused).toBe(true);
    expect(result.transferSyntaxUid).toBe(TRANSFER_SYNTAX.JPEG_2000_LOSSLESS);
    expect(retries).toHaveLength(0);
  });

  it('500 to every Explicit VR LE request (no codec on the server) → retries, then the stored transfer syntax', async () => {
    const { body, contentType } = multipart([part10('1.2.3.1', TRANSFER_SYNTAX.JPEG_2000_LOSSLESS)]);
    server = await serve((req, res) => {
      if (req.headers.accept?.includes(TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN)) {
        res.statusCode = 500;
        return void res.end('{"Message":"Cannot transcode image"}');
      }
      res.setHeader('content-type', contentType);
      res.end(body);
    });
    const { client, retries } = clientFor(server, { retries: 2 });
    const result = await client.retrieveSeries(STUDY, SERIES);
    expect(result.transcodingRefused).toBe(true);
    expect(result.instances[0]?.transferSyntaxUid).toBe(TRANSFER_SYNTAX.JPEG_2000_LOSSLESS);
    expect(server.requests).toHaveLength(4);
    expect(retries.map((r) => r.reason)).toEqual(['HTTP 500', 'HTTP 500']);
  });

  it('no fallback when the server is down (network errors) or 503: DICOMWEB_UNAVAILABLE', async () => {
    server = await serve((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const { client } = clientFor(server, { retries: 1 });
    const err = await caught(client.retrieveSeries(STUDY, SERIES));
    expect(err.code).toBe('DICOMWEB_UNAVAILABLE');
    expect(server.requests.every((r) => r.headers.accept === ACCEPT_DICOM_EXPLICIT_LE)).toBe(true);
  });

  it('accepts a bare application/dicom answer for one instance', async () => {
    const file = part10('1.2.3.9');
    server = await serve((_req, res) => {
      res.setHeader('content-type', 'application/dicom');
      res.end(file);
    });
    const { client } = clientFor(server);
    expect((await client.retrieveInstance(STUDY, SERIES, '1.2.3.9')).buffer.equals(file)).toBe(true);
  });

  it('an instance larger than maxInstanceBytes → STUDY_UNUSABLE, no retry', async () => {
    const { body, contentType } = multipart([part10('1.1', undefined, 10), part10('1.2', undefined, 5000)]);
    server = await serve((_req, res) => {
      res.setHeader('content-type', contentType);
      res.end(body);
    });
    const { client, retries } = clientFor(server, { maxInstanceBytes: 4000 });
    const err = await caught(client.retrieveSeries(STUDY, SERIES));
    expect(err.code).toBe('STUDY_UNUSABLE');
    expect(err.message).toMatch(/maximum of 4000 bytes/);
    expect(retries).toHaveLength(0);
  });

  it('a series larger than maxSeriesBytes → STUDY_UNUSABLE', async () => {
    const { body, contentType } = multipart([part10('1.1', undefined, 600), part10('1.2', undefined, 600)]);
    server = await serve((_req, res) => {
      res.setHeader('content-type', contentType);
      res.end(body);
    });
    const { client } = clientFor(server, { maxSeriesBytes: 1000 });
    const err = await caught(client.retrieveSeries(STUDY, SERIES));
    expect(err.code).toBe('STUDY_UNUSABLE');
    expect(err.message).toMatch(/maximum of 1000 bytes/);
  });

  it('a part that is not Part-10 → DICOMWEB_CLIENT_ERROR', async () => {
    const { body, contentType } = multipart([Buffer.from('not dicom at all')]);
    server = await serve((_req, res) => {
      res.setHeader('content-type', contentType);
      res.end(body);
    });
    const { client } = clientFor(server);
    expect((await caught(client.retrieveSeries(STUDY, SERIES))).message).toMatch(/not a DICOM Part-10 file/);
  });

  it('a body cut before the closing delimiter is retried', async () => {
    const { body, contentType } = multipart([part10('1.1'), part10('1.2')]);
    server = await serve((_req, res, n) => {
      res.setHeader('content-type', contentType);
      res.end(n === 1 ? body.subarray(0, body.length - 30) : body);
    });
    const { client, retries } = clientFor(server);
    expect((await client.retrieveSeries(STUDY, SERIES)).instances).toHaveLength(2);
    expect(retries[0]?.reason).toMatch(/^truncated response/);
  });
});

describe('readPart10Meta', () => {
  it('reads the transfer syntax and SOP instance UID; null for non-Part-10 bytes', () => {
    expect(readPart10Meta(part10('1.2.3', TRANSFER_SYNTAX.IMPLICIT_VR_LITTLE_ENDIAN))).toEqual({
      transferSyntaxUid: TRANSFER_SYNTAX.IMPLICIT_VR_LITTLE_ENDIAN,
      sopInstanceUid: '1.2.3',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    });
    expect(readPart10Meta(Buffer.alloc(200))).toBeNull();
    expect(readPart10Meta(part10('1.2.3').subarray(0, 150))).toBeNull();
  });
});
