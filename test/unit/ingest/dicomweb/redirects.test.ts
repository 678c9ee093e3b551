/**
 * "A notification can never make the service fetch from an unconfigured host" (issue 16), with redirects:
 * two real local HTTP servers, a configured DICOMweb source that answers one step of what the worker does
 * (QIDO-RS series search, WADO-RS metadata, WADO-RS series retrieve) with a 301/302/303/307/308 to a
 * second, unconfigured server. The client (real fetch, undici) never follows it: the second server never
 * receives a request, and the step fails with DICOMWEB_CLIENT_ERROR naming the status, without retrying.
 * A redirect within the same origin is refused too: the configured URL is where the source answers.
 * And a notification cannot name a URL: its `source` is a configured name or a 400.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../../../src/errors';
import { parseHeaders } from '../../../../src/imaging/dicom';
import { selectSeriesUid } from '../../../../src/imaging/select-series';
import { DicomwebClient, DicomwebHttpError } from '../../../../src/ingest/dicomweb/client';
import { fetchStudySeriesForAnalysis, studyFingerprint } from '../../../../src/ingest/dicomweb/fetch-study';
import { parseNotification } from '../../../../src/ingest/dicomweb/notifications';
import { makeSlice } from '../../imaging/helpers';

const STUDY = '2.25.1';
const SERIES = '2.25.2';

interface Server {
  origin: string;
  requests: string[];
  close(): Promise<void>;
}

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Server> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 12-slice CT series as Part-10 files and as its WADO-RS metadata. */
const FILES = Array.from({ length: 12 }, (_, z) => makeSlice({ imagePositionPatient: [0, 0, 2 * z], rows: 8, columns: 8 }));
const METADATA = FILES.map((f) => parseHeaders(f).dataset);
const SERIES_LIST = [{ '0020000E': { vr: 'UI', Value: [SERIES] }, '00080060': { vr: 'CS', Value: ['CT'] }, '00201209': { vr: 'IS', Value: [FILES.length] } }];

function multipart(parts: Buffer[]): { body: Buffer; type: string } {
  const b = 'redirect-test-boundary';
  const pieces = parts.flatMap((p) => [Buffer.from(`--${b}\r\nContent-Type: application/dicom\r\n\r\n`), p, Buffer.from('\r\n')]);
  return { body: Buffer.concat([...pieces, Buffer.from(`--${b}--\r\n`)]), type: `multipart/related; type="application/dicom"; boundary="${b}"` };
}

type Step = 'series' | 'metadata' | 'retrieve';

/** What the step of the request is, from its path under /dicom-web. */
function stepOf(url: string): Step {
  if (url.includes('/metadata')) return 'metadata';
  if (/\/series(\?|$)/.test(url)) return 'series';
  return 'retrieve';
}

describe('DICOMweb redirects to an unconfigured host are never followed', () => {
  let elsewhere: Server;
  let source: Server;
  /** The step answered with a redirect, its status, and where to. */
  let redirect: { step: Step | null; status: number; location: (path: string) => string };

  beforeAll(async () => {
    elsewhere = await serve((_req, res) => {
      // Were a redirect followed, this server would answer as a willing source.
      res.setHeader('content-type', 'application/dicom+json');
      res.end(JSON.stringify(SERIES_LIST));
    });
    source = await serve((req, res) => {
      const url = req.url ?? '';
      const step = stepOf(url);
      if (step === redirect.step) {
        res.statusCode = redirect.status;
        res.setHeader('location', redirect.location(url));
        res.end();
      } else if (step === 'series') {
        res.setHeader('content-type', 'application/dicom+json');
        res.end(JSON.stringify(SERIES_LIST));
      } else if (step === 'metadata') {
        res.setHeader('content-type', 'application/dicom+json');
        res.end(JSON.stringify(METADATA));
      } else {
        const { body, type } = multipart(FILES);
        res.setHeader('content-type', type);
        res.end(body);
      }
    });
  });
  afterAll(async () => {
    await source.close();
    await elsewhere.close();
  });
  beforeEach(() => {
    source.requests.length = 0;
    elsewhere.requests.length = 0;
  });

  /** The worker's path for a study: fingerprint (QIDO-RS), metadata, selection, retrieve. */
  async function fetchStudy() {
    const client = DicomwebClient.fromConfig(
      { DICOMWEB_SOURCES: { default: { url: `${source.origin}/dicom-web` } }, DICOMWEB_TIMEOUT_MS: 2000, DICOMWEB_RETRIES: 2 },
      'default',
      { sleep: async () => undefined },
    );
    const fp = await studyFingerprint(client, STUDY);
    return fetchStudySeriesForAnalysis(client, STUDY, selectSeriesUid, { seriesList: fp.seriesList });
  }

  it('without a redirect the study is fetched (the source serves the whole path)', async () => {
    redirect = { step: null, status: 0, location: () => '' };
    const fetched = await fetchStudy();
    expect(fetched.chosen).toBe(SERIES);
    expect(fetched.buffers).toHaveLength(FILES.length);
    expect(elsewhere.requests).toEqual([]);
  });

  const cases = (['series', 'metadata', 'retrieve'] as const).flatMap((step) => [301, 302, 303, 307, 308].map((status) => [step, status] as const));
  it.each(cases)('%s answered with %i to another host: refused naming the status, the other host never asked', async (step, status) => {
    redirect = { step, status, location: (path) => `${elsewhere.origin}${path}` };
    const err = await fetchStudy().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DicomwebHttpError);
    expect((err as AppError).code).toBe('DICOMWEB_CLIENT_ERROR');
    expect((err as AppError).spec.retryable).toBe(false);
    expect((err as DicomwebHttpError).status).toBe(status);
    expect((err as Error).message).toContain(`HTTP ${status}`);
    expect(elsewhere.requests).toEqual([]);
    // Asked once: a redirect is an answer, not an outage to retry.
    expect(source.requests.filter((r) => stepOf(r.slice(r.indexOf(' ') + 1)) === step)).toHaveLength(1);
  });

  it('a redirect within the source itself is refused as well (the configured URL is where it answers)', async () => {
    redirect = { step: 'retrieve', status: 307, location: (path) => `${source.origin}/elsewhere${path}` };
    const err = await fetchStudy().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as DicomwebHttpError).status).toBe(307);
    expect(source.requests.some((r) => r.includes('/elsewhere/'))).toBe(false);
  });

  it('a notification names a configured source or is refused: URLs, unknown names and prototype keys are not sources', () => {
    const sources = ['default'];
    for (const source of [`${elsewhere.origin}/dicom-web`, 'http://127.0.0.1:1', 'other', '__proto__', 'constructor', 'toString']) {
      let err: unknown;
      try {
        parseNotification({ studyInstanceUid: STUDY, source }, sources);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('DICOMWEB_SOURCE_UNKNOWN');
      expect((err as AppError).spec.http).toBe(400);
    }
    // A URL in any other member is not read: the notification keeps only its four members.
    const n = parseNotification({ studyInstanceUid: STUDY, url: `${elsewhere.origin}/dicom-web`, wadoRoot: elsewhere.origin, retrieveURL: elsewhere.origin }, sources);
    expect(n).toEqual({ studyInstanceUid: STUDY, source: 'default', accessionNumber: undefined, patientId: undefined });
    // And a client exists only for a configured name.
    expect(() => DicomwebClient.fromConfig({ DICOMWEB_SOURCES: { default: { url: `${source.origin}/dicom-web` } }, DICOMWEB_TIMEOUT_MS: 1000, DICOMWEB_RETRIES: 0 }, elsewhere.origin)).toThrow(
      expect.objectContaining({ code: 'DICOMWEB_SOURCE_UNKNOWN' }),
    );
  });
});
