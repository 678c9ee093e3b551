/** The analysed document: folded text, word index and all lexicon matches, plus span helpers. */
import type { Grade, Morphology } from '../domain/vocabulary';
import type { Span } from './assertions';
import { getCompiled } from './compiled';
import { findGrades, findPercents, type NumberMatch } from './features';
import { candidateStarts, matchAll, type CueEntry, type LexMatch, type RegionEntry, type SiteEntry, type TriggerEntry } from './lexicon';
import { findLevelSpans, type LevelSpan } from './levels';
import { segment, type Sentence } from './sections';
import { WordIndex, foldText } from './text';

/** Items of a start-sorted list that start inside [start, end). Binary search: O(log n + k). */
export function within<T extends Span>(list: readonly T[], start: number, end: number): T[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as T).start < start) lo = mid + 1;
    else hi = mid;
  }
  const out: T[] = [];
  for (let i = lo; i < list.length; i++) {
    const it = list[i] as T;
    if (it.start >= end) break;
    out.push(it);
  }
  return out;
}

/** A report with every lexicon match computed once, each list sorted by start offset. */
export interface Doc {
  original: string;
  folded: string;
  words: WordIndex;
  triggers: LexMatch<TriggerEntry>[];
  cues: LexMatch<CueEntry>[];
  sites: LexMatch<SiteEntry>[];
  regions: LexMatch<RegionEntry>[];
  severity: LexMatch<{ pattern: string; grade: Grade }>[];
  morphology: LexMatch<{ pattern: string; morphology: Morphology }>[];
  levels: LevelSpan[];
  percents: NumberMatch[];
  grades: NumberMatch[];
  sentences: Sentence[];
}

export function buildDoc(text: string): Doc {
  const c = getCompiled();
  const folded = foldText(text);
  const starts = candidateStarts(folded);
  // Phrases are matched with line breaks read as spaces: a wrapped line ("has lost 20% of its" / "anterior
  // height") must not cut a phrase. Sentences are still cut where the layout says (segment reads `folded`).
  const flat = folded.replace(/\n/g, ' ');
  const triggers = matchAll(c.triggers, flat, starts);
  return {
    original: text,
    folded,
    words: new WordIndex(folded),
    triggers,
    cues: matchAll(c.cues, flat, starts),
    sites: matchAll(c.sites, flat, starts),
    regions: matchAll(c.regions, flat, starts),
    severity: matchAll(c.severity, flat, starts),
    morphology: matchAll(c.morphology, flat, starts),
    levels: findLevelSpans(flat, c.disc),
    percents: findPercents(flat),
    grades: findGrades(flat),
    sentences: segment(text, folded, c.sections, matchAll(c.clause, folded, starts), triggers),
  };
}

/** Words between two spans (0 when they overlap). */
export function distance(words: WordIndex, a: Span, b: Span): number {
  return a.end <= b.start ? words.wordsBetween(a.end, b.start) : b.end <= a.start ? words.wordsBetween(b.end, a.start) : 0;
}

export function charDistance(a: Span, b: Span): number {
  return a.end <= b.start ? b.start - a.end : b.end <= a.start ? a.start - b.end : 0;
}

/** The candidate closest to `target` in words (ties: in characters), within `max` words. */
export function nearest<T extends Span>(words: WordIndex, target: Span, candidates: readonly T[], max: number): T | null {
  let best: T | null = null;
  let bestW = Infinity;
  let bestC = Infinity;
  for (const c of candidates) {
    const w = distance(words, target, c);
    if (w > max) continue;
    const ch = charDistance(target, c);
    if (w < bestW || (w === bestW && ch < bestC)) {
      best = c;
      bestW = w;
      bestC = ch;
    }
  }
  return best;
}
