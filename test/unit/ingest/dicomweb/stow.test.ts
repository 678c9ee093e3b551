/**
 * DicomwebClient.storeInstances (STOW-RS, PS3.18 10.5) against a local HTTP server: what goes on the wire,
 * how the Store Instances Response is read, and the client's usual rules (auth, retries on 5xx, no retry
 * on 4xx, redirects refused).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDicomwebClient } from '../../../../src/ingest/dicomweb/client';
import { boundaryFromContentType, parseMultipart } from '../../../../src/ingest/dicomweb/multipart';
import { caught, part10 } from '../../../helpers/dicomweb';

const STUDY = '1.2.826.0.1.3680043.8.498.77';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A server answering each request with `answer(n)` (n from 1): status, JSON body, extra headers. */
async function serve(answer: (n: number) => { status: number; body?: unknown; headers?: Record<string, string> }) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const a = answer(seen.length);
      res.writeHead(a.status, { 'content-type': 'application/dicom+json', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = createDicomwebClient(
    { DICOMWEB_SOURCES: { pacs: { url: `http://127.0.0.1:${port}/dicom-web`, auth: { type: 'bearer', token: 'tok' } } }, DICOMWEB_TIMEOUT_MS: 2000, DICOMWEB_RETRIES: 2 },
    'pacs',
    { sleep: async () => undefined },
  );
  return { client, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const referenced = (...uids: string[]) => ({
  '00081199': { vr: 'SQ', Value: uids.map((u) => ({ '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] }, '00081155': { vr: 'UI', Value: [u] } })) },
});
const failed = (uid: string, reason: number) => ({
  '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: [uid] }, '00081197': { vr: 'US', Value: [reason] } }] },
});

describe('DicomwebClient.storeInstances (STOW-RS)', () => {
  const a = part10('1.2.3.1');
  const b = part10('1.2.3.2');

  it('POSTs the instances as multipart/related application/dicom to /studies/{uid} and reads what was stored', async () => {
    const s = await serve(() => ({ status: 200, body: referenced('1.2.3.1', '1.2.3.2') }));
    try {
      const result = await s.client.storeInstances(STUDY, [a, b]);
      expect(result).toEqual({ status: 200, stored: [{ sopInstanceUid: '1.2.3.1', warningReason: null }, { sopInstanceUid: '1.2.3.2', warningReason: null }] });
      const [req] = s.seen;
      expect(req).toMatchObject({ method: 'POST', url: `/dicom-web/studies/${STUDY}` });
      expect(req!.headers.authorization).toBe('Bearer tok');
      expect(req!.headers.accept).toBe('application/dicom+json');
      expect(req!.headers['content-type']).toMatch(/^multipart\/related; type="application\/dicom"; boundary=/);
      const parts = [];
      for await (const part of parseMultipart((async function* () { yield req!.body; })(), boundaryFromContentType(req!.headers['content-type']))) parts.push(part);
      expect(parts.map((p) => p.headers['content-type'])).toEqual(['application/dicom', 'application/dicom']);
      expect(parts[0]!.body.equals(a)).toBe(true);
      expect(parts[1]!.body.equals(b)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('202 with warnings: stored, each warning reason given', async () => {
    const body = referenced('1.2.3.1');
    (body['00081199'].Value[0] as Record<string, unknown>)['00081196'] = { vr: 'US', Value: [0xb000] };
    const s = await serve(() => ({ status: 202, body }));
    try {
      expect(await s.client.storeInstances(STUDY, [a])).toEqual({ status: 202, stored: [{ sopInstanceUid: '1.2.3.1', warningReason: 0xb000 }] });
    } finally {
      await s.close();
    }
  });

  it.each([
    [409, { ...failed('1.2.3.1', 0xa900) }, /refused 1 of 2 instances \(HTTP 409, Failure Reason 0xA900\)/],
    [202, { ...referenced('1.2.3.2'), ...failed('1.2.3.1', 0xc000) }, /refused 1 of 2 instances \(HTTP 202, Failure Reason 0xC000\)/],
    [409, undefined, /refused 2 of 2 instances \(HTTP 409, Failure Reason not given\)/],
  ])('HTTP %i with refused instances: DICOMWEB_CLIENT_ERROR naming the Failure Reason, not retried', async (status, body, message) => {
    const s = await serve(() => ({ status, body }));
    try {
      const err = await caught(s.client.storeInstances(STUDY, [a, b]));
      expect(err.code).toBe('DICOMWEB_CLIENT_ERROR');
      expect(err.message).toMatch(message);
      expect(s.seen).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('503 is retried (the same instances again), then stored', async () => {
    const s = await serve((n) => (n === 1 ? { status: 503 } : { status: 200, body: referenced('1.2.3.1') }));
    try {
      expect((await s.client.storeInstances(STUDY, [a])).stored).toHaveLength(1);
      expect(s.seen).toHaveLength(2);
      expect(s.seen[1]!.body.length).toBe(s.seen[0]!.body.length);
    } finally {
      await s.close();
    }
  });

  it('other 4xx and redirects are refusals: not retried, not followed', async () => {
    const cases: Array<[number, Record<string, string>]> = [[403, {}], [307, { location: 'http://elsewhere.invalid/dicom-web/studies' }]];
    for (const [status, headers] of cases) {
      const s = await serve(() => ({ status, headers }));
      try {
        const err = await caught(s.client.storeInstances(STUDY, [a]));
        expect(err.code).toBe('DICOMWEB_CLIENT_ERROR');
        expect(err.message).toContain(`HTTP ${status}`);
        expect(s.seen).toHaveLength(1);
      } finally {
        await s.close();
      }
    }
  });

  it('a UID that is not a UID is refused before any request', async () => {
    const s = await serve(() => ({ status: 200 }));
    try {
      expect((await caught(s.client.storeInstances('1.2/../x', [a]))).code).toBe('BAD_REQUEST');
      expect(s.seen).toHaveLength(0);
    } finally {
      await s.close();
    }
  });
});
