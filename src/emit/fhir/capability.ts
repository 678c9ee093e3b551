import { getSearchParameters } from '@medplum/core';
import type { CapabilityStatement, CapabilityStatementRestResource, ResourceType } from '@medplum/fhirtypes';
import { ensureFhirSchema } from './schema';
import { isSearchable } from './search';

/** The resource types the service writes, and so the ones the embedded store serves. */
export const SERVED_TYPES: readonly ResourceType[] = ['Observation', 'Device', 'DetectedIssue', 'ServiceRequest', 'Task', 'Media'];

export const FHIR_JSON = 'application/fhir+json';

/**
 * What `GET /fhir/R4/metadata` answers: read-only (read, vread, history, search) on the served types, with
 * every search parameter the store can evaluate. `baseUrl` is the FHIR base clients reach (…/fhir/R4).
 */
export function capabilityStatement(types: readonly ResourceType[], baseUrl: string): CapabilityStatement {
  ensureFhirSchema();
  const resource = types.map(
    (type): CapabilityStatementRestResource => ({
      type,
      interaction: [{ code: 'read' }, { code: 'vread' }, { code: 'history-instance' }, { code: 'search-type' }],
      versioning: 'versioned',
      readHistory: true,
      searchParam: Object.values(getSearchParameters(type) ?? {})
        .filter(isSearchable)
        .map((p) => ({ name: p.code ?? '', type: p.type as 'token', ...(p.url ? { definition: p.url } : {}) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    }),
  );
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'vcf-sentinel embedded FHIR store' },
    implementation: { description: 'vcf-sentinel outputs (read-only)', url: baseUrl },
    fhirVersion: '4.0.1',
    format: [FHIR_JSON, 'json'],
    rest: [{ mode: 'server', resource }],
  };
}
