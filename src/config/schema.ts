import { z } from 'zod';

/** A port: 0 means "pick a free one and log it" (CONTRACT). */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** JSON given in an environment variable arrives as a string; defaults arrive already parsed. */
function json<T extends z.ZodType>(inner: T) {
  return z.preprocess((v, ctx) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      return z.NEVER;
    }
  }, inner);
}

/** A configured DICOMweb source: the only places pixels may be fetched from. */
export const dicomwebSourceSchema = z.object({
  // Credentials belong in `auth` (kept out of URLs that end up in logs); a query or fragment would be
  // mangled by the paths the client appends.
  url: z.url({ protocol: /^https?$/ }).refine((u) => {
    // Zod runs this even after the URL check failed: that failure is the one to report.
    if (!URL.canParse(u)) return true;
    const url = new URL(u);
    return url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  }, 'must not carry credentials, a query or a fragment (put credentials in "auth")'),
  auth: z
    .union([
      z.object({ type: z.literal('bearer'), token: z.string().min(1) }),
      z.object({ type: z.literal('basic'), username: z.string(), password: z.string() }),
    ])
    .optional(),
});

const nullableString = z.string().min(1).nullable();

/**
 * Every setting, by the environment variable that overrides it. Defaults live in config/default.json;
 * the Helm chart's ConfigMap renders the same names.
 */
export const configSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  /** Prefix for every BullMQ queue and key, so several deployments or tests can share one Redis. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  /** How long `serve` waits for Redis at start before it exits 1 naming REDIS_URL (a later outage is retried for ever). */
  REDIS_CONNECT_TIMEOUT_S: z.coerce.number().int().min(1).max(3600),
  /**
   * An AA is only as durable as Redis. `require`: refuse to start (and fail /readyz, answer AR) unless Redis
   * persists with AOF (appendonly yes) or has a replica, which the intake then WAITs for before AA; `warn`:
   * a warn line at start and a /readyz warning; `off`: no check.
   */
  REDIS_DURABILITY: z.enum(['require', 'warn', 'off']),
  HTTP_PORT: port,
  HTTP_HOST: z.string().min(1),
  HTTP_MAX_BODY_BYTES: positiveInt,
  MLLP_PORT: port,
  MLLP_HOST: z.string().min(1),
  /** A frame larger than this is answered AE and dropped (the connection stays open): bounds memory per sender. */
  MLLP_MAX_FRAME_BYTES: positiveInt,
  MLLP_IDLE_TIMEOUT_MS: positiveInt,
  /**
   * Bytes all MLLP connections together may hold (unfinished frames and frames waiting for their
   * handler): past it the connection with the largest unfinished frame is closed. Bounds memory overall,
   * as MLLP_MAX_FRAME_BYTES does per connection.
   */
  MLLP_MAX_BUFFERED_BYTES: positiveInt,
  /**
   * A frame must end this long after it starts, or its connection is closed: a deadline, not an idle
   * timer, so trickling a byte at a time cannot hold a frame (and its memory) for MLLP_IDLE_TIMEOUT_MS.
   */
  MLLP_FRAME_TIMEOUT_MS: positiveInt,
  /** The acknowledgement code for messages other than ORU^R01 (ADT, ORM, ...): AA accepts and ignores. */
  HL7_OTHER_MESSAGE_ACK: z.enum(['AA', 'AE', 'AR']),
  /** How long a (sender, MSH-10) pair is remembered for duplicate suppression. */
  HL7_DUPLICATE_WINDOW_S: positiveInt,
  /** The HL7 message log (GET /hl7/messages/{MSH-10}): at most this many control ids, oldest dropped first... */
  HL7_MESSAGE_LOG_MAX: positiveInt,
  /** ...each kept this long after its last reception, in seconds. */
  HL7_MESSAGE_LOG_MAX_AGE_S: positiveInt,
  DICOMWEB_SOURCES: json(z.record(z.string().min(1), dicomwebSourceSchema)).refine(
    (m) => Object.keys(m).length > 0,
    'at least one source is required',
  ),
  DICOMWEB_TIMEOUT_MS: positiveInt,
  DICOMWEB_RETRIES: z.coerce.number().int().min(0).max(20),
  /**
   * Largest series the study worker retrieves, in bytes (the whole series is held in memory while the
   * volume is assembled): a bigger one fails as STUDY_UNUSABLE instead of exhausting the worker's memory.
   */
  DICOMWEB_MAX_SERIES_BYTES: positiveInt,
  /** How long `POST /notifications/studies` waits on the source to tell whether a known study changed. */
  STUDY_NOTIFY_CHECK_TIMEOUT_MS: positiveInt,
  /** Study jobs run at once per worker process: analysis is CPU- and memory-heavy, keep it low. */
  STUDY_WORKER_CONCURRENCY: positiveInt,
  /** Attempts per study job when the source is unavailable (DICOMWEB_UNAVAILABLE, network), first included. */
  STUDY_JOB_ATTEMPTS: z.coerce.number().int().min(1).max(50),
  /** First delay between study job attempts; doubles per attempt (BullMQ exponential backoff). */
  STUDY_JOB_BACKOFF_MS: positiveInt,
  /** How long a study's processing state is kept after its last change, in seconds. */
  STUDY_STATE_TTL_S: positiveInt,
  /**
   * Results back to the PACS the study came from (STOW-RS, in the study's own Study Instance UID):
   * `sc` the key image as a Secondary Capture, `sr` the findings as a TID 1500 Structured Report, `sc+sr`
   * both; `off` sends nothing.
   */
  RESULTS_TO_PACS: z.enum(['off', 'sc', 'sr', 'sc+sr']),
  /**
   * How long a report is kept after the last message for its accession, in seconds: the report hash, its
   * history, the accession index, the study-report link and the reports-by-patient index. Must outlive
   * CORRELATE_REPORT_WAIT_H and the time corrected reports still arrive.
   */
  REPORT_TTL_S: positiveInt,
  FHIR_BASE_URL: z.url({ protocol: /^https?$/ }).nullable(),
  FHIR_CLIENT_ID: nullableString,
  FHIR_CLIENT_SECRET: nullableString,
  FHIR_TOKEN_URL: z.url({ protocol: /^https?$/ }).nullable(),
  /** Per-request timeout for the external FHIR server; a timeout is retried (writes are conditional updates). */
  FHIR_TIMEOUT_MS: positiveInt,
  /** How far apart (hours) a study and a report of one patient may be to join when neither names the other. */
  CORRELATE_DATE_WINDOW_H: z.coerce.number().positive(),
  /** How long (hours) an analysed study waits for its report before it ends `done` with outcome no-report. */
  CORRELATE_REPORT_WAIT_H: z.coerce.number().positive(),
  /**
   * Who owns the referral Tasks: a FHIR reference ("Organization/onc-team", "PractitionerRole/123") or a
   * logical one by identifier ("Organization?identifier=system|value"). Unset: Tasks carry no owner.
   */
  REFERRAL_TASK_OWNER: z
    .string()
    .regex(/^[A-Z][A-Za-z]+(\/[A-Za-z0-9\-.]{1,64}|\?identifier=[^|]*\|.+)$/, 'must be "Type/id" or "Type?identifier=system|value"')
    .nullable(),
  MODEL_PATH: z.string().min(1),
  CDS_TRUSTED_ISSUERS: json(z.record(z.string().min(1), z.url({ protocol: /^https?$/ }))),
  CDS_AUTH: z.enum(['on', 'off']),
  /**
   * JWK Set URLs a CDS Client may name in its JWT `jku` header, per issuer (iss → URLs). A `jku` not listed
   * for the token's issuer is refused (401): otherwise any URL in a token could supply the key that signs it.
   */
  CDS_JKU_ALLOWLIST: json(z.record(z.string().min(1), z.array(z.url({ protocol: /^https?$/ })))),
  /** Longest CDS Hooks JWT accepted: `exp` − `iat`, and how old `iat` may be, in seconds. */
  CDS_JWT_MAX_LIFETIME_S: z.coerce.number().int().min(10).max(3600),
  /** Timeout for reading the Patient from the CDS Client's fhirServer when it was not prefetched. */
  CDS_FHIR_TIMEOUT_MS: positiveInt,
  /**
   * `loopback`: a CDS request's fhirServer may be plain http on 127.0.0.1/::1/localhost (tests, demos, a
   * sidecar). `off`: https only, as CDS Hooks requires wherever production data is exchanged.
   */
  CDS_ALLOW_HTTP_FHIR_SERVER: z.enum(['off', 'loopback']),
  /**
   * A viewer deep link for CDS cards, with `{{studyInstanceUid}}` where the Study Instance UID goes (e.g.
   * OHIF `https://viewer.example/viewer?StudyInstanceUIDs={{studyInstanceUid}}`). Unset: no viewer link.
   */
  VIEWER_URL_TEMPLATE: z
    .string()
    .refine((t) => t.includes('{{studyInstanceUid}}'), 'must contain {{studyInstanceUid}}')
    .refine((t) => z.url({ protocol: /^https?$/ }).safeParse(t.replaceAll('{{studyInstanceUid}}', '1.2.3')).success, 'must be an http(s) URL')
    .nullable(),
  PATIENT_ID_SYSTEMS: json(z.record(z.string(), z.string().min(1))),
  API_TOKEN: nullableString,
  /** The URL clients reach this service at (behind a proxy): FHIR next links, CDS Hooks `aud` and card links. Unset: from the request. */
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).nullable(),
  WORKER_CONCURRENCY: positiveInt,
  SHUTDOWN_TIMEOUT_MS: positiveInt,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /**
   * OpenTelemetry trace export (the standard variable): `none` records nothing (trace ids are still made and
   * logged), `otlp` exports over OTLP/HTTP; the other OTEL_* variables are the SDK's (README "Observability").
   */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp']),
});

export type Config = z.infer<typeof configSchema>;
export type DicomwebSource = z.infer<typeof dicomwebSourceSchema>;
