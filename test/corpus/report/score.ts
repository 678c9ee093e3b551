/**
 * Loads the labelled corpus (README.md) and scores an analyser on it. Shared by the corpus test and
 * `npm run bench:nlp` so that both report the same numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Er7Message } from '../../../src/ingest/hl7/er7';
import { parseOru } from '../../../src/ingest/hl7/oru';
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

/** Comment lines ("# ...") of the label-only files: never part of a text. */
const stripComments = (source: string) => source.replace(/^# .*\n/gm, '');

/**
 * The real-report phenomena of issue 15 (classes.txt, written by the team): class and language from the
 * id, "<class>-<en|fr>-<n>".
 */
export function loadClassCases(dir: string = __dirname): Array<CorpusItem & { phenomenon: string }> {
  return parseCorpus(stripComments(readFileSync(join(dir, 'classes.txt'), 'utf8')), 'en').map((item) => {
    const [phenomenon, language] = item.id.split('-') as [string, Language];
    return { ...item, language, phenomenon };
  });
}

/** Where the MTSamples transcriptions are (../shared/fixtures), or null when that folder is absent. */
export const MTSAMPLES_TEXTS = resolve(__dirname, '../../../../shared/fixtures/nlp/mtsamples/spine-reports.jsonl');

/**
 * The real-text corpus: public de-identified MTSamples spine transcriptions, labelled by hand in
 * mtsamples.txt (labels only; the texts stay in the fixtures). Empty when the fixtures are absent.
 */
export function loadMtsamples(dir: string = __dirname, textsPath: string = MTSAMPLES_TEXTS): CorpusItem[] {
  if (!existsSync(textsPath)) return [];
  const texts = new Map(
    readFileSync(textsPath, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { id: string; text: string })
      .map((r) => [r.id, r.text] as const),
  );
  return parseCorpus(stripComments(readFileSync(join(dir, 'mtsamples.txt'), 'utf8')), 'en').map((item) => {
    const text = texts.get(item.id);
    if (text === undefined) throw new Error(`mtsamples.txt labels ${item.id}, which the fixture does not hold`);
    return { ...item, text };
  });
}

/** Width at which the HL7-shaped path wraps report text into OBX segments, as dictation systems do. */
const OBX_WIDTH = 64;

/**
 * The report text as the report worker sees it after an HL7 trip: an ORU^R01 with one OBX per line,
 * every line hard-wrapped at OBX_WIDTH characters, parsed by the service's own ER7 reader and ORU
 * mapper (which join the OBX values with line breaks).
 */
export function throughHl7(text: string): string {
  const esc = (v: string) => v.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/~/g, '\\R\\').replace(/&/g, '\\T\\');
  const lines: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    let rest = line;
    while (rest.length > OBX_WIDTH) {
      const cut = rest.lastIndexOf(' ', OBX_WIDTH);
      const at = cut > 0 ? cut : OBX_WIDTH;
      lines.push(rest.slice(0, at));
      rest = rest.slice(at).replace(/^ /, '');
    }
    lines.push(rest);
  }
  const segments = [
    'MSH|^~\\&|RIS|HOSP|VCF|HOSP|20260101120000||ORU^R01^ORU_R01|CORPUS|P|2.5.1|||AL|NE||UNICODE UTF-8',
    'PID|1||MRN1^^^HOSP^MR||DOE^JANE',
    'OBR|1|ACC1|ACC1|CT^CT||||||||||||||||||||CT|F',
    ...lines.map((l, i) => `OBX|${i + 1}|TX|18782-3^Radiology Study observation^LN||${esc(l)}||||||F`),
  ];
  const [report] = parseOru(Er7Message.parse(`${segments.join('\r')}\r`));
  if (!report) throw new Error('the ORU carried no report');
  return report.text;
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
