/** The EN+FR lexicons compiled once into matchers (see lexicon.ts for the matching strategy). */
import type { Grade, Morphology } from '../domain/vocabulary';
import {
  compileAlternation,
  mergeLexicons,
  splitAlternatives,
  type CompiledAlternation,
  type CueEntry,
  type Lexicon,
  type RegionEntry,
  type SiteEntry,
  type TriggerEntry,
} from './lexicon';
import { LEXICON_EN } from './lexicon-en';
import { LEXICON_FR } from './lexicon-fr';
import { SectionFinder } from './sections';

export interface Compiled {
  lex: Lexicon;
  triggers: CompiledAlternation<TriggerEntry>;
  cues: CompiledAlternation<CueEntry>;
  sites: CompiledAlternation<SiteEntry>;
  regions: CompiledAlternation<RegionEntry>;
  severity: CompiledAlternation<{ pattern: string; grade: Grade }>;
  morphology: CompiledAlternation<{ pattern: string; morphology: Morphology }>;
  disc: RegExp;
  clause: CompiledAlternation<{ pattern: string }>;
  sections: SectionFinder;
  fillers: Set<string>;
}

/** One entry per top-level alternative, so that alternatives are ordered longest-first across entries. */
export function explode<T extends { pattern: string }>(list: readonly T[]): T[] {
  return list.flatMap((e) => splitAlternatives(e.pattern).filter((p) => p.length > 0).map((p) => ({ ...e, pattern: p })));
}

/** Same phrase listed as forward and backward cue of one type becomes one "both" cue. */
function mergeCueDirections(list: CueEntry[]): CueEntry[] {
  const byKey = new Map<string, CueEntry>();
  for (const e of list) {
    const key = `${e.type}|${e.pattern}`;
    const prev = byKey.get(key);
    if (!prev) byKey.set(key, e);
    else if (prev.direction !== e.direction) byKey.set(key, { ...prev, direction: 'both' });
  }
  return [...byKey.values()];
}

let compiled: Compiled | null = null;

/** The merged EN+FR lexicon, compiled once per process. */
export function getCompiled(): Compiled {
  if (compiled) return compiled;
  const lex = mergeLexicons(LEXICON_EN, LEXICON_FR);
  const wordAlt = (pats: string[]) => pats.map((p) => `(?:${p})`).join('|');
  compiled = {
    lex,
    triggers: compileAlternation(explode(lex.triggers)),
    cues: compileAlternation(mergeCueDirections(explode(lex.cues))),
    sites: compileAlternation(explode(lex.sites)),
    regions: compileAlternation(explode(lex.regions)),
    severity: compileAlternation(explode(lex.severity)),
    morphology: compileAlternation(explode(lex.morphology)),
    disc: new RegExp(`(?<![a-z])(?:${wordAlt(lex.discContext)})(?![a-z])`),
    clause: compileAlternation(explode([{ pattern: ';' }, ...lex.clauseBreaks.map((pattern) => ({ pattern }))])),
    sections: new SectionFinder(lex),
    fillers: new Set(lex.siteFillers),
  };
  return compiled;
}
