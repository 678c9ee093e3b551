/**
 * Types shared by the DICOMweb client, the study fetcher and the series selector (src/imaging/).
 */

/** One attribute in the DICOM JSON model (PS3.18 F.2.2). */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

/** One dataset in the DICOM JSON model: keys are tags as eight uppercase hex digits ("0020000D"). */
export type DicomJson = Record<string, DicomJsonAttribute>;

/** One CT series offered to the selector, with the instance-level metadata from WADO-RS. */
export interface SeriesCandidate {
  seriesInstanceUid: string;
  instances: DicomJson[];
}

/** What the selector decided, and why: shown in the study's processing state. */
export interface SeriesSelection {
  /** The Series Instance UID to analyse, or null when no series is usable. */
  chosen: string | null;
  reasons: string[];
  rejected: { seriesInstanceUid: string; reason: string }[];
}

/**
 * Picks the series to analyse from the CT series of a study. Implemented by `selectSeries` in
 * src/imaging/select-series.ts; injected so that the fetcher does not depend on imaging.
 */
export type SelectSeries = (candidates: SeriesCandidate[]) => SeriesSelection | Promise<SeriesSelection>;

/** One retrieved instance: a complete DICOM Part-10 file. */
export interface RetrievedInstance {
  /** The Part-10 bytes (128-byte preamble, "DICM", File Meta Information, dataset). */
  buffer: Buffer;
  /** (0002,0010) from the File Meta Information. */
  transferSyntaxUid: string;
  /** (0002,0003) from the File Meta Information. */
  sopInstanceUid: string;
}

export interface RetrievedInstances {
  instances: RetrievedInstance[];
  /** Sum of the Part-10 sizes. */
  bytes: number;
  /**
   * True when the server refused (406) or failed (500/501 after the retries) to transcode to Explicit VR
   * Little Endian and the instances were asked for in whatever transfer syntax it stores; check each
   * instance's `transferSyntaxUid` (see NATIVE_TRANSFER_SYNTAXES).
   */
  transcodingRefused: boolean;
}
