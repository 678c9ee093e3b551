/**
 * The one list of error codes. Each says what the caller sees at every outgoing edge: the HTTP status,
 * the HL7 acknowledgement code (with HL7 table 0357 error code for ERR-3) and whether retrying can help
 * (which also steers BullMQ: not retryable means UnrecoverableError).
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { http: 500, ack: 'AR', hl7Code: '207', retryable: false, message: 'invalid configuration' },
  BAD_REQUEST: { http: 400, ack: 'AE', hl7Code: '207', retryable: false, message: 'bad request' },
  UNAUTHORIZED: { http: 401, ack: 'AR', hl7Code: '207', retryable: false, message: 'authentication required' },
  FORBIDDEN: { http: 403, ack: 'AR', hl7Code: '207', retryable: false, message: 'not allowed' },
  NOT_FOUND: { http: 404, ack: 'AE', hl7Code: '204', retryable: false, message: 'not found' },
  /** CDS Hooks: the data the service needs (the Patient) was neither prefetched nor retrievable from fhirServer. */
  PRECONDITION_FAILED: { http: 412, ack: 'AE', hl7Code: '207', retryable: false, message: 'required data not available' },
  /** The resource is in a state that does not allow the request yet (e.g. a replay while the study's job is pending). */
  CONFLICT: { http: 409, ack: 'AE', hl7Code: '207', retryable: true, message: 'conflict with the current state' },
  PAYLOAD_TOO_LARGE: { http: 413, ack: 'AE', hl7Code: '207', retryable: false, message: 'message too large' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, ack: 'AE', hl7Code: '207', retryable: false, message: 'unsupported media type' },
  HL7_MALFORMED: { http: 400, ack: 'AE', hl7Code: '100', retryable: false, message: 'malformed HL7 message' },
  HL7_REQUIRED_FIELD_MISSING: { http: 400, ack: 'AE', hl7Code: '101', retryable: false, message: 'required field missing' },
  HL7_UNSUPPORTED_MESSAGE_TYPE: { http: 422, ack: 'AR', hl7Code: '200', retryable: false, message: 'unsupported message type' },
  HL7_UNSUPPORTED_VERSION: { http: 422, ack: 'AR', hl7Code: '203', retryable: false, message: 'unsupported version' },
  HL7_UNSUPPORTED_CHARSET: { http: 422, ack: 'AE', hl7Code: '207', retryable: false, message: 'unsupported character set' },
  HL7_INVALID_ENCODING: { http: 400, ack: 'AE', hl7Code: '102', retryable: false, message: 'bytes do not match the declared character set' },
  HL7_BATCH_UNSUPPORTED: { http: 422, ack: 'AR', hl7Code: '200', retryable: false, message: 'batch messages are not accepted' },
  QUEUE_UNAVAILABLE: { http: 503, ack: 'AR', hl7Code: '207', retryable: true, message: 'queue unavailable, retry later' },
  DICOMWEB_SOURCE_UNKNOWN: { http: 400, ack: 'AE', hl7Code: '207', retryable: false, message: 'unknown DICOMweb source' },
  DICOMWEB_UNAVAILABLE: { http: 502, ack: 'AR', hl7Code: '207', retryable: true, message: 'DICOMweb source unavailable' },
  DICOMWEB_CLIENT_ERROR: { http: 502, ack: 'AE', hl7Code: '207', retryable: false, message: 'DICOMweb request refused' },
  STUDY_NOT_FOUND: { http: 404, ack: 'AE', hl7Code: '204', retryable: true, message: 'study not (yet) on the DICOMweb source' },
  STUDY_UNUSABLE: { http: 422, ack: 'AE', hl7Code: '207', retryable: false, message: 'no usable CT series' },
  VOLUME_INVALID: { http: 422, ack: 'AE', hl7Code: '207', retryable: false, message: 'series cannot be assembled into a volume' },
  MODEL_INVALID: { http: 500, ack: 'AR', hl7Code: '207', retryable: false, message: 'model does not follow the contract' },
  METHOD_NOT_ALLOWED: { http: 405, ack: 'AR', hl7Code: '207', retryable: false, message: 'method not allowed' },
  FHIR_UNAVAILABLE: { http: 502, ack: 'AR', hl7Code: '207', retryable: true, message: 'FHIR server unavailable, retry later' },
  FHIR_REJECTED: { http: 502, ack: 'AE', hl7Code: '207', retryable: false, message: 'FHIR server refused the request' },
  INTERNAL: { http: 500, ack: 'AR', hl7Code: '207', retryable: true, message: 'internal error' },
} as const satisfies Record<
  string,
  { http: number; ack: 'AE' | 'AR'; hl7Code: string; retryable: boolean; message: string }
>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that knows its code; `detail` is safe to show callers (never PHI, never a stack). */
export class AppError extends Error {
  readonly code: ErrorCode;
  /** HL7 location of the fault for ERR-2, e.g. "MSH^1^9". */
  readonly location: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { location?: string; cause?: unknown }) {
    super(detail ?? ERROR_CODES[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.location = options?.location;
  }

  get spec() {
    return ERROR_CODES[this.code];
  }
}

/** Any thrown value as an AppError; unknown errors become INTERNAL without leaking their text. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError('INTERNAL', undefined, { cause: err });
}
