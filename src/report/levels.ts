/**
 * Vertebral level spans in folded text: "T12", "T-12", "Th12", "D12" (French dorsal), "T 12",
 * "first lumbar vertebra", "douzième vertèbre dorsale", shorthand lists ("T11, 12 and L1"),
 * ranges ("T11-L2", "T11 through L2", "from T11 to L2", "de D11 à L2", "L2-4") expanded to every level
 * between, and disc levels ("L4-L5 disc", "discopathie L4-L5") recognised and dropped.
 */
import { isVertebralLevel, levelIndex, levelRange, type VertebralLevel } from '../domain/vocabulary';
import { tokens } from './text';

export interface LevelSpan {
  start: number;
  end: number;
  levels: VertebralLevel[];
}

interface Atom {
  start: number;
  end: number;
  level: VertebralLevel;
  prefix: 'C' | 'T' | 'L' | 'S';
}

const MAX_BY_PREFIX = { C: 7, T: 12, L: 5, S: 1 } as const;

function toLevel(prefix: 'C' | 'T' | 'L' | 'S', n: number): VertebralLevel | null {
  if (!Number.isInteger(n) || n < 1 || n > MAX_BY_PREFIX[prefix]) return null;
  const name = `${prefix}${n}`;
  return isVertebralLevel(name) ? name : null;
}

function prefixOf(p: string): 'C' | 'T' | 'L' | 'S' {
  switch (p) {
    case 'c':
      return 'C';
    case 'l':
      return 'L';
    case 's':
      return 'S';
    default:
      return 'T'; // t, th, d (French "dorsal")
  }
}

// A level token; the negative lookaheads keep MRI sequences (T1-weighted), TNM stages (T2 N0), sizes
// (L 5 cm) and "C1D1" (cycle 1 day 1) out.
const ATOM_RE =
  /(?<![a-z0-9\u00df-\u00ff])(?<!vitamin |vitamine |oh |25-oh |cycle )(th|c|t|d|l|s)(?:[ -]|\. ?)?(\d{1,2})(?![0-9a-z\u00df-\u00ff])(?![.,]\d)(?! ?(?:mm|cm|%|n[0-3x]|m[01x]\b))(?![ -]?(?:weighted|w\b|signal|hyper|hypo|sequence|stir|flair|image|fat))/g;

const NUM_CONT_RE =
  /^(\s*(?:,|and|et|or|ou|&)\s*(?:and |et |or |ou )?)(\d{1,2})(?![0-9a-z\u00df-\u00ff])(?![.,]\d)(?! ?(?:mm|cm|%|mois|months?|years?|ans|days?|jours?))/;
const NUM_RANGE_RE =
  /^(\s*(?:-|\/|to|through|thru|a|au|jusqu'a|jusqu' a)\s*)(\d{1,2})(?![0-9a-z\u00df-\u00ff])(?![.,]\d)(?! ?(?:mm|cm|%|mois|months?|years?|ans|days?|jours?))/;
const RANGE_GAP_RE = /^\s*(?:-|\/|to|through|thru|a|au|jusqu'a|jusqu' a)\s*$/;
const SLASH_OR_DASH_RE = /^\s*[-/]\s*$/;
const LIST_GAP_RE = /^\s*(?:,|and|et|or|ou|&|,\s*(?:and|et|or|ou))?\s*$/;

const EN_ORD: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10, eleventh: 11, twelfth: 12,
};
const FR_ORD: Record<string, number> = {
  premiere: 1, premier: 1, deuxieme: 2, seconde: 2, second: 2, troisieme: 3, quatrieme: 4, cinquieme: 5, sixieme: 6,
  septieme: 7, huitieme: 8, neuvieme: 9, dixieme: 10, onzieme: 11, douzieme: 12,
};
const ORD_SRC =
  '(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|premiere|premier|deuxieme|seconde|troisieme|quatrieme|cinquieme|sixieme|septieme|huitieme|neuvieme|dixieme|onzieme|douzieme|\\d{1,2}(?:st|nd|rd|th|e|eme|er|ere|re))';
const ORD_EN_RE = new RegExp(
  `(?<![a-z0-9])(${ORD_SRC}(?:\\s*(?:,|and|or)\\s*(?:the )?${ORD_SRC}){0,4})\\s+(cervical|thoracic|dorsal|lumbar|sacral)\\s+(?:vertebra|vertebrae|vertebral|level|segment)`,
  'g',
);
const ORD_FR_RE = new RegExp(
  `(?<![a-z0-9])(${ORD_SRC}(?:\\s*(?:,|et|ou)\\s*(?:de )?(?:la |l')?${ORD_SRC}){0,4})\\s+(?:vertebres?|corps vertebra(?:l|ux))\\s+(cervicale|thoracique|dorsale|lombaire|sacree)s?`,
  'g',
);
// An ordinal with no region word: "deformity of the 8th vertebral body", "8e vertèbre".
const ORD_BARE_RE = new RegExp(
  `(?<![a-z0-9])(${ORD_SRC}(?:\\s*(?:,|and|or|et|ou)\\s*(?:the )?${ORD_SRC}){0,4})\\s+(?:vertebrae?|vertebral bod(?:y|ies)|vertebres?|corps vertebra(?:l|ux))(?!\\s+(?:cervicale|thoracique|dorsale|lombaire|sacree))()`,
  'g',
);
const ORD_TOKEN_RE = new RegExp(ORD_SRC, 'g');
const ORDINAL_HINT_RE = /\d(?:st|nd|rd|th|e|eme|er|ere|re)(?![a-z])|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|ieme|premi/;

/**
 * The region a bare ordinal counts in: the spine region the report is about (its most named region word;
 * chest and thorax count as thoracic, abdomen as lumbar), or thoracic for 8th–12th, which only the thoracic
 * spine has; null when the report gives no hint.
 */
function bareOrdinalPrefix(folded: string): 'C' | 'T' | 'L' | null {
  const count = (re: RegExp) => folded.match(re)?.length ?? 0;
  const scores: Array<['C' | 'T' | 'L', number]> = [
    ['T', count(/(?<![a-z])(?:thoracic|thorax|chest|dorsal|dorsale|thoracique|rib|ribs|cote|cotes)(?![a-z])/g)],
    ['L', count(/(?<![a-z])(?:lumbar|lombaire|abdomen|abdominal|abdominale|pelvis|bassin)(?![a-z])/g)],
    ['C', count(/(?<![a-z])(?:cervical|cervicale|neck|cou)(?![a-z])/g)],
  ];
  scores.sort((a, b) => b[1] - a[1]);
  const [best, second] = scores;
  return best && best[1] > 0 && best[1] > (second?.[1] ?? 0) ? best[0] : null;
}

function ordinalValue(tok: string): number {
  const named = EN_ORD[tok] ?? FR_ORD[tok];
  if (named !== undefined) return named;
  const m = /^(\d{1,2})/.exec(tok);
  return m ? Number(m[1]) : NaN;
}

function regionPrefix(word: string): 'C' | 'T' | 'L' | 'S' {
  if (word.startsWith('cervical')) return 'C';
  if (word.startsWith('lomb') || word.startsWith('lumb')) return 'L';
  if (word.startsWith('sacr')) return 'S';
  return 'T';
}


/** Words before/after a pair that make "L4-L5" a disc level. */
function hasDiscContext(folded: string, start: number, end: number, discRe: RegExp): boolean {
  const before = folded.slice(Math.max(0, start - 40), start);
  const after = folded.slice(end, Math.min(folded.length, end + 40));
  const beforeWords = before.split(/\s+/).slice(-4).join(' ');
  // A disc word after "or" offers another explanation ("fracture at T12-L1 or congenital fusion"): it is
  // not this pair's context.
  const afterWords = after.split(/\s+/).slice(0, 4).join(' ').split(/(?<![a-z])(?:or|ou|versus|vs)(?![a-z])/)[0] ?? '';
  discRe.lastIndex = 0;
  if (discRe.test(afterWords)) return true;
  discRe.lastIndex = 0;
  return discRe.test(beforeWords);
}

function findAtoms(folded: string): Atom[] {
  const atoms: Atom[] = [];
  ATOM_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ATOM_RE.exec(folded)) !== null) {
    const prefix = prefixOf(m[1] as string);
    const level = toLevel(prefix, Number(m[2]));
    if (level === null) continue;
    const atom: Atom = { start: m.index, end: m.index + m[0].length, level, prefix };
    atoms.push(atom);
    // Shorthand continuation with the same prefix: "T11, 12 and L1", "L2-4".
    let cursor = atom.end;
    for (let k = 0; k < 4; k++) {
      const rest = folded.slice(cursor, cursor + 24);
      const cont = NUM_CONT_RE.exec(rest) ?? NUM_RANGE_RE.exec(rest);
      if (!cont) break;
      const lv = toLevel(prefix, Number(cont[2]));
      if (lv === null) break;
      const s = cursor + (cont[1] as string).length;
      atoms.push({ start: s, end: s + (cont[2] as string).length, level: lv, prefix });
      cursor = s + (cont[2] as string).length;
    }
  }
  // Ordinal forms always name the vertebra ("first lumbar vertebra", "douzième vertèbre dorsale"):
  // scan only a window before each "vertebr".
  const seenOrdinal = new Set<number>();
  let bareContext: { prefix: 'C' | 'T' | 'L' | null } | undefined;
  for (let at = folded.indexOf('vertebr'); at !== -1; at = folded.indexOf('vertebr', at + 7)) {
    const from = Math.max(0, at - 120);
    const windowText = folded.slice(from, Math.min(folded.length, at + 60));
    // Only windows holding an ordinal ("8th", "eighth", "8e", "huitième") are scanned by the three
    // ordinal patterns; a bare digit ("T12") is not one.
    if (!ORDINAL_HINT_RE.test(windowText)) continue;
    for (const re of [ORD_EN_RE, ORD_FR_RE, ORD_BARE_RE]) {
    re.lastIndex = 0;
    while ((m = re.exec(windowText)) !== null) {
      if (m.index === 0 && from > 0 && /[a-z0-9]/.test(folded[from - 1] as string)) continue;
      const absolute = from + m.index;
      if (seenOrdinal.has(absolute)) continue;
      seenOrdinal.add(absolute);
      const bare = re === ORD_BARE_RE;
      const prefix = bare ? (bareContext ??= { prefix: bareOrdinalPrefix(folded) }).prefix : regionPrefix(m[2] as string);
      const list = m[1] as string;
      ORD_TOKEN_RE.lastIndex = 0;
      let t: RegExpExecArray | null;
      while ((t = ORD_TOKEN_RE.exec(list)) !== null) {
        const n = ordinalValue(t[0]);
        const lv = prefix !== null ? toLevel(prefix, n) : n >= 8 ? toLevel('T', n) : null;
        if (lv === null) continue;
        const s = absolute + t.index;
        atoms.push({ start: s, end: s + t[0].length, level: lv, prefix: prefix ?? 'T' });
      }
    }
    }
  }
  atoms.sort((a, b) => a.start - b.start || b.end - a.end);
  // Drop atoms nested in another (e.g. "12th" inside an ordinal phrase matched twice).
  const out: Atom[] = [];
  for (const a of atoms) {
    const last = out[out.length - 1];
    if (last && a.start < last.end) continue;
    out.push(a);
  }
  return out;
}

/**
 * Level spans in text order. `discRe` matches disc-context words (lexicon `discContext`).
 * A dash/slash between adjacent levels is a disc level when disc words are near ("L4-L5 disc bulge")
 * or when the previous pair of the same list was one ("L3-L4, L4-L5 et L5-S1"); otherwise it is a range.
 */
export function findLevelSpans(folded: string, discRe: RegExp): LevelSpan[] {
  const atoms = findAtoms(folded);
  const spans: LevelSpan[] = [];
  let prevPairWasDisc = false;
  let prevPairEnd = -1;
  for (let i = 0; i < atoms.length; i++) {
    const a = atoms[i] as Atom;
    const b = atoms[i + 1];
    if (b) {
      const gap = folded.slice(a.end, b.start);
      if (gap.length <= 20 && RANGE_GAP_RE.test(gap)) {
        const ia = levelIndex(a.level);
        const ib = levelIndex(b.level);
        if (ib > ia) {
          const adjacent = ib - ia === 1;
          const listContinues = prevPairEnd >= 0 && LIST_GAP_RE.test(folded.slice(prevPairEnd, a.start));
          const disc: boolean =
            adjacent &&
            SLASH_OR_DASH_RE.test(gap) &&
            (hasDiscContext(folded, a.start, b.end, discRe) || (prevPairWasDisc && listContinues));
          prevPairWasDisc = disc;
          prevPairEnd = b.end;
          if (!disc) spans.push({ start: a.start, end: b.end, levels: levelRange(a.level, b.level) });
          i++;
          continue;
        }
      }
    }
    spans.push({ start: a.start, end: a.end, levels: [a.level] });
  }
  return spans;
}

/** Consecutive level spans of one list ("T11, T12 and L1"): they attach to a trigger together. */
export interface Group {
  start: number;
  end: number;
  levels: VertebralLevel[];
  spans: LevelSpan[];
}

const GROUP_GAP_WORDS = new Set([
  'and', 'et', 'or', 'ou', 'the', 'la', 'le', 'les', 'de', 'du', 'des', 'd', 'l', 'at', 'of', 'vertebral', 'vertebra', 'vertebrae',
  'body', 'bodies', 'level', 'levels', 'niveau', 'niveaux', 'corps', 'vertebraux', 'vertebre', 'vertebres', 'grade', 'genant',
  'mild', 'moderate', 'severe', 'leger', 'legere', 'modere', 'moderee', 'important', 'importante', 'as', 'well', 'also', 'en',
  'respectively', 'both', 'from', 'between',
]);

function isGroupGap(gap: string): boolean {
  if (gap.length > 40) return false;
  if (/[;:]/.test(gap)) return false;
  return tokens(gap).every((t) => GROUP_GAP_WORDS.has(t) || /^\d{1,3}$/.test(t));
}

export function groupLevels(folded: string, spans: LevelSpan[]): Group[] {
  const groups: Group[] = [];
  for (const s of spans) {
    const last = groups[groups.length - 1];
    if (last && isGroupGap(folded.slice(last.end, s.start))) {
      last.end = s.end;
      last.spans.push(s);
      for (const l of s.levels) if (!last.levels.includes(l)) last.levels.push(l);
    } else groups.push({ start: s.start, end: s.end, levels: [...s.levels], spans: [s] });
  }
  return groups;
}
