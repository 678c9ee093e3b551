import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DicomwebClient, createDicomwebClient } from '../../../../src/ingest/dicomweb/client';
import { TRANSFER_SYNTAX } from '../../../../src/ingest/dicomweb/constants';
import {
  dicomNumber,
  dicomString,
  fetchStudySeriesForAnalysis,
  type FetchStudyOptions,
  mapWithConcurrency,
  studyFingerprint,
} from '../../../../src/ingest/dicomweb/fetch-study';
import type { DicomJson, SeriesCandidate } from '../../../../src/ingest/dicomweb/types';
import { part10 } from '../../../helpers/dicomweb';

const STUDY = '1.2.3';
const CT_A = '1.2.3.1';
const CT_B = '1.2.3.2';
const SR = '1.2.3.3';

const series = (uid: string, modality: string, count: number): DicomJson => ({
  '0020000E': { vr: 'UI', Value: [uid] },
  '00080060': { vr: 'CS', Value: [modality] },
  '00201209': { vr: 'IS', Value: [count] },
});
const instance = (sop: string): DicomJson => ({ '00080018': { vr: 'UI', Value: [sop] } });
const sopsOf = (seriesUid: string, n: number) => Array.from({ length: n }, (_, i) => `${seriesUid}.${i + 1}`);

/**
 * A request path for which `override` answers (or deliberately does not answer) instead of the server;
 * returns false to let the server answer.
 */
type Override = (path: string, res: http.ServerResponse) => boolean;

/**
 * A tiny DICOMweb server: one study with two CT series (2 and 6 instances) and an SR. `aborted` lists the
 * requests whose connection the client closed before the server had answered them.
 */
async function fakePacs(override?: Override) {
  const requests: string[] = [];
  const aborted: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(url);
    });
    if (override?.(url.split('?')[0] ?? '', res)) return;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const done = (status: number, type: string, body: Buffer | string) =>
      setTimeout(() => {
        inFlight -= 1;
        res.statusCode = status;
        res.setHeader('content-type', type);
        res.end(body);
      }, 5);
    const json = (v: unknown) => done(200, 'application/dicom+json', JSON.stringify(v));
    const dicom = (files: Buffer[]) => {
      const parts = files.flatMap((f) => [Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\n'), f, Buffer.from('\r\n')]);
      done(200, 'multipart/related; type="application/dicom"; boundary=b', Buffer.concat([...parts, Buffer.from('--b--')]));
    };
    const path = url.split('?')[0] ?? '';
    const m = /^\/studies\/([\d.]+)\/series(?:\/([\d.]+)(?:\/(metadata|instances\/([\d.]+)))?)?$/.exec(path);
    const counts: Record<string, number> = { [CT_A]: 2, [CT_B]: 6, [SR]: 1 };
    if (!m || m[1] !== STUDY) return json([]);
    const [, , seriesUid, tail, sop] = m;
    if (!seriesUid) return json([series(CT_A, 'CT', 2), series(CT_B, 'CT', 6), series(SR, 'SR', 1)]);
    const n = counts[seriesUid] ?? 0;
    if (tail === 'metadata') return json(sopsOf(seriesUid, n).map(instance));
    if (sop) return dicom([part10(sop)]);
    return dicom(sopsOf(seriesUid, n).map((s) => part10(s)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = createDicomwebClient(
    { DICOMWEB_SOURCES: { pacs: { url: `http://127.0.0.1:${port}` } }, DICOMWEB_TIMEOUT_MS: 2000, DICOMWEB_RETRIES: 0 },
    'pacs',
  );
  return {
    client,
    requests,
    aborted,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Also the sockets the client opened but has not used yet (undici opens one after an abort).
        server.closeAllConnections();
      }),
  };
}

let pacs: Awaited<ReturnType<typeof fakePacs>>;
beforeEach(async () => {
  pacs = await fakePacs();
});
afterEach(async () => {
  await pacs.close();
});

const mostInstances = (candidates: SeriesCandidate[]) => {
  const [best, ...rest] = [...candidates].sort((a, b) => b.instances.length - a.instances.length);
  return {
    chosen: best?.seriesInstanceUid ?? null,
    reasons: ['most instances'],
    rejected: rest.map((r) => ({ seriesInstanceUid: r.seriesInstanceUid, reason: 'fewer instances' })),
  };
};

describe('fetchStudySeriesForAnalysis', () => {
  it('offers only CT series with their metadata, retrieves only the chosen series in one request', async () => {
    let offered: SeriesCandidate[] = [];
    const result = await fetchStudySeriesForAnalysis(pacs.client, STUDY, (c) => {
      offered = c;
      return mostInstances(c);
    });
    expect(offered.map((c) => [c.seriesInstanceUid, c.instances.length])).toEqual([
      [CT_A, 2],
      [CT_B, 6],
    ]);
    expect(result.chosen).toBe(CT_B);
    expect(result.rejected).toEqual([
      { seriesInstanceUid: SR, reason: 'modality SR is not CT' },
      { seriesInstanceUid: CT_A, reason: 'fewer instances' },
    ]);
    expect(result.instanceCount).toBe(6);
    expect(result.buffers).toHaveLength(6);
    expect(result.bytes).toBe(result.buffers.reduce((s, b) => s + b.length, 0));
    expect(result.compressed).toBe(false);
    const retrievals = pacs.requests.filter((r) => !r.includes('metadata') && /\/series\/[\d.]+$/.test(r));
    expect(retrievals).toEqual([`/studies/${STUDY}/series/${CT_B}`]);
    expect(pacs.requests.some((r) => r.includes(SR))).toBe(false);
  });

  it("'instances' retrieval asks per SOP Instance UID with at most `concurrency` requests in flight", async () => {
    const result = await fetchStudySeriesForAnalysis(pacs.client, STUDY, mostInstances, {
      retrieval: 'instances',
      concurrency: 2,
    });
    expect(result.buffers).toHaveLength(6);
    const perInstance = pacs.requests.filter((r) => r.includes('/instances/'));
    expect(perInstance.sort()).toEqual(sopsOf(CT_B, 6).map((s) => `/studies/${STUDY}/series/${CT_B}/instances/${s}`));
    expect(pacs.maxInFlight()).toBeLessThanOrEqual(2);
  });

  it('reports compressed buffers when the server did not transcode', async () => {
    await pacs.close();
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      res.setHeader('content-type', 'application/dicom+json');
      if (url.startsWith(`/studies/${STUDY}/series?`)) return void res.end(JSON.stringify([series(CT_A, 'CT', 1)]));
      if (url.endsWith('/metadata')) return void res.end(JSON.stringify([instance(`${CT_A}.1`)]));
      res.setHeader('content-type', 'multipart/related; type="application/dicom"; boundary=b');
      const file = part10(`${CT_A}.1`, TRANSFER_SYNTAX.JPEG_2000_LOSSLESS);
      res.end(Buffer.concat([Buffer.from('--b\r\n\r\n'), file, Buffer.from('\r\n--b--')]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    pacs.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const client = createDicomwebClient(
      { DICOMWEB_SOURCES: { s: { url: `http://127.0.0.1:${port}` } }, DICOMWEB_TIMEOUT_MS: 2000, DICOMWEB_RETRIES: 0 },
      's',
    );
    const result = await fetchStudySeriesForAnalysis(client, STUDY, mostInstances);
    expect(result.compressed).toBe(true);
    expect(result.transferSyntaxUids).toEqual([TRANSFER_SYNTAX.JPEG_2000_LOSSLESS]);
  });

  it('a selector that picks a series it was not offered is a bug (INTERNAL)', async () => {
    await expect(
      fetchStudySeriesForAnalysis(pacs.client, STUDY, () => ({ chosen: SR, reasons: [], rejected: [] })),
    ).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  describe('a failed request aborts the others of its batch instead of leaving them to their timeout', () => {
    const seriesPath = (uid: string) => `/studies/${STUDY}/series/${uid}`;
    const cases: Array<[string, FetchStudyOptions, string, string]> = [
      ['metadata', { concurrency: 2 }, `${seriesPath(CT_A)}/metadata`, `${seriesPath(CT_B)}/metadata`],
      [
        'instances',
        { concurrency: 2, retrieval: 'instances' },
        `${seriesPath(CT_B)}/instances/${CT_B}.1`,
        `${seriesPath(CT_B)}/instances/${CT_B}.2`,
      ],
    ];
    it.each(cases)('%s', async (_kind, options, hangingPath, failingPath) => {
      // `hangingPath` never gets an answer; `failingPath` gets a 404 once `hangingPath` is in flight.
      let hangingArrived!: () => void;
      const arrived = new Promise<void>((resolve) => (hangingArrived = resolve));
      await pacs.close();
      pacs = await fakePacs((path, res) => {
        if (path === hangingPath) {
          hangingArrived();
          return true;
        }
        if (path !== failingPath) return false;
        void arrived.then(() => {
          res.statusCode = 404;
          res.end();
        });
        return true;
      });
      const caller = new AbortController();
      const started = Date.now();
      await expect(
        fetchStudySeriesForAnalysis(pacs.client, STUDY, mostInstances, { ...options, signal: caller.signal }),
      ).rejects.toMatchObject({ code: 'DICOMWEB_CLIENT_ERROR', message: expect.stringMatching(/HTTP 404$/) });
      // The client's idle timeout is 2000 ms: the hanging request must be closed well before it.
      while (!pacs.aborted.includes(hangingPath) && Date.now() - started < 1000) await new Promise((r) => setTimeout(r, 10));
      expect(pacs.aborted).toEqual([hangingPath]);
      expect(Date.now() - started).toBeLessThan(1000);
      // Nothing new was started after the failure, and the caller's own signal was left alone.
      expect(pacs.requests.filter((r) => r.includes('/instances/'))).toHaveLength(options.retrieval === 'instances' ? 2 : 0);
      expect(caller.signal.aborted).toBe(false);
    });
  });

  it('given the series list (e.g. from studyFingerprint), it does not search again and decides the same', async () => {
    const fp = await studyFingerprint(pacs.client, STUDY);
    expect(pacs.requests).toHaveLength(1);
    const given = await fetchStudySeriesForAnalysis(pacs.client, STUDY, mostInstances, { seriesList: fp.seriesList });
    expect(pacs.requests.filter((r) => /\/series(\?|$)/.test(r))).toHaveLength(1);
    const searched = await fetchStudySeriesForAnalysis(pacs.client, STUDY, mostInstances);
    expect(given).toEqual(searched);
    const none = await fetchStudySeriesForAnalysis(pacs.client, STUDY, mostInstances, { seriesList: [] });
    expect(none).toMatchObject({ chosen: null, reasons: ['the source has no series for this study'] });
  });

  it('no series at all → chosen null, nothing retrieved', async () => {
    const result = await fetchStudySeriesForAnalysis(pacs.client, '9.9.9', mostInstances);
    expect(result).toMatchObject({ chosen: null, buffers: [], instanceCount: 0 });
    expect(pacs.requests).toHaveLength(1);
  });
});

describe('studyFingerprint', () => {
  it('counts series and instances from one QIDO request', async () => {
    const fp = await studyFingerprint(pacs.client, STUDY);
    expect(fp).toMatchObject({ seriesCount: 3, instanceCount: 9 });
    expect(fp.series.map((s) => s.seriesInstanceUid)).toEqual([CT_A, CT_B, SR]);
    expect(fp.fingerprint).toMatch(/^v2:[0-9a-f]{64}$/);
    expect(fp.seriesList.map((s) => dicomString(s, '0020000E'))).toEqual([CT_A, CT_B, SR]);
    expect(pacs.requests).toHaveLength(1);
    expect((await studyFingerprint(pacs.client, STUDY)).fingerprint).toBe(fp.fingerprint);
    expect((await studyFingerprint(pacs.client, '9.9.9')).fingerprint).not.toBe(fp.fingerprint);
  });

  it('counts only what an analysis reads: another SR or OT series (our own results sent back) leaves it, another CT series changes it', async () => {
    const fp = await studyFingerprint(pacs.client, STUDY);
    // The same source, with one series fewer in its QIDO-RS answer.
    const without = (drop: string): DicomwebClient =>
      Object.assign(Object.create(pacs.client) as DicomwebClient, {
        searchSeries: async (...args: Parameters<DicomwebClient['searchSeries']>) => (await pacs.client.searchSeries(...args)).filter((s) => dicomString(s, '0020000E') !== drop),
      });
    expect((await studyFingerprint(without(SR), STUDY)).fingerprint).toBe(fp.fingerprint);
    expect((await studyFingerprint(without(CT_B), STUDY)).fingerprint).not.toBe(fp.fingerprint);
  });
});

describe('helpers', () => {
  it('dicomString / dicomNumber read first values of any VR', () => {
    const ds: DicomJson = { a: { vr: 'IS', Value: ['12'] }, b: { vr: 'US', Value: [3] }, c: { vr: 'UI' } };
    expect([dicomString(ds, 'a'), dicomString(ds, 'b'), dicomString(ds, 'c'), dicomString(ds, 'x')]).toEqual([
      '12',
      '3',
      undefined,
      undefined,
    ]);
    expect([dicomNumber(ds, 'a'), dicomNumber(ds, 'b'), dicomNumber(ds, 'c')]).toEqual([12, 3, undefined]);
  });

  it('mapWithConcurrency keeps order and bounds concurrency; the first error rejects', async () => {
    let inFlight = 0;
    let max = 0;
    const out = await mapWithConcurrency([5, 1, 4, 2, 3, 0], 3, async (x) => {
      inFlight += 1;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, x * 3));
      inFlight -= 1;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(max).toBe(3);
    await expect(
      mapWithConcurrency([1, 2, 3], 2, async (x) => {
        if (x === 2) throw new Error('boom');
        return x;
      }),
    ).rejects.toThrow('boom');
    expect(await mapWithConcurrency([], 4, async (x) => x)).toEqual([]);
  });
});
