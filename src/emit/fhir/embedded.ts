import { randomUUID } from 'node:crypto';
import {
  Operator,
  OperationOutcomeError,
  type SearchRequest,
  type WithId,
  badRequest,
  deepEquals,
  notFound,
  operationOutcomeToString,
  parseSearchRequest,
} from '@medplum/core';
import { type CreateResourceOptions, FhirRepository, type RepositoryMode, type UpdateResourceOptions } from '@medplum/fhir-router';
import type { Bundle, Identifier, Reference, Resource, ResourceType } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import { AppError } from '../../errors';
import { ensureFhirSchema } from './schema';
import { normalizeSearchRequest, selectPage } from './search';
import type { FhirWriter, WrittenResource } from './writer';

/**
 * The embedded FHIR store (no FHIR_BASE_URL): resources in Redis, read and searched through
 * @medplum/fhir-router by http.ts, written by EmbeddedFhirWriter.upsert.
 */

/** Every Redis key of the store, per resource type, all under `<prefix>:fhir:`. */
export function fhirKeys(prefix: string, resourceType: string) {
  const base = `${prefix}:fhir:${resourceType}`;
  return {
    /** hash: id → current JSON */
    resources: `${base}:resources`,
    /** hash: `<system>|<value>` of the first identifier → id */
    identifiers: `${base}:identifiers`,
    /** list: the earlier versions' JSON, oldest first (the current one is in `resources`) */
    history: (id: string) => `${base}:history:${id}`,
  };
}

/**
 * Compare-and-set of one resource version, so two upserts of one identifier cannot both create or both
 * replace: the caller read the identifier index and the current JSON, and the write happens only if both
 * are still what it read (otherwise the caller reads again).
 *   KEYS[1] resources hash   KEYS[2] identifiers hash   KEYS[3] history list of the id (gets the replaced JSON)
 *   ARGV[1] identifier key   ARGV[2] id   ARGV[3] the JSON read ('' = expect no resource)   ARGV[4] new JSON
 *   returns 1 when written, 0 when something changed in between
 */
const COMPARE_AND_SET_LUA = `
local indexed = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[3] == '' then
  if indexed then return 0 end
else
  if indexed ~= ARGV[2] or redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[3]) end
return 1
`;

/** Conflicting writers retry the compare-and-set; more rounds than this means something is wrong. */
const MAX_CAS_ROUNDS = 20;

/**
 * A FhirRepository over Redis, for FhirRouter. Reads, history and search are complete; writes go through
 * `upsert` (the only write the service makes). Generic create/update exist because the base class needs
 * them; patch and delete are refused (the HTTP API is read-only).
 */
export class RedisFhirRepository extends FhirRepository<undefined> {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
    ensureFhirSchema();
  }

  setMode(_mode: RepositoryMode): void {
    // One Redis: no reader/writer split.
  }

  generateId(): string {
    return randomUUID();
  }

  /**
   * Conditional update on the resource's first identifier: create (server-assigned id, version 1) when none
   * matches, replace (same id, next version) when the content differs, return the stored one unchanged when
   * equal apart from id and the server-managed meta (versionId, lastUpdated).
   */
  async upsert<T extends Resource>(resource: T): Promise<{ resource: WithId<T>; outcome: 'created' | 'updated' | 'unchanged' }> {
    const identifierKey = firstIdentifierKey(resource);
    const keys = fhirKeys(this.prefix, resource.resourceType);
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const id = await this.redis.hget(keys.identifiers, identifierKey);
      const currentJson = id ? await this.redis.hget(keys.resources, id) : null;
      const current = currentJson ? (JSON.parse(currentJson) as WithId<T>) : null;
      if (current && sameContent(current, resource)) return { resource: current, outcome: 'unchanged' };

      const newId = current?.id ?? this.generateId();
      const version = current ? Number(current.meta?.versionId ?? '0') + 1 : 1;
      const stored = withServerFields(resource, newId, version);
      const json = JSON.stringify(stored);
      const written = await this.redis.eval(COMPARE_AND_SET_LUA, 3, keys.resources, keys.identifiers, keys.history(newId), identifierKey, newId, currentJson ?? '', json);
      if (written === 1) return { resource: stored, outcome: current ? 'updated' : 'created' };
    }
    throw new AppError('FHIR_UNAVAILABLE', `embedded FHIR store: too many concurrent writes to one ${resource.resourceType}`);
  }

  async createResource<T extends Resource>(resource: T, _options?: CreateResourceOptions): Promise<WithId<T>> {
    return (await this.upsert(resource)).resource;
  }

  async updateResource<T extends Resource>(resource: T, _options?: UpdateResourceOptions): Promise<WithId<T>> {
    return (await this.upsert(resource)).resource;
  }

  async patchResource<T extends Resource>(): Promise<WithId<T>> {
    throw new OperationOutcomeError(badRequest('patch is not supported by the embedded store'));
  }

  async deleteResource(): Promise<void> {
    throw new OperationOutcomeError(badRequest('delete is not supported by the embedded store'));
  }

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    const json = await this.redis.hget(fhirKeys(this.prefix, resourceType).resources, id);
    if (!json) throw new OperationOutcomeError(notFound);
    return JSON.parse(json) as WithId<T>;
  }

  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [resourceType, id, ...rest] = reference.reference?.split('/') ?? [];
    if (!resourceType || !id || rest.length > 0) throw new OperationOutcomeError(badRequest('Invalid reference'));
    return this.readResource<T>(resourceType, id);
  }

  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    return Promise.all(references.map((r) => this.readReference(r).catch((err: Error) => err)));
  }

  async readHistory<T extends Resource>(resourceType: string, id: string): Promise<Bundle<WithId<T>>> {
    const current = await this.readResource<T>(resourceType, id);
    // Only earlier versions are listed: the current one is not stored twice (a key image is ~200 kB).
    const earlier = await this.redis.lrange(fhirKeys(this.prefix, resourceType).history(id), 0, -1);
    // Newest first, as FHIR history is.
    const entry = [current, ...earlier.reverse().map((json) => JSON.parse(json) as WithId<T>)].map((resource) => ({ resource }));
    return { resourceType: 'Bundle', type: 'history', total: entry.length, entry };
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, versionId: string): Promise<WithId<T>> {
    const history = await this.readHistory<T>(resourceType, id);
    const version = history.entry?.find((e) => e.resource?.meta?.versionId === versionId)?.resource;
    if (!version) throw new OperationOutcomeError(notFound);
    return version;
  }

  async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const search = normalizeSearchRequest(searchRequest);
    const keys = fhirKeys(this.prefix, search.resourceType);
    // `identifier=system|value` is answered from the identifier index (every resource here is written by
    // its one business identifier): R4's identifier expression is a union over many types and costs
    // ~0.5 ms per resource to evaluate, 0.6 s at 800 Observations when scanned. Other filters still apply.
    const byIdentifier = search.filters?.find((f) => f.code === 'identifier' && f.operator === Operator.EQUALS && /^[^,|]*\|[^,]+$/.test(f.value));
    let jsons: string[];
    if (byIdentifier) {
      const id = await this.redis.hget(keys.identifiers, byIdentifier.value);
      const json = id ? await this.redis.hget(keys.resources, id) : null;
      jsons = json ? [json] : [];
    } else {
      jsons = await this.redis.hvals(keys.resources);
    }
    const all = jsons.map((json) => JSON.parse(json) as WithId<T>);
    const { page, total } = selectPage(all, search);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      entry: page.map((resource) => ({ resource, search: { mode: 'match' } })),
    };
  }

  async searchByReference<T extends Resource>(searchRequest: SearchRequest<T>, referenceField: string, references: string[]): Promise<Record<string, WithId<T>[]>> {
    const results: Record<string, WithId<T>[]> = {};
    for (const reference of references) {
      const filters = [...(searchRequest.filters ?? []), { code: referenceField, operator: 'eq' as const, value: reference }];
      results[reference] = await this.searchResources({ ...searchRequest, filters });
    }
    return results;
  }

  withTransaction<TResult>(callback: (client: undefined) => Promise<TResult>): Promise<TResult> {
    // Atomicity lives in `upsert`'s compare-and-set, not in transactions.
    return callback(undefined);
  }
}

/** `<system>|<value>` of the first identifier, the key of the conditional update. */
function firstIdentifierKey(resource: Resource): string {
  const identifier = ('identifier' in resource ? resource.identifier : undefined) as Identifier[] | undefined;
  const first = identifier?.[0];
  if (!first?.value) throw new AppError('FHIR_REJECTED', `${resource.resourceType} has no identifier to write it by`);
  return `${first.system ?? ''}|${first.value}`;
}

function withServerFields<T extends Resource>(resource: T, id: string, version: number): WithId<T> {
  // Round-trip through JSON so what is returned is exactly what is stored (no undefined members).
  const copy = JSON.parse(JSON.stringify(resource)) as T;
  return { ...copy, id, meta: { ...copy.meta, versionId: String(version), lastUpdated: new Date().toISOString() } } as WithId<T>;
}

/** Equal apart from what the server assigns (id, meta.versionId, meta.lastUpdated). */
function sameContent(stored: Resource, incoming: Resource): boolean {
  const strip = (r: Resource) => {
    const { id: _id, meta, ...rest } = JSON.parse(JSON.stringify(r)) as Resource;
    const { versionId: _v, lastUpdated: _l, ...ownMeta } = meta ?? {};
    return Object.keys(ownMeta).length > 0 ? { ...rest, meta: ownMeta } : rest;
  };
  return deepEquals(strip(stored), strip(incoming));
}

export interface EmbeddedFhirWriterOptions {
  /** A Redis connection the caller owns (and closes); a producer-role connection is fine. */
  redis: Redis;
  /** Key prefix of this deployment (keys live under `<prefix>:fhir:`). */
  prefix: string;
}

/** FhirWriter over the embedded store; `repository` is what http.ts serves. */
export class EmbeddedFhirWriter implements FhirWriter {
  readonly repository: RedisFhirRepository;

  constructor(options: EmbeddedFhirWriterOptions) {
    this.repository = new RedisFhirRepository(options.redis, options.prefix);
  }

  async upsert<T extends WrittenResource>(resource: T): Promise<T & { id: string }> {
    return storeStep(async () => (await this.repository.upsert(resource)).resource);
  }

  async search<K extends ResourceType>(resourceType: K, query: Record<string, string>): Promise<Bundle<Extract<Resource, { resourceType: K }>>> {
    return storeStep(() => this.repository.search(parseSearchRequest<Extract<Resource, { resourceType: K }>>(resourceType, query)));
  }

  async close(): Promise<void> {
    // The Redis connection belongs to the caller.
  }
}

/** Bad search input becomes BAD_REQUEST; a Redis failure FHIR_UNAVAILABLE (the job retries later). */
async function storeStep<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof OperationOutcomeError) throw new AppError('BAD_REQUEST', operationOutcomeToString(err.outcome), { cause: err });
    throw new AppError('FHIR_UNAVAILABLE', 'embedded FHIR store unavailable (Redis error), retry later', { cause: err });
  }
}
