/**
 * The results job (src/queue/results.ts) over a real Redis study store and a local DICOMweb server: what it
 * sends and records when the PACS stores the instances, refuses them (failed, not retried) or is down
 * (retrying), that it sends nothing for a study being analysed again, and that its log lines carry no
 * patient data.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Job, UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { readPart10 } from '../../../src/emit/dicom';
import { createDicomwebClient } from '../../../src/ingest/dicomweb/client';
import { boundaryFromContentType, parseMultipart } from '../../../src/ingest/dicomweb/multipart';
import { type ResultsJobData, processResultsJob } from '../../../src/queue/results';
import { StudyStore } from '../../../src/store/studies';
import type { StudyAnalysis } from '../../../src/imaging';
import { capturingLogger } from '../../helpers/logs';
import { REDIS_URL, deletePrefix, testPrefix } from '../../helpers/service';

const STUDY = '1.2.826.0.1.3680043.10.5151.1';
const SERIES = '1.2.826.0.1.3680043.10.5151.2';
const PATIENT = { name: 'Canary^Results', id: 'PID-CANARY-51' };

const findings = {
  studyInstanceUid: STUDY,
  seriesInstanceUid: SERIES,
  model: { name: 'vcf-unet-ref', version: '0.2.0', sha256: 'c'.repeat(64) },
  vertebrae: [
    { level: 'T12', centerMm: [0, 0, 0], grade: 2, morphology: 'wedge', heightLossPercent: 30, heightsMm: { anterior: 15, middle: 19, posterior: 22 }, confidence: 0.9, flags: [], gradingNotes: [] },
  ],
  fractures: [],
} as unknown as StudyAnalysis;

/** A DICOMweb source: QIDO-RS study and instance searches, and STOW-RS answered by `stow`. */
async function source(stow: (sopUids: string[]) => { status: number; body?: unknown }) {
  const posted: Array<Record<string, unknown>> = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const json = (status: number, body?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/dicom+json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url?.startsWith('/dicom-web/studies?')) {
        return json(200, [{ '00100010': { vr: 'PN', Value: [{ Alphabetic: PATIENT.name }] }, '00100020': { vr: 'LO', Value: [PATIENT.id] }, '0020000D': { vr: 'UI', Value: [STUDY] } }]);
      }
      if (req.method === 'GET' && req.url?.startsWith(`/dicom-web/studies/${STUDY}/series/${SERIES}/instances`)) {
        return json(200, [{ '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] }, '00080018': { vr: 'UI', Value: [`${SERIES}.1`] } }]);
      }
      if (req.method === 'POST' && req.url === `/dicom-web/studies/${STUDY}`) {
        const uids: string[] = [];
        for await (const part of parseMultipart((async function* () { yield Buffer.concat(chunks); })(), boundaryFromContentType(req.headers['content-type']))) {
          const ds = readPart10(part.body);
          posted.push(ds);
          uids.push(ds.SOPInstanceUID as string);
        }
        const a = stow(uids);
        return json(a.status, a.body);
      }
      json(404);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicom-web`;
  const client = createDicomwebClient({ DICOMWEB_SOURCES: { pacs: { url } }, DICOMWEB_TIMEOUT_MS: 2000, DICOMWEB_RETRIES: 0 }, 'pacs');
  return { client, posted, requests: () => requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const stored = (uids: string[]) => ({ status: 200, body: { '00081199': { vr: 'SQ', Value: uids.map((u) => ({ '00081155': { vr: 'UI', Value: [u] } })) } } });

function job(attemptsMade = 0): Job<ResultsJobData> {
  const data: ResultsJobData = { studyInstanceUid: STUDY, source: 'pacs', analysisId: 'study-x:1:1', analysedAt: '2026-03-01T15:04:05.000Z', traceId: 'trace-r' };
  return { data, attemptsMade, opts: { attempts: 3 } } as unknown as Job<ResultsJobData>;
}

describe('results job (real Redis, local DICOMweb source)', () => {
  const prefix = testPrefix('results-job');
  let redis: Redis;
  let store: StudyStore;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    store = new StudyStore(redis, prefix, 3600);
  });
  afterAll(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });
  beforeEach(async () => {
    await store.markQueued(STUDY, { source: 'pacs', jobId: 'j', maxAttempts: 1, accessionNumber: null, patientId: null, traceId: 't' });
    await store.update(STUDY, { status: 'awaiting-report', findings });
  });

  it('sends the SR with the source patient attributes and records it sent; no patient data or UID in its logs', async () => {
    const src = await source(stored);
    const { logger, lines } = capturingLogger('debug');
    try {
      const result = await processResultsJob(job(), { store, clientFor: () => src.client, kinds: ['sr'], logger });
      expect(result.status).toBe('sent');
      expect(src.posted).toHaveLength(1);
      expect(src.posted[0]).toMatchObject({ PatientID: PATIENT.id, StudyInstanceUID: STUDY, Modality: 'SR', ContentDate: expect.stringMatching(/^2026030[12]$/) });
      const state = await store.get(STUDY);
      expect(state?.resultsToPacs).toMatchObject({ status: 'sent', kinds: ['sr'], attempt: 1, sopInstanceUids: [src.posted[0]!.SOPInstanceUID], error: null });
      expect(state?.status).toBe('awaiting-report');
      const log = JSON.stringify(lines);
      expect(lines.some((l) => l.event === 'results.sent')).toBe(true);
      for (const phi of [PATIENT.id, 'Canary', STUDY, SERIES]) expect(log).not.toContain(phi);
    } finally {
      await src.close();
    }
  });

  it('a PACS that refuses the instances: failed at once, UnrecoverableError, the reason in the state', async () => {
    const src = await source(([uid]) => ({ status: 409, body: { '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: [uid] }, '00081197': { vr: 'US', Value: [0xa900] } }] } } }));
    try {
      const err = await processResultsJob(job(), { store, clientFor: () => src.client, kinds: ['sr'], logger: capturingLogger().logger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnrecoverableError);
      const state = await store.get(STUDY);
      expect(state?.resultsToPacs).toMatchObject({ status: 'failed', error: { code: 'DICOMWEB_CLIENT_ERROR', message: expect.stringContaining('0xA900') } });
      // The study itself is not failed by it.
      expect(state?.status).toBe('awaiting-report');
    } finally {
      await src.close();
    }
  });

  it('a PACS that is down: retrying while attempts remain (a plain error for BullMQ backoff), failed on the last', async () => {
    const src = await source(() => ({ status: 503 }));
    try {
      const deps = { store, clientFor: () => src.client, kinds: ['sr'] as const, logger: capturingLogger().logger };
      const first = await processResultsJob(job(0), deps).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(Error);
      expect(first).not.toBeInstanceOf(UnrecoverableError);
      expect((await store.get(STUDY))?.resultsToPacs).toMatchObject({ status: 'retrying', attempt: 1, error: { code: 'DICOMWEB_UNAVAILABLE' } });
      await processResultsJob(job(2), deps).catch(() => undefined);
      expect((await store.get(STUDY))?.resultsToPacs).toMatchObject({ status: 'failed', attempt: 3, error: { code: 'DICOMWEB_UNAVAILABLE' } });
    } finally {
      await src.close();
    }
  });

  it('a study being analysed again: nothing is asked or sent (its new analysis sends its own)', async () => {
    const src = await source(stored);
    try {
      await store.markQueued(STUDY, { source: 'pacs', jobId: 'j', maxAttempts: 1, accessionNumber: null, patientId: null, traceId: 't' });
      const result = await processResultsJob(job(), { store, clientFor: () => src.client, kinds: ['sc', 'sr'], logger: capturingLogger().logger });
      expect(result).toEqual({ status: 'skipped', sopInstanceUids: [] });
      expect(src.requests()).toBe(0);
    } finally {
      await src.close();
    }
  });
});
