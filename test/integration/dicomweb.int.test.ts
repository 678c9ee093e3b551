/**
 * The DICOMweb client and study fetcher against a real Orthanc (DICOMweb plugin, GDCM plugin when
 * installed) with real-world fixtures: a Siemens CT series in JPEG 2000 lossless and three GE slices in
 * Implicit VR Little Endian. Skips, saying why, when Orthanc or ../shared/fixtures is absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DicomwebHttpError, createDicomwebClient, type DicomwebClientOptions, type RetryEvent } from '../../src/ingest/dicomweb/client';
import { TAG, TRANSFER_SYNTAX } from '../../src/ingest/dicomweb/constants';
import { dicomString, fetchStudySeriesForAnalysis, studyFingerprint } from '../../src/ingest/dicomweb/fetch-study';
import { readPart10Meta } from '../../src/ingest/dicomweb/part10';
import type { DicomwebSource } from '../../src/config/schema';
import type { SelectSeries, SeriesCandidate } from '../../src/ingest/dicomweb/types';
import { caught } from '../helpers/dicomweb';
import { orthancSkipReason, startOrthanc, type OrthancInstance } from '../helpers/orthanc';
import { IMPLICIT_DIR, J2K_DIR, describeUnless, fillEmptyUids, imagingFixturesSkipReason, uidFor } from '../helpers/imaging-fixtures';

// dcmjs ships no types; only what this test uses.
interface DcmjsDataset {
  meta: Record<string, { Value?: unknown[] }>;
  dict: Record<string, { vr: string; Value?: unknown[] }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as {
  log: { setLevel(level: string): void };
  data: { DicomMessage: { readFile(buffer: ArrayBuffer): DcmjsDataset } };
};
dcmjs.log.setLevel('silent'); // it warns about the 'xs'/'ox' VRs of its own dictionary on Implicit VR files

const orthancSkip = orthancSkipReason();
const fixturesSkip = imagingFixturesSkipReason();
for (const reason of [orthancSkip, fixturesSkip]) if (reason) console.warn(`dicomweb.int: ${reason}`);

const describeOrthanc = describeUnless(orthancSkip);
const describeFixtures = describeUnless(orthancSkip ?? fixturesSkip);

jest.setTimeout(120_000);

function parse(buffer: Buffer): DcmjsDataset {
  const ab = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
  return dcmjs.data.DicomMessage.readFile(ab);
}

function pixelBytes(ds: DcmjsDataset): Buffer {
  const value = ds.dict['7FE00010']?.Value?.[0];
  if (!(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value)) throw new Error('no native pixel data');
  return ArrayBuffer.isView(value)
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    : Buffer.from(value as ArrayBuffer);
}

function num(ds: DcmjsDataset, tag: string): number {
  return Number(ds.dict[tag]?.Value?.[0]);
}

function clientFor(
  orthanc: OrthancInstance,
  options: DicomwebClientOptions & { auth?: DicomwebSource['auth']; retries?: number } = {},
) {
  const retries: RetryEvent[] = [];
  const { auth, retries: retryCount, ...rest } = options;
  const client = createDicomwebClient(
    {
      DICOMWEB_SOURCES: { orthanc: { url: orthanc.dicomWebUrl, ...(auth ? { auth } : {}) } },
      DICOMWEB_TIMEOUT_MS: 30_000,
      DICOMWEB_RETRIES: retryCount ?? 3,
    },
    'orthanc',
    { sleep: async () => undefined, onRetry: (e) => retries.push(e), ...rest },
  );
  return { client, retries };
}

/**
 * For requests that make Orthanc transcode JPEG 2000 with GDCM: Debian 12's orthanc-gdcm 1.5 segfaults at
 * random there (mostly on per-instance requests), the harness restarts it, and the client's real retries
 * with backoff ride over the restart.
 */
const RIDE_OVER_CRASHES = { retries: 10, backoffBaseMs: 200, backoffMaxMs: 2000, sleep: undefined } as const;
/** Without GDCM nothing crashes, and JPEG 2000 transcoding fails with 500 at once: no need to insist. */
const NO_GDCM = { retries: 1, backoffBaseMs: 50, sleep: undefined } as const;

/** The trivial selector of these tests: the series with the most instances. */
const biggestSeries: SelectSeries = (candidates) => {
  const sorted = [...candidates].sort((a, b) => b.instances.length - a.instances.length);
  const [best, ...others] = sorted;
  return {
    chosen: best?.seriesInstanceUid ?? null,
    reasons: best ? [`most instances (${best.instances.length})`] : ['no candidates'],
    rejected: others.map((o) => ({ seriesInstanceUid: o.seriesInstanceUid, reason: 'fewer instances' })),
  };
};

describeFixtures('DICOMweb against Orthanc with real fixtures', () => {
  const J2K_STUDY = uidFor('vcf-sentinel fixture totalsegmentator study');
  const J2K_SERIES = uidFor('vcf-sentinel fixture totalsegmentator series');
  const j2kFiles = fs.existsSync(J2K_DIR) ? fs.readdirSync(J2K_DIR).sort().map((f) => path.join(J2K_DIR, f)) : [];
  const implicitFiles = fs.existsSync(IMPLICIT_DIR)
    ? fs.readdirSync(IMPLICIT_DIR).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(IMPLICIT_DIR, f))
    : [];
  let orthanc: OrthancInstance;
  /** Client options for this server: insist through GDCM crashes, or not when there is no GDCM. */
  const ride = () => (orthanc.gdcmPlugin ? RIDE_OVER_CRASHES : NO_GDCM);
  /** With GDCM Orthanc decodes JPEG 2000; without it the client falls back to the stored transfer syntax. */
  const expectedJ2kTransferSyntax = () =>
    orthanc.gdcmPlugin ? TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN : TRANSFER_SYNTAX.JPEG_2000_LOSSLESS;
  let implicitStudy: string;
  let implicitSeries: string;

  beforeAll(async () => {
    orthanc = await startOrthanc({ restartOnCrash: true });
    try {
      for (const f of j2kFiles) await orthanc.upload(fillEmptyUids(fs.readFileSync(f), J2K_STUDY, J2K_SERIES));
      await orthanc.uploadFiles(implicitFiles);
      const first = parse(fs.readFileSync(implicitFiles[0] as string));
      implicitStudy = String(first.dict[TAG.STUDY_INSTANCE_UID]?.Value?.[0]);
      implicitSeries = String(first.dict[TAG.SERIES_INSTANCE_UID]?.Value?.[0]);
    } catch (err) {
      await orthanc.stop();
      throw err;
    }
  });

  afterAll(async () => {
    if (orthanc?.crashes) {
      console.warn(`dicomweb.int: Orthanc crashed ${orthanc.crashes} time(s) while transcoding JPEG 2000 (GDCM); restarted each time`);
    }
    await orthanc?.stop();
  });

  it('uses the GDCM plugin when installed', () => {
    if (!orthanc.gdcmPlugin) console.warn('dicomweb.int: orthanc-gdcm not installed; JPEG 2000 cannot be transcoded');
    expect(j2kFiles).toHaveLength(20);
    expect(implicitFiles).toHaveLength(3);
  });

  it('QIDO-RS finds the studies, series and instances', async () => {
    const { client } = clientFor(orthanc, ride());
    const studies = await client.searchStudies({ includefield: [TAG.MODALITIES_IN_STUDY] });
    expect(studies.map((s) => dicomString(s, TAG.STUDY_INSTANCE_UID)).sort()).toEqual([J2K_STUDY, implicitStudy].sort());
    expect(await client.searchStudies({ StudyInstanceUID: J2K_STUDY })).toHaveLength(1);

    const series = await client.searchSeries(J2K_STUDY, { includefield: [TAG.MODALITY] });
    expect(series.map((s) => [dicomString(s, TAG.SERIES_INSTANCE_UID), dicomString(s, TAG.MODALITY)])).toEqual([
      [J2K_SERIES, 'CT'],
    ]);
    expect(await client.searchInstances(J2K_STUDY, J2K_SERIES)).toHaveLength(20);
    expect(await client.searchInstances(implicitStudy, implicitSeries)).toHaveLength(3);
  });

  it('WADO-RS metadata gives one DICOM JSON dataset per instance, without pixel data', async () => {
    const { client } = clientFor(orthanc, ride());
    const metadata = await client.retrieveSeriesMetadata(J2K_STUDY, J2K_SERIES);
    expect(metadata).toHaveLength(20);
    for (const m of metadata) {
      expect(dicomString(m, TAG.SOP_INSTANCE_UID)).toMatch(/^1\.3\.12\.2\.1107\./);
      expect(dicomString(m, TAG.MODALITY)).toBe('CT');
      expect(m['7FE00010']?.Value).toBeUndefined();
    }
  });

  it('WADO-RS series retrieve transcodes the JPEG 2000 series to Explicit VR Little Endian (with GDCM)', async () => {
    const { client, retries } = clientFor(orthanc, ride());
    const result = await client.retrieveSeries(J2K_STUDY, J2K_SERIES);
    if (retries.length > 0) console.warn(`dicomweb.int: series retrieve needed ${retries.length} retries`);
    expect(result.instances).toHaveLength(20);
    const expectedSops = j2kFiles.map((f) => path.basename(f).replace(/^CT\./, '')).sort();
    expect(result.instances.map((i) => i.sopInstanceUid).sort()).toEqual(expectedSops);
    expect(result.bytes).toBe(result.instances.reduce((s, i) => s + i.buffer.length, 0));
    if (!orthanc.gdcmPlugin) {
      // Orthanc cannot decode JPEG 2000 without orthanc-gdcm: 500, then the stored (compressed) instances.
      console.warn('dicomweb.int: orthanc-gdcm absent: checked the fallback to the stored JPEG 2000 instead of transcoding');
      expect(result.transcodingRefused).toBe(true);
      for (const instance of result.instances) {
        expect(instance.transferSyntaxUid).toBe(TRANSFER_SYNTAX.JPEG_2000_LOSSLESS);
        expect(parse(instance.buffer).meta['00020010']?.Value?.[0]).toBe(TRANSFER_SYNTAX.JPEG_2000_LOSSLESS);
      }
      return;
    }
    expect(result.transcodingRefused).toBe(false);
    for (const instance of result.instances) {
      expect(instance.transferSyntaxUid).toBe(TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN);
      const ds = parse(instance.buffer);
      expect(ds.meta['00020010']?.Value?.[0]).toBe(TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN);
      const rows = num(ds, TAG.ROWS);
      const cols = num(ds, TAG.COLUMNS);
      expect([rows, cols, num(ds, '00280100')]).toEqual([512, 512, 16]);
      const pixels = pixelBytes(ds);
      expect(pixels.length).toBe(rows * cols * 2);
      // Decoded CT, not zeros: air and tissue in every slice.
      let min = Infinity;
      let max = -Infinity;
      for (let k = 0; k < pixels.length; k += 2) {
        const v = pixels.readInt16LE(k);
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      expect(max - min).toBeGreaterThan(1000);
    }
  });

  it('WADO-RS retrieve of the Implicit VR slices gives Explicit VR LE with identical pixel data', async () => {
    const { client } = clientFor(orthanc, ride());
    const result = await client.retrieveSeries(implicitStudy, implicitSeries);
    expect(result.instances).toHaveLength(3);
    const originals = new Map(
      implicitFiles.map((f) => {
        const ds = parse(fs.readFileSync(f));
        return [String(ds.dict[TAG.SOP_INSTANCE_UID]?.Value?.[0]), pixelBytes(ds)] as const;
      }),
    );
    for (const instance of result.instances) {
      expect(readPart10Meta(instance.buffer)?.transferSyntaxUid).toBe(TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN);
      const ds = parse(instance.buffer);
      const pixels = pixelBytes(ds);
      expect(pixels.length).toBe(num(ds, TAG.ROWS) * num(ds, TAG.COLUMNS) * 2);
      expect(pixels.equals(originals.get(instance.sopInstanceUid) as Buffer)).toBe(true);
    }
  });

  it('WADO-RS retrieves a single instance', async () => {
    const { client } = clientFor(orthanc, ride());
    const sop = path.basename(j2kFiles[3] as string).replace(/^CT\./, '');
    const instance = await client.retrieveInstance(J2K_STUDY, J2K_SERIES, sop);
    expect(instance.sopInstanceUid).toBe(sop);
    expect(instance.transferSyntaxUid).toBe(expectedJ2kTransferSyntax());
    expect(instance.transcodingRefused).toBe(!orthanc.gdcmPlugin);
    if (orthanc.gdcmPlugin) expect(pixelBytes(parse(instance.buffer)).length).toBe(512 * 512 * 2);
  });

  it('a study Orthanc does not have → DICOMWEB_CLIENT_ERROR 404, no retry', async () => {
    const { client, retries } = clientFor(orthanc, ride());
    const err = await caught(client.retrieveSeriesMetadata('1.2.3.999', '1.2.3.999.1'));
    expect(err).toBeInstanceOf(DicomwebHttpError);
    expect(err.code).toBe('DICOMWEB_CLIENT_ERROR');
    expect((err as DicomwebHttpError).status).toBe(404);
    expect((await caught(client.retrieveSeries('1.2.3.999', '1.2.3.999.1'))).code).toBe('DICOMWEB_CLIENT_ERROR');
    expect(retries.filter((r) => r.reason.startsWith('HTTP'))).toEqual([]);
    // QIDO answers an unknown study with no match, not 404.
    expect(await client.searchSeries('1.2.3.999')).toEqual([]);
  });

  it('a per-instance size limit below the instance size → STUDY_UNUSABLE', async () => {
    const { client } = clientFor(orthanc, { ...ride(), maxInstanceBytes: 100_000 });
    expect((await caught(client.retrieveSeries(implicitStudy, implicitSeries))).code).toBe('STUDY_UNUSABLE');
    const { client: small } = clientFor(orthanc, { ...ride(), maxSeriesBytes: 1_000_000 });
    expect((await caught(small.retrieveSeries(J2K_STUDY, J2K_SERIES))).message).toMatch(/maximum of 1000000 bytes/);
  });

  describe('fetchStudySeriesForAnalysis', () => {
    it('offers the CT series with their metadata to selectSeries and retrieves only the chosen one', async () => {
      const { client } = clientFor(orthanc, ride());
      const offered: SeriesCandidate[][] = [];
      const result = await fetchStudySeriesForAnalysis(client, J2K_STUDY, (candidates) => {
        offered.push(candidates);
        return biggestSeries(candidates);
      });
      expect(offered).toHaveLength(1);
      expect(offered[0]?.map((c) => [c.seriesInstanceUid, c.instances.length])).toEqual([[J2K_SERIES, 20]]);
      expect(result.chosen).toBe(J2K_SERIES);
      expect(result.reasons).toEqual(['most instances (20)']);
      expect(result.rejected).toEqual([]);
      expect(result.instanceCount).toBe(20);
      expect(result.buffers).toHaveLength(20);
      expect(result.bytes).toBe(result.buffers.reduce((s, b) => s + b.length, 0));
      expect(result.compressed).toBe(!orthanc.gdcmPlugin);
      expect(new Set(result.transferSyntaxUids)).toEqual(new Set([expectedJ2kTransferSyntax()]));
    });

    it('returns chosen null, without retrieving, when the selector rejects everything or the study is unknown', async () => {
      const { client } = clientFor(orthanc, ride());
      const none = await fetchStudySeriesForAnalysis(client, implicitStudy, (candidates) => ({
        chosen: null,
        reasons: ['too few slices'],
        rejected: candidates.map((c) => ({ seriesInstanceUid: c.seriesInstanceUid, reason: 'only 3 slices' })),
      }));
      expect(none).toMatchObject({ chosen: null, reasons: ['too few slices'], buffers: [], instanceCount: 0, bytes: 0 });
      expect(none.rejected).toEqual([{ seriesInstanceUid: implicitSeries, reason: 'only 3 slices' }]);

      const unknown = await fetchStudySeriesForAnalysis(client, '1.2.3.999', biggestSeries);
      expect(unknown).toMatchObject({ chosen: null, reasons: ['the source has no series for this study'] });
    });

    it('rejects non-CT series before the selector sees them', async () => {
      const { client } = clientFor(orthanc, ride());
      const offered: string[] = [];
      const result = await fetchStudySeriesForAnalysis(
        client,
        implicitStudy,
        (c) => {
          offered.push(...c.map((s) => s.seriesInstanceUid));
          return biggestSeries(c);
        },
        { modalities: ['MR'] },
      );
      expect(offered).toEqual([]);
      expect(result.chosen).toBeNull();
      expect(result.rejected).toEqual([{ seriesInstanceUid: implicitSeries, reason: 'modality CT is not MR' }]);
    });

    it('series and per-instance retrieval give the same instances (timings and crashes logged)', async () => {
      const { client } = clientFor(orthanc, ride());
      const timings: Record<string, number[]> = { series: [], instances: [] };
      const crashes: Record<string, number> = { series: 0, instances: 0 };
      const sops: Record<string, string[]> = {};
      for (let round = 0; round < 3; round += 1) {
        for (const retrieval of ['series', 'instances'] as const) {
          const crashesBefore = orthanc.crashes;
          const started = process.hrtime.bigint();
          const result = await fetchStudySeriesForAnalysis(client, J2K_STUDY, biggestSeries, { retrieval, concurrency: 4 });
          timings[retrieval]?.push(Number(process.hrtime.bigint() - started) / 1e6);
          crashes[retrieval] = (crashes[retrieval] ?? 0) + orthanc.crashes - crashesBefore;
          sops[retrieval] = result.buffers.map((b) => readPart10Meta(b)?.sopInstanceUid ?? '').sort();
        }
      }
      expect(sops.instances).toEqual(sops.series);
      expect(sops.series).toHaveLength(20);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]?.toFixed(0);
      console.log(
        `dicomweb.int: 20 JPEG 2000 slices ${orthanc.gdcmPlugin ? 'transcoded by Orthanc+GDCM' : 'as stored (no GDCM)'}, ` +
          'median of 3 (ms, Orthanc crashes): ' +
          `series ${median(timings.series ?? [])} (${crashes.series}), ` +
          `per-instance x4 ${median(timings.instances ?? [])} (${crashes.instances})`,
      );
    });
  });

  describe('studyFingerprint', () => {
    it('counts series and instances, and changes when an instance arrives', async () => {
      const { client } = clientFor(orthanc, ride());
      const before = await studyFingerprint(client, J2K_STUDY);
      expect(before).toMatchObject({ seriesCount: 1, instanceCount: 20 });
      expect(before.series).toEqual([{ seriesInstanceUid: J2K_SERIES, modality: 'CT', instanceCount: 20 }]);
      expect(await studyFingerprint(client, J2K_STUDY)).toEqual(before);

      // A 21st instance: a copy of a slice with a new SOP Instance UID (same length, so patch in place).
      const file = fillEmptyUids(fs.readFileSync(j2kFiles[0] as string), J2K_STUDY, J2K_SERIES);
      const sop = readPart10Meta(file)?.sopInstanceUid as string;
      const newSop = sop.replace(/\.60064\.3/, '.60064.4'); // same length, unlike any slice of the series
      expect(newSop).not.toBe(sop);
      let at = file.indexOf(sop);
      while (at >= 0) {
        file.write(newSop, at, 'latin1');
        at = file.indexOf(sop, at + 1);
      }
      await orthanc.upload(file);
      const after = await studyFingerprint(client, J2K_STUDY);
      expect(after).toMatchObject({ seriesCount: 1, instanceCount: 21 });
      expect(after.fingerprint).not.toBe(before.fingerprint);
    });
  });
});

describeOrthanc('DICOMweb authentication against Orthanc (RegisteredUsers, HTTP basic)', () => {
  let orthanc: OrthancInstance;
  beforeAll(async () => {
    orthanc = await startOrthanc({ users: { alice: 'wonder land' } });
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('basic auth with the right password works', async () => {
    const { client } = clientFor(orthanc, { auth: { type: 'basic', username: 'alice', password: 'wonder land' } });
    expect(await client.searchStudies()).toEqual([]);
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong password', { type: 'basic' as const, username: 'alice', password: 'nope' }],
    ['a bearer token Orthanc does not know', { type: 'bearer' as const, token: 'abc.def.ghi' }],
  ])('%s → DICOMWEB_CLIENT_ERROR 401, no retry', async (_label, auth) => {
    const { client, retries } = clientFor(orthanc, auth ? { auth } : {});
    const err = await caught(client.searchStudies());
    expect(err.code).toBe('DICOMWEB_CLIENT_ERROR');
    expect((err as DicomwebHttpError).status).toBe(401);
    expect(retries).toHaveLength(0);
  });
});

describeOrthanc('DICOMweb when Orthanc stops', () => {
  let orthanc: OrthancInstance | undefined;
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('retries DICOMWEB_RETRIES times with growing backoff, then DICOMWEB_UNAVAILABLE', async () => {
    orthanc = await startOrthanc({ gdcm: false });
    const sleeps: number[] = [];
    const { client, retries } = clientFor(orthanc, {
      retries: 3,
      backoffBaseMs: 100,
      random: () => 0.999,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    expect(await client.searchStudies()).toEqual([]);
    await orthanc.stop();
    expect(orthanc.running).toBe(false);

    const err = await caught(client.searchSeries('1.2.3'));
    expect(err.code).toBe('DICOMWEB_UNAVAILABLE');
    expect(err.spec.retryable).toBe(true);
    expect(err.message).toMatch(/4 attempts/);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(retries.every((r) => r.reason === 'network error (ECONNREFUSED)' && r.operation === 'searchSeries')).toBe(true);
    expect(sleeps).toEqual([100, 200, 400]);
  });
});
