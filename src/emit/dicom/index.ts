/**
 * Results back to PACS (RESULTS_TO_PACS): the key image as a Secondary Capture and the findings as a
 * TID 1500 Structured Report, in the analysed study, with derived UIDs. The results job
 * (src/queue/results.ts) gathers the context and sends them with STOW-RS.
 */
import { type ResultKind, type ResultsContext, resultUids } from './common';
import { SECONDARY_CAPTURE_IMAGE_STORAGE, buildKeyImageSecondaryCapture } from './secondary-capture';
import { buildMeasurementReport } from './structured-report';

export { analysisFingerprint, resultUids } from './common';
export type { InstanceRef, ResultKind, ResultsContext } from './common';
export { fetchSeriesInstances, fetchStudyAttributes, patientStudyAttributes } from './source-attributes';
export { readPart10 } from './part10';

export interface ResultInstance {
  kind: ResultKind;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  buffer: Buffer;
}

/**
 * The instances to send for `kinds`. No key image (an analysis that found no vertebra renders none): no
 * Secondary Capture. With both, the SR lists the Secondary Capture in its Image Library and evidence.
 */
export function buildResultInstances(ctx: ResultsContext, kinds: readonly ResultKind[], keyImagePng: Buffer | null): ResultInstance[] {
  const out: ResultInstance[] = [];
  let keyImage: { sopClassUid: string; sopInstanceUid: string; seriesInstanceUid: string } | null = null;
  if (kinds.includes('sc') && keyImagePng) {
    const uids = resultUids(ctx, 'sc');
    out.push({ kind: 'sc', ...uids, buffer: buildKeyImageSecondaryCapture(ctx, keyImagePng) });
    keyImage = { sopClassUid: SECONDARY_CAPTURE_IMAGE_STORAGE, ...uids };
  }
  if (kinds.includes('sr')) out.push({ kind: 'sr', ...resultUids(ctx, 'sr'), buffer: buildMeasurementReport(ctx, keyImage) });
  return out;
}
