/**
 * Loads the labelled corpus (README.md) and scores an analyser on it. Shared by the corpus test and
 * `npm run bench:nlp` so that both report the same numbers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVertebralLevel, regionOfLevel, REPORTED_REGIONS, type VertebralLevel } from '../../../src/domain/vocabulary';
import { isLevelReported } from '../../../src/correlate/decide';
import {
  ASSERTIONS,
  isReportedAssertion,
  type Assertion,
  type Language,
  type ReportAnalysis,
} from '../../../src/report';

export type Split = 'dev' | 'heldout';

export interface Label {
  key: string;
  isRegion: boolean;
  assertion: Assertion;
}

export interface CorpusItem {
  id: string;
  language: Language;
  text: string;
  labels: Label[];
  attrs: Map<string, { grade?: number; morph?: string; pct?: number }>;
  split: Split;
}

const REGION_KEYS = new Set<string>(REPORTED_REGIONS);

/** FNV-1a of the id: one item in five is held out, chosen by hash and not by hand. */
export function splitOf(id: string): Split {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 5 === 0 ? 'heldout' : 'dev';
}

export function parseCorpus(source: string, language: Language): CorpusItem[] {
  const items: CorpusItem[] = [];
  const blocks = source.split(/^### /m).slice(1);
  for (const block of blocks) {
    const lines = block.split('\n');
    const id = (lines[0] ?? '').trim();
    const labelLine = lines[1] ?? '';
    if (!labelLine.startsWith('= ')) throw new Error(`corpus ${id}: missing label line`);
    const text = lines.slice(2).join('\n').replace(/\s+$/, '');
    const labels: Label[] = [];
    const attrs = new Map<string, { grade?: number; morph?: string; pct?: number }>();
    for (const tok of labelLine.slice(2).trim().split(/\s+/)) {
      if (tok === 'none' || tok === '') continue;
      const attr = /^([A-Z]\d{1,2})\.(grade|morph|pct)=(.+)$/.exec(tok);
      if (attr) {
        const a = attrs.get(attr[1] as string) ?? {};
        if (attr[2] === 'grade') a.grade = Number(attr[3]);
        else if (attr[2] === 'pct') a.pct = Number(attr[3]);
        else a.morph = attr[3] as string;
        attrs.set(attr[1] as string, a);
        continue;
      }
      const m = /^([A-Za-z0-9]+):([a-z]+)$/.exec(tok);
      if (!m || !(ASSERTIONS as readonly string[]).includes(m[2] as string)) throw new Error(`corpus ${id}: bad label ${tok}`);
      const key = m[1] as string;
      const isRegion = REGION_KEYS.has(key);
      if (!isRegion && !isVertebralLevel(key)) throw new Error(`corpus ${id}: bad level ${key}`);
      labels.push({ key, isRegion, assertion: m[2] as Assertion });
    }
    items.push({ id, language, text, labels, attrs, split: splitOf(id) });
  }
  return items;
}

export function loadCorpus(dir: string = __dirname): CorpusItem[] {
  return [
    ...parseCorpus(readFileSync(join(dir, 'en.txt'), 'utf8'), 'en'),
    ...parseCorpus(readFileSync(join(dir, 'fr.txt'), 'utf8'), 'fr'),
  ];
}

export interface PRF {
  tp: number;
  fp: number;
  fn: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
}

export interface CorpusScore {
  reports: number;
  byLanguage: Record<Language, number>;
  assertions: Record<Assertion, PRF>;
  decision: { units: number; correct: number; accuracy: number };
  language: { correct: number; total: number };
  attributes: { grade: [number, number]; morphology: [number, number]; heightLossPercent: [number, number] };
  errors: { id: string; kind: string; detail: string }[];
}

function prf(tp: number, fp: number, fn: number): PRF {
  const precision = tp + fp === 0 ? null : tp / (tp + fp);
  const recall = tp + fn === 0 ? null : tp / (tp + fn);
  const f1 = precision === null || recall === null || precision + recall === 0 ? null : (2 * precision * recall) / (precision + recall);
  const r = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  return { tp, fp, fn, precision: r(precision), recall: r(recall), f1: r(f1) };
}

function mentionKey(level: string | null, region: string): string | null {
  if (level !== null) return level;
  return REGION_KEYS.has(region) ? region : null;
}

/** Scores `analyze` on `items`: per-assertion P/R/F1 and the reported/not-reported decision per (report, level). */
export function scoreCorpus(items: CorpusItem[], analyze: (text: string, language: Language) => ReportAnalysis, detect?: (text: string) => Language): CorpusScore {
  const counts = Object.fromEntries(ASSERTIONS.map((a) => [a, { tp: 0, fp: 0, fn: 0 }])) as Record<Assertion, { tp: number; fp: number; fn: number }>;
  let units = 0;
  let correct = 0;
  let langOk = 0;
  const attr = { grade: [0, 0] as [number, number], morphology: [0, 0] as [number, number], heightLossPercent: [0, 0] as [number, number] };
  const errors: CorpusScore['errors'] = [];
  const byLanguage: Record<Language, number> = { en: 0, fr: 0 };

  for (const item of items) {
    byLanguage[item.language]++;
    if (detect) {
      if (detect(item.text) === item.language) langOk++;
    }
    const res = analyze(item.text, item.language);
    // Assertions as (key, assertion) sets.
    const gold = new Set(item.labels.map((l) => `${l.key}:${l.assertion}`));
    const pred = new Set<string>();
    for (const m of res.mentions) {
      const k = mentionKey(m.level, m.region);
      if (k) pred.add(`${k}:${m.assertion}`);
    }
    for (const a of ASSERTIONS) {
      for (const g of gold) if (g.endsWith(`:${a}`)) (pred.has(g) ? counts[a].tp++ : counts[a].fn++);
      for (const p of pred) if (p.endsWith(`:${a}`) && !gold.has(p)) counts[a].fp++;
    }
    for (const g of gold) if (!pred.has(g)) errors.push({ id: item.id, kind: 'missed', detail: g });
    for (const p of pred) if (!gold.has(p)) errors.push({ id: item.id, kind: 'spurious', detail: p });

    // Decision units.
    const goldRegionReported = new Set(item.labels.filter((l) => l.isRegion && isReportedAssertion(l.assertion)).map((l) => l.key));
    const levelKeys = new Set<VertebralLevel>();
    const regionKeys = new Set<string>();
    for (const l of item.labels) (l.isRegion ? regionKeys.add(l.key) : levelKeys.add(l.key as VertebralLevel));
    for (const m of res.mentions) {
      if (m.level !== null) levelKeys.add(m.level);
      else if (REGION_KEYS.has(m.region)) regionKeys.add(m.region);
    }
    let itemUnits = 0;
    for (const level of levelKeys) {
      const expected =
        item.labels.some((l) => !l.isRegion && l.key === level && isReportedAssertion(l.assertion)) || goldRegionReported.has(regionOfLevel(level));
      const got = isLevelReported(res, level);
      itemUnits++;
      if (expected === got) correct++;
      else errors.push({ id: item.id, kind: 'decision', detail: `${level}: expected ${expected ? 'reported' : 'not reported'}` });
    }
    for (const region of regionKeys) {
      const expected = goldRegionReported.has(region);
      const got = (res.reportedRegions as string[]).includes(region);
      itemUnits++;
      if (expected === got) correct++;
      else errors.push({ id: item.id, kind: 'decision', detail: `${region}: expected ${expected ? 'reported' : 'not reported'}` });
    }
    if (itemUnits === 0) {
      itemUnits = 1;
      correct++;
    }
    units += itemUnits;

    // Attributes where labelled.
    for (const [level, a] of item.attrs) {
      const ms = res.mentions.filter((m) => m.level === level);
      if (a.grade !== undefined) {
        attr.grade[1]++;
        if (ms.some((m) => m.grade === a.grade)) attr.grade[0]++;
        else errors.push({ id: item.id, kind: 'grade', detail: `${level} expected ${a.grade} got ${ms.map((m) => m.grade).join(',')}` });
      }
      if (a.morph !== undefined) {
        attr.morphology[1]++;
        if (ms.some((m) => m.morphology === a.morph)) attr.morphology[0]++;
        else errors.push({ id: item.id, kind: 'morphology', detail: `${level} expected ${a.morph} got ${ms.map((m) => m.morphology).join(',')}` });
      }
      if (a.pct !== undefined) {
        attr.heightLossPercent[1]++;
        if (ms.some((m) => m.heightLossPercent !== null && Math.abs(m.heightLossPercent - (a.pct as number)) <= 1)) attr.heightLossPercent[0]++;
        else errors.push({ id: item.id, kind: 'percent', detail: `${level} expected ${a.pct} got ${ms.map((m) => m.heightLossPercent).join(',')}` });
      }
    }
  }
  return {
    reports: items.length,
    byLanguage,
    assertions: Object.fromEntries(ASSERTIONS.map((a) => [a, prf(counts[a].tp, counts[a].fp, counts[a].fn)])) as Record<Assertion, PRF>,
    decision: { units, correct, accuracy: units === 0 ? 1 : Math.round((correct / units) * 10000) / 10000 },
    language: { correct: langOk, total: detect ? items.length : 0 },
    attributes: attr,
    errors,
  };
}
