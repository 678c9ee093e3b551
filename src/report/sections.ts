/**
 * Report structure: section titles, sentences and clauses, as offset ranges over the folded text.
 * Everything here is a single linear scan; sentences are capped in length so that later per-sentence
 * work stays bounded on pathological inputs (1 MB without punctuation).
 */
import type { Lexicon } from './lexicon';
import type { Section } from './types';

export interface Range {
  start: number;
  end: number;
}

export interface Sentence extends Range {
  section: Section;
  clauses: Range[];
  /** The sentence ends with ':' (a lead-in to a list: "Compression fractures:"). */
  leadIn: boolean;
  /** Index of the paragraph (blank line or header separated) the sentence belongs to. */
  paragraph: number;
}

interface Header extends Range {
  section: Section;
}

/** Longest sentence considered as one unit; longer runs are cut at a space. */
export const MAX_SENTENCE_CHARS = 1200;

const ABBREVIATIONS = new Set([
  'approx', 'vs', 'e.g', 'i.e', 'dr', 'mr', 'mrs', 'ms', 'fig', 'cf', 'env', 'resp', 'no', 'nos', 'st', 'etc', 'pt', 'mt',
  'ant', 'post', 'sup', 'inf', 'lat', 'max', 'min', 'cm', 'mm', 'ca',
]);

export class SectionFinder {
  private readonly headerRe: RegExp;
  private readonly inlineRe: RegExp;
  private readonly sectionOf: { re: RegExp; section: Section }[];

  constructor(lex: Lexicon) {
    const all = lex.sections.map((s) => s.pattern).join('|');
    // At line start (optionally after a bullet or markup), a known title, then ':' or end of line.
    // At a line start, or inline after a sentence ("... deformity. Impression: ..."), a known title
    // followed by ':' (a title alone on its line needs no colon). Inline candidates are found by a cheap
    // scan and checked with the sticky variant.
    const body = `[ \\t]*(?:[#*>=-]+[ \\t]*)?(?:${all})[ \\t]*(?:\\([^)\\n]{0,40}\\))?[ \\t]*(?::|-[ \\t]|$)`;
    this.headerRe = new RegExp(`^${body}`, 'gm');
    this.inlineRe = new RegExp(`(?:${all})[ \\t]*(?:\\([^)\\n]{0,40}\\))?[ \\t]*:`, 'y');
    this.sectionOf = lex.sections.map((s) => ({ re: new RegExp(`^[ \\t]*(?:[#*>=-]+[ \\t]*)?(?:${s.pattern})(?![a-z])`), section: s.section }));
  }

  headers(folded: string): Header[] {
    const out: Header[] = [];
    this.headerRe.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = this.headerRe.exec(folded)) !== null) {
      if (m[0].length === 0) {
        this.headerRe.lastIndex++;
        continue;
      }
      const text = m[0];
      // A line that is only a title without colon must really be alone on its line.
      if (!text.includes(':') && !/-[ \t]$/.test(text)) {
        const lineEnd = folded.indexOf('\n', m.index);
        const rest = folded.slice(m.index + text.length, lineEnd === -1 ? folded.length : lineEnd);
        if (rest.trim() !== '') continue;
      }
      out.push({ start: m.index, end: m.index + text.length, section: this.sectionFor(text) });
    }
    // Inline titles: "<sentence end> Title:".
    const inline = /[.!?] {1,3}(?=[a-z])/g;
    while ((m = inline.exec(folded)) !== null) {
      const at = m.index + m[0].length;
      this.inlineRe.lastIndex = at;
      const mm = this.inlineRe.exec(folded);
      if (!mm) continue;
      out.push({ start: at, end: at + mm[0].length, section: this.sectionFor(mm[0]) });
    }
    return out.sort((x, y) => x.start - y.start);
  }

  private sectionFor(text: string): Section {
    let section: Section = 'findings';
    let best = -1;
    for (const s of this.sectionOf) {
      const mm = s.re.exec(text);
      if (mm && mm[0].length > best) {
        best = mm[0].length;
        section = s.section;
      }
    }
    return section;
  }
}

function isSpace(code: number): boolean {
  return code === 32 || code === 10 || code === 9 || code === 13;
}

function isLower(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 0xdf && code <= 0xff);
}

// Words a sentence cannot end with: a line ending with one wraps ("COMPRESSION FRACTURE OF\nL1").
const CONNECTOR_END = /(?:^|[^a-z])(?:of|the|a|an|and|or|with|at|in|to|from|by|no|de|du|des|la|le|les|et|ou|avec|sans|au|aux|en|par|d'|l')\s*$/;

function endsWithConnector(folded: string, start: number, i: number): boolean {
  return CONNECTOR_END.test(folded.slice(Math.max(start, i - 12), i));
}

/**
 * A wrapped line may start with the level itself ("...fracture of\nL1 with 30% height loss") or with the
 * preposition that takes it ("TASSEMENT\nDE L2 ANCIEN"); a level followed by ':' or '.' is a heading.
 */
const LEVEL_START = /^(?:(?:of|at|in|de|du|au|a) (?:the |la |l')?)?(?:c|t|th|d|l|s)[ -]?\d{1,2}(?![0-9a-z])(?!\s*[:.])/;

function startsWithLevel(folded: string, j: number): boolean {
  return LEVEL_START.test(folded.slice(j, j + 16));
}

/**
 * Dictation and HL7 ORU reports (one OBX per line) wrap at 60–80 characters, capitals or not: a long line
 * that does not end a sentence ("THERE IS AN OLD COMPRESSION" then "FRACTURE OF L2.") runs on into the
 * next. A short line without punctuation is a line of its own ("No fracture", a heading, a list).
 */
const WRAPPED_LINE_MIN_CHARS = 45;

function isLongWrappedLine(folded: string, newline: number, prevCode: number): boolean {
  if (prevCode === 46 || prevCode === 33 || prevCode === 63 || prevCode === 58 || prevCode === 59) return false;
  return newline - (folded.lastIndexOf('\n', newline - 1) + 1) >= WRAPPED_LINE_MIN_CHARS;
}

function isListMarkerAt(text: string, i: number): boolean {
  // "- ", "* ", "• ", "1. ", "2) " at the start of a line.
  const ch = text[i];
  if (ch === '-' || ch === '*' || ch === '\u2022') return text[i + 1] === ' ';
  let j = i;
  while (j < text.length && j - i < 3 && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
  return j > i && (text[j] === '.' || text[j] === ')') && (text[j + 1] === ' ' || text[j + 1] === '\t');
}

/**
 * Splits the report into sentences (with their section) and each sentence into clauses.
 * `original` decides line continuations (a wrapped line starts in lower case); `folded` is searched;
 * `phrases` are the fracture phrases found, in text order (a line break inside one is no boundary).
 */
export function segment(original: string, folded: string, finder: SectionFinder, breaks: Range[], phrases: readonly Range[] = []): Sentence[] {
  const headers = finder.headers(folded);
  const sentences: Sentence[] = [];
  const n = folded.length;
  let section: Section = 'findings';
  let paragraph = 0;
  let h = 0;
  let start = 0;
  let b = 0;
  // A lexicon phrase (matched with line breaks read as spaces) that spans a break holds its two lines
  // together: "...OLD COMPRESSION" / "FRACTURE OF L2". Breaks are visited in order: one moving index.
  let p = 0;
  const phraseSpans = (newline: number) => {
    while (p < phrases.length && (phrases[p] as Range).end <= newline) p++;
    return p < phrases.length && (phrases[p] as Range).start < newline;
  };

  const push = (s: number, e: number) => {
    while (s < e && isSpace(folded.charCodeAt(s))) s++;
    while (e > s && isSpace(folded.charCodeAt(e - 1))) e--;
    if (e <= s) return;
    if (!/[a-z0-9]/.test(folded.slice(s, Math.min(e, s + 200))) && !/[a-z0-9]/.test(folded.slice(s, e))) return;
    // Clause breaks of this sentence (breaks are sorted; sentences come in order).
    while (b < breaks.length && (breaks[b] as Range).start < s) b++;
    const clauses: Range[] = [];
    let cs = s;
    while (b < breaks.length && (breaks[b] as Range).end <= e) {
      const br = breaks[b] as Range;
      if (br.start > cs) clauses.push({ start: cs, end: br.start });
      cs = br.end;
      b++;
    }
    if (cs < e) clauses.push({ start: cs, end: e });
    sentences.push({ start: s, end: e, section, clauses, leadIn: folded.charCodeAt(e - 1) === 58, paragraph });
  };

  let i = 0;
  while (i < n) {
    const header = headers[h];
    if (header && i === header.start) {
      push(start, i);
      section = header.section;
      paragraph++;
      i = header.end;
      start = i;
      h++;
      continue;
    }
    const code = folded.charCodeAt(i);
    if (code === 46 || code === 33 || code === 63) {
      // . ! ?
      const next = folded.charCodeAt(i + 1);
      if (i + 1 >= n || isSpace(next)) {
        let boundary = true;
        if (code === 46) {
          let j = i - 1;
          while (j >= 0 && j > i - 12 && /[a-z.]/.test(folded[j] as string)) j--;
          const word = folded.slice(j + 1, i);
          if (ABBREVIATIONS.has(word)) boundary = false;
          // "1." list numbers stay with their item.
          if (i - start <= 4 && /^\s*\d{1,2}$/.test(folded.slice(start, i))) boundary = false;
        }
        if (boundary) {
          push(start, i + 1);
          start = i + 1;
        }
      }
    } else if (code === 10) {
      // Newline: a blank line, a list item or a line starting with a capital ends the sentence; a
      // wrapped line (lower case continuation) does not.
      let j = i + 1;
      while (j < n && (folded[j] === ' ' || folded[j] === '\t')) j++;
      const blank = j < n && folded.charCodeAt(j) === 10;
      const nextHeader = headers[h] !== undefined && (headers[h] as Header).start <= j;
      const prevCode = i > start ? folded.charCodeAt(i - 1) : 0;
      const continuation =
        j < n &&
        !blank &&
        !nextHeader &&
        !isListMarkerAt(original, j) &&
        (isLower(original.charCodeAt(j)) ||
          prevCode === 44 ||
          prevCode === 40 ||
          endsWithConnector(folded, start, i) ||
          startsWithLevel(folded, j) ||
          isLongWrappedLine(folded, i, prevCode) ||
          phraseSpans(i));
      if (!continuation) {
        push(start, i);
        start = i + 1;
        if (blank) paragraph++;
      }
    } else if (i - start >= MAX_SENTENCE_CHARS && code === 32) {
      push(start, i);
      start = i + 1;
    } else if (i - start >= MAX_SENTENCE_CHARS * 2) {
      push(start, i);
      start = i;
    }
    i++;
  }
  push(start, n);
  return sentences;
}
