/**
 * A small validator for what the service sends, written from the CDS Hooks 2.0 IG (there is no official
 * JSON Schema): the required members and types of the logical models CDSHooksResponse and
 * CDSHooksServices, their invariants cds-resp-1..7, and the JSON rule that no member is null or empty
 * ("[]", "{}", "") except `cards: []` and `services: []`. Returns the problems found; [] = valid.
 * Used by the tests, the demo and the benchmark on every response they get.
 */

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: Json): v is string => typeof v === 'string' && v.length > 0;
const isAbsUrl = (v: Json) => isStr(v) && /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(v);

/** Null or empty members anywhere under `v` (FHIR resources inside actions included). */
function emptyMembers(v: Json, path: string, out: string[], allowEmptyAt: Set<string>): void {
  if (v === null) out.push(`${path}: null`);
  else if (v === '') out.push(`${path}: empty string`);
  else if (Array.isArray(v)) {
    if (v.length === 0 && !allowEmptyAt.has(path)) out.push(`${path}: empty array`);
    v.forEach((x, i) => emptyMembers(x, `${path}[${i}]`, out, allowEmptyAt));
  } else if (isObj(v)) {
    if (Object.keys(v).length === 0) out.push(`${path}: empty object`);
    for (const [k, x] of Object.entries(v)) emptyMembers(x, `${path}.${k}`, out, allowEmptyAt);
  }
}

function coding(v: Json, path: string, out: string[], displayRequired: boolean): void {
  if (!isObj(v)) return void out.push(`${path}: must be a Coding object`);
  if (!isStr(v.code)) out.push(`${path}.code: required string`);
  if (v.system !== undefined && !isStr(v.system)) out.push(`${path}.system: must be a string`);
  if (displayRequired && !isStr(v.display)) out.push(`${path}.display: required (cds-resp-4)`);
}

function action(a: Json, path: string, out: string[], descriptionRequired: boolean): void {
  if (!isObj(a)) return void out.push(`${path}: must be an object`);
  if (!['create', 'update', 'delete'].includes(a.type as string)) out.push(`${path}.type: must be create, update or delete`);
  if (descriptionRequired && !isStr(a.description)) out.push(`${path}.description: required (cds-resp-5)`);
  if ((a.type === 'create' || a.type === 'update') && !(isObj(a.resource) && isStr(a.resource.resourceType))) out.push(`${path}.resource: a FHIR resource is required for ${String(a.type)}`);
  if (a.type === 'delete' && (!isStr(a.resourceId) || a.resource !== undefined)) out.push(`${path}: delete needs resourceId and no resource (cds-resp-2)`);
}

function card(c: Json, path: string, out: string[]): void {
  if (!isObj(c)) return void out.push(`${path}: must be an object`);
  if (c.uuid !== undefined && !isStr(c.uuid)) out.push(`${path}.uuid: must be a string`);
  if (!isStr(c.summary)) out.push(`${path}.summary: required string`);
  else if (c.summary.length >= 140) out.push(`${path}.summary: must be under 140 characters`);
  if (c.detail !== undefined && !isStr(c.detail)) out.push(`${path}.detail: must be a string`);
  if (!['info', 'warning', 'critical'].includes(c.indicator as string)) out.push(`${path}.indicator: must be info, warning or critical`);
  if (!isObj(c.source)) out.push(`${path}.source: required object`);
  else {
    if (!isStr(c.source.label)) out.push(`${path}.source.label: required string`);
    if (c.source.url !== undefined && !isAbsUrl(c.source.url)) out.push(`${path}.source.url: must be an absolute URL`);
    if (c.source.icon !== undefined && !isAbsUrl(c.source.icon)) out.push(`${path}.source.icon: must be an absolute URL`);
    if (c.source.topic !== undefined) coding(c.source.topic, `${path}.source.topic`, out, false);
  }
  if (c.suggestions !== undefined) {
    if (!Array.isArray(c.suggestions)) out.push(`${path}.suggestions: must be an array`);
    else {
      if (c.selectionBehavior === undefined) out.push(`${path}.selectionBehavior: required when suggestions are present (cds-resp-6)`);
      c.suggestions.forEach((s, i) => {
        const sp = `${path}.suggestions[${i}]`;
        if (!isObj(s)) return void out.push(`${sp}: must be an object`);
        if (!isStr(s.label)) out.push(`${sp}.label: required string`);
        if (s.uuid !== undefined && !isStr(s.uuid)) out.push(`${sp}.uuid: must be a string`);
        if (s.isRecommended !== undefined && typeof s.isRecommended !== 'boolean') out.push(`${sp}.isRecommended: must be a boolean`);
        if (s.actionSelectionBehavior !== undefined && !['all', 'any', 'at-most-one'].includes(s.actionSelectionBehavior as string)) out.push(`${sp}.actionSelectionBehavior: must be all, any or at-most-one (cds-resp-7)`);
        if (s.actions !== undefined) {
          if (!Array.isArray(s.actions)) out.push(`${sp}.actions: must be an array`);
          else s.actions.forEach((a, j) => action(a, `${sp}.actions[${j}]`, out, true));
        }
      });
      if (c.selectionBehavior === 'at-most-one' && c.suggestions.filter((s) => isObj(s) && s.isRecommended === true).length > 1) {
        out.push(`${path}: at most one suggestion may be recommended when selectionBehavior is at-most-one (cds-resp-1)`);
      }
    }
  }
  if (c.selectionBehavior !== undefined && !['at-most-one', 'any'].includes(c.selectionBehavior as string)) out.push(`${path}.selectionBehavior: must be at-most-one or any`);
  if (c.overrideReasons !== undefined) {
    if (!Array.isArray(c.overrideReasons)) out.push(`${path}.overrideReasons: must be an array`);
    else c.overrideReasons.forEach((r, i) => coding(r, `${path}.overrideReasons[${i}]`, out, true));
  }
  if (c.links !== undefined) {
    if (!Array.isArray(c.links)) out.push(`${path}.links: must be an array`);
    else
      c.links.forEach((l, i) => {
        const lp = `${path}.links[${i}]`;
        if (!isObj(l)) return void out.push(`${lp}: must be an object`);
        if (!isStr(l.label)) out.push(`${lp}.label: required string`);
        if (!isAbsUrl(l.url)) out.push(`${lp}.url: required absolute URL`);
        if (!['absolute', 'smart'].includes(l.type as string)) out.push(`${lp}.type: must be absolute or smart`);
        if (l.type !== 'smart' && l.appContext !== undefined) out.push(`${lp}.appContext: only for smart links (cds-resp-3)`);
        if (l.autolaunchable !== undefined && typeof l.autolaunchable !== 'boolean') out.push(`${lp}.autolaunchable: must be a boolean`);
      });
  }
}

/** Problems of a service response `{ cards, systemActions? }`. */
export function cdsResponseProblems(body: Json): string[] {
  const out: string[] = [];
  if (!isObj(body)) return ['response: must be a JSON object'];
  if (!Array.isArray(body.cards)) out.push('cards: required array');
  else body.cards.forEach((c, i) => card(c, `cards[${i}]`, out));
  if (body.systemActions !== undefined) {
    if (!Array.isArray(body.systemActions)) out.push('systemActions: must be an array');
    // The IG lets system actions omit a description (cds-resp-5 applies to suggestions).
    else body.systemActions.forEach((a, i) => action(a, `systemActions[${i}]`, out, false));
  }
  emptyMembers(body, '$', out, new Set(['$.cards']));
  return out;
}

/** Problems of a discovery response `{ services }`. */
export function cdsDiscoveryProblems(body: Json): string[] {
  const out: string[] = [];
  if (!isObj(body) || !Array.isArray(body.services)) return ['services: required array'];
  body.services.forEach((s, i) => {
    const p = `services[${i}]`;
    if (!isObj(s)) return void out.push(`${p}: must be an object`);
    for (const k of ['hook', 'description', 'id'] as const) if (!isStr(s[k])) out.push(`${p}.${k}: required string`);
    for (const k of ['title', 'usageRequirements', 'version', 'hookVersion'] as const) if (s[k] !== undefined && !isStr(s[k])) out.push(`${p}.${k}: must be a string`);
    if (s.prefetch !== undefined) {
      if (!isObj(s.prefetch)) out.push(`${p}.prefetch: must be an object`);
      else for (const [k, v] of Object.entries(s.prefetch)) if (!isStr(v)) out.push(`${p}.prefetch.${k}: must be a FHIR query string`);
    }
  });
  emptyMembers(body, '$', out, new Set(['$.services']));
  return out;
}
