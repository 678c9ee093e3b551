/**
 * Lexicon entry types and the compiler that turns a list of entries into ONE alternation regex over
 * folded text (lower case, no accents: see text.ts). Patterns are regex sources without capturing
 * groups; they are sorted longest first so that "no change" wins over "no" at the same position.
 */
import type { Grade, Morphology, Region, Section } from './types';

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

export interface CompiledAlternation<T> {
  re: RegExp;
  entries: T[];
}

// Word boundaries that also accept matches beginning or ending with punctuation ("\\?", "d'"):
// before: the match starts with a non-word char, or the previous char is not a word char; after: alike.
const W = 'a-z0-9\\u00df-\\u00ff';
const WORD_BEFORE = `(?:(?=[^${W}])|(?<![${W}]))`;
const WORD_AFTER = `(?:(?<=[^${W}])|(?![${W}]))`;

/** Builds `(?:(p0)|(p1)|...)` with word boundaries, entries sorted longest pattern first. */
export function compileAlternation<T extends { pattern: string }>(list: readonly T[]): CompiledAlternation<T> {
  const entries = [...list].sort((a, b) => b.pattern.length - a.pattern.length);
  const body = entries.map((e) => `(${WORD_BEFORE}(?:${e.pattern})${WORD_AFTER})`).join('|');
  return { re: new RegExp(body, 'g'), entries };
}

export interface LexMatch<T> {
  start: number;
  end: number;
  entry: T;
}

/** All non-overlapping matches of a compiled alternation over `folded`, in text order. */
export function matchAll<T>(alt: CompiledAlternation<T>, folded: string): LexMatch<T>[] {
  const out: LexMatch<T>[] = [];
  const re = alt.re;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(folded)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    let idx = 0;
    for (let g = 1; g < m.length; g++) {
      if (m[g] !== undefined) {
        idx = g - 1;
        break;
      }
    }
    const entry = alt.entries[idx];
    if (entry !== undefined) out.push({ start: m.index, end: m.index + m[0].length, entry });
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
