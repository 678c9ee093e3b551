/**
 * What the Secondary Capture and the Structured Report share: their UIDs (derived, see uids.ts), the
 * series and equipment attributes that say they are AI output not for clinical use, and the source's
 * patient/study attributes so that they file under the analysed study.
 */
import { createHash } from 'node:crypto';
import type { ModelIdentity, VertebraFinding } from '../../domain/findings';
import type { DicomJson } from '../../ingest/dicomweb/types';
import { derivedUid } from './uids';

/** What is sent back to the PACS: `sc` the key image, `sr` the findings. */
export type ResultKind = 'sc' | 'sr';

/** An instance of the source study the results refer to. */
export interface InstanceRef {
  sopClassUid: string;
  sopInstanceUid: string;
}

/** Everything the builders need, gathered by the results job (src/queue/results.ts). */
export interface ResultsContext {
  studyInstanceUid: string;
  /** The series the findings were measured on, and its instances (evidence). */
  analysedSeriesInstanceUid: string;
  analysedInstances: InstanceRef[];
  /** Patient and General Study module attributes from the source (source-attributes.ts). */
  patientStudy: DicomJson;
  model: ModelIdentity;
  vertebrae: VertebraFinding[];
  /** When the analysis finished: the instances' Content Date/Time. */
  analysedAt: Date;
}

/** Per kind: a fixed Series Number (ours stand out from the scanner's) and the standard's modality. */
const SERIES: Record<ResultKind, { number: number; modality: string; description: string }> = {
  // SeriesDescription is LO: 64 characters at most.
  sc: { number: 9901, modality: 'OT', description: 'AI VCF key image (vcf-sentinel) NOT FOR CLINICAL USE' },
  sr: { number: 9902, modality: 'SR', description: 'AI VCF findings (vcf-sentinel) NOT FOR CLINICAL USE' },
};

/**
 * The analysis the results describe: the analysed series, the model and every finding. Another model,
 * series or finding gives other UIDs (a new series in the PACS); the same analysis repeated gives the same.
 */
export function analysisFingerprint(ctx: Pick<ResultsContext, 'analysedSeriesInstanceUid' | 'model' | 'vertebrae'>): string {
  const content = JSON.stringify({ series: ctx.analysedSeriesInstanceUid, model: ctx.model.sha256, vertebrae: ctx.vertebrae });
  return createHash('sha256').update(content).digest('hex');
}

export interface ResultUids {
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

export function resultUids(ctx: ResultsContext, kind: ResultKind): ResultUids {
  const fp = analysisFingerprint(ctx);
  return {
    seriesInstanceUid: derivedUid(ctx.studyInstanceUid, fp, kind, 'series'),
    sopInstanceUid: derivedUid(ctx.studyInstanceUid, fp, kind, 'instance'),
  };
}

/** DICOM DA and TM of a moment, in the service's local time (DICOM dates are local). */
function dicomDateTime(d: Date): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return {
    date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`,
    time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`,
  };
}

/** SOP Common, General Series, General Equipment and the content date, for one result instance. */
export function commonAttributes(ctx: ResultsContext, kind: ResultKind, sopClassUid: string): Record<string, unknown> {
  const uids = resultUids(ctx, kind);
  const series = SERIES[kind];
  const { date, time } = dicomDateTime(ctx.analysedAt);
  return {
    SOPClassUID: sopClassUid,
    SOPInstanceUID: uids.sopInstanceUid,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    StudyInstanceUID: ctx.studyInstanceUid,
    SeriesInstanceUID: uids.seriesInstanceUid,
    SeriesNumber: series.number,
    InstanceNumber: 1,
    Modality: series.modality,
    SeriesDescription: series.description,
    SeriesDate: date,
    SeriesTime: time,
    ContentDate: date,
    ContentTime: time,
    Manufacturer: 'vcf-sentinel',
    ManufacturerModelName: ctx.model.name,
    SoftwareVersions: [ctx.model.version],
  };
}
