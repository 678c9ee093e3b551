/**
 * Vertebra labelling, counted from up to three anchors: up from the sacrum, down from the last rib-bearing
 * vertebra (T12) and, on chest scans that reach the neck, down from the first rib-bearing vertebra (T1,
 * below a C7 without ribs). S1 is the lowest body the model calls S1, corrected by the sacral alae beside
 * the column (sacrum.ts): the model's S1 class alone is a fragile witness on real CT, where a network trained
 * on phantoms that end at S1 may call L5 or S2 S1-like.
 * When two or more anchors exist and agree the labels are trusted. When they disagree the labels follow the
 * majority (each transitional anomaly — 11 or 13 rib pairs, a sacralised L5, a cervical rib — moves one
 * anchor only), or on a tie the first rib, else the sacrum (see `Anchor`), and every label is flagged
 * `levelUncertain`, as it is when only one anchor exists (partial coverage). Missing bodies inside the
 * column are bridged by counting gaps that are much longer than their neighbours' spacing.
 */
import { SPINE_LEVELS, type SpineLevel } from '../domain/vocabulary';
import { REFERENCE_POSTERIOR_MM } from './grading';

export interface LabelInput {
  /** Patient z (mm) of the body's centre. */
  z: number;
  /** Fraction of the body's pixels the model calls S1 (null: the model has no S1 class). */
  s1Fraction: number | null;
  /** Sacral alae flank this body (null: not assessed, e.g. cut off by the scan's edge). */
  sacral: boolean | null;
  /** Ribs attach at this body's level (null: not assessed, e.g. too close to the scan's edge). */
  ribBearing: boolean | null;
  /** Next to no bone where a rib would run (ribs.ts; null: not assessed). Absent: taken as not known. */
  ribFree?: boolean | null;
  /** Posterior height (mm), for the size fallback. */
  posteriorMm: number | null;
}

/**
 * The anchors. A tie between two that disagree goes to the first in `anchors` below: the first rib, then the
 * sacrum, then the last rib. Lumbosacral transitional vertebrae (a sacralised L5, a lumbarised S1) are
 * common, 11 or 13 rib pairs and hypoplastic 12th ribs less so, a cervical rib rare; and the rib test reads
 * a short 12th rib less surely than the first (the alternate phantom's missed 12th ribs).
 */
type Anchor = 'sacrum' | 'ribs' | 'first-rib';
const ANCHOR_NAMES: Record<Anchor, string> = { sacrum: 'the sacrum', ribs: 'the last rib-bearing vertebra', 'first-rib': 'the first rib-bearing vertebra' };

export interface LabelResult {
  /** Level per input body (same order), null when it falls outside T1–S1. */
  levels: Array<SpineLevel | null>;
  uncertain: boolean;
  /** 'both-agree': two or more anchors agree; one anchor alone; `disagree-<anchor>`: labelled from that one. */
  method: 'both-agree' | Anchor | `disagree-${Anchor}` | 'size';
  notes: string[];
}

const S1 = SPINE_LEVELS.indexOf('S1');
const T12 = SPINE_LEVELS.indexOf('T12');
const T1 = SPINE_LEVELS.indexOf('T1');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Positions (in vertebra steps from the top body) of bodies ordered top to bottom, bridging gaps. */
export function stepPositions(zs: number[]): number[] {
  const d = zs.slice(1).map((z, i) => (zs[i] as number) - z);
  const pos = [0];
  for (let i = 0; i < d.length; i++) {
    // Spacing grows caudally: compare each gap with its neighbours' (not its own) median.
    const around = d.filter((_, k) => k !== i && Math.abs(k - i) <= 3);
    const ref = around.length > 0 ? median(around) : (d[i] as number);
    const steps = Math.max(1, Math.round((d[i] as number) / ref));
    pos.push((pos[i] as number) + (steps >= 2 && (d[i] as number) > 1.6 * ref ? steps : 1));
  }
  return pos;
}

/** More of `bodies` were found rib-bearing (`bearing` true) or without ribs (false) than the other way; not-assessed ones do not count. */
function mostly(bodies: LabelInput[], bearing: boolean): boolean {
  return bodies.filter((b) => b.ribBearing === bearing).length > bodies.filter((b) => b.ribBearing === !bearing).length;
}

/** Bodies must be ordered top (superior) to bottom. */
export function assignLevels(bodies: LabelInput[]): LabelResult {
  const n = bodies.length;
  const notes: string[] = [];
  if (n === 0) return { levels: [], uncertain: true, method: 'size', notes: ['no vertebral bodies found'] };
  const pos = stepPositions(bodies.map((b) => b.z));
  if ((pos[n - 1] as number) !== n - 1) notes.push(`${(pos[n - 1] as number) - (n - 1)} vertebra(e) missing inside the column were bridged`);
  // Rib anchor: the last rib-bearing body that has a body without ribs below it, when the bodies below it
  // are mostly without ribs. One rib missed beside a thoracic body (thick slices, a crop) is no
  // thoracolumbar transition; bone beside a sacral segment or an iliac crest beside L5 does not undo one.
  let ribIndex: number | null = null;
  for (let i = n - 2; i >= 0 && ribIndex === null; i--) {
    if ((bodies[i] as LabelInput).ribBearing !== true || (bodies[i + 1] as LabelInput).ribBearing !== false) continue;
    const below = bodies.slice(i + 1);
    if (mostly(below, false)) ribIndex = i;
  }
  const ribOffset = ribIndex === null ? null : T12 - (pos[ribIndex] as number);
  // First-rib anchor: the topmost rib-bearing body is T1 when the body above it has next to no bone where a
  // rib would run (C7), no body above that has rib bone, and ribs go on below it. No body above (a crop),
  // one not assessed, or one with a rib the test did not accept is no anchor: a rib missed beside an upper
  // thoracic body at the top of a crop would otherwise pass for C7. With the last rib in view too, T1 to
  // T12 must span 11–13 bodies (transitional anatomy moves one anchor by one level, not more): a body
  // misplaced off a scoliotic column once read rib-free six levels below the top of a chest.
  const top = bodies.findIndex((b) => b.ribBearing === true);
  let firstRibOffset: number | null = null;
  if (top >= 1 && (bodies[top - 1] as LabelInput).ribFree === true && bodies.slice(0, top).every((b) => b.ribFree !== false)) {
    const below = bodies.slice(top, top + 6);
    const span = ribIndex === null ? null : (pos[ribIndex] as number) - (pos[top] as number) + 1;
    if (span !== null && (span < 11 || span > 13)) notes.push(`the first and last rib-bearing vertebrae are ${span} bodies apart: the first rib is not used as an anchor`);
    else if (mostly(below, true)) firstRibOffset = T1 - (pos[top] as number);
  }
  // Sacrum anchor. The model calls a body S1 when most of it is S1-like; it may call L5 or S2 S1-like too,
  // so its S1 is the lowest such body. The alae (sacrum.ts) then decide between it and its neighbours: S1
  // is the lowest body with alae below one without, if it lies below the last rib-bearing body (ribs
  // beside a thoracic body can pass for alae) and, when the model has an S1 class, within one body of
  // one it calls at least partly S1 (enhanced kidneys beside L1–L2 can pass for alae too).
  const s1Like = (i: number, min: number): boolean => ((bodies[i] as LabelInput).s1Fraction ?? 0) > min;
  let modelS1: number | null = null;
  for (let i = n - 1; i >= 0 && modelS1 === null; i--) if (s1Like(i, 0.5)) modelS1 = i;
  const hasS1Class = bodies.some((b) => b.s1Fraction !== null);
  let s1Index: number | null = null;
  for (let i = n - 1; i >= 1 && s1Index === null && (ribIndex === null || i > ribIndex); i--) {
    const alae = (bodies[i] as LabelInput).sacral === true && (bodies[i - 1] as LabelInput).sacral === false;
    if (alae && (!hasS1Class || [i - 1, i, i + 1].some((j) => j >= 0 && j < n && s1Like(j, 0.25)))) s1Index = i;
  }
  if (s1Index !== null && modelS1 !== null && modelS1 !== s1Index) {
    notes.push(`the model's S1 is ${Math.abs(modelS1 - s1Index)} body(ies) ${modelS1 > s1Index ? 'below' : 'above'} the body where the sacral alae begin; S1 taken from the alae`);
  }
  s1Index ??= modelS1;
  let sacrumOffset: number | null = null;
  if (s1Index !== null) {
    sacrumOffset = S1 - (pos[s1Index] as number);
    if (s1Index < n - 1) notes.push(`${n - 1 - s1Index} body(ies) below S1 (sacral segments) not labelled`);
  }
  let offset: number;
  let method: LabelResult['method'];
  let uncertain = true;
  const anchors = (
    [
      ['first-rib', firstRibOffset],
      ['sacrum', sacrumOffset],
      ['ribs', ribOffset],
    ] as Array<[Anchor, number | null]>
  ).filter((a): a is [Anchor, number] => a[1] !== null);
  if (anchors.length > 0) {
    // The offset most anchors give; a tie goes to the first listed.
    const votes = (off: number): number => anchors.filter(([, o]) => o === off).length;
    const [from, chosen] = anchors.reduce((best, a) => (votes(a[1]) > votes(best[1]) ? a : best));
    offset = chosen;
    if (anchors.length === 1) {
      method = from;
      notes.push(
        from === 'sacrum'
          ? 'no transition from rib-bearing to lumbar vertebrae seen: labelled from the sacrum only'
          : from === 'ribs'
            ? 'sacrum not seen: labelled from the last rib-bearing vertebra only'
            : 'neither sacrum nor last rib-bearing vertebra seen: labelled from the first rib-bearing vertebra (T1) only',
      );
    } else if (votes(chosen) === anchors.length) {
      method = 'both-agree';
      uncertain = false;
    } else {
      method = `disagree-${from}`;
      const others = anchors.filter(([, o]) => o !== chosen).map(([a, o]) => `${ANCHOR_NAMES[a]} by ${Math.abs(o - chosen)} level(s)`);
      notes.push(`counting from ${anchors.filter(([, o]) => o === chosen).map(([a]) => ANCHOR_NAMES[a]).join(' and ')} disagrees with ${others.join(' and ')}; labelled from ${ANCHOR_NAMES[from]}${votes(chosen) > 1 ? ' (the majority)' : ''}`);
    }
  } else {
    // No anchor: the offset whose reference heights best match the measured posterior heights, among
    // those that keep every rib-bearing body thoracic (a chest scan's column bears ribs from top to bottom:
    // sizes alone, on thick slices, once counted it as L1–L5).
    method = 'size';
    uncertain = true;
    notes.push('no anchor seen (the sacrum, the last or the first rib-bearing vertebra): levels estimated from body sizes');
    let best = 0;
    let bestErr = Infinity;
    const span = pos[n - 1] as number;
    const ribsFit = (off: number): boolean => bodies.every((b, i) => b.ribBearing !== true || off + (pos[i] as number) <= T12);
    const anyFits = Array.from({ length: Math.max(0, S1 - span + 1) }, (_, off) => off).some(ribsFit);
    if (bodies.some((b) => b.ribBearing === true)) notes.push(anyFits ? 'rib-bearing bodies kept thoracic' : 'rib-bearing bodies span more than twelve levels: ribs ignored');
    for (let off = 0; off + span <= S1; off++) {
      if (anyFits && !ribsFit(off)) continue;
      let err = 0;
      let k = 0;
      bodies.forEach((b, i) => {
        if (!b.posteriorMm) return;
        const ref = REFERENCE_POSTERIOR_MM[SPINE_LEVELS[off + (pos[i] as number)] as SpineLevel];
        err += Math.log(b.posteriorMm / ref) ** 2;
        k++;
      });
      // Sizes fix the scale only loosely; compare shapes by removing the mean log ratio.
      if (k > 0 && err / k < bestErr) {
        bestErr = err / k;
        best = off;
      }
    }
    offset = best;
  }
  const levels = bodies.map((_, i) => {
    const idx = offset + (pos[i] as number);
    return idx >= 0 && idx < SPINE_LEVELS.length ? (SPINE_LEVELS[idx] as SpineLevel) : null;
  });
  return { levels, uncertain, method, notes };
}
