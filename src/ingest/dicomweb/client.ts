/**
 * A DICOMweb client (QIDO-RS, WADO-RS) bound to ONE configured source. Callers name a source from
 * DICOMWEB_SOURCES; they can never hand in a URL, so pixels are fetched only from configured servers.
 *
 * Failures are AppErrors: DICOMWEB_UNAVAILABLE (retryable: 5xx, 408, 429, network errors, idle timeouts,
 * truncated bodies, after DICOMWEB_RETRIES retries with exponential backoff and jitter; `DicomwebUnavailableError`),
 * DICOMWEB_CLIENT_ERROR (the server refused: other 4xx, any 3xx since redirects are not followed, or an answer
 * that is not DICOMweb; `DicomwebHttpError.status`), STUDY_UNUSABLE (a size limit was exceeded), BAD_REQUEST
 * (a UID that is not a UID, refused before any request).
 *
 * STOW-RS (`storeInstances`) posts Part-10 instances to the same source, with the same auth, timeout, retries and
 * redirect refusal: the callers send instances with deterministic UIDs, so a POST repeated after a lost answer
 * stores nothing twice. Instances the server refuses (FailedSOPSequence, in a 200/202/409 answer) are
 * DICOMWEB_CLIENT_ERROR naming their Failure Reason codes.
 *
 * WADO-RS retrieves ask for Explicit VR Little Endian so that compressed images arrive decoded; a server
 * that refuses (406) or keeps failing (500/501) is asked again for its stored transfer syntax, and the result
 * says so (`transcodingRefused`, and each instance's transfer syntax from its File Meta Information).
 */
import { randomUUID } from 'node:crypto';
import type { Config, DicomwebSource } from '../../config/schema';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../observability/metrics';
import { SpanKind, inSpan } from '../../observability/trace-context';
import {
  ACCEPT_DICOM_ANY_TRANSFER_SYNTAX,
  ACCEPT_DICOM_EXPLICIT_LE,
  MEDIA_TYPE,
  UID_MAX_LENGTH,
  UID_PATTERN,
} from './constants';
import { MultipartError, boundaryFromContentType, parseContentType, parseMultipart } from './multipart';
import { readPart10Meta } from './part10';
import type { DicomJson, RetrievedInstance, RetrievedInstances } from './types';

export type DicomwebConfig = Pick<Config, 'DICOMWEB_SOURCES' | 'DICOMWEB_TIMEOUT_MS' | 'DICOMWEB_RETRIES'>;

/** Passed to `onRetry` before each backoff sleep. */
export interface RetryEvent {
  /** Stable operation name, e.g. "searchSeries", "retrieveSeries". */
  operation: string;
  /** The attempt that just failed (1 = the first request). */
  attempt: number;
  delayMs: number;
  /** Why it failed: "HTTP 503", "timeout", "network error (ECONNREFUSED)", ... */
  reason: string;
}

export interface DicomwebClientOptions {
  /** Largest Part-10 instance accepted, in bytes. Default 512 MiB. */
  maxInstanceBytes?: number;
  /** Largest total of one series (or one instance request) retrieve, in bytes. Default 2 GiB. */
  maxSeriesBytes?: number;
  /** Largest DICOM JSON response (QIDO-RS, metadata), in bytes. Default 64 MiB. */
  maxJsonBytes?: number;
  /** First backoff delay; doubles per retry, with jitter in [delay/2, delay]. Default 500 ms. */
  backoffBaseMs?: number;
  /** Cap on one backoff delay (also on a server's Retry-After). Default 15 000 ms. */
  backoffMaxMs?: number;
  /** Debug lines carry UIDs; warnings never do. No logging when absent. */
  logger?: Logger;
  /** Injectable for tests: the backoff sleep. Default: a timer that stops when the caller's signal aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each retry (metrics, tests). */
  onRetry?: (event: RetryEvent) => void;
  /** Injectable for tests: jitter source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Injectable for tests. Default: the global fetch (undici). */
  fetch?: typeof fetch;
  /** vcf_dicomweb_request_seconds and vcf_dicomweb_bytes_total; none when absent. */
  metrics?: Pick<Metrics, 'dicomwebSeconds' | 'dicomwebBytes'>;
}

/** Per-call options. */
export interface RequestOptions {
  /** Aborts the call (and any backoff sleep); the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** QIDO-RS query parameters (PS3.18 8.3.4): attribute matches, includefield, limit, offset, fuzzymatching. */
export type QidoQuery = Record<string, string | number | boolean | readonly string[]>;

/** A refusal by the server: DICOMWEB_CLIENT_ERROR carrying the HTTP status. */
export class DicomwebHttpError extends AppError {
  readonly status: number;

  constructor(operation: string, status: number) {
    super('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} refused: HTTP ${status}`);
    this.name = 'DicomwebHttpError';
    this.status = status;
  }
}

/** DICOMWEB_UNAVAILABLE after the retries; `lastStatus` is the last HTTP status, if the last failure was one. */
export class DicomwebUnavailableError extends AppError {
  readonly lastStatus: number | undefined;

  constructor(detail: string, lastStatus: number | undefined, cause: unknown) {
    super('DICOMWEB_UNAVAILABLE', detail, { cause });
    this.name = 'DicomwebUnavailableError';
    this.lastStatus = lastStatus;
  }
}

/** Internal: a non-2xx answer, classified by the retry loop. */
class HttpStatusFailure extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Internal: the idle timer fired. */
class TimeoutFailure extends Error {}

/** Internal: a size limit was exceeded. */
class SizeLimitFailure extends Error {}

const DEFAULTS = {
  maxInstanceBytes: 512 * 1024 * 1024,
  maxSeriesBytes: 2 * 1024 * 1024 * 1024,
  maxJsonBytes: 64 * 1024 * 1024,
  backoffBaseMs: 500,
  backoffMaxMs: 15_000,
};

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function checkUid(name: string, uid: string): string {
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > UID_MAX_LENGTH || !UID_PATTERN.test(uid)) {
    throw new AppError('BAD_REQUEST', `${name} is not a valid DICOM UID`);
  }
  return uid;
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function networkReason(err: unknown): string {
  // undici: TypeError('fetch failed') with the socket error as cause; 'terminated' when a body breaks.
  // Duck-typed: fetch's errors may come from another realm (e.g. under jest), where instanceof Error fails.
  const e = typeof err === 'object' && err !== null ? (err as { message?: unknown; cause?: unknown }) : {};
  const cause = typeof e.cause === 'object' && e.cause !== null ? (e.cause as { code?: unknown }) : {};
  if (typeof cause.code === 'string') return `network error (${cause.code})`;
  return typeof e.message === 'string' ? `network error (${e.message})` : 'network error';
}

/** Reads a whole body, refreshing the idle timer per chunk and failing once it exceeds `max` bytes. */
async function readBounded(res: Response, max: number, touch: () => void, what: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body.cancel().catch(() => undefined);
    throw new SizeLimitFailure(`${what} of ${declared} bytes exceeds the maximum of ${max} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    touch();
    total += chunk.byteLength;
    if (total > max) throw new SizeLimitFailure(`${what} exceeds the maximum of ${max} bytes`);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, total);
}

export class DicomwebClient {
  readonly sourceName: string;
  private readonly baseUrl: string;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly opts: Required<Omit<DicomwebClientOptions, 'logger' | 'onRetry' | 'metrics'>> &
    Pick<DicomwebClientOptions, 'logger' | 'onRetry' | 'metrics'>;

  /** Use `createDicomwebClient` / `DicomwebClient.fromConfig`: a client is always bound to a configured source. */
  private constructor(
    sourceName: string,
    source: DicomwebSource,
    timeoutMs: number,
    retries: number,
    options: DicomwebClientOptions,
  ) {
    this.sourceName = sourceName;
    const url = new URL(source.url);
    // fetch refuses such URLs, and the credentials would end up in logs: they belong in `auth`.
    if (url.username || url.password || url.search || url.hash) {
      throw new AppError(
        'CONFIG_INVALID',
        `DICOMweb source "${sourceName}": the URL must not carry credentials, a query or a fragment (use "auth")`,
      );
    }
    this.baseUrl = source.url.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    const auth = source.auth;
    if (auth?.type === 'bearer') this.authorization = `Bearer ${auth.token}`;
    else if (auth?.type === 'basic') {
      this.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
    }
    this.opts = {
      maxInstanceBytes: options.maxInstanceBytes ?? DEFAULTS.maxInstanceBytes,
      maxSeriesBytes: options.maxSeriesBytes ?? DEFAULTS.maxSeriesBytes,
      maxJsonBytes: options.maxJsonBytes ?? DEFAULTS.maxJsonBytes,
      backoffBaseMs: options.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
      sleep: options.sleep ?? defaultSleep,
      random: options.random ?? Math.random,
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      logger: options.logger,
      onRetry: options.onRetry,
      metrics: options.metrics,
    };
  }

  /** The client for source `sourceName` of DICOMWEB_SOURCES; unknown name → DICOMWEB_SOURCE_UNKNOWN. */
  static fromConfig(config: DicomwebConfig, sourceName: string, options: DicomwebClientOptions = {}): DicomwebClient {
    const sources = config.DICOMWEB_SOURCES;
    const source = Object.hasOwn(sources, sourceName) ? sources[sourceName] : undefined;
    if (!source) {
      throw new AppError('DICOMWEB_SOURCE_UNKNOWN', `DICOMweb source "${sourceName}" is not configured`);
    }
    return new DicomwebClient(sourceName, source, config.DICOMWEB_TIMEOUT_MS, config.DICOMWEB_RETRIES, options);
  }

  // ---- QIDO-RS (PS3.18 10.6) ----

  /** QIDO-RS `GET /studies`. */
  async searchStudies(query: QidoQuery = {}, options: RequestOptions = {}): Promise<DicomJson[]> {
    return this.getJson('searchStudies', '/studies', query, options);
  }

  /** QIDO-RS `GET /studies/{study}/series`. */
  async searchSeries(
    studyInstanceUid: string,
    query: QidoQuery = {},
    options: RequestOptions = {},
  ): Promise<DicomJson[]> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    return this.getJson('searchSeries', `/studies/${study}/series`, query, options);
  }

  /** QIDO-RS `GET /studies/{study}/series/{series}/instances`. */
  async searchInstances(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    query: QidoQuery = {},
    options: RequestOptions = {},
  ): Promise<DicomJson[]> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    const series = checkUid('seriesInstanceUid', seriesInstanceUid);
    return this.getJson('searchInstances', `/studies/${study}/series/${series}/instances`, query, options);
  }

  // ---- WADO-RS (PS3.18 10.4) ----

  /** WADO-RS `GET /studies/{study}/series/{series}/metadata`: one DICOM JSON dataset per instance (no bulk data). */
  async retrieveSeriesMetadata(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    options: RequestOptions = {},
  ): Promise<DicomJson[]> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    const series = checkUid('seriesInstanceUid', seriesInstanceUid);
    return this.getJson('retrieveSeriesMetadata', `/studies/${study}/series/${series}/metadata`, {}, options);
  }

  /**
   * WADO-RS `GET /studies/{study}/series/{series}`: every instance as a Part-10 buffer, asked for in Explicit
   * VR Little Endian. When the server answers 406 to that (or still 500/501 after the retries: a server that
   * cannot decode the stored syntax), asks again with `transfer-syntax=*` and sets `transcodingRefused`.
   * The whole series is held in memory, bounded by `maxSeriesBytes`.
   */
  async retrieveSeries(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    options: RequestOptions = {},
  ): Promise<RetrievedInstances> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    const series = checkUid('seriesInstanceUid', seriesInstanceUid);
    return this.retrieveDicom('retrieveSeries', `/studies/${study}/series/${series}`, options);
  }

  /** WADO-RS `GET /studies/{study}/series/{series}/instances/{instance}`, like `retrieveSeries`. */
  async retrieveInstance(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    sopInstanceUid: string,
    options: RequestOptions = {},
  ): Promise<RetrievedInstance & { transcodingRefused: boolean }> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    const series = checkUid('seriesInstanceUid', seriesInstanceUid);
    const sop = checkUid('sopInstanceUid', sopInstanceUid);
    const result = await this.retrieveDicom(
      'retrieveInstance',
      `/studies/${study}/series/${series}/instances/${sop}`,
      options,
    );
    const [instance, ...more] = result.instances;
    if (!instance || more.length > 0) {
      throw new AppError(
        'DICOMWEB_CLIENT_ERROR',
        `DICOMweb retrieveInstance answered ${result.instances.length} instances instead of 1`,
      );
    }
    return { ...instance, transcodingRefused: result.transcodingRefused };
  }

  // ---- STOW-RS (PS3.18 10.5) ----

  /**
   * STOW-RS `POST /studies/{study}`: the Part-10 `instances` in one multipart/related request. The server
   * must store every one of them under this study: any instance it refuses makes the whole call fail
   * (DICOMWEB_CLIENT_ERROR with the Failure Reason codes; a 409 answer is such a refusal of all of them).
   * Returns the SOP Instance UIDs the server says it holds, with their Warning Reason codes if any.
   */
  async storeInstances(studyInstanceUid: string, instances: Buffer[], options: RequestOptions = {}): Promise<StoredInstances> {
    const study = checkUid('studyInstanceUid', studyInstanceUid);
    const url = this.url(`/studies/${study}`, {});
    // A UUID boundary cannot plausibly occur inside the instances.
    const boundary = `vcf-sentinel-${randomUUID()}`;
    const parts: Buffer[] = [];
    for (const instance of instances) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Type: ${MEDIA_TYPE.DICOM}\r\n\r\n`, 'latin1'), instance, Buffer.from('\r\n', 'latin1'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
    const body = Buffer.concat(parts);
    const contentType = `${MEDIA_TYPE.MULTIPART_RELATED}; type="${MEDIA_TYPE.DICOM}"; boundary=${boundary}`;
    return this.withRetries('storeInstances', options.signal, async (signal, touch) => {
      const res = await this.send('storeInstances', url, MEDIA_TYPE.DICOM_JSON, signal, { contentType, body });
      touch();
      const answer = await readBounded(res, this.opts.maxJsonBytes, touch, 'storeInstances response');
      this.received('storeInstances', answer.length);
      const text = answer.toString('utf8');
      return readStowResponse(res.status, text, instances.length);
    });
  }

  // ---- internals ----

  private url(path: string, query: QidoQuery): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
      else params.append(key, String(value));
    }
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  private getJson(operation: string, path: string, query: QidoQuery, options: RequestOptions): Promise<DicomJson[]> {
    const url = this.url(path, query);
    return this.withRetries(operation, options.signal, async (signal, touch) => {
      const res = await this.send(operation, url, MEDIA_TYPE.DICOM_JSON, signal);
      touch();
      // QIDO-RS: 204 No Content means no match.
      if (res.status === 204) {
        await res.body?.cancel().catch(() => undefined);
        return [];
      }
      const body = await readBounded(res, this.opts.maxJsonBytes, touch, `${operation} response`);
      this.received(operation, body.length);
      if (body.length === 0) return [];
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} answered invalid JSON`);
      }
      if (!Array.isArray(parsed) || !parsed.every((d) => typeof d === 'object' && d !== null && !Array.isArray(d))) {
        throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} answered JSON that is not a DICOM JSON array`);
      }
      return parsed as DicomJson[];
    });
  }

  private async retrieveDicom(operation: string, path: string, options: RequestOptions): Promise<RetrievedInstances> {
    try {
      return await this.retrieveDicomWith(operation, path, ACCEPT_DICOM_EXPLICIT_LE, false, options);
    } catch (err) {
      // 406: the server says it will not transcode. 500/501 after every retry: it tried and failed, which is
      // what Orthanc without a JPEG 2000 codec (orthanc-gdcm) answers. Either way the stored transfer syntax
      // is still worth having: the caller sees `transcodingRefused` and each instance's transfer syntax.
      const refused = err instanceof DicomwebHttpError && err.status === 406;
      const failed = err instanceof DicomwebUnavailableError && (err.lastStatus === 500 || err.lastStatus === 501);
      if (!refused && !failed) throw err;
      this.opts.logger?.warn(
        {
          event: 'dicomweb.transcoding_refused',
          source: this.sourceName,
          operation,
          status: refused ? 406 : (err as DicomwebUnavailableError).lastStatus,
        },
        'source did not deliver Explicit VR Little Endian; retrieving the stored transfer syntax, instances may be compressed',
      );
      return this.retrieveDicomWith(operation, path, ACCEPT_DICOM_ANY_TRANSFER_SYNTAX, true, options);
    }
  }

  private retrieveDicomWith(
    operation: string,
    path: string,
    accept: string,
    transcodingRefused: boolean,
    options: RequestOptions,
  ): Promise<RetrievedInstances> {
    const url = this.url(path, {});
    const { maxInstanceBytes, maxSeriesBytes } = this.opts;
    return this.withRetries(operation, options.signal, async (signal, touch) => {
      const res = await this.send(operation, url, accept, signal);
      touch();
      const contentType = res.headers.get('content-type');
      const mediaType = contentType ? parseContentType(contentType).mediaType : '';
      const instances: RetrievedInstance[] = [];
      let bytes = 0;
      const add = (body: Buffer, partContentType: string | undefined) => {
        if (partContentType && parseContentType(partContentType).mediaType !== MEDIA_TYPE.DICOM) {
          throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} answered a part that is not application/dicom`);
        }
        const meta = readPart10Meta(body);
        if (!meta) {
          throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} answered a part that is not a DICOM Part-10 file`);
        }
        bytes += body.length;
        if (bytes > maxSeriesBytes) {
          throw new SizeLimitFailure(`${operation} exceeds the maximum of ${maxSeriesBytes} bytes`);
        }
        instances.push({ buffer: body, transferSyntaxUid: meta.transferSyntaxUid, sopInstanceUid: meta.sopInstanceUid });
      };

      if (mediaType === MEDIA_TYPE.DICOM) {
        // Not multipart, but unambiguous: some servers answer a single instance as a bare Part-10 body.
        add(await readBounded(res, maxInstanceBytes, touch, 'an instance'), undefined);
      } else {
        const boundary = boundaryFromContentType(contentType);
        if (!res.body) throw new MultipartError('truncated', 'the response has no body');
        const chunks = (async function* () {
          for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
            touch();
            yield chunk;
          }
        })();
        for await (const part of parseMultipart(chunks, boundary, { maxPartBytes: maxInstanceBytes })) {
          add(part.body, part.headers['content-type']);
        }
      }
      this.opts.logger?.debug(
        { event: 'dicomweb.retrieved', source: this.sourceName, operation, path, instances: instances.length, bytes },
        'retrieved',
      );
      this.received(operation, bytes);
      return { instances, bytes, transcodingRefused };
    });
  }

  /**
   * One HTTP GET (or a POST with `post`); non-2xx answers become HttpStatusFailure (body discarded), except a
   * STOW-RS 409, whose body says which instances failed and why.
   */
  private async send(
    operation: string,
    url: string,
    accept: string,
    signal: AbortSignal,
    post?: { contentType: string; body: Buffer },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (post) headers['content-type'] = post.contentType;
    if (this.authorization) headers.authorization = this.authorization;
    if (post) this.opts.metrics?.dicomwebBytes.inc({ operation, direction: 'sent' }, post.body.length);
    this.opts.logger?.debug(
      { event: 'dicomweb.request', source: this.sourceName, operation, path: url.slice(this.baseUrl.length) },
      'request',
    );
    // Redirects are not followed: a source answers from its configured URL or not at all.
    const res = await this.opts.fetch(url, { method: post ? 'POST' : 'GET', headers, signal, redirect: 'manual', ...(post ? { body: post.body } : {}) });
    if (res.status >= 200 && res.status < 300) return res;
    if (post && res.status === 409) return res;
    await res.body?.cancel().catch(() => undefined);
    throw new HttpStatusFailure(res.status, parseRetryAfter(res.headers.get('retry-after')));
  }

  /**
   * Runs `attempt` until it succeeds, a non-retryable failure occurs, or DICOMWEB_RETRIES retries are used.
   * Each attempt gets its own AbortSignal driven by an idle timer of DICOMWEB_TIMEOUT_MS, refreshed by
   * `touch()` whenever bytes arrive: a large series may take longer than the timeout, a stalled one may not.
   */
  private async withRetries<T>(
    operation: string,
    callerSignal: AbortSignal | undefined,
    attempt: (signal: AbortSignal, touch: () => void) => Promise<T>,
  ): Promise<T> {
    // One span and one timing per call, retries and backoff included: what the job waited for.
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await inSpan(`dicomweb ${operation}`, { 'vcf.dicomweb.source': this.sourceName, 'vcf.dicomweb.operation': operation }, () => this.retrying(operation, callerSignal, attempt), { kind: SpanKind.CLIENT });
      outcome = 'ok';
      return result;
    } finally {
      this.opts.metrics?.dicomwebSeconds.observe({ operation, outcome }, (performance.now() - started) / 1000);
    }
  }

  /** Bodies read from the source (DICOM JSON, Part-10 instances). */
  private received(operation: string, bytes: number): void {
    this.opts.metrics?.dicomwebBytes.inc({ operation, direction: 'received' }, bytes);
  }

  private async retrying<T>(
    operation: string,
    callerSignal: AbortSignal | undefined,
    attempt: (signal: AbortSignal, touch: () => void) => Promise<T>,
  ): Promise<T> {
    for (let n = 1; ; n += 1) {
      callerSignal?.throwIfAborted();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new TimeoutFailure('timeout')), this.timeoutMs);
      const onCallerAbort = () => controller.abort(callerSignal?.reason);
      callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
      let failure: { retryable: boolean; reason: string; error: unknown; retryAfterMs?: number | undefined };
      try {
        return await attempt(controller.signal, () => timer.refresh());
      } catch (err) {
        if (callerSignal?.aborted) throw callerSignal.reason;
        failure = this.classify(operation, err, controller.signal);
      } finally {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onCallerAbort);
      }
      if (!failure.retryable) throw failure.error;
      if (n > this.retries) {
        throw new DicomwebUnavailableError(
          `DICOMweb source "${this.sourceName}" unavailable for ${operation}: ${failure.reason} (${n} attempts)`,
          failure.error instanceof HttpStatusFailure ? failure.error.status : undefined,
          failure.error,
        );
      }
      const exp = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (n - 1));
      let delayMs = Math.round(exp / 2 + (exp / 2) * this.opts.random());
      if (failure.retryAfterMs !== undefined) {
        delayMs = Math.min(this.opts.backoffMaxMs, Math.max(delayMs, failure.retryAfterMs));
      }
      const event: RetryEvent = { operation, attempt: n, delayMs, reason: failure.reason };
      this.opts.logger?.warn({ event: 'dicomweb.retry', source: this.sourceName, ...event }, 'retrying');
      this.opts.onRetry?.(event);
      await this.opts.sleep(delayMs, callerSignal);
    }
  }

  private classify(
    operation: string,
    err: unknown,
    signal: AbortSignal,
  ): { retryable: boolean; reason: string; error: unknown; retryAfterMs?: number | undefined } {
    if (err instanceof HttpStatusFailure) {
      const { status } = err;
      if (status >= 500 || status === 429 || status === 408) {
        return { retryable: true, reason: `HTTP ${status}`, error: err, retryAfterMs: err.retryAfterMs };
      }
      return { retryable: false, reason: `HTTP ${status}`, error: new DicomwebHttpError(operation, status) };
    }
    if (signal.aborted && signal.reason instanceof TimeoutFailure) {
      return { retryable: true, reason: `timeout (no data for ${this.timeoutMs} ms)`, error: signal.reason };
    }
    if (err instanceof SizeLimitFailure) {
      return { retryable: false, reason: 'too large', error: new AppError('STUDY_UNUSABLE', err.message) };
    }
    if (err instanceof MultipartError) {
      if (err.kind === 'too-large') {
        return {
          retryable: false,
          reason: 'too large',
          error: new AppError('STUDY_UNUSABLE', `${operation}: ${err.message}`, { cause: err }),
        };
      }
      if (err.kind === 'truncated') return { retryable: true, reason: `truncated response (${err.message})`, error: err };
      return {
        retryable: false,
        reason: 'malformed',
        error: new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb ${operation} answered a malformed multipart body: ${err.message}`, {
          cause: err,
        }),
      };
    }
    if (err instanceof AppError) return { retryable: false, reason: err.message, error: err };
    return { retryable: true, reason: networkReason(err), error: err };
  }
}

/** What a STOW-RS server holds after `storeInstances`. */
export interface StoredInstances {
  /** HTTP 200 (all stored) or 202 (stored with warnings). */
  status: number;
  /** ReferencedSOPSequence: the SOP Instance UIDs stored, each with its Warning Reason (0008,1196) when given. */
  stored: Array<{ sopInstanceUid: string; warningReason: number | null }>;
}

/** PS3.18 10.5.3 Store Instances Response Module (DICOM JSON); refusals become DICOMWEB_CLIENT_ERROR. */
function readStowResponse(status: number, text: string, sent: number): StoredInstances {
  let answer: DicomJson = {};
  if (text.trim()) {
    try {
      const parsed: unknown = JSON.parse(text);
      // Some servers wrap the one dataset in an array.
      const dataset = Array.isArray(parsed) ? parsed[0] : parsed;
      if (typeof dataset === 'object' && dataset !== null) answer = dataset as DicomJson;
    } catch {
      throw new AppError('DICOMWEB_CLIENT_ERROR', `DICOMweb storeInstances answered HTTP ${status} with invalid JSON`);
    }
  }
  const items = (tag: string) => (answer[tag]?.Value ?? []).filter((i): i is DicomJson => typeof i === 'object' && i !== null);
  const first = (item: DicomJson, tag: string) => item[tag]?.Value?.[0];
  const failed = items('00081198');
  if (failed.length > 0 || status === 409) {
    const reasons = [...new Set(failed.map((f) => first(f, '00081197')).map((r) => (typeof r === 'number' ? `0x${r.toString(16).toUpperCase().padStart(4, '0')}` : 'unknown')))];
    throw new AppError(
      'DICOMWEB_CLIENT_ERROR',
      `DICOMweb storeInstances: the server refused ${failed.length || sent} of ${sent} instances (HTTP ${status}, Failure Reason ${reasons.join(', ') || 'not given'})`,
    );
  }
  const stored = items('00081199').map((item) => {
    const warning = first(item, '00081196');
    return { sopInstanceUid: String(first(item, '00081155') ?? ''), warningReason: typeof warning === 'number' ? warning : null };
  });
  return { status, stored };
}

/** The client for source `sourceName` of DICOMWEB_SOURCES; unknown name → AppError DICOMWEB_SOURCE_UNKNOWN. */
export function createDicomwebClient(
  config: DicomwebConfig,
  sourceName: string,
  options: DicomwebClientOptions = {},
): DicomwebClient {
  return DicomwebClient.fromConfig(config, sourceName, options);
}
