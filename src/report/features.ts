/** Grade, morphology and height-loss percentage of a mention, as stated in the text. */
import type { Grade, Morphology } from '../domain/vocabulary';
import type { Span } from './assertions';
import type { TriggerEntry } from './lexicon';

export interface MentionFeatures {
  grade: Grade | null;
  morphology: Morphology | null;
  heightLossPercent: number | null;
}

export interface NumberMatch extends Span {
  value: number;
}

const PERCENT_RE =
  /(?<![0-9.,])(\d{1,3}(?:[.,]\d+)?)(?:\s?%?\s?(?:-|to|a|à)\s?(\d{1,3}(?:[.,]\d+)?))?\s?(?:%|percent|pour ?cent|p\.? ?100)/g;
const FRACTION_RE =
  /(?<![a-z])(?:(?:one|a|un) (?:third|tiers)|(?:two|deux) (?:thirds|tiers)|(?:one |a )?half|(?:la )?moitie|(?:one |a )?quarter|(?:un )?quart)(?![a-z])/g;
const GRADE_RE =
  /(?<![a-z])(?:genant(?: grade)?|grade)\s?(?:de genant\s?)?(?:type\s?)?(1|2|3|iii|ii|i|one|two|three)(?![a-z0-9])/g;

function parseNum(s: string): number {
  return Number(s.replace(',', '.'));
}

/** Percentages and fractions ("one third", "un tiers") of height loss. */
export function findPercents(folded: string): NumberMatch[] {
  const out: NumberMatch[] = [];
  PERCENT_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PERCENT_RE.exec(folded)) !== null) {
    const a = parseNum(m[1] as string);
    const b = m[2] !== undefined ? parseNum(m[2]) : a;
    const v = Math.max(a, b);
    if (v > 0 && v <= 100) out.push({ start: m.index, end: m.index + m[0].length, value: Math.round(v * 10) / 10 });
  }
  FRACTION_RE.lastIndex = 0;
  const hasFraction = /third|tiers|half|moitie|quar/.test(folded);
  while (hasFraction && (m = FRACTION_RE.exec(folded)) !== null) {
    const t = m[0];
    const v = /two|deux/.test(t) ? 67 : /third|tiers/.test(t) ? 33 : /half|moitie/.test(t) ? 50 : 25;
    out.push({ start: m.index, end: m.index + t.length, value: v });
  }
  return out.sort((x, y) => x.start - y.start);
}

/** Explicit grades: "grade 2", "Genant grade II", "grade 3 de Genant". */
export function findGrades(folded: string): NumberMatch[] {
  const out: NumberMatch[] = [];
  GRADE_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = GRADE_RE.exec(folded)) !== null) {
    const g = m[1] as string;
    const v = g === '1' || g === 'i' || g === 'one' ? 1 : g === '2' || g === 'ii' || g === 'two' ? 2 : 3;
    out.push({ start: m.index, end: m.index + m[0].length, value: v });
  }
  return out;
}

export interface Features {
  grade: Grade | null;
  severity: Grade | null;
  morphology: Morphology | null;
  percent: number | null;
}

export function emptyFeatures(): Features {
  return { grade: null, severity: null, morphology: null, percent: null };
}

export function hasAny(f: Features): boolean {
  return f.grade !== null || f.severity !== null || f.morphology !== null || f.percent !== null;
}

/** Features found on one level of a group and on no other apply to the whole group only when unique. */
export function mergeFeatures(list: Features[]): Features {
  const withAny = list.filter(hasAny);
  return withAny.length === 1 ? (withAny[0] as Features) : emptyFeatures();
}

function gradeFromPercent(p: number): Grade | null {
  if (p < 20) return null;
  if (p <= 25) return 1;
  if (p <= 40) return 2;
  return 3;
}

/**
 * Features of a mention: the level group's own ("T12 grade 2"), then its trigger's ("moderate wedge
 * fracture"), then those of level-less triggers of the same clause ("fracture of T12 with 30% anterior
 * height loss"). Grade falls back to the Genant band of a stated percentage.
 */
export function finalFeatures(own: Features, trig: Features, entry: TriggerEntry, clause: Features = emptyFeatures()): MentionFeatures {
  const percent = own.percent ?? trig.percent ?? clause.percent;
  const grade =
    own.grade ?? trig.grade ?? clause.grade ?? own.severity ?? trig.severity ?? entry.grade ?? clause.severity ?? (percent !== null ? gradeFromPercent(percent) : null);
  const morphology = own.morphology ?? trig.morphology ?? entry.morphology ?? clause.morphology ?? null;
  return { grade, morphology, heightLossPercent: percent };
}
