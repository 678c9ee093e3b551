/**
 * Fractures and levels that belong to something other than a vertebral body: ribs, sacrum, pelvis,
 * long bones, posterior elements (transverse/spinous processes), discs, the cord, Schmorl nodes.
 */
import type { Span } from './assertions';
import { getCompiled } from './compiled';
import { distance, within, type Doc } from './doc';
import type { LexMatch, TriggerEntry } from './lexicon';
import type { Group, LevelSpan } from './levels';
import type { Range } from './sections';
import { tokens } from './text';

/** Max words between a trigger and a non-vertebral site before / after it. */
const SITE_BEFORE_WINDOW = 3;
const SITE_AFTER_WINDOW = 6;
const SCHMORL_RE = /schmorl|intraspongieuse|limbus/;
const SCHMORL_WINDOW = 8;
const ENDPLATE_RE = /end ?plate|plateau|enfoncement|depression/;

/**
 * A Schmorl node (hernie intraspongieuse) explains an endplate depression or a vague "fracture" word near
 * it; a full "compression fracture" stays.
 */
export function explainedBySchmorl(doc: Doc, t: LexMatch<TriggerEntry>, clause: Range): boolean {
  if (t.entry.kind !== 'fracture') return false;
  if (t.entry.specific && !ENDPLATE_RE.test(doc.folded.slice(t.start, t.end))) return false;
  return within(doc.sites, clause.start, clause.end).some(
    (s) => SCHMORL_RE.test(doc.folded.slice(s.start, s.end)) && distance(doc.words, t, s) <= SCHMORL_WINDOW,
  );
}

function isFillerGap(gap: string, fillers: Set<string>): boolean {
  const toks = tokens(gap);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as string;
    if (fillers.has(t)) continue;
    if (/^\d{1,2}(?:st|nd|rd|th|e|eme|er|ere|re)?$/.test(t)) continue;
    if (/^(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|premiere?|deuxieme|troisieme|quatrieme|cinquieme|sixieme|septieme|huitieme|neuvieme|dixieme|onzieme|douzieme)$/.test(t)) continue;
    // "and"/"et" only between ordinals: "7th and 8th ribs", "7e et 8e arcs costaux".
    if ((t === 'and' || t === 'et') && i + 1 < toks.length && /^\d{1,2}/.test(toks[i + 1] as string)) continue;
    return false;
  }
  return true;
}

const notWithCache = new Map<string, RegExp>();

/** A trigger whose clause holds one of its `notWith` words ("compression" of a nerve root, of a graft). */
export function contradictedByClause(doc: Doc, t: LexMatch<TriggerEntry>, clause: Range, clauseTriggers: Span[]): boolean {
  const words = t.entry.notWith;
  if (!words) return false;
  // A clause that names the fracture in other words ("compression fracture", "height loss") keeps it.
  if (clauseTriggers.some((o) => o !== t && !(o as LexMatch<TriggerEntry>).entry?.notWith && !(o as LexMatch<TriggerEntry>).entry?.secondary)) return false;
  let re = notWithCache.get(words);
  if (!re) notWithCache.set(words, (re = new RegExp(`(?<![a-z])(?:${words})(?![a-z])`)));
  return re.test(doc.folded.slice(clause.start, clause.end));
}

/** A fracture of a rib, the sacrum, a transverse process... is not a vertebral body fracture. */
export function attributedToOtherSite(doc: Doc, trig: Span, clause: Range, clauseTriggers: Span[], levels: LevelSpan[]): boolean {
  const c = getCompiled();
  const sites = within(doc.sites, clause.start, clause.end);
  for (const s of sites) {
    if (s.end <= trig.start) {
      if (doc.words.wordsBetween(s.end, trig.start) > SITE_BEFORE_WINDOW) continue;
      if (levels.some((l) => l.start >= s.end && l.end <= trig.start)) continue;
      if (clauseTriggers.some((t) => t !== trig && t.start >= s.end && t.end <= trig.start)) continue;
      return true;
    }
    if (s.start >= trig.end) {
      if (doc.words.wordsBetween(trig.end, s.start) > SITE_AFTER_WINDOW) break;
      if (clauseTriggers.some((t) => t !== trig && t.start >= trig.end && t.end <= s.start)) break;
      let gap = doc.folded.slice(trig.end, s.start);
      const levelsBetween = levels.filter((l) => l.start >= trig.end && l.end <= s.start);
      if (levelsBetween.length > 0) {
        // "fracture of the L2 transverse process": a level may sit between only for posterior elements.
        if (!s.entry.posteriorElement) break;
        for (const l of levelsBetween) gap = gap.replace(doc.folded.slice(l.start, l.end), ' ');
      }
      if (isFillerGap(gap, c.fillers)) return true;
      break;
    }
  }
  return false;
}

const BOUND_GAP = new Set([
  'at', 'of', 'in', 'the', 'de', 'du', 'des', 'd', 'en', 'la', 'le', 'l', 'au', 'level', 'niveau', 'a', 'regard', 'adjacent', 'to',
  'compression', 'fracture', 'fractures', 'node', 'nodes', 'bulge', 'herniation', 'hernia', 'hernie', 'protrusion', 'narrowing',
]);

/**
 * Levels that belong to another structure: directly after a non-vertebral site ("Schmorl node at T11",
 * "cord compression at T10", "disc bulge at L4") or directly before a posterior element
 * ("L2 and L3 transverse processes").
 */
export function boundToOtherStructure(doc: Doc, group: Group, clause: Range): boolean {
  const sites = within(doc.sites, clause.start, group.start);
  const before = sites[sites.length - 1];
  if (before && !before.entry.posteriorElement && before.end <= group.start) {
    const gap = tokens(doc.folded.slice(before.end, group.start));
    if (gap.length <= 4 && gap.every((t) => BOUND_GAP.has(t))) return true;
  }
  return boundToPosteriorElement(doc, group, clause);
}

/** Levels directly followed by a posterior element ("L2 and L3 transverse processes") are not bodies. */
function boundToPosteriorElement(doc: Doc, group: Group, clause: Range): boolean {
  const after = within(doc.sites, group.end, clause.end)[0];
  if (!after || !after.entry.posteriorElement) return false;
  const gap = doc.folded.slice(group.end, after.start);
  return doc.words.wordsBetween(group.end, after.start) <= 3 && tokens(gap).every((t) => getCompiled().fillers.has(t) || t === 'and' || t === 'et');
}
