/**
 * Lexicon entry types and the compiler that turns a list of entries into ONE alternation regex over
 * folded text (lower case, no accents: see text.ts). Patterns are regex sources without capturing
 * groups; they are sorted longest first so that "no change" wins over "no" at the same position.
 */
import type { Grade, Morphology, Region, VertebralLevel } from '../domain/vocabulary';
import type { Section } from './types';

/**
 * What a cue does to a fracture trigger in its scope (ConText categories).
 * `current` marks a new/acute finding (it blocks a history reading); `pseudo` matches a phrase that
 * looks like a cue but is not one ("not only") and simply hides it.
 */
export type CueType = 'negation' | 'possible' | 'historical' | 'hypothetical' | 'current' | 'pseudo';
/** forward: applies to what follows ("no fracture"); backward: to what precedes ("fracture is excluded"). */
export type CueDirection = 'forward' | 'backward' | 'both';

export interface CueEntry {
  pattern: string;
  type: CueType;
  direction: CueDirection;
}

/**
 * fracture: a vertebral body fracture is described; treated: augmentation (vertebroplasty...), i.e. a
 * treated (historical) fracture; normal: preserved height, i.e. an explicit "no fracture".
 */
export type TriggerKind = 'fracture' | 'treated' | 'normal';

export interface TriggerEntry {
  pattern: string;
  kind: TriggerKind;
  /**
   * true when the phrase on its own means a VERTEBRAL fracture ("compression fracture", "tassement"),
   * so a mention without level is still a spine mention; false for words that need a level or a spinal
   * word nearby ("fracture", "collapse", "height loss").
   */
  specific: boolean;
  /** Secondary triggers (retropulsion, "recul du mur postérieur") only count when nothing else does. */
  secondary?: boolean;
  /**
   * Words that, in the same clause, make this trigger something else: a bare "compression" next to
   * "nerve root", "thecal sac", "graft" or "decompression" is neural or surgical, not a vertebral body.
   */
  notWith?: string;
  morphology?: Morphology;
  grade?: Grade;
}

/** A site that is not a vertebral body: a fracture attributed to it is not a VCF. */
export interface SiteEntry {
  pattern: string;
  /** Posterior elements of a vertebra (transverse process...): bind the level they follow. */
  posteriorElement?: boolean;
}

export interface RegionEntry {
  pattern: string;
  /** Empty for generic spinal words ("spine", "vertebral", "rachis"). */
  regions: Region[];
  /**
   * The levels a part of a region covers, first and last ("T11-L2" for the thoracolumbar junction, "T5-T8"
   * for mid thoracic); absent: every level of `regions`.
   */
  levels?: `${VertebralLevel}-${VertebralLevel}`;
}

export interface Lexicon {
  triggers: TriggerEntry[];
  cues: CueEntry[];
  sites: SiteEntry[];
  regions: RegionEntry[];
  /** Words that make an adjacent pair "L4-L5" a disc level rather than two vertebrae. */
  discContext: string[];
  severity: { pattern: string; grade: Grade }[];
  morphology: { pattern: string; morphology: Morphology }[];
  /** Section titles (matched at line start, followed by ':' or end of line). */
  sections: { pattern: string; section: Section }[];
  /** Words that end a clause (scope of cues and level attachment stops there). */
  clauseBreaks: string[];
  /** Connector words allowed between a trigger and a non-vertebral site ("fracture of the left 9th rib"). */
  siteFillers: string[];
}

/**
 * A compiled category: alternatives bucketed by the characters they can start with, so that at a
 * candidate position only the few alternatives beginning with that character are tried (one big
 * alternation tried every alternative at every position and ran at ~60 ms per 3 KB report). Within a
 * bucket, entries are tried longest pattern first, like an alternation would.
 */
export interface CompiledAlternation<T> {
  /** Indexed by char code (0-255); codes above go to `any`. */
  byCode: (Bucket<T> | undefined)[];
  /** Alternatives whose first character could not be determined (tried everywhere). */
  any: Bucket<T> | undefined;
}

interface Bucket<T> {
  /** All entries of the bucket as one alternation: one call rejects a position. */
  combined: RegExp;
  res: RegExp[];
  entries: T[];
}

const W = 'a-z0-9\\u00df-\\u00ff';
// A match must end at a word boundary unless its last character is punctuation ("d'", "\\?").
const WORD_AFTER = `(?:(?<=[^${W}])|(?![${W}]))`;

function isWordCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 0xdf && c <= 0xff);
}

/** Index of the ')' closing the '(' at `open`. */
function closeParen(src: string, open: number): number {
  let depth = 0;
  let cls = false;
  for (let i = open; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (cls) {
      if (ch === ']') cls = false;
      continue;
    }
    if (ch === '[') cls = true;
    else if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return src.length - 1;
}

export function splitAlternatives(src: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cls = false;
  let cur = '';
  for (let i = 0; i < src.length; i++) {
    const ch = src[i] as string;
    if (ch === '\\') {
      cur += ch + (src[i + 1] ?? '');
      i++;
      continue;
    }
    if (cls) {
      if (ch === ']') cls = false;
    } else if (ch === '[') cls = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === '|' && depth === 0 && !cls) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const DIGITS = '0123456789';

/**
 * Characters a regex source can start with, or null when unknown. Handles what the lexicons use:
 * literals, escapes, simple classes, groups and the quantifiers ?, *, +, {m,n}.
 */
export function firstChars(src: string): Set<string> | null {
  const result = new Set<string>();
  for (const alt of splitAlternatives(src)) {
    const r = firstOfSequence(alt);
    if (r === null || r.canBeEmpty) return null;
    for (const c of r.chars) result.add(c);
  }
  return result;
}

function firstOfSequence(src: string): { chars: Set<string>; canBeEmpty: boolean } | null {
  const chars = new Set<string>();
  let i = 0;
  while (i < src.length) {
    let termChars: Set<string> | null = new Set<string>();
    let termEmpty = false;
    const ch = src[i] as string;
    let end = i + 1;
    if (ch === '\\') {
      const e = src[i + 1] ?? '';
      end = i + 2;
      if (e === 'd') for (const d of DIGITS) termChars.add(d);
      else if (e === 's') ['\n', ' ', '\t'].forEach((c) => termChars?.add(c));
      else if (e === 'u') {
        termChars.add(String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16)));
        end = i + 6;
      } else if (/[a-zA-Z]/.test(e)) termChars = null;
      else termChars.add(e);
    } else if (ch === '[') {
      const close = src.indexOf(']', i + 2);
      const body = src.slice(i + 1, close);
      end = close + 1;
      if (body.startsWith('^') || body.includes('\\')) termChars = null;
      else
        for (let k = 0; k < body.length; k++) {
          if (body[k + 1] === '-' && k + 2 < body.length) {
            for (let c = body.charCodeAt(k); c <= body.charCodeAt(k + 2); c++) termChars.add(String.fromCharCode(c));
            k += 2;
          } else termChars.add(body[k] as string);
        }
    } else if (ch === '(') {
      const close = closeParen(src, i);
      let inner = src.slice(i + 1, close);
      end = close + 1;
      if (/^\?<?[=!]/.test(inner)) {
        termEmpty = true; // lookaround: zero width
        termChars = new Set();
      } else {
        if (inner.startsWith('?:')) inner = inner.slice(2);
        let any = false;
        for (const alt of splitAlternatives(inner)) {
          const r = firstOfSequence(alt);
          if (r === null) {
            any = true;
            break;
          }
          for (const c of r.chars) termChars.add(c);
          if (r.canBeEmpty) termEmpty = true;
        }
        if (any) termChars = null;
      }
    } else if (ch === '.' || ch === '^' || ch === '$') {
      termChars = null;
    } else {
      termChars.add(ch);
    }
    // Quantifier.
    const q = src[end];
    if (q === '?' || q === '*') {
      termEmpty = true;
      end++;
    } else if (q === '+') end++;
    else if (q === '{') {
      const close = src.indexOf('}', end);
      if (/^\{0[,}]/.test(src.slice(end, close + 1))) termEmpty = true;
      end = close + 1;
    }
    if (src[end] === '?') end++; // lazy
    if (termChars === null) return null;
    for (const c of termChars) chars.add(c);
    if (!termEmpty) return { chars, canBeEmpty: false };
    i = end;
  }
  return { chars, canBeEmpty: true };
}

function bucket<T extends { pattern: string }>(entries: T[]): Bucket<T> {
  const sorted = [...entries].sort((x, y) => y.pattern.length - x.pattern.length);
  const combined = new RegExp(sorted.map((e) => `(?:${e.pattern})${WORD_AFTER}`).join('|'), 'y');
  return { combined, res: sorted.map((e) => new RegExp(`(?:${e.pattern})${WORD_AFTER}`, 'y')), entries: sorted };
}

/** Compiles entries (longest pattern first at a given position) into first-character buckets. */
export function compileAlternation<T extends { pattern: string }>(list: readonly T[]): CompiledAlternation<T> {
  const buckets = new Map<number, T[]>();
  const unknown: T[] = [];
  for (const e of list) {
    const fc = firstChars(e.pattern);
    if (fc === null) {
      unknown.push(e);
      continue;
    }
    for (const c of fc) {
      const code = c.charCodeAt(0);
      if (code > 255) continue;
      const l = buckets.get(code) ?? [];
      l.push(e);
      buckets.set(code, l);
    }
  }
  const byCode: (Bucket<T> | undefined)[] = new Array(256).fill(undefined);
  for (const [code, es] of buckets) byCode[code] = bucket([...es, ...unknown]);
  return { byCode, any: unknown.length > 0 ? bucket(unknown) : undefined };
}

export interface LexMatch<T> {
  start: number;
  end: number;
  entry: T;
}

/**
 * Positions where a lexicon match may start: word starts and punctuation. Computed once per report and
 * shared by every category.
 */
export function candidateStarts(folded: string): Int32Array {
  const out = new Int32Array(folded.length);
  let k = 0;
  let prevWord = false;
  for (let i = 0; i < folded.length; i++) {
    const c = folded.charCodeAt(i);
    const word = isWordCode(c);
    if ((word && !prevWord) || (!word && c !== 32 && c !== 10)) out[k++] = i;
    prevWord = word;
  }
  return out.subarray(0, k);
}

/** All non-overlapping matches over `folded`, in text order, starting at `starts` (see candidateStarts). */
export function matchAll<T>(alt: CompiledAlternation<T>, folded: string, starts: Int32Array = candidateStarts(folded)): LexMatch<T>[] {
  const out: LexMatch<T>[] = [];
  let minStart = 0;
  const { byCode, any } = alt;
  for (let k = 0; k < starts.length; k++) {
    const i = starts[k] as number;
    if (i < minStart) continue;
    const code = folded.charCodeAt(i);
    const b = code < 256 ? (byCode[code] ?? any) : any;
    if (b === undefined) continue;
    b.combined.lastIndex = i;
    if (!b.combined.test(folded)) continue;
    const res = b.res;
    for (let e = 0; e < res.length; e++) {
      const re = res[e] as RegExp;
      re.lastIndex = i;
      if (re.test(folded) && re.lastIndex > i) {
        out.push({ start: i, end: re.lastIndex, entry: b.entries[e] as T });
        minStart = re.lastIndex;
        break;
      }
    }
  }
  return out;
}

/** Merges the per-language lexicons: reports mix languages, and the two vocabularies barely collide. */
export function mergeLexicons(a: Lexicon, b: Lexicon): Lexicon {
  return {
    triggers: [...a.triggers, ...b.triggers],
    cues: [...a.cues, ...b.cues],
    sites: [...a.sites, ...b.sites],
    regions: [...a.regions, ...b.regions],
    discContext: [...a.discContext, ...b.discContext],
    severity: [...a.severity, ...b.severity],
    morphology: [...a.morphology, ...b.morphology],
    sections: [...a.sections, ...b.sections],
    clauseBreaks: [...a.clauseBreaks, ...b.clauseBreaks],
    siteFillers: [...a.siteFillers, ...b.siteFillers],
  };
}
