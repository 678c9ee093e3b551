/**
 * Report text -> vertebral fracture mentions (CONTRACT "analyze-report JSON").
 *
 * Pipeline, all linear in the text size:
 *   fold (same offsets) -> lexicon matches (doc.ts, compiled.ts) -> sections, sentences,
 *   clauses -> per clause: drop fractures of other bones, attach level groups to the nearest fracture
 *   trigger, resolve cues into an assertion, attach grade/morphology/percent -> per sentence: one mention
 *   per level (or region) -> reportedLevels / reportedRegions.
 */
import {
  REPORTED_REGIONS,
  levelIndex,
  levelRange,
  levelsOfRegion,
  regionOfLevel,
  type Grade,
  type Morphology,
  type Region,
  type ReportedRegion,
  type VertebralLevel,
} from '../domain/vocabulary';
import { applySection, assertionFor, resolveModifier, type CueContext, type Modifier, type Span } from './assertions';
import { buildDoc, distance, nearest, within, type Doc } from './doc';
import { emptyFeatures, finalFeatures, hasAny, mergeFeatures, type Features } from './features';
import { detectLanguage } from './language';
import type { CueEntry, LexMatch, RegionEntry, TriggerEntry } from './lexicon';
import { groupLevels, type Group, type LevelSpan } from './levels';
import type { Range, Sentence } from './sections';
import { attributedToOtherSite, boundToOtherStructure, contradictedByClause, explainedBySchmorl } from './sites';
import { tokens } from './text';
import { isReportedAssertion, type AnalyzeOptions, type Assertion, type FractureMention, type ReportAnalysis } from './types';

/** Max words between a level group and the fracture trigger it attaches to. */
const ATTACH_WINDOW = 8;
/** Max words between a feature (grade, percent) and its anchor. */
const FEATURE_WINDOW = 8;

/** A mention before its section and evidence are known. */
interface Draft extends Omit<FractureMention, 'section' | 'evidence'> {
  sentence: Sentence;
  /** End offset of the trigger or level group the draft comes from (for hedges that follow it). */
  anchorEnd: number;
}

interface ClauseResult {
  drafts: Draft[];
  /** Level groups with no trigger of their own (candidates for a lead-in's trigger). */
  orphanGroups: Group[];
  /** Active triggers without levels, with their assertion (for a lead-in sentence). */
  levellessTriggers: { trig: LexMatch<TriggerEntry>; assertion: Assertion; features: Features }[];
}

function analyseClause(doc: Doc, sentence: Sentence, clause: Range, sentenceHasLevels: boolean): ClauseResult {
  const words = doc.words;
  const allTriggers = within(doc.triggers, clause.start, clause.end);
  const levelSpans = within(doc.levels, clause.start, clause.end);
  const kept = allTriggers.filter(
    (t) => !attributedToOtherSite(doc, t, clause, allTriggers, levelSpans) && !explainedBySchmorl(doc, t, clause) && !contradictedByClause(doc, t, clause, allTriggers),
  );
  const primaries = kept.filter((t) => !t.entry.secondary);
  const active = primaries.length > 0 ? primaries : kept;

  const groups = groupLevels(doc.folded, levelSpans).filter((g) => !boundToOtherStructure(doc, g, clause));
  const result: ClauseResult = { drafts: [], orphanGroups: [], levellessTriggers: [] };

  // Attach each level group to its nearest trigger; a trigger whose complement the level is
  // ("tassement du plateau supérieur de L2 sans perte de hauteur") binds tighter than a closer one.
  const byTrigger = new Map<LexMatch<TriggerEntry>, Group[]>();
  for (const g of groups) {
    const t = headOf(doc, g, active) ?? nearest(words, g, active, ATTACH_WINDOW);
    if (!t) {
      if (active.length === 0) result.orphanGroups.push(g);
      continue;
    }
    const list = byTrigger.get(t) ?? [];
    list.push(g);
    byTrigger.set(t, list);
  }
  if (active.length === 0) return result;

  // Features go to their nearest anchor (a trigger or a level group).
  const anchors: (Span & { feats: Features })[] = [];
  const featOf = new Map<Span, Features>();
  for (const t of active) {
    const f = emptyFeatures();
    featOf.set(t, f);
    anchors.push({ start: t.start, end: t.end, feats: f });
  }
  // Each level of a group is its own anchor: "D12 (grade 2) et L2 (grade 1)".
  for (const gs of byTrigger.values())
    for (const g of gs)
      for (const s of g.spans) {
        const f = emptyFeatures();
        featOf.set(s, f);
        anchors.push({ start: s.start, end: s.end, feats: f });
      }
  const assign = (s: Span, apply: (f: Features) => void) => {
    const a = nearest(words, s, anchors, FEATURE_WINDOW);
    if (a) apply(a.feats);
  };
  for (const m of within(doc.grades, clause.start, clause.end)) assign(m, (f) => (f.grade ??= m.value as Grade));
  for (const m of within(doc.severity, clause.start, clause.end)) assign(m, (f) => (f.severity ??= m.entry.grade));
  for (const m of within(doc.morphology, clause.start, clause.end)) assign(m, (f) => (f.morphology ??= m.entry.morphology));
  for (const m of within(doc.percents, clause.start, clause.end)) assign(m, (f) => (f.percent = Math.max(f.percent ?? 0, m.value)));

  const ctx: CueContext = {
    folded: doc.folded,
    words,
    cues: within(doc.cues, clause.start, clause.end),
    triggers: active,
    levels: levelSpans,
  };

  // Features of triggers that got no level are shared with the clause's level mentions.
  const clauseFeats = emptyFeatures();
  for (const t of active) {
    if (byTrigger.has(t)) continue;
    const f = featOf.get(t) ?? emptyFeatures();
    clauseFeats.grade ??= f.grade;
    clauseFeats.severity ??= f.severity;
    clauseFeats.morphology ??= f.morphology ?? t.entry.morphology ?? null;
    clauseFeats.percent ??= f.percent;
  }

  for (const t of active) {
    const mod: Modifier = resolveModifier(ctx, t);
    const assertion = applySection(assertionFor(t.entry.kind, mod), sentence.section);
    const tf = featOf.get(t) ?? emptyFeatures();
    const gs = byTrigger.get(t);
    if (gs && gs.length > 0) {
      const manyLevels = gs.reduce((n, g) => n + g.spans.length, 0) > 1;
      for (const g of gs) {
        const groupFeats = mergeFeatures(g.spans.map((s) => featOf.get(s) ?? emptyFeatures()));
        for (const span of g.spans) {
          // A level's own features, else those shared by its group ("T12 and L1, mild"), else the trigger's.
          const own = featOf.get(span) ?? emptyFeatures();
          const feats = finalFeatures(g.spans.length > 1 && hasAny(own) ? own : g.spans.length > 1 ? groupFeats : own, tf, t.entry, clauseFeats);
          // "Compression fractures of T12 (old) and L1 (new)": a cue hugging one level of a list wins.
          const local = manyLevels ? localModifier(doc, span, ctx.cues) : null;
          const a = local ? applySection(assertionFor(t.entry.kind, local), sentence.section) : assertion;
          for (const level of span.levels) {
            result.drafts.push({ level, region: regionOfLevel(level), regionLevels: null, assertion: a, ...feats, sentence, anchorEnd: Math.max(t.end, g.end) });
          }
        }
      }
      // "Multiple thoracic compression fractures, most pronounced at T8": the levels are examples, the
      // region is reported too (not when the levels are the complete list: "at T4, T5 and T6").
      if (MULTI_RE.test(doc.folded.slice(Math.max(clause.start, t.start - 30), t.end)) && PARTIAL_RE.test(doc.folded.slice(clause.start, clause.end))) {
        for (const { region, levels } of regionsNear(doc, t, clause, true, 5)) {
          result.drafts.push({ level: null, region, regionLevels: levels, assertion, ...finalFeatures(emptyFeatures(), tf, t.entry), sentence, anchorEnd: t.end });
        }
      }
      continue;
    }
    const regions = regionsNear(doc, t, clause, sentenceHasLevels);
    const feats = finalFeatures(emptyFeatures(), tf, t.entry);
    if (regions.length === 0) {
      result.levellessTriggers.push({ trig: t, assertion, features: tf });
      continue;
    }
    for (const { region, levels } of regions) result.drafts.push({ level: null, region, regionLevels: levels, assertion, ...feats, sentence, anchorEnd: t.end });
    result.levellessTriggers.push({ trig: t, assertion, features: tf });
  }
  // "Mild height loss of T12, which may represent / pouvant correspondre à un tassement": a hedged
  // level-less trigger after a finding hedges that finding.
  const hedge = result.levellessTriggers.find((x) => x.assertion === 'possible');
  if (hedge) {
    for (const d of result.drafts) if (d.level !== null && d.assertion === 'present' && d.anchorEnd <= hedge.trig.start) d.assertion = 'possible';
  }
  return result;
}

const COMPLEMENT_GAP = new Set([
  'of', 'the', 'at', 'in', 'involving', 'de', 'du', 'des', 'la', 'le', 'l', 'd', 'au', 'en', 'niveau', 'superior', 'inferior',
  'anterior', 'posterior', 'endplate', 'endplates', 'end', 'plate', 'plateau', 'plateaux', 'superieur', 'inferieur', 'anterieur',
  'posterieur', 'vertebral', 'body', 'corps', 'vertebre', 'vertebra', 'level', 'mur',
]);

/** The trigger a level group is the complement of: "<trigger> of the superior endplate of <level>". */
function headOf(doc: Doc, g: Group, active: LexMatch<TriggerEntry>[]): LexMatch<TriggerEntry> | null {
  let best: LexMatch<TriggerEntry> | null = null;
  for (const t of active) {
    if (t.end > g.start) break;
    const gap = tokens(doc.folded.slice(t.end, g.start));
    if (gap.length <= 8 && gap.length > 0 && gap.every((w) => COMPLEMENT_GAP.has(w))) best = t;
  }
  return best;
}

/** A region a level-less fracture mention names, with the levels the words cover ("mid thoracic": T5–T8). */
interface RegionHit {
  region: Region;
  levels: VertebralLevel[];
}

/** The hits of the region words `entries`, one per region, each with the union of the extents named. */
function regionHits(entries: RegionEntry[]): RegionHit[] {
  const byRegion = new Map<Region, Set<VertebralLevel>>();
  for (const e of entries) {
    const extent = e.levels ? levelRange(...(e.levels.split('-') as [VertebralLevel, VertebralLevel])) : e.regions.flatMap(levelsOfRegion);
    for (const region of e.regions) {
      const set = byRegion.get(region) ?? new Set<VertebralLevel>();
      for (const l of extent) if (regionOfLevel(l) === region) set.add(l);
      byRegion.set(region, set);
    }
  }
  return [...byRegion].map(([region, set]) => ({ region, levels: [...set].sort((a, b) => levelIndex(a) - levelIndex(b)) }));
}

/**
 * Region of a fracture trigger that names no level: the nearest explicit region ("thoracic") and the
 * regions listed with it; else "spine" when the trigger is vertebra-specific or a spinal word is near
 * and no level is named anywhere in the sentence; else none (a bare "no acute fracture" is not a VCF).
 */
function regionsNear(doc: Doc, t: Span & { entry: TriggerEntry }, clause: Range, sentenceHasLevels: boolean, window = 10): RegionHit[] {
  const cands = within(doc.regions, clause.start, clause.end).filter((r) => distance(doc.words, t, r) <= window);
  const specific = cands.filter((r) => r.entry.regions.length > 0);
  const first = nearest(doc.words, t, specific, window);
  if (first) {
    const idx = specific.indexOf(first);
    let lo = idx;
    let hi = idx;
    // Regions listed together: "thoracic or lumbar", "dorsaux et lombaires".
    while (lo > 0 && isListGap(doc.folded.slice((specific[lo - 1] as LexMatch<RegionEntry>).end, (specific[lo] as LexMatch<RegionEntry>).start))) lo--;
    while (hi + 1 < specific.length && isListGap(doc.folded.slice((specific[hi] as LexMatch<RegionEntry>).end, (specific[hi + 1] as LexMatch<RegionEntry>).start))) hi++;
    return regionHits(specific.slice(lo, hi + 1).map((r) => r.entry));
  }
  if (sentenceHasLevels) return [];
  if (t.entry.specific || cands.length > 0) return [{ region: 'spine', levels: [] }];
  return [];
}

const MULTI_RE = /(?<![a-z])(?:multilevel|multi-level|multiple|several|numerous|diffuse|multifocal|multiples|plusieurs|nombreux|nombreuses|etages|etagees|diffus|pluri-?etages?)(?![a-z])/;

const PARTIAL_RE = /(?<![a-z])(?:including|include|most (?:pronounced|severe|marked|notable)|worst|notably|especially|particularly|such as|predominantly|predominant|for example|e\.g\.|notamment|en particulier|dont|predominant|predominance|le plus (?:marque|severe|important)|surtout)(?![a-z])/;

/** A cue right next to one level of a list: "T12 (old)", "old T12", "L1, new,". */
function localModifier(doc: Doc, span: LevelSpan, cues: LexMatch<CueEntry>[]): Modifier | null {
  for (const c of cues) {
    if (c.entry.type === 'pseudo') continue;
    if (c.start >= span.end && c.entry.direction !== 'forward') {
      const gap = doc.folded.slice(span.end, c.start);
      if (/^\s*[(,]?\s*$/.test(gap) && (gap.includes('(') || /^[\s,]*$/.test(gap))) return c.entry.type as Modifier;
    }
    if (c.end <= span.start && c.entry.direction !== 'backward') {
      const gap = doc.folded.slice(c.end, span.start);
      if (/^\s*(?:the |la |le )?$/.test(gap)) return c.entry.type as Modifier;
    }
  }
  return null;
}

const LIST_GAP_WORDS = new Set([
  'and', 'or', 'et', 'ou', 'nor', 'ni', 'a', 'an', 'one', 'the', 'single', 'un', 'une', 'la', 'le', 'les', 'des', 'seul', 'seule',
  'spine', 'spines', 'rachis', 'body', 'bodies', 'vertebra', 'vertebrae', 'vertebral', 'level', 'levels', 'corps', 'vertebre', 'vertebres',
]);

/**
 * Two region words listed together: "thoracic or lumbar", "dorsaux et lombaires", "upper thoracic bodies
 * and a single upper lumbar body". Commas, or a coordinator with articles and body words around it.
 */
function isListGap(gap: string): boolean {
  if (gap.length > 40) return false;
  const words = tokens(gap);
  if (words.length === 0) return /^[\s,&/]*$/.test(gap);
  return words.every((w) => LIST_GAP_WORDS.has(w)) && (words.some((w) => /^(?:and|or|et|ou|nor|ni)$/.test(w)) || gap.includes(',') || gap.includes('&') || gap.includes('/'));
}

const ASSERTION_RANK: Record<Assertion, number> = { present: 5, possible: 4, historical: 3, hypothetical: 2, absent: 1 };

function mergeInto(a: Draft, b: Draft): Draft {
  const keep = ASSERTION_RANK[b.assertion] > ASSERTION_RANK[a.assertion] ? b : a;
  const other = keep === a ? b : a;
  return {
    ...keep,
    // The same region twice in one sentence ("thoracolumbar and mid thoracic"): every part named counts.
    regionLevels: keep.regionLevels && other.regionLevels ? [...new Set([...keep.regionLevels, ...other.regionLevels])].sort((x, y) => levelIndex(x) - levelIndex(y)) : keep.regionLevels,
    grade: keep.grade ?? other.grade,
    morphology: keep.morphology ?? other.morphology,
    heightLossPercent: keep.heightLossPercent ?? other.heightLossPercent,
  };
}

function analyseDoc(doc: Doc): FractureMention[] {
  const drafts: Draft[] = [];
  const dropped = new Set<Draft>();
  // A lead-in ("Compression fractures:") lends its trigger to the list items that follow it.
  let carry: { assertion: Assertion; features: Features; entry: TriggerEntry; paragraph: number; leadDrafts: Draft[] } | null = null;
  for (const sentence of doc.sentences) {
    const sentenceHasLevels = within(doc.levels, sentence.start, sentence.end).length > 0;
    const sDrafts: Draft[] = [];
    const orphans: Group[] = [];
    const levelless: ClauseResult['levellessTriggers'] = [];
    for (const clause of sentence.clauses) {
      const r = analyseClause(doc, sentence, clause, sentenceHasLevels);
      // A hedge clause about the same finding ("mild height loss of L4; a fracture cannot be excluded")
      // makes the finding of the preceding clauses possible.
      if (r.drafts.every((d) => d.level === null) && r.levellessTriggers.length > 0 && r.levellessTriggers.every((t) => t.assertion === 'possible')) {
        for (const d of sDrafts) if (d.level !== null && d.assertion === 'present') d.assertion = 'possible';
      }
      sDrafts.push(...r.drafts);
      orphans.push(...r.orphanGroups);
      levelless.push(...r.levellessTriggers);
    }
    const anyTrigger = sDrafts.length > 0 || levelless.length > 0;
    if (!anyTrigger && carry && carry.paragraph === sentence.paragraph && orphans.length > 0) {
      for (const g of orphans)
        for (const level of g.levels) {
          const feats = finalFeatures(featuresOfGroup(doc, g, sentence), carry.features, carry.entry);
          sDrafts.push({ level, region: regionOfLevel(level), regionLevels: null, assertion: carry.assertion, ...feats, sentence, anchorEnd: g.end });
        }
      // The lead-in's own level-less "spine" mention is now explained by its items.
      for (const d of carry.leadDrafts) if (d.level === null && d.region === 'spine') dropped.add(d);
    } else if (anyTrigger) {
      carry = null;
    }
    if (sentence.leadIn && levelless.length > 0 && !sDrafts.some((d) => d.level !== null)) {
      const first = levelless[0] as ClauseResult['levellessTriggers'][number];
      carry = { assertion: first.assertion, features: first.features, entry: first.trig.entry, paragraph: sentence.paragraph, leadDrafts: sDrafts };
    }
    drafts.push(...sDrafts);
  }
  return dedupe(drafts.filter((d) => !dropped.has(d)), doc);
}

function featuresOfGroup(doc: Doc, g: Group, sentence: Sentence): Features {
  const f = emptyFeatures();
  for (const m of within(doc.grades, sentence.start, sentence.end)) if (distance(doc.words, g, m) <= 4) f.grade ??= m.value as Grade;
  for (const m of within(doc.severity, sentence.start, sentence.end)) if (distance(doc.words, g, m) <= 4) f.severity ??= m.entry.grade;
  for (const m of within(doc.morphology, sentence.start, sentence.end)) if (distance(doc.words, g, m) <= 4) f.morphology ??= m.entry.morphology;
  for (const m of within(doc.percents, sentence.start, sentence.end)) if (distance(doc.words, g, m) <= 4) f.percent ??= m.value;
  return f;
}

function dedupe(drafts: Draft[], doc: Doc): FractureMention[] {
  const byKey = new Map<string, Draft>();
  const order: string[] = [];
  for (const d of drafts) {
    const key = `${d.sentence.start}|${d.level ?? `region:${d.region}`}`;
    const prev = byKey.get(key);
    if (prev) byKey.set(key, mergeInto(prev, d));
    else {
      byKey.set(key, d);
      order.push(key);
    }
  }
  return order.map((k) => {
    const d = byKey.get(k) as Draft;
    // A grade of something that is not there (or only asked about) means nothing.
    if (d.assertion === 'absent' || d.assertion === 'hypothetical') {
      d.grade = null;
      d.morphology = null;
      d.heightLossPercent = null;
    }
    return {
      level: d.level,
      region: d.region,
      regionLevels: d.regionLevels,
      assertion: d.assertion,
      grade: d.grade,
      morphology: d.morphology,
      heightLossPercent: d.heightLossPercent,
      section: d.sentence.section,
      evidence: { start: d.sentence.start, end: d.sentence.end, text: doc.original.slice(d.sentence.start, d.sentence.end) },
    };
  });
}

/**
 * Finds the vertebral fractures a radiology report mentions (English or French) and how it asserts
 * them. Never throws on any string input; linear in the text size.
 */
export function analyzeReport(text: string, opts: AnalyzeOptions = {}): ReportAnalysis {
  const input = typeof text === 'string' ? text : '';
  const doc = buildDoc(input);
  const language = opts.language ?? detectLanguage(input, doc.folded);
  const mentions = analyseDoc(doc);
  const levels = new Set<VertebralLevel>();
  const regions = new Set<ReportedRegion>();
  const regionLevels = new Set<VertebralLevel>();
  for (const m of mentions) {
    if (!isReportedAssertion(m.assertion)) continue;
    if (m.level !== null) levels.add(m.level);
    else if (m.region !== 'sacral') regions.add(m.region);
    for (const l of m.regionLevels ?? []) regionLevels.add(l);
  }
  const ordered = (set: Set<VertebralLevel>) => [...set].sort((a, b) => levelIndex(a) - levelIndex(b));
  return {
    language,
    mentions,
    reportedLevels: ordered(levels),
    reportedRegions: REPORTED_REGIONS.filter((r) => regions.has(r)),
    regionLevels: ordered(regionLevels),
  };
}

/** Coarse assertion categories used to compare with NegEx/ConText style annotations. */
export type SpanAssertion = { polarity: 'affirmed' | 'negated' | 'possible'; temporality: 'recent' | 'historical' | 'hypothetical' };

/**
 * Applies the cue engine to an arbitrary span of `text` (any concept, not only fractures), as if it were
 * a fracture trigger. Used to measure the assertion rules on third-party annotated corpora.
 */
export function assertSpan(text: string, start: number, end: number): SpanAssertion {
  const doc = buildDoc(text);
  const sentence = doc.sentences.find((s) => s.start <= start && start < s.end) ?? null;
  const clause = sentence?.clauses.find((c) => c.start <= start && start < c.end) ?? { start: 0, end: text.length };
  const target: Span = { start, end };
  const others = within(doc.triggers, clause.start, clause.end).filter((t) => t.end <= start || t.start >= end);
  const triggers = [...others, target].sort((a, b) => a.start - b.start);
  const ctx: CueContext = {
    folded: doc.folded,
    words: doc.words,
    cues: within(doc.cues, clause.start, clause.end).filter((c) => c.end <= start || c.start >= end),
    triggers,
    levels: within(doc.levels, clause.start, clause.end),
  };
  const mod = resolveModifier(ctx, target);
  const section = sentence?.section ?? 'findings';
  const a = applySection(assertionFor('fracture', mod), section);
  switch (a) {
    case 'present':
      return { polarity: 'affirmed', temporality: 'recent' };
    case 'absent':
      return { polarity: 'negated', temporality: 'recent' };
    case 'possible':
      return { polarity: 'possible', temporality: 'recent' };
    case 'historical':
      return { polarity: 'affirmed', temporality: 'historical' };
    case 'hypothetical':
      return { polarity: 'affirmed', temporality: 'hypothetical' };
    default:
      return a satisfies never;
  }
}
