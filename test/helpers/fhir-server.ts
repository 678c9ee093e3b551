/**
 * A real FHIR R4 server for tests that write to an external one: @medplum/fhir-router over a
 * MemoryRepository behind node:http (FhirRouter serves the conditional update `PUT Type?identifier=`),
 * an OAuth2 token endpoint for client credentials and SMART backend assertions, and injectable faults.
 * Used by the external writer's integration test and by the FHIR-outage fault test.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus } from '@medplum/core';
import { type FhirRequest, FhirRouter, type HttpMethod, MemoryRepository } from '@medplum/fhir-router';
import type { OperationOutcome, ResourceType } from '@medplum/fhirtypes';
import { type KeyLike, jwtVerify } from 'jose';
import { ensureFhirSchema } from '../../src/emit/fhir/schema';

/** What the server does with the next FHIR request instead of (or besides) answering it; null: answer it. */
export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Performs the request, then holds the answer back for `ms` (the client has given up by then). */
  | { kind: 'stall'; ms: number }
  | null;

export class TestFhirServer {
  readonly repo = new MemoryRepository();
  private readonly router = new FhirRouter();
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  /** Consumed one per FHIR request (of `faultMethods` only, when set), in order. */
  readonly faults: Fault[] = [];
  faultMethods: string[] | null = null;
  /** Every request with the status it was answered (`stalled`: answered late, after a `stall`). */
  readonly requests: { method: string; url: string; status: number | 'stalled' }[] = [];
  readonly tokens = new Set<string>();
  tokenRequests = 0;
  /** When set, FHIR requests need a bearer token issued by /oauth2/token. */
  auth: { clientId: string; clientSecret?: string; publicKey?: KeyLike } | null = null;
  port = 0;

  async start(): Promise<void> {
    ensureFhirSchema();
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get fhirBase(): string {
    return `http://127.0.0.1:${this.port}/fhir/R4`;
  }

  get tokenUrl(): string {
    return `http://127.0.0.1:${this.port}/oauth2/token`;
  }

  fhirRequests(method: string): number {
    return this.requests.filter((r) => r.method === method && r.url.startsWith('/fhir/R4/')).length;
  }

  async count(resourceType: ResourceType): Promise<number> {
    return (await this.repo.searchResources({ resourceType })).length;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = req.url ?? '/';
    const record = { method: req.method ?? '', url, status: 0 as number | 'stalled' };
    this.requests.push(record);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (record.status !== 'stalled') record.status = status;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };

    if (url === '/oauth2/token' && req.method === 'POST') return send(...(await this.token(new URLSearchParams(text))));
    if (!url.startsWith('/fhir/R4/')) return send(404, outcome('not-found', 'no such route'));
    if (this.auth && !this.tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) return send(401, outcome('login', 'bearer token required'));

    const fault = this.faultMethods === null || this.faultMethods.includes(req.method ?? '') ? (this.faults.shift() ?? null) : null;
    if (fault?.kind === 'status') return send(fault.status, fault.body ?? outcome('exception', `injected ${fault.status}`), fault.headers);

    const fhirRequest: FhirRequest = {
      method: req.method as HttpMethod,
      url: url.slice('/fhir/R4'.length),
      pathname: '',
      body: text ? JSON.parse(text) : undefined,
      params: {},
      query: {},
      headers: req.headers,
    };
    const [result, resource] = await this.router.handleRequest(fhirRequest, this.repo);
    if (fault?.kind === 'stall') {
      record.status = 'stalled';
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    send(getStatus(result), resource ?? result);
  }

  private async token(form: URLSearchParams): Promise<[number, unknown]> {
    this.tokenRequests++;
    const auth = this.auth;
    if (!auth || form.get('grant_type') !== 'client_credentials') return [400, { error: 'unsupported_grant_type' }];
    let ok = false;
    if (form.get('client_assertion') && auth.publicKey) {
      ok = await jwtVerify(form.get('client_assertion')!, auth.publicKey, { issuer: auth.clientId, subject: auth.clientId, audience: this.tokenUrl })
        .then(() => form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        .catch(() => false);
    } else {
      ok = form.get('client_id') === auth.clientId && form.get('client_secret') === auth.clientSecret;
    }
    if (!ok) return [401, { error: 'invalid_client', error_description: 'client authentication failed' }];
    const token = randomUUID();
    this.tokens.add(token);
    return [200, { access_token: token, token_type: 'Bearer', expires_in: 3600 }];
  }
}

export function outcome(code: string, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: code as 'invalid', diagnostics }] };
}

