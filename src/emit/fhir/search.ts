import {
  type Filter,
  type SearchRequest,
  type SortRule,
  OperationOutcomeError,
  Operator,
  badRequest,
  evalFhirPath,
  getSearchParameter,
  matchesSearchRequest,
  splitSearchOnComma,
} from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';

/**
 * Search semantics of the embedded store, on top of @medplum/core's parser and matcher. The store holds a
 * few resources per study, so a search is a scan of one type: match, sort, page.
 */

/** `_count` when none is given, and the largest accepted. */
export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Parameter types `matchesSearchRequest` can evaluate; number, quantity, composite and special cannot. */
const MATCHABLE_TYPES: ReadonlySet<string> = new Set(['reference', 'token', 'date', 'string', 'uri']);

/**
 * Modifiers and prefixes the matcher honours, per parameter type (it reads others as plain equality, which
 * would answer a different question). Dates take every prefix.
 */
const OPERATORS: Record<string, ReadonlySet<Operator>> = {
  reference: new Set([Operator.EQUALS, Operator.IDENTIFIER]),
  token: new Set([Operator.EQUALS, Operator.NOT]),
  string: new Set([Operator.EQUALS, Operator.CONTAINS]),
  uri: new Set([Operator.EQUALS]),
  date: new Set([
    Operator.EQUALS, Operator.NOT_EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN, Operator.GREATER_THAN_OR_EQUALS,
    Operator.LESS_THAN_OR_EQUALS, Operator.STARTS_AFTER, Operator.ENDS_BEFORE, Operator.APPROXIMATELY,
  ]),
};

/** Whether the store can search by this parameter (what the CapabilityStatement lists). */
export function isSearchable(param: SearchParameter | undefined): param is SearchParameter & { type: string } {
  return param?.type !== undefined && MATCHABLE_TYPES.has(param.type);
}

/**
 * On these types R4 defines `patient` as `subject.where(resolve() is Patient)`, and resolve() cannot tell
 * that a logical reference (`subject: { identifier }`, no `type`) points at a Patient, so `patient` would
 * match nothing we write. Every subject we write is the patient, so `patient` searches `subject`.
 */
const PATIENT_IS_SUBJECT: ReadonlySet<string> = new Set(['Observation', 'ServiceRequest', 'Media', 'Task']);
/** These types have `patient` and no `subject`: `subject` is accepted as its synonym. */
const SUBJECT_IS_PATIENT: ReadonlySet<string> = new Set(['DetectedIssue', 'Device']);

function invalid(message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message));
}

/**
 * Checks a parsed search and rewrites it into what `matchesSearchRequest` understands. Throws an
 * OperationOutcomeError (400) for what the store cannot answer, rather than silently ignoring it: a
 * client that filters on an unsupported parameter must not receive unfiltered patient data.
 */
export function normalizeSearchRequest<T extends Resource>(search: SearchRequest<T>): SearchRequest<T> {
  const count = search.count ?? DEFAULT_COUNT;
  const offset = search.offset ?? 0;
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) throw invalid(`_count must be an integer from 0 to ${MAX_COUNT}`);
  if (!Number.isInteger(offset) || offset < 0) throw invalid('_offset must be a non-negative integer');
  if (search.include || search.revInclude) throw invalid('_include and _revinclude are not supported');
  if (search.cursor !== undefined) throw invalid('_cursor is not supported (use the next link)');
  for (const rule of search.sortRules ?? []) {
    if (!getSearchParameter(search.resourceType, rule.code)) throw invalid(`unknown _sort parameter: ${rule.code}`);
  }
  const filters = (search.filters ?? []).map((f) => normalizeFilter(search.resourceType, f));
  return { ...search, filters, count, offset };
}

function normalizeFilter(resourceType: string, filter: Filter): Filter {
  let { code, operator } = filter;
  // The one chain we support, `subject.identifier=`, is the same search as `subject:identifier=`.
  if (code.endsWith('.identifier')) {
    code = code.slice(0, -'.identifier'.length);
    operator = Operator.IDENTIFIER;
  }
  if (code.includes('.') || code.startsWith('_has')) throw invalid(`chained search is supported only as <reference>.identifier: ${filter.code}`);
  if (code === 'patient' && PATIENT_IS_SUBJECT.has(resourceType)) code = 'subject';
  else if (code === 'subject' && SUBJECT_IS_PATIENT.has(resourceType)) code = 'patient';

  const param = getSearchParameter(resourceType, code);
  if (!isSearchable(param)) throw invalid(`unknown or unsupported search parameter for ${resourceType}: ${filter.code}`);
  if (operator === Operator.MISSING || operator === Operator.PRESENT) {
    if (filter.value !== 'true' && filter.value !== 'false') throw invalid(`:${operator} takes true or false: ${filter.code}`);
    return { code, operator, value: filter.value };
  }
  if (!OPERATORS[param.type]?.has(operator)) throw invalid(`unsupported modifier or prefix on ${filter.code}`);
  if (param.type !== 'reference') return { code, operator, value: filter.value };

  // The matcher indexes a logical reference as `identifier:<system>|<value>` (@medplum/core
  // convertToSearchableReferences) and ignores the :identifier modifier, so the value is rewritten to that
  // form. A bare id on patient/subject means Patient/<id>.
  const values = splitSearchOnComma(filter.value).map((v) => {
    if (operator === Operator.IDENTIFIER) return `identifier:${v}`;
    if ((code === 'patient' || code === 'subject') && !v.includes('/') && !v.startsWith('identifier:')) return `Patient/${v}`;
    return v;
  });
  return { code, operator: Operator.EQUALS, value: values.map((v) => v.replaceAll(',', '\\,')).join(',') };
}

/** One page of the matches, in a stable order (so next links neither skip nor repeat), and their total. */
export function selectPage<T extends Resource>(resources: T[], search: SearchRequest): { page: T[]; total: number } {
  const matches = resources.filter((r) => matchesSearchRequest(r, search)).sort(comparator(search.sortRules ?? []));
  const offset = search.offset ?? 0;
  return { page: matches.slice(offset, offset + (search.count ?? DEFAULT_COUNT)), total: matches.length };
}

/** The `_sort` rules, then oldest first (meta.lastUpdated), then id. */
function comparator(rules: SortRule[]): (a: Resource, b: Resource) => number {
  return (a, b) => {
    for (const rule of rules) {
      const expression = getSearchParameter(a.resourceType, rule.code)?.expression ?? '';
      const c = sortKey(expression, a).localeCompare(sortKey(expression, b));
      if (c !== 0) return rule.descending ? -c : c;
    }
    return (a.meta?.lastUpdated ?? '').localeCompare(b.meta?.lastUpdated ?? '') || (a.id ?? '').localeCompare(b.id ?? '');
  };
}

function sortKey(expression: string, resource: Resource): string {
  const first = expression ? evalFhirPath(expression, resource)[0] : undefined;
  if (first === undefined || first === null) return '';
  return typeof first === 'object' ? JSON.stringify(first) : String(first);
}
