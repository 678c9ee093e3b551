/**
 * Assertion of a fracture trigger from the cues around it (NegEx/ConText style):
 * - forward cues ("no", "possible", "known", "rule out") before the trigger, within a word window and the
 *   same clause; a run of adjacent cues is read together ("no acute or chronic fracture" is negated);
 * - backward cues ("is unchanged", "is excluded", "cannot be excluded") after it;
 * - the section then re-reads the result (an indication's affirmed fracture is history, its hedge is
 *   the question being asked).
 */
import type { CueEntry, CueType, LexMatch, TriggerEntry, TriggerKind } from './lexicon';
import type { WordIndex } from './text';
import type { Assertion, Section } from './types';

/** Words between a forward cue and its trigger. */
export const FORWARD_WINDOW = 6;
/** Words between a trigger (or its levels) and a backward cue. */
export const BACKWARD_WINDOW = 8;
/** Words between two cues read as one run. */
const CHAIN_GAP = 2;
/** A "both" cue this close before another trigger belongs to that trigger. */
const CLAIM_WINDOW = 3;

export type Span = { start: number; end: number };

/** Resolved modifier category of one trigger, before the trigger kind and section are applied. */
export type Modifier = Exclude<CueType, 'pseudo'> | 'none';

const STRONG: readonly Modifier[] = ['negation', 'hypothetical', 'possible'];

function strongest(mods: Modifier[]): Modifier | null {
  for (const s of STRONG) if (mods.includes(s)) return s;
  return null;
}

export interface CueContext {
  folded: string;
  words: WordIndex;
  /** Cues of the clause, in text order. */
  cues: LexMatch<CueEntry>[];
  /** Active triggers of the clause, in text order (the target included). */
  triggers: Span[];
  /** Level spans of the clause (not counted in the backward window). */
  levels: Span[];
}

const CONJOINED_GAP = /^[\s,/]*(?:(?:or|nor|ou|ni|and\/or|et\/ou)\b[\s,]*)?$/;

function triggersBetween(ctx: CueContext, a: number, b: number): Span[] {
  return ctx.triggers.filter((t) => t.start >= a && t.end <= b);
}

/**
 * A forward cue reaches the target across other triggers only through a list of alternatives
 * ("no fracture, compression deformity or height loss"), not across "and"/"with" ("no fracture of L1
 * and compression fracture of L2").
 */
const LIST_BREAKERS = /\b(?:and|et|with|avec|but|mais|plus|while|which|qui)\b|;/;

function isConjoined(gap: string): boolean {
  if (gap.length > 80) return false;
  const stripped = gap
    .replace(/\b(?:of|at|in|de|du|des|la|le|les|the|a|an|any|d'|l'|vertebral|body|bodies)\b/g, ' ')
    .replace(/\b[a-z]{0,2}\d{1,2}\b/g, ' ');
  if (CONJOINED_GAP.test(stripped)) return true;
  // A list of alternatives with other nouns in it: "no fracture, retropulsion or height loss".
  return /,|\b(?:or|nor|ou|ni)\b/.test(stripped) && !LIST_BREAKERS.test(stripped) && (stripped.match(/[a-z]+/g) ?? []).length <= 5;
}

function forwardReaches(ctx: CueContext, cue: Span, target: Span): boolean {
  const between = triggersBetween(ctx, cue.end, target.start);
  let prevEnd = -1;
  for (const t of between) {
    if (prevEnd >= 0 && !isConjoined(ctx.folded.slice(prevEnd, t.start))) return false;
    prevEnd = t.end;
  }
  return prevEnd < 0 || isConjoined(ctx.folded.slice(prevEnd, target.start));
}

function preModifier(ctx: CueContext, target: Span): Modifier | null {
  const before = ctx.cues.filter((c) => c.end <= target.start && c.entry.direction !== 'backward' && c.entry.type !== 'pseudo');
  const pseudo = ctx.cues.filter((c) => c.end <= target.start && c.entry.type === 'pseudo');
  if (before.length === 0) return null;
  const nearest = before[before.length - 1] as LexMatch<CueEntry>;
  // A pseudo-cue between the nearest cue and the target hides it ("not only").
  if (pseudo.some((p) => p.start >= nearest.end)) return null;
  if (ctx.words.wordsBetween(nearest.end, target.start) > FORWARD_WINDOW) return null;
  if (!forwardReaches(ctx, nearest, target)) return null;
  const chain: Modifier[] = [nearest.entry.type as Modifier];
  let cur = nearest;
  for (let i = before.length - 2; i >= 0; i--) {
    const prev = before[i] as LexMatch<CueEntry>;
    if (ctx.words.wordsBetween(prev.end, cur.start) > CHAIN_GAP) break;
    if (triggersBetween(ctx, prev.end, cur.start).length > 0) break;
    chain.push(prev.entry.type as Modifier);
    cur = prev;
  }
  return strongest(chain) ?? (chain[0] as Modifier);
}

function levelWordsBetween(ctx: CueContext, a: number, b: number): number {
  let n = 0;
  for (const l of ctx.levels) if (l.start >= a && l.end <= b) n += ctx.words.wordsBetween(l.start, l.end);
  return n;
}

function postModifier(ctx: CueContext, target: Span): Modifier | null {
  for (const c of ctx.cues) {
    if (c.start < target.end || c.entry.direction === 'forward') continue;
    const dist = ctx.words.wordsBetween(target.end, c.start) - levelWordsBetween(ctx, target.end, c.start);
    const window = c.entry.pattern === '\\?' ? 3 : BACKWARD_WINDOW;
    if (dist > window) return null;
    if (c.entry.type === 'pseudo') continue;
    if (c.entry.direction === 'both') {
      if (triggersBetween(ctx, target.end, c.start).length > 0) continue;
      const claimedBy = ctx.triggers.find((t) => t.start >= c.end && ctx.words.wordsBetween(c.end, t.start) <= CLAIM_WINDOW);
      if (claimedBy && claimedBy !== target) continue;
    }
    return c.entry.type as Modifier;
  }
  return null;
}

/** French discontinuous negation around the target: "ne [fume] pas", "n'[est] jamais". */
function frenchNePas(ctx: CueContext, target: Span): boolean {
  const before = ctx.folded.slice(Math.max(0, target.start - 4), target.start);
  if (!/(?:^|[^a-z])n(?:e |')$/.test(before)) return false;
  return /^\s*(?:[a-z\u00df-\u00ff]+\s+){0,2}(?:pas|jamais|plus)(?![a-z])/.test(ctx.folded.slice(target.end, target.end + 40));
}

/** The modifier that governs `target`: strong categories (negation, hypothesis, uncertainty) win. */
export function resolveModifier(ctx: CueContext, target: Span): Modifier {
  if (frenchNePas(ctx, target)) return 'negation';
  const pre = preModifier(ctx, target);
  const post = postModifier(ctx, target);
  const strong = strongest([pre ?? 'none', post ?? 'none']);
  if (strong) return strong;
  return pre ?? post ?? 'none';
}

/** Assertion of a trigger of the given kind under a modifier (before the section is applied). */
export function assertionFor(kind: TriggerKind, mod: Modifier): Assertion {
  switch (kind) {
    case 'fracture':
      switch (mod) {
        case 'negation':
          return 'absent';
        case 'hypothetical':
          return 'hypothetical';
        case 'possible':
          return 'possible';
        case 'historical':
          return 'historical';
        case 'current':
        case 'none':
          return 'present';
        default:
          return mod satisfies never;
      }
    case 'treated':
      if (mod === 'negation') return 'absent';
      if (mod === 'hypothetical') return 'hypothetical';
      return 'historical';
    case 'normal':
      return mod === 'hypothetical' ? 'hypothetical' : 'absent';
    default:
      return kind satisfies never;
  }
}

/**
 * Sections that are not the radiologist's findings: what the referrer affirms (indication, history) or
 * what a prior study showed (comparison) is history; what the referrer asks is hypothetical.
 */
export function applySection(a: Assertion, section: Section): Assertion {
  switch (section) {
    case 'findings':
    case 'impression':
      return a;
    case 'indication':
    case 'history':
    case 'technique':
      if (a === 'present') return 'historical';
      if (a === 'possible') return 'hypothetical';
      return a;
    case 'comparison':
      return a === 'present' ? 'historical' : a;
    default:
      return section satisfies never;
  }
}

export type { TriggerEntry };
