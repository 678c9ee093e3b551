import { randomUUID } from 'node:crypto';
import { MedplumClient, type MedplumRequestOptions, OperationOutcomeError, isOperationOutcome, operationOutcomeToString } from '@medplum/core';
import type { Bundle, Identifier, Resource, ResourceType } from '@medplum/fhirtypes';
import { type KeyLike, SignJWT } from 'jose';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import type { FhirWriter, WrittenResource } from './writer';

/** How the service authenticates to the external FHIR server. */
export type FhirAuth =
  | { kind: 'none' }
  /** OAuth2 client credentials (FHIR_CLIENT_ID / FHIR_CLIENT_SECRET / FHIR_TOKEN_URL). */
  | { kind: 'client-credentials'; clientId: string; clientSecret: string; tokenUrl?: string }
  /**
   * SMART backend services: a client assertion signed with the service's private key (RS384 or ES384).
   * MedplumClient sends it without a `scope`, so servers that require one will refuse it.
   */
  | { kind: 'smart-backend'; clientId: string; privateKey: KeyLike | Uint8Array; algorithm?: 'RS384' | 'ES384'; keyId?: string; tokenUrl?: string };

export interface ExternalFhirWriterOptions {
  /** FHIR_BASE_URL: the server's FHIR base, e.g. `https://ehr.example/fhir/R4`. */
  baseUrl: string;
  /** Default `{ kind: 'none' }`. Without a tokenUrl the token endpoint is read from `<baseUrl>/.well-known/smart-configuration`. */
  auth?: FhirAuth;
  /** Attempts per operation, the first included. Default 4. */
  attempts?: number;
  /** Per-request timeout (response and body), in ms. Default 10 000. */
  timeoutMs?: number;
  /** Delay before the second attempt; doubles per attempt up to `maxDelayMs`. Defaults 500 and 8 000 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this ends the attempts at once: the queue job retries later. Default 30 000 ms. */
  maxRetryAfterMs?: number;
  logger?: Logger;
}

/** An HTTP error answer, thrown by our fetch so that MedplumClient neither retries it nor handles a 401 itself. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    readonly detail: string,
  ) {
    super(`HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

type Failure = { kind: 'transient'; reason: string; retryAfterMs?: number } | { kind: 'rejected'; reason: string } | { kind: 'unauthorized'; reason: string };

/**
 * Our own retries only: MedplumClient's are switched off per request (`maxRetries: 0`; it would retry
 * without honouring Retry-After and with its own timing), and so are its cache and auto-batching, which
 * would answer a search from before our own write.
 */
const REQUEST: MedplumRequestOptions = { maxRetries: 0 };

/**
 * Writes to an external FHIR R4 server through MedplumClient. `upsert` is a conditional update
 * (`PUT <type>?identifier=<system>|<value>`), so a retry after a lost answer creates nothing twice.
 * 5xx, 429, 408, timeouts and network errors are retried with exponential backoff (Retry-After honoured);
 * other 4xx are not: they become FHIR_REJECTED with the server's diagnostics. Exhausted attempts become
 * FHIR_UNAVAILABLE, which is retryable, so the queue job runs again later.
 */
export class ExternalFhirWriter implements FhirWriter {
  private readonly auth: FhirAuth;
  private readonly attempts: number;
  private readonly timeoutMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private client: Promise<MedplumClient> | null = null;
  private tokenUrl: string | undefined;
  /** The current login; shared by concurrent calls, dropped on failure or on a 401. */
  private session: Promise<void> | null = null;

  constructor(private readonly options: ExternalFhirWriterOptions) {
    this.auth = options.auth ?? { kind: 'none' };
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 8_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  }

  async upsert<T extends WrittenResource>(resource: T): Promise<T & { id: string }> {
    const query = { identifier: identifierToken(resource) };
    // The server resolves the id from the identifier; a stale id or version in the body would only conflict.
    const { id: _id, meta, ...rest } = resource as Resource;
    const { versionId: _v, lastUpdated: _l, ...ownMeta } = meta ?? {};
    const body = (Object.keys(ownMeta).length > 0 ? { ...rest, meta: ownMeta } : rest) as T;

    const stored = await this.call(`conditional update of ${resource.resourceType}`, (client) => client.upsertResource(body, query, { ...REQUEST }));
    if (stored?.id) return stored as T & { id: string };
    // A server that answers 201/200 without a body (or 304): read the id back by the identifier.
    const found = await this.search(resource.resourceType, query);
    const match = found.entry?.[0]?.resource;
    if (!match?.id) throw new AppError('FHIR_UNAVAILABLE', `${resource.resourceType} written but not found by its identifier`);
    return match as unknown as T & { id: string };
  }

  async search<K extends ResourceType>(resourceType: K, query: Record<string, string>): Promise<Bundle<Extract<Resource, { resourceType: K }>>> {
    return this.call(`search of ${resourceType}`, (client) => client.search(resourceType, query, { ...REQUEST })) as Promise<Bundle<Extract<Resource, { resourceType: K }>>>;
  }

  async close(): Promise<void> {
    // MedplumClient holds no sockets of its own (Node's fetch pools them and lets them idle out).
    this.client = null;
    this.session = null;
  }

  /** One operation with retries; `what` names it in errors (never resource content). */
  private async call<T>(what: string, op: (client: MedplumClient) => Promise<T>): Promise<T> {
    let lastReason = '';
    let reauthenticated = false;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const client = await this.ready();
        return await op(client);
      } catch (err) {
        const failure = classify(err);
        if (failure.kind === 'unauthorized' && this.auth.kind !== 'none' && !reauthenticated) {
          // The token may have expired or been revoked: log in again once, at once.
          reauthenticated = true;
          this.session = null;
          continue;
        }
        if (failure.kind !== 'transient') throw new AppError('FHIR_REJECTED', `${what}: ${failure.reason}`, { cause: err });
        lastReason = failure.reason;
        if (failure.retryAfterMs !== undefined && failure.retryAfterMs > this.maxRetryAfterMs) break;
        if (attempt === this.attempts) break;
        const delay = Math.max(this.backoff(attempt), failure.retryAfterMs ?? 0);
        this.options.logger?.warn({ event: 'fhir.retry', what, attempt, delayMs: delay, reason: failure.reason }, 'FHIR request failed, retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    throw new AppError('FHIR_UNAVAILABLE', `${what}: FHIR server unavailable (${lastReason}), retry later`);
  }

  /** Exponential, with jitter so that workers retrying together spread out. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private async ready(): Promise<MedplumClient> {
    this.client ??= this.createClient().catch((err: unknown) => {
      this.client = null;
      throw err;
    });
    const client = await this.client;
    if (this.auth.kind !== 'none') {
      this.session ??= this.login(client).catch((err: unknown) => {
        this.session = null;
        throw err;
      });
      await this.session;
    }
    return client;
  }

  private async createClient(): Promise<MedplumClient> {
    const auth = this.auth;
    const tokenUrl = auth.kind === 'none' ? undefined : (auth.tokenUrl ?? (await this.discoverTokenUrl()));
    this.tokenUrl = tokenUrl;
    return new MedplumClient({
      baseUrl: this.options.baseUrl,
      fhirUrlPath: '',
      ...(tokenUrl ? { tokenUrl } : {}),
      // With these set, MedplumClient renews an expiring JWT access token by itself.
      ...(auth.kind === 'client-credentials' ? { clientId: auth.clientId, clientSecret: auth.clientSecret } : {}),
      fetch: this.fetch,
      cacheTime: 0,
      autoBatchTime: 0,
      // Not a Medplum server: no X-Medplum header, and ask for the stored resource back.
      extendedMode: false,
      defaultHeaders: { Prefer: 'return=representation' },
    });
  }

  private async login(client: MedplumClient): Promise<void> {
    const auth = this.auth;
    switch (auth.kind) {
      case 'none':
        return;
      case 'client-credentials':
        await client.startClientLogin(auth.clientId, auth.clientSecret);
        return;
      case 'smart-backend': {
        const now = Math.floor(Date.now() / 1000);
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg: auth.algorithm ?? 'RS384', typ: 'JWT', ...(auth.keyId ? { kid: auth.keyId } : {}) })
          .setIssuer(auth.clientId)
          .setSubject(auth.clientId)
          .setAudience(client.getTokenUrl())
          .setJti(randomUUID())
          .setIssuedAt(now)
          .setExpirationTime(now + 300)
          .sign(auth.privateKey);
        await client.startJwtAssertionLogin(assertion);
        return;
      }
      default:
        auth satisfies never;
    }
  }

  /** SMART App Launch discovery: the token endpoint the server publishes. */
  private async discoverTokenUrl(): Promise<string> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/.well-known/smart-configuration`;
    const res = await this.fetch(url, { headers: { accept: 'application/json' } });
    const config = (await res.json()) as { token_endpoint?: unknown };
    if (typeof config.token_endpoint !== 'string') throw new AppError('FHIR_REJECTED', 'no token URL configured and none in .well-known/smart-configuration');
    return config.token_endpoint;
  }

  /**
   * Node's fetch with a timeout on the whole exchange; an error answer is thrown as HttpStatusError with
   * its status, Retry-After and diagnostics (MedplumClient would keep only the OperationOutcome).
   */
  private readonly fetch = async (url: string, init: RequestInit & { cache?: string } = {}): Promise<Response> => {
    // Browser-only settings MedplumClient adds; Node's fetch has no HTTP cache or cookie jar.
    const { cache: _cache, credentials: _credentials, ...rest } = init;
    const res = await fetch(url, { ...rest, signal: AbortSignal.timeout(this.timeoutMs) });
    if (res.status < 400) return res;
    // The token endpoint's refusals go back to MedplumClient, which fails the login at once (a thrown
    // error there would be retried twice by MedplumClient itself); its 5xx and 429 are thrown as transient.
    if (url === this.tokenUrl && res.status < 500 && res.status !== 429) return res;
    const text = await res.text().catch(() => '');
    throw new HttpStatusError(res.status, parseRetryAfter(res.headers.get('retry-after')), describeErrorBody(text));
  };
}

/** `identifier=<system>|<value>` of the first identifier, with FHIR search escaping (`\`, `|`, `,`, `$`). */
function identifierToken(resource: Resource): string {
  const first = (('identifier' in resource ? resource.identifier : undefined) as Identifier[] | undefined)?.[0];
  if (!first?.value) throw new AppError('FHIR_REJECTED', `${resource.resourceType} has no identifier to write it by`);
  const escape = (s: string) => s.replace(/[\\|,$]/g, (c) => `\\${c}`);
  return `${escape(first.system ?? '')}|${escape(first.value)}`;
}

function classify(err: unknown): Failure {
  if (err instanceof AppError) return err.spec.retryable ? { kind: 'transient', reason: err.message } : { kind: 'rejected', reason: err.message };
  if (err instanceof HttpStatusError) {
    if (err.status === 401) return { kind: 'unauthorized', reason: err.message };
    // A transient failure is named by its status only: it is logged, and a 5xx body may quote the request.
    if (err.status === 408 || err.status === 429 || err.status >= 500) return { kind: 'transient', reason: `HTTP ${err.status}`, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
    return { kind: 'rejected', reason: err.message };
  }
  // MedplumClient's own refusals: a failed login (the token endpoint's words are in the cause), a token
  // issued for another client.
  if (err instanceof OperationOutcomeError) {
    const cause = err.cause instanceof OperationOutcomeError ? `: ${operationOutcomeToString(err.cause.outcome)}` : '';
    return { kind: 'rejected', reason: `${operationOutcomeToString(err.outcome)}${cause}` };
  }
  // Timeouts, refused connections, resets, a cut-off body: the request may or may not have been applied,
  // which the conditional update makes harmless to repeat.
  const e = err as Error & { cause?: { code?: string } };
  return { kind: 'transient', reason: [e?.name ?? 'Error', e?.cause?.code].filter(Boolean).join(' ') };
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** An OperationOutcome's issues, an OAuth error, or the start of a text body; bounded in length. */
export function describeErrorBody(text: string): string {
  let detail = text.trim();
  try {
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
    if (isOperationOutcome(body)) detail = operationOutcomeToString(body);
    else if (typeof body.error === 'string') detail = [body.error, body.error_description].filter((s) => typeof s === 'string').join(': ');
  } catch {
    // Not JSON: keep the text.
  }
  return detail.length > 300 ? `${detail.slice(0, 300)}…` : detail;
}
