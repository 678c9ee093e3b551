/**
 * What the worker calls for a study notification: find the CT series (QIDO-RS), read their instance
 * metadata (WADO-RS metadata), let the injected selector choose one, and retrieve only that series.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../errors';
import { TAG as DICOM_TAG, getString } from '../../imaging/dicom-json';
import { type DicomwebClient, DicomwebHttpError, type RequestOptions } from './client';
import { NATIVE_TRANSFER_SYNTAXES, TAG } from './constants';
import type { DicomJson, RetrievedInstance, SelectSeries, SeriesCandidate, SeriesSelection } from './types';

/** First string value of an attribute in a DICOM JSON dataset, or undefined. */
export function dicomString(dataset: DicomJson, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** First numeric value of an attribute (IS/DS arrive as numbers or strings), or undefined. */
export function dicomNumber(dataset: DicomJson, tag: string): number | undefined {
  const value = dataset[tag]?.Value?.[0];
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** The study-level identifiers correlation joins on (from any instance of the study). */
export interface StudyIdentity {
  accessionNumber: string | null;
  patientId: string | null;
  issuerOfPatientId: string | null;
  /** StudyDate (+ StudyTime) as ISO local date-time without zone ("2026-03-01T14:05:00"), or a date. */
  studyDate: string | null;
}

export function readStudyIdentity(ds: DicomJson): StudyIdentity {
  const text = (tag: string) => getString(ds, tag) ?? null;
  const date = /^(\d{4})(\d{2})(\d{2})$/.exec(text(DICOM_TAG.StudyDate) ?? '');
  const time = /^(\d{2})(\d{2})?(\d{2})?/.exec(text(DICOM_TAG.StudyTime) ?? '');
  const studyDate = date ? `${date[1]}-${date[2]}-${date[3]}${time ? `T${time[1]}:${time[2] ?? '00'}:${time[3] ?? '00'}` : ''}` : null;
  return { accessionNumber: text(DICOM_TAG.AccessionNumber), patientId: text(DICOM_TAG.PatientID), issuerOfPatientId: text(DICOM_TAG.IssuerOfPatientID), studyDate };
}

/**
 * The study's identifiers from the source's QIDO-RS study search (PS3.18 lists AccessionNumber,
 * PatientID, StudyDate and StudyTime among a study's required return keys): null when the source finds
 * no such study or refuses the query (4xx), so that instance metadata can stand in.
 */
export async function studyIdentityFromQido(client: DicomwebClient, studyInstanceUid: string, options: RequestOptions = {}): Promise<StudyIdentity | null> {
  const includefield = [DICOM_TAG.AccessionNumber, DICOM_TAG.PatientID, DICOM_TAG.IssuerOfPatientID, DICOM_TAG.StudyDate, DICOM_TAG.StudyTime];
  try {
    const [study] = await client.searchStudies({ StudyInstanceUID: studyInstanceUid, includefield }, options);
    return study ? readStudyIdentity(study) : null;
  } catch (err) {
    if (err instanceof DicomwebHttpError) return null;
    throw err;
  }
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results in input order; first error wins.
 * The calls share one AbortSignal (the caller's `signal`, if any, combined with the batch's own), aborted
 * with the first error: the calls still in flight stop instead of running to their timeout.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  const batch = new AbortController();
  const batchSignal = signal ? AbortSignal.any([signal, batch.signal]) : batch.signal;
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await fn(items[index] as T, index, batchSignal);
      } catch (err) {
        if (!failed) {
          failed = true;
          batch.abort(err);
        }
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker());
  await Promise.all(workers);
  return results;
}

export type RetrievalMode =
  /** One WADO-RS series request: one multipart response with every instance. */
  | 'series'
  /** One WADO-RS instance request per SOP Instance UID from the metadata, `concurrency` at a time. */
  | 'instances';

export interface FetchStudyOptions extends RequestOptions {
  /** Requests in flight for metadata (and for instances in 'instances' mode). Default 4. */
  concurrency?: number;
  /**
   * How the chosen series is retrieved. Default 'series'. Measured against Orthanc 1.10.1 + DICOMweb 1.7
   * (+ orthanc-gdcm 1.5) on 2 shared cores, 20 JPEG 2000 slices of 512×512 (10.6 MB once decoded), medians:
   * transcoded to Explicit VR LE, 'series' 650-850 ms vs 'instances' ×4 1,500-2,000 ms; as stored (3.2 MB,
   * `transfer-syntax=*`), 'series' ~17 ms vs 'instances' ×4 ~165 ms. Per-request overhead (QIDO-like lookups,
   * one multipart each) dominates, not bytes. Debian's orthanc-gdcm also crashes far more
   * often on per-instance requests (see test/helpers/orthanc.ts). 'instances' remains for servers that
   * limit response sizes, and retries one instance rather than the series.
   */
  retrieval?: RetrievalMode;
  /** Modalities offered to the selector. Default ['CT']. */
  modalities?: readonly string[];
  /**
   * The study's QIDO-RS series datasets when the caller already has them (e.g. `StudyFingerprint.seriesList`),
   * in the server's order; each needs Series Instance UID and Modality. Default: searched here.
   */
  seriesList?: readonly DicomJson[];
}

export interface StudyForAnalysis extends SeriesSelection {
  studyInstanceUid: string;
  /** The chosen series' instances as Part-10 buffers (empty when nothing was chosen); order not significant. */
  buffers: Buffer[];
  /** Sum of the buffers' sizes. */
  bytes: number;
  instanceCount: number;
  /** Transfer syntax of each buffer, same order. */
  transferSyntaxUids: string[];
  /** True when some buffer is not in a native (uncompressed) transfer syntax: the server did not transcode. */
  compressed: boolean;
  /** Accession, patient and date of the study, read from the chosen series' metadata (null when none was chosen). */
  identity: StudyIdentity | null;
}

/**
 * QIDO the study's series (unless `options.seriesList` has them), keep the CT ones, fetch each one's instance metadata, call `selectSeries`,
 * then retrieve only the chosen series. Non-CT series appear in `rejected` with the reason.
 * Returns `chosen: null` (and no buffers) when the study has no CT series or the selector chose none; the
 * caller decides whether that is STUDY_UNUSABLE or "not arrived yet".
 */
export async function fetchStudySeriesForAnalysis(
  client: DicomwebClient,
  studyInstanceUid: string,
  selectSeries: SelectSeries,
  options: FetchStudyOptions = {},
): Promise<StudyForAnalysis> {
  const concurrency = options.concurrency ?? 4;
  const modalities = new Set(options.modalities ?? ['CT']);
  const request: RequestOptions = options.signal ? { signal: options.signal } : {};

  const seriesList =
    options.seriesList ??
    (await client.searchSeries(
      studyInstanceUid,
      { includefield: [TAG.MODALITY, TAG.SERIES_DESCRIPTION, TAG.NUMBER_OF_SERIES_RELATED_INSTANCES] },
      request,
    ));
  const rejected: SeriesSelection['rejected'] = [];
  const candidateUids: string[] = [];
  for (const series of seriesList) {
    const uid = dicomString(series, TAG.SERIES_INSTANCE_UID);
    if (!uid) continue;
    const modality = dicomString(series, TAG.MODALITY);
    if (modality && modalities.has(modality)) candidateUids.push(uid);
    else rejected.push({ seriesInstanceUid: uid, reason: `modality ${modality ?? 'unknown'} is not ${[...modalities].join('/')}` });
  }

  const empty = (reasons: string[], extraRejected: SeriesSelection['rejected'] = []): StudyForAnalysis => ({
    studyInstanceUid,
    chosen: null,
    reasons,
    rejected: [...rejected, ...extraRejected],
    buffers: [],
    bytes: 0,
    instanceCount: 0,
    transferSyntaxUids: [],
    compressed: false,
    identity: null,
  });

  if (seriesList.length === 0) return empty(['the source has no series for this study']);
  if (candidateUids.length === 0) return empty([`the study has no ${[...modalities].join('/')} series`]);

  const candidates: SeriesCandidate[] = await mapWithConcurrency(
    candidateUids,
    concurrency,
    async (uid, _index, signal) => ({
      seriesInstanceUid: uid,
      instances: await client.retrieveSeriesMetadata(studyInstanceUid, uid, { signal }),
    }),
    options.signal,
  );

  const selection = await selectSeries(candidates);
  if (selection.chosen === null) return empty(selection.reasons, selection.rejected);
  const chosen = candidates.find((c) => c.seriesInstanceUid === selection.chosen);
  if (!chosen) throw new AppError('INTERNAL', 'selectSeries chose a series that was not offered');

  let instances: RetrievedInstance[];
  if ((options.retrieval ?? 'series') === 'series') {
    instances = (await client.retrieveSeries(studyInstanceUid, chosen.seriesInstanceUid, request)).instances;
  } else {
    const sopUids = chosen.instances
      .map((d) => dicomString(d, TAG.SOP_INSTANCE_UID))
      .filter((u): u is string => u !== undefined);
    instances = await mapWithConcurrency(
      sopUids,
      concurrency,
      (sop, _index, signal) => client.retrieveInstance(studyInstanceUid, chosen.seriesInstanceUid, sop, { signal }),
      options.signal,
    );
  }

  const buffers = instances.map((i) => i.buffer);
  const transferSyntaxUids = instances.map((i) => i.transferSyntaxUid);
  return {
    studyInstanceUid,
    chosen: chosen.seriesInstanceUid,
    reasons: selection.reasons,
    rejected: [...rejected, ...selection.rejected],
    buffers,
    bytes: buffers.reduce((sum, b) => sum + b.length, 0),
    instanceCount: buffers.length,
    transferSyntaxUids,
    compressed: transferSyntaxUids.some((ts) => !NATIVE_TRANSFER_SYNTAXES.has(ts)),
    identity: chosen.instances[0] ? readStudyIdentity(chosen.instances[0]) : null,
  };
}

export interface StudyFingerprint {
  seriesCount: number;
  instanceCount: number;
  /** Per series, sorted by UID. */
  series: { seriesInstanceUid: string; modality: string | null; instanceCount: number }[];
  /**
   * "v2:" + sha256 over the sorted (series UID, instance count) pairs of the series an analysis can read
   * (modality CT, or none given): equal fingerprints, same input to the analysis. Other series (reports,
   * key images, this service's own SC and SR sent back with RESULTS_TO_PACS) do not count, so storing
   * them does not make the PACS's next notification a new analysis.
   */
  fingerprint: string;
  /** The QIDO-RS series datasets as the server answered them, for `fetchStudySeriesForAnalysis`'s `seriesList`. */
  seriesList: DicomJson[];
}

/**
 * A cheap summary of what the source holds for a study (one QIDO-RS series query; one instance query per
 * series only when the server omits Number of Series Related Instances), so that the worker re-analyses
 * only when the study changed. Instances replaced in place with the same count are not detected.
 */
export async function studyFingerprint(
  client: DicomwebClient,
  studyInstanceUid: string,
  options: RequestOptions = {},
): Promise<StudyFingerprint> {
  const list = await client.searchSeries(
    studyInstanceUid,
    { includefield: [TAG.MODALITY, TAG.NUMBER_OF_SERIES_RELATED_INSTANCES] },
    options,
  );
  const series = await mapWithConcurrency(list, 4, async (s) => {
    const uid = dicomString(s, TAG.SERIES_INSTANCE_UID) ?? '';
    let count = dicomNumber(s, TAG.NUMBER_OF_SERIES_RELATED_INSTANCES);
    if (count === undefined && uid) {
      count = (
        await client.searchInstances(studyInstanceUid, uid, { includefield: [TAG.SOP_INSTANCE_UID] }, options)
      ).length;
    }
    return { seriesInstanceUid: uid, modality: dicomString(s, TAG.MODALITY) ?? null, instanceCount: count ?? 0 };
  });
  series.sort((a, b) => (a.seriesInstanceUid < b.seriesInstanceUid ? -1 : a.seriesInstanceUid > b.seriesInstanceUid ? 1 : 0));
  const hash = createHash('sha256');
  for (const s of series) if (s.modality === null || s.modality === 'CT') hash.update(`${s.seriesInstanceUid}\t${s.instanceCount}\n`);
  return {
    seriesCount: series.length,
    instanceCount: series.reduce((sum, s) => sum + s.instanceCount, 0),
    series,
    fingerprint: `v2:${hash.digest('hex')}`,
    seriesList: list,
  };
}
