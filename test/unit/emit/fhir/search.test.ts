import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { ensureFhirSchema } from '../../../../src/emit/fhir/schema';
import { DEFAULT_COUNT, normalizeSearchRequest, selectPage } from '../../../../src/emit/fhir/search';

beforeAll(() => ensureFhirSchema());

const normalize = (url: string) => normalizeSearchRequest(parseSearchRequest(url));

describe('normalizeSearchRequest', () => {
  it('rewrites :identifier and .identifier on references to the matcher form', () => {
    expect(normalize('Observation?subject:identifier=urn:s|1').filters).toEqual([{ code: 'subject', operator: 'eq', value: 'identifier:urn:s|1' }]);
    expect(normalize('Observation?subject.identifier=urn:s|1').filters).toEqual([{ code: 'subject', operator: 'eq', value: 'identifier:urn:s|1' }]);
    expect(normalize('Observation?subject:identifier=urn:s|1,urn:s|2').filters?.[0]?.value).toBe('identifier:urn:s|1,identifier:urn:s|2');
  });

  it('maps patient to subject where the subject is the patient, and subject to patient where only patient exists', () => {
    expect(normalize('Observation?patient:identifier=urn:s|1').filters?.[0]?.code).toBe('subject');
    expect(normalize('Task?patient=123').filters).toEqual([{ code: 'subject', operator: 'eq', value: 'Patient/123' }]);
    expect(normalize('DetectedIssue?subject:identifier=urn:s|1').filters?.[0]?.code).toBe('patient');
  });

  it('defaults _count and _offset', () => {
    expect(normalize('Observation')).toMatchObject({ count: DEFAULT_COUNT, offset: 0 });
  });

  it.each(['Observation?nope=1', 'Observation?_count=-1', 'Observation?_offset=x', 'Observation?code:text=x', 'Observation?subject.name=x', 'Observation?_sort=nope', 'Observation?value-quantity=5'])(
    'refuses %s with a 400 OperationOutcome',
    (url) => {
      expect(() => normalize(url)).toThrow(OperationOutcomeError);
    },
  );
});

describe('selectPage', () => {
  const obs = (id: string, lastUpdated: string, status: Observation['status']): Observation => ({
    resourceType: 'Observation', id, status, code: {}, meta: { lastUpdated },
  });
  const all = [obs('c', '2024-01-02T00:00:00Z', 'final'), obs('a', '2024-01-01T00:00:00Z', 'final'), obs('b', '2024-01-02T00:00:00Z', 'preliminary')];

  it('orders by lastUpdated then id, pages, and counts every match', () => {
    const search = normalize('Observation?_count=2&_offset=1');
    const { page, total } = selectPage(all, search);
    expect(total).toBe(3);
    expect(page.map((r) => r.id)).toEqual(['b', 'c']);
  });

  it('filters and honours _sort', () => {
    expect(selectPage(all, normalize('Observation?status=final&_sort=-_lastUpdated')).page.map((r) => r.id)).toEqual(['c', 'a']);
  });
});
