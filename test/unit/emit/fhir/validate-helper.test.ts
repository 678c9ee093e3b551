import type { Observation } from '@medplum/fhirtypes';
import {
  expectValidFhir,
  fhirSchemaAvailable,
  fhirValidatorLoadTimes,
  medplumProblems,
  schemaProblems,
  validateFhirResource,
} from '../../../helpers/fhir';

// The test helper must itself be shown to catch problems, or a passing expectValidFhir proves nothing.

const VALID: Observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '24990-6' }], text: 'CT spine' },
};

const MISSING_STATUS: Record<string, unknown> = { ...VALID };
delete MISSING_STATUS['status'];
const BOGUS_STATUS = { ...VALID, status: 'bogus' };
const UNKNOWN_PROPERTY = { ...VALID, fractureLevel: 'T12' };

const withSchema = fhirSchemaAvailable() ? it : it.skip;

describe('test/helpers/fhir', () => {
  afterAll(() => {
    const { medplumMs, schemaMs } = fhirValidatorLoadTimes();
    const ms = (v: number | null): string => (v === null ? 'not loaded' : `${Math.round(v)} ms`);
    process.stdout.write(`FHIR validators loaded: medplum ${ms(medplumMs)}, JSON schema ${ms(schemaMs)}\n`);
  });

  it('passes a valid minimal Observation', () => {
    expect(validateFhirResource(VALID)).toEqual([]);
    expectValidFhir(VALID);
  });

  it('catches a missing status (Medplum: cardinality; the schema cannot see a missing primitive)', () => {
    expect(medplumProblems(MISSING_STATUS)).toEqual([expect.stringMatching(/Observation\.status.*Missing required property/)]);
    expect(validateFhirResource(MISSING_STATUS)).not.toEqual([]);
    expect(() => expectValidFhir(MISSING_STATUS)).toThrow(/Observation\.status/);
  });

  withSchema('catches status "bogus" (the schema: code enum; Medplum does not check bindings)', () => {
    expect(schemaProblems(BOGUS_STATUS)).toEqual([expect.stringMatching(/^schema: \/status must be equal to one of the allowed values/)]);
    expect(medplumProblems(BOGUS_STATUS)).toEqual([]);
    expect(() => expectValidFhir(BOGUS_STATUS)).toThrow(/\/status/);
  });

  it('catches an unknown property (Medplum)', () => {
    expect(medplumProblems(UNKNOWN_PROPERTY)).toEqual([expect.stringMatching(/Observation\.fractureLevel.*Invalid additional property/)]);
    expect(() => expectValidFhir(UNKNOWN_PROPERTY)).toThrow(/fractureLevel/);
  });

  withSchema('catches an unknown property (the schema)', () => {
    expect(schemaProblems(UNKNOWN_PROPERTY)).toEqual(['schema: / must NOT have additional properties (fractureLevel)']);
  });

  withSchema('names the problem inside a Bundle entry, not one error per resource type', () => {
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: VALID }, { resource: BOGUS_STATUS }] };
    expect(schemaProblems(bundle)).toEqual([expect.stringMatching(/^schema: \/entry\/1\/resource\/status must be equal/)]);
  });

  it('rejects an unknown resource type in both validators', () => {
    const problems = validateFhirResource({ resourceType: 'VertebralFracture' });
    expect(problems.some((p) => p.startsWith('medplum:'))).toBe(true);
    if (fhirSchemaAvailable()) expect(problems.some((p) => p.startsWith('schema:'))).toBe(true);
  });
});
