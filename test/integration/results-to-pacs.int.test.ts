/**
 * Results back to PACS against a real Orthanc: a phantom study is notified, analysed, and with
 * RESULTS_TO_PACS=sc or =sr the service stores its key image (Secondary Capture) or its findings (TID 1500
 * SR) in the same study on the same Orthanc with STOW-RS. Read back with QIDO-RS and WADO-RS and parsed
 * with dcmjs: SOP class, Study Instance UID, the source's patient id, the SR's measurements against the
 * findings in GET /studies/{uid}. A replayed analysis sends the same instances (no duplicates); with
 * RESULTS_TO_PACS=off nothing is sent. Skips, saying why, when Orthanc is absent.
 */
import { Queue } from 'bullmq';
import request from 'supertest';
import { readPart10 } from '../../src/emit/dicom';
import { createDicomwebClient, type DicomJson } from '../../src/ingest/dicomweb';
import { phantomBuffers } from '../../src/imaging/phantom/generate';
import type { StudyState } from '../../src/store/studies';
import type { VertebraFinding } from '../../src/domain/findings';
import { describeUnless } from '../helpers/imaging-fixtures';
import { orthancSkipReason, startOrthanc, stowRs, type OrthancInstance } from '../helpers/orthanc';
import { QUEUES } from '../../src/queue/names';
import { REDIS_URL, deletePrefix, startTestApp, testPrefix } from '../helpers/service';

type App = Awaited<ReturnType<typeof startTestApp>>;
type Ds = Record<string, unknown>;

const orthancSkip = orthancSkipReason();
if (orthancSkip) console.warn(`results-to-pacs.int: ${orthancSkip}`);

jest.setTimeout(240_000);

/** Small phantom (128×128, 3 mm pixels, 4.5 mm slices) with a moderate wedge fracture at T12. */
const SMALL = { size: 128, pixelSpacing: 3, sliceSpacing: 4.5, fractures: [{ level: 'T12' as const, grade: 2 as const, morphology: 'wedge' as const }] };
const TOKEN = 'results-secret';

async function waitFor(base: string, uid: string, done: (s: StudyState) => boolean, timeoutMs = 150_000): Promise<StudyState> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const res = await request(base).get(`/studies/${uid}`).set('authorization', `Bearer ${TOKEN}`);
    last = res.body;
    if (res.status === 200 && done(res.body as StudyState)) return res.body as StudyState;
    if (Date.now() > deadline) throw new Error(`study did not settle: ${JSON.stringify(last).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const settled = (s: StudyState) => s.resultsToPacs?.status === 'sent' || s.resultsToPacs?.status === 'failed';
const seq = (ds: Ds, key: string) => (ds[key] as Ds[] | undefined) ?? [];
const conceptValue = (item: Ds) => (seq(item, 'ConceptNameCodeSequence')[0] as { CodeValue?: string } | undefined)?.CodeValue;
const text = (ds: DicomJson, tag: string) => ds[tag]?.Value?.[0] as string | undefined;

describeUnless(orthancSkip)('results back to PACS against a real Orthanc', () => {
  let orthanc: OrthancInstance;
  const prefixes: string[] = [];

  beforeAll(async () => {
    orthanc = await startOrthanc();
  });

  afterAll(async () => {
    await orthanc?.stop();
    for (const p of prefixes) await deletePrefix(p);
  });

  /** A service with RESULTS_TO_PACS=`mode` on its own prefix, reading from and writing to the Orthanc. */
  async function startWith(mode: 'off' | 'sc' | 'sr' | 'sc+sr'): Promise<{ app: App; base: string }> {
    const prefix = testPrefix(`results-${mode.replace('+', '')}`);
    prefixes.push(prefix);
    const app = await startTestApp({
      QUEUE_PREFIX: prefix,
      API_TOKEN: TOKEN,
      DICOMWEB_SOURCES: { pacs: { url: orthanc.dicomWebUrl } },
      DICOMWEB_RETRIES: 1,
      RESULTS_TO_PACS: mode,
    });
    return { app, base: `http://127.0.0.1:${app.httpPort}` };
  }

  /** A fresh phantom study on the Orthanc; returns its identifiers. */
  async function uploadPhantom(salt: string) {
    const p = phantomBuffers({ seed: 21, ...SMALL, uidSalt: salt });
    await stowRs(orthanc, p.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
    return p.truth;
  }

  async function notify(base: string, studyInstanceUid: string) {
    const res = await request(base).post('/notifications/studies').set('authorization', `Bearer ${TOKEN}`).send({ studyInstanceUid, source: 'pacs' });
    expect(res.status).toBe(202);
  }

  const client = () => createDicomwebClient({ DICOMWEB_SOURCES: { pacs: { url: orthanc.dicomWebUrl } }, DICOMWEB_TIMEOUT_MS: 30_000, DICOMWEB_RETRIES: 0 }, 'pacs');

  /** The study's series on the Orthanc by modality (QIDO-RS). */
  async function seriesByModality(uid: string): Promise<Map<string, string[]>> {
    const found = await client().searchSeries(uid, { includefield: ['00080060'] });
    const out = new Map<string, string[]>();
    for (const s of found) {
      const modality = text(s, '00080060') ?? '?';
      out.set(modality, [...(out.get(modality) ?? []), text(s, '0020000E') as string]);
    }
    return out;
  }

  /** Every instance of a series, retrieved with WADO-RS and parsed with dcmjs. */
  async function retrieve(uid: string, series: string): Promise<Ds[]> {
    const { instances } = await client().retrieveSeries(uid, series);
    return instances.map((i) => readPart10(i.buffer));
  }

  it('RESULTS_TO_PACS=sc: the key image comes back as a Secondary Capture in the study, under its patient', async () => {
    const truth = await uploadPhantom('results-sc');
    const { app, base } = await startWith('sc');
    try {
      await notify(base, truth.studyInstanceUid);
      const state = await waitFor(base, truth.studyInstanceUid, settled);
      expect(state.resultsToPacs).toMatchObject({ status: 'sent', kinds: ['sc'], error: null });
      const [scSeries] = state.resultsToPacs!.seriesInstanceUids;
      const series = await seriesByModality(truth.studyInstanceUid);
      expect(series.get('OT')).toEqual([scSeries]);
      expect(series.get('SR')).toBeUndefined();
      const [sc, ...more] = await retrieve(truth.studyInstanceUid, scSeries!);
      expect(more).toEqual([]);
      expect(sc).toMatchObject({
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
        SOPInstanceUID: state.resultsToPacs!.sopInstanceUids[0],
        StudyInstanceUID: truth.studyInstanceUid,
        PatientID: truth.patientId,
        AccessionNumber: truth.accessionNumber,
        Modality: 'OT',
        BurnedInAnnotation: 'YES',
        PhotometricInterpretation: 'RGB',
      });
      // The key image the service serves, pixel for pixel (PNG dimensions).
      const png = await request(base).get(`/studies/${truth.studyInstanceUid}/key-image.png`).set('authorization', `Bearer ${TOKEN}`).buffer(true);
      expect(png.status).toBe(200);
      expect(sc?.Columns).toBe((png.body as Buffer).readUInt32BE(16));
      expect(sc?.Rows).toBe((png.body as Buffer).readUInt32BE(20));
    } finally {
      await app.stop();
    }
  });

  it('RESULTS_TO_PACS=sr: the findings come back as a TID 1500 SR matching GET /studies/{uid}; a replay adds no duplicate', async () => {
    const truth = await uploadPhantom('results-sr');
    const { app, base } = await startWith('sr');
    try {
      await notify(base, truth.studyInstanceUid);
      const state = await waitFor(base, truth.studyInstanceUid, settled);
      expect(state.resultsToPacs).toMatchObject({ status: 'sent', kinds: ['sr'], error: null });
      const series = await seriesByModality(truth.studyInstanceUid);
      expect(series.get('SR')).toEqual(state.resultsToPacs!.seriesInstanceUids);
      expect(series.get('OT')).toBeUndefined();
      const [sr, ...more] = await retrieve(truth.studyInstanceUid, state.resultsToPacs!.seriesInstanceUids[0]!);
      expect(more).toEqual([]);
      expect(sr).toMatchObject({
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33',
        StudyInstanceUID: truth.studyInstanceUid,
        PatientID: truth.patientId,
        Modality: 'SR',
        VerificationFlag: 'UNVERIFIED',
      });
      expect(seq(sr!, 'ContentTemplateSequence')[0]).toMatchObject({ TemplateIdentifier: '1500' });

      // One measurement group per vertebra found, each with the heights and grade of GET /studies/{uid}.
      const vertebrae = state.findings!.vertebrae as VertebraFinding[];
      expect(vertebrae.length).toBeGreaterThan(10);
      const measurements = seq(sr!, 'ContentSequence').find((i) => conceptValue(i) === '126010')!;
      const groups = seq(measurements, 'ContentSequence');
      expect(groups).toHaveLength(vertebrae.length);
      groups.forEach((g, i) => {
        const v = vertebrae[i]!;
        const items = seq(g, 'ContentSequence');
        const value = (code: string) => Number((seq(items.find((it) => conceptValue(it) === code)!, 'MeasuredValueSequence')[0] as Ds).NumericValue);
        expect(value('anterior-height')).toBeCloseTo(v.heightsMm.anterior, 2);
        expect(value('middle-height')).toBeCloseTo(v.heightsMm.middle, 2);
        expect(value('posterior-height')).toBeCloseTo(v.heightsMm.posterior, 2);
        const grade = items.find((it) => conceptValue(it) === 'RDES150')!;
        expect((seq(grade, 'ConceptCodeSequence')[0] as Ds).CodeValue).toBe(`genant-${v.grade}`);
      });
      // The fracture the phantom carries is among them (graded 1 or more at T12, or flagged near it).
      expect(vertebrae.some((v) => v.grade >= 1)).toBe(true);

      // A replay analyses the study again and sends the same instances: still one SR series of one instance.
      const sopBefore = state.resultsToPacs!.sopInstanceUids;
      const replay = await request(base).post(`/studies/${truth.studyInstanceUid}/replay`).set('authorization', `Bearer ${TOKEN}`);
      expect(replay.status).toBe(202);
      const again = await waitFor(base, truth.studyInstanceUid, (s) => s.notifiedAt !== state.notifiedAt && settled(s));
      expect(again.resultsToPacs).toMatchObject({ status: 'sent', sopInstanceUids: sopBefore });
      const after = await seriesByModality(truth.studyInstanceUid);
      expect(after.get('SR')).toEqual(state.resultsToPacs!.seriesInstanceUids);
      expect(await client().searchInstances(truth.studyInstanceUid, after.get('SR')![0]!)).toHaveLength(1);
    } finally {
      await app.stop();
    }
  });

  it('RESULTS_TO_PACS=off: the study is analysed and nothing is sent', async () => {
    const truth = await uploadPhantom('results-off');
    const { app, base } = await startWith('off');
    try {
      await notify(base, truth.studyInstanceUid);
      await waitFor(base, truth.studyInstanceUid, (s) => s.correlation?.outcome === 'awaiting-report');
      // The study job has returned (it would have asked for results before that).
      const studies = new Queue(QUEUES.studies, { connection: { url: REDIS_URL }, prefix: app.config.QUEUE_PREFIX });
      const results = new Queue(QUEUES.results, { connection: { url: REDIS_URL }, prefix: app.config.QUEUE_PREFIX });
      try {
        for (let i = 0; (await studies.getJob(`study-${truth.studyInstanceUid}`))?.finishedOn === undefined; i++) {
          if (i > 600) throw new Error('the study job did not finish');
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(await results.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 });
      } finally {
        await studies.close();
        await results.close();
      }
      const state = (await request(base).get(`/studies/${truth.studyInstanceUid}`).set('authorization', `Bearer ${TOKEN}`)).body as StudyState;
      expect(state.findings?.vertebrae.length).toBeGreaterThan(10);
      expect(state.resultsToPacs).toBeUndefined();
      const series = await seriesByModality(truth.studyInstanceUid);
      expect([...series.keys()]).toEqual(['CT']);
    } finally {
      await app.stop();
    }
  });
});
