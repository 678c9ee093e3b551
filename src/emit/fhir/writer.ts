import type { Bundle, Resource, ResourceType } from '@medplum/fhirtypes';

/** A resource type the service writes: each carries a business identifier. */
export type WrittenResource = Extract<Resource, { identifier?: unknown }>;

/**
 * Where the FHIR outputs go: the embedded store (no FHIR_BASE_URL) or an external FHIR R4 server. Both
 * write by conditional update on the resource's first business identifier, so running a study, a report
 * or a whole job twice creates nothing twice.
 */
export interface FhirWriter {
  /**
   * Conditional update on `identifier=<system>|<value>` (the resource's first identifier): creates the
   * resource when none matches, replaces it when it differs, leaves it alone when equal. Returns the stored
   * resource, with its server id (references between the service's own resources use that id).
   */
  upsert<T extends WrittenResource>(resource: T): Promise<T & { id: string }>;
  /** A search as FHIR's query string gives it (e.g. `subject:identifier=sys|v&status=preliminary`). */
  search<K extends ResourceType>(resourceType: K, query: Record<string, string>): Promise<Bundle<Extract<Resource, { resourceType: K }>>>;
  /** Releases connections; the writer is not used after. */
  close(): Promise<void>;
}
