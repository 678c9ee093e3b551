import { getStatus } from '@medplum/core';
import { type FhirRepository, type FhirRequest, FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleLink, OperationOutcome, OperationOutcomeIssue, Resource, ResourceType } from '@medplum/fhirtypes';
import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import { AppError, toAppError } from '../../errors';
import { requireApiToken } from '../../http/auth';
import type { Logger } from '../../log';
import { FHIR_JSON, SERVED_TYPES, capabilityStatement } from './capability';
import { DEFAULT_COUNT } from './search';

/** Where the FHIR API is mounted. */
export const FHIR_MOUNT = '/fhir/R4';

export interface FhirHttpOptions {
  /** The store to serve: `EmbeddedFhirWriter.repository`. */
  repository: FhirRepository;
  /** Bearer token required on every route but /metadata (which holds no data); null or absent: open. */
  apiToken?: string | null;
  /**
   * The URL clients reach this service at, without the FHIR path (PUBLIC_BASE_URL), for `fullUrl` and
   * paging links. Default: the request's protocol and Host.
   */
  publicBaseUrl?: (req: Request) => string;
  /** Types served and listed in the CapabilityStatement. Default: SERVED_TYPES (what the service writes). */
  resourceTypes?: readonly ResourceType[];
  /** For 5xx only; nothing about the request's content is logged. */
  logger?: Logger;
}

/**
 * The embedded store's read-only FHIR R4 API at /fhir/R4: metadata, read, vread, history and search (by
 * @medplum/fhir-router over the repository), answers in application/fhir+json, errors as
 * OperationOutcome with their HTTP status, writes refused with 405.
 */
export function createFhirRouter(options: FhirHttpOptions): Router {
  const types = new Set<string>(options.resourceTypes ?? SERVED_TYPES);
  const fhirRouter = new FhirRouter();
  const baseOf = (req: Request) => `${(options.publicBaseUrl?.(req) ?? `${req.protocol}://${req.get('host')}`).replace(/\/+$/, '')}${FHIR_MOUNT}`;

  const api = express.Router();
  api.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    res.set('Allow', 'GET, HEAD');
    next(new AppError('METHOD_NOT_ALLOWED', 'this FHIR API is read-only'));
  });
  api.get('/metadata', (req, res) => {
    sendFhir(res, 200, capabilityStatement([...types] as ResourceType[], baseOf(req)));
  });
  api.use(requireApiToken(options.apiToken ?? null));
  api.use(async (req, res, next) => {
    try {
      const resourceType = req.path.split('/')[1] ?? '';
      if (!types.has(resourceType)) throw new AppError('NOT_FOUND', resourceType ? `resource type not served: ${resourceType}` : 'name a resource type to search');
      checkPaging(new URL(req.url, 'http://localhost').searchParams);
      const fhirRequest: FhirRequest = { method: 'GET', url: req.url, pathname: '', body: undefined, params: {}, query: {}, headers: req.headers };
      const [outcome, resource] = await fhirRouter.handleRequest(fhirRequest, options.repository);
      const status = getStatus(outcome);
      if (status >= 500) throw new Error(`FHIR router failed: ${outcome.issue?.[0]?.code ?? 'exception'}`);
      if (status >= 400 || !resource) return sendFhir(res, status, outcome);
      sendFhir(res, status, resource.resourceType === 'Bundle' ? withLinks(resource, req, baseOf(req)) : resource);
    } catch (err) {
      next(err);
    }
  });
  api.use(fhirErrorHandler(options.logger));

  const router = express.Router();
  router.use(FHIR_MOUNT, api);
  return router;
}

/**
 * `_count` and `_offset` as plain decimal integers, each at most once. @medplum/core reads them with
 * parseInt ("1e3" → 1, "5abc" → 5, "1.5" → 1) while the paging links read them as numbers: a page of 1
 * whose links assumed 1000 would hide the remaining matches from a client that follows them.
 */
function checkPaging(query: URLSearchParams): void {
  for (const name of ['_count', '_offset']) {
    const values = query.getAll(name);
    if (values.length > 1) throw new AppError('BAD_REQUEST', `${name} may be given once`);
    const [value] = values;
    if (value !== undefined && !(/^\d+$/.test(value) && Number.isSafeInteger(Number(value)))) {
      throw new AppError('BAD_REQUEST', `${name} must be a non-negative integer`);
    }
  }
}

function sendFhir(res: Response, status: number, body: Resource): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

/** `fullUrl` on each entry; `self`, and `next`/`previous` links for searchsets (offset paging). */
function withLinks(bundle: Bundle, req: Request, base: string): Bundle {
  const self = new URL(`${base}${req.url}`);
  const link: BundleLink[] = [{ relation: 'self', url: self.toString() }];
  if (bundle.type === 'searchset') {
    const count = Number(self.searchParams.get('_count') ?? DEFAULT_COUNT);
    const offset = Number(self.searchParams.get('_offset') ?? 0);
    const page = (at: number) => {
      const url = new URL(self);
      url.searchParams.set('_offset', String(at));
      url.searchParams.set('_count', String(count));
      return url.toString();
    };
    if (count > 0 && offset + count < (bundle.total ?? 0)) link.push({ relation: 'next', url: page(offset + count) });
    if (count > 0 && offset > 0) link.push({ relation: 'previous', url: page(Math.max(0, offset - count)) });
  }
  const entry = bundle.entry?.map((e) => (e.resource?.id ? { fullUrl: `${base}/${e.resource.resourceType}/${e.resource.id}`, ...e } : e));
  return { ...bundle, link, ...(entry ? { entry } : {}) };
}

const ISSUE_CODES: Record<number, OperationOutcomeIssue['code']> = { 400: 'invalid', 401: 'login', 403: 'forbidden', 404: 'not-found', 405: 'not-supported' };

/** AppError (or anything thrown) as an OperationOutcome with the code's status; never a stack or raw message. */
function fhirErrorHandler(logger: Logger | undefined): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const error = toAppError(err);
    const status = error.spec.http;
    if (status >= 500) logger?.error({ event: 'fhir.http_error', method: req.method, err }, 'FHIR request failed');
    if (res.headersSent) return;
    if (status === 401) res.set('WWW-Authenticate', 'Bearer');
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: ISSUE_CODES[status] ?? 'exception', details: { text: error.message } }],
    };
    sendFhir(res, status, outcome);
  };
}
