/**
 * DICOMweb media types, transfer syntaxes and attribute tags, by their standard names (PS3.18, PS3.5,
 * PS3.6). Everything the client puts on the wire or looks up in DICOM JSON comes from here.
 */

export const MEDIA_TYPE = {
  /** PS3.18 F.2: the DICOM JSON model, returned by QIDO-RS and WADO-RS metadata. */
  DICOM_JSON: 'application/dicom+json',
  /** A DICOM Part-10 file, one per part of a WADO-RS instance/series/study retrieve. */
  DICOM: 'application/dicom',
  MULTIPART_RELATED: 'multipart/related',
} as const;

export const TRANSFER_SYNTAX = {
  IMPLICIT_VR_LITTLE_ENDIAN: '1.2.840.10008.1.2',
  EXPLICIT_VR_LITTLE_ENDIAN: '1.2.840.10008.1.2.1',
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: '1.2.840.10008.1.2.1.99',
  EXPLICIT_VR_BIG_ENDIAN: '1.2.840.10008.1.2.2',
  JPEG_BASELINE_8BIT: '1.2.840.10008.1.2.4.50',
  JPEG_LOSSLESS_SV1: '1.2.840.10008.1.2.4.70',
  JPEG_LS_LOSSLESS: '1.2.840.10008.1.2.4.80',
  JPEG_2000_LOSSLESS: '1.2.840.10008.1.2.4.90',
  JPEG_2000: '1.2.840.10008.1.2.4.91',
  RLE_LOSSLESS: '1.2.840.10008.1.2.5',
} as const;

/** Transfer syntaxes whose Pixel Data is native (not encapsulated): readable without a codec. */
export const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TRANSFER_SYNTAX.IMPLICIT_VR_LITTLE_ENDIAN,
  TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN,
  TRANSFER_SYNTAX.EXPLICIT_VR_BIG_ENDIAN,
]);

/**
 * The Accept value asking for Part-10 instances transcoded to Explicit VR Little Endian (PS3.18 8.7.3.5.2),
 * so that compressed (e.g. JPEG 2000) images arrive with native pixel data.
 */
export const ACCEPT_DICOM_EXPLICIT_LE =
  `${MEDIA_TYPE.MULTIPART_RELATED}; type="${MEDIA_TYPE.DICOM}"; transfer-syntax=${TRANSFER_SYNTAX.EXPLICIT_VR_LITTLE_ENDIAN}`;

/** The fallback when a server refuses the transfer-syntax parameter (406): whatever it stores. */
export const ACCEPT_DICOM_ANY_TRANSFER_SYNTAX = `${MEDIA_TYPE.MULTIPART_RELATED}; type="${MEDIA_TYPE.DICOM}"; transfer-syntax=*`;

/** DICOM JSON keys (PS3.18 F.2: eight uppercase hex digits) of the attributes this module reads. */
export const TAG = {
  SOP_CLASS_UID: '00080016',
  SOP_INSTANCE_UID: '00080018',
  MODALITY: '00080060',
  MODALITIES_IN_STUDY: '00080061',
  SERIES_DESCRIPTION: '0008103E',
  STUDY_INSTANCE_UID: '0020000D',
  SERIES_INSTANCE_UID: '0020000E',
  SERIES_NUMBER: '00200011',
  INSTANCE_NUMBER: '00200013',
  NUMBER_OF_SERIES_RELATED_INSTANCES: '00201209',
  ROWS: '00280010',
  COLUMNS: '00280011',
} as const;

/** DICOM UIDs: digits and dots, at most 64 characters (PS3.5 9.1; leading zeros tolerated, real archives hold them). Checked before going into a URL path. */
export const UID_PATTERN = /^[0-9]+(\.[0-9]+)*$/;
export const UID_MAX_LENGTH = 64;
