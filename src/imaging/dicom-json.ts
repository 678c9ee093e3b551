/**
 * Small typed accessors over the DICOM JSON model (PS3.18 F.2): `{ "00200032": { vr: "DS", Value: [...] } }`.
 * dcmjs' parsed `dict` has this shape too, so the DICOMweb metadata (QIDO/WADO) and local Part-10 files go
 * through the same code.
 */
export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJson = Record<string, DicomJsonElement | undefined>;

/** The tags this module reads, as 8 upper-case hex digits. */
export const TAG = {
  TransferSyntaxUID: '00020010',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  ImageType: '00080008',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  Modality: '00080060',
  Manufacturer: '00080070',
  SeriesDescription: '0008103E',
  PatientPosition: '00185100',
  BodyPartExamined: '00180015',
  SliceThickness: '00180050',
  SpacingBetweenSlices: '00180088',
  ConvolutionKernel: '00181210',
  GantryDetectorTilt: '00181120',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  FrameOfReferenceUID: '00200052',
  NumberOfSeriesRelatedInstances: '00201209',
  SamplesPerPixel: '00280002',
  PhotometricInterpretation: '00280004',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  BitsAllocated: '00280100',
  BitsStored: '00280101',
  HighBit: '00280102',
  PixelRepresentation: '00280103',
  PixelPaddingValue: '00280120',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
  SharedFunctionalGroupsSequence: '52009229',
  PerFrameFunctionalGroupsSequence: '52009230',
  PlanePositionSequence: '00209113',
  PlaneOrientationSequence: '00209116',
  PixelMeasuresSequence: '00289110',
  PixelValueTransformationSequence: '00289145',
  PixelData: '7FE00010',
} as const;

function first(ds: DicomJson, tag: string): unknown {
  const el = ds[tag];
  return el?.Value?.[0];
}

/** First value as a trimmed string (PN → its Alphabetic group); undefined when absent or empty. */
export function getString(ds: DicomJson, tag: string): string | undefined {
  const v = first(ds, tag);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const alpha = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof alpha === 'string' ? alpha : undefined;
  }
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/** All values as trimmed strings (multi-valued CS such as ImageType, split on "\\" when a server joined them). */
export function getStrings(ds: DicomJson, tag: string): string[] {
  const el = ds[tag];
  if (!el?.Value) return [];
  const out: string[] = [];
  for (const v of el.Value) {
    if (v === null || v === undefined) continue;
    for (const part of String(v).split('\\')) {
      const s = part.trim();
      if (s !== '') out.push(s);
    }
  }
  return out;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return undefined;
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** First value as a finite number (DS/IS may arrive as strings); undefined otherwise. */
export function getNumber(ds: DicomJson, tag: string): number | undefined {
  const el = ds[tag];
  if (!el?.Value || el.Value.length === 0) return undefined;
  const v = el.Value[0];
  if (typeof v === 'string' && v.includes('\\')) return toNumber(v.split('\\')[0]);
  return toNumber(v);
}

/** All values as finite numbers, or undefined when absent, malformed or of the wrong count. */
export function getNumbers(ds: DicomJson, tag: string, count?: number): number[] | undefined {
  const el = ds[tag];
  if (!el?.Value) return undefined;
  const raw: unknown[] = [];
  for (const v of el.Value) {
    if (typeof v === 'string' && v.includes('\\')) raw.push(...v.split('\\'));
    else raw.push(v);
  }
  const out: number[] = [];
  for (const v of raw) {
    const n = toNumber(v);
    if (n === undefined) return undefined;
    out.push(n);
  }
  if (count !== undefined && out.length !== count) return undefined;
  return out;
}

/** Items of a sequence (SQ) element; empty when absent. */
export function getSequence(ds: DicomJson, tag: string): DicomJson[] {
  const el = ds[tag];
  if (!el?.Value) return [];
  return el.Value.filter((v): v is DicomJson => typeof v === 'object' && v !== null) as DicomJson[];
}
