import { SPINE_LEVELS } from '../../../src/domain/vocabulary';
import { assignLevels, stepPositions, type LabelInput } from '../../../src/inference/labelling';

/** Bodies T1–S1 (or a slice of them), top first, with phantom-like spacing, ribs on T1–T12 and alae beside S1. */
function column(from = 0, to = 17, over: (i: number, b: LabelInput) => LabelInput = (_i, b) => b): LabelInput[] {
  const out: LabelInput[] = [];
  let z = 250;
  for (let i = 0; i <= 17; i++) {
    const hp = 14.5 + i * 0.8;
    if (i >= from && i <= to) out.push(over(i, { z, s1Fraction: i === 17 ? 0.9 : 0, sacral: i === 17, ribBearing: i <= 11, posteriorMm: hp }));
    z -= hp + 4 + i * 0.35;
  }
  return out;
}

describe('vertebra labelling', () => {
  it('sacrum and last rib-bearing vertebra agree: labels T1–S1, not uncertain', () => {
    const r = assignLevels(column());
    expect(r.levels).toEqual([...SPINE_LEVELS]);
    expect(r).toMatchObject({ uncertain: false, method: 'both-agree' });
  });

  it('a missing body inside the column is bridged by the long gap', () => {
    const bodies = column().filter((_, i) => i !== 8);
    expect(stepPositions(bodies.map((b) => b.z))[8]).toBe(9);
    const r = assignLevels(bodies);
    expect(r.levels[8]).toBe('T10');
    expect(r.uncertain).toBe(false);
  });

  it('disagreement (a lumbar rib on L1) labels from the sacrum and flags every level uncertain', () => {
    const r = assignLevels(column(0, 17, (i, b) => ({ ...b, ribBearing: i <= 12 })));
    expect(r.levels[12]).toBe('L1');
    expect(r).toMatchObject({ uncertain: true, method: 'disagree-sacrum' });
  });

  it('sacral segments below S1 get no level; an S1-like L5 above it does not move the count', () => {
    const bodies = column(0, 17, (i, b) => ({ ...b, s1Fraction: i >= 16 ? 0.9 : 0 }));
    bodies.push({ z: (bodies[17] as LabelInput).z - 30, s1Fraction: 0, sacral: true, ribBearing: null, posteriorMm: 12 });
    const r = assignLevels(bodies);
    expect(r.levels.slice(15)).toEqual(['L4', 'L5', 'S1', null]);
    expect(r.method).toBe('both-agree');
  });

  it('a model that calls S2 S1-like: the alae put S1 on the first sacral body, and say so', () => {
    const bodies = column(0, 17, (i, b) => ({ ...b, s1Fraction: i === 17 ? 0.4 : 0 }));
    bodies.push({ z: (bodies[17] as LabelInput).z - 30, s1Fraction: 0.6, sacral: true, ribBearing: null, posteriorMm: 12 });
    const r = assignLevels(bodies);
    expect(r.levels.slice(16)).toEqual(['L5', 'S1', null]);
    expect(r.method).toBe('both-agree');
    expect(r.notes).toContain("the model's S1 is 1 body(ies) below the body where the sacral alae begin; S1 taken from the alae");
  });

  it('a model without an S1 class still gets a sacrum anchor from the alae', () => {
    const r = assignLevels(column(13, 17, (_i, b) => ({ ...b, s1Fraction: null })));
    expect(r.levels).toEqual(['L2', 'L3', 'L4', 'L5', 'S1']);
    expect(r.method).toBe('sacrum');
  });

  it("alae not assessed (the sacrum cut off): the model's S1 anchors the count", () => {
    const r = assignLevels(column(0, 17, (_i, b) => ({ ...b, sacral: null })));
    expect(r.levels).toEqual([...SPINE_LEVELS]);
    expect(r.method).toBe('both-agree');
  });

  it('a sacralised L5 (alae beside it) counts one level off from the sacrum: disagreement with the ribs, uncertain', () => {
    const r = assignLevels(column(0, 17, (i, b) => ({ ...b, sacral: i >= 16 })));
    expect(r).toMatchObject({ uncertain: true, method: 'disagree-sacrum' });
    expect(r.levels[16]).toBe('S1');
  });

  it('ribs that pass for alae beside a thoracic body do not make it the sacrum (a model without an S1 class)', () => {
    const r = assignLevels(column(0, 14, (i, b) => ({ ...b, s1Fraction: null, sacral: i === 6 })));
    expect(r.levels).toEqual(SPINE_LEVELS.slice(0, 15));
    expect(r.method).toBe('ribs');
  });

  it('enhanced kidneys that pass for alae beside L2, sacrum cut off: not the sacrum, nothing there is S1-like', () => {
    const r = assignLevels(column(6, 16, (i, b) => ({ ...b, sacral: i === 13 })));
    expect(r.levels).toEqual(SPINE_LEVELS.slice(6, 17));
    expect(r.method).toBe('ribs');
  });

  it('partial coverage without the sacrum counts from T12, uncertain', () => {
    const r = assignLevels(column(6, 14));
    expect(r.levels).toEqual(SPINE_LEVELS.slice(6, 15));
    expect(r).toMatchObject({ uncertain: true, method: 'ribs' });
  });

  it('lumbar-only coverage counts from the sacrum, uncertain', () => {
    const r = assignLevels(column(13, 17));
    expect(r.levels).toEqual(['L2', 'L3', 'L4', 'L5', 'S1']);
    expect(r).toMatchObject({ uncertain: true, method: 'sacrum' });
  });

  it('no anchor: sizes choose the offset, uncertain', () => {
    const r = assignLevels(column(3, 9, (_i, b) => ({ ...b, ribBearing: null })));
    expect(r).toMatchObject({ uncertain: true, method: 'size' });
    expect(r.levels[0]).toBe('T4');
  });

  it('a chest scan that reaches the neck counts from the first rib: C7 above T1 bears none, flagged (one anchor)', () => {
    // C6 cut by the top of the scan (not assessed), C7 rib-free, T1–T12 rib-bearing, L1 cut at the bottom.
    const c7 = { z: 272, s1Fraction: 0, sacral: false, ribBearing: false, ribFree: true, posteriorMm: 14 };
    const c6 = { ...c7, z: 290, ribBearing: null, ribFree: null };
    const chest = column(0, 12, (i, b) => ({ ...b, ribBearing: i <= 11 ? true : null, ribFree: i <= 11 ? false : null }));
    const r = assignLevels([c6, c7, ...chest]);
    expect(r.levels).toEqual([null, null, ...SPINE_LEVELS.slice(0, 13)]);
    expect(r).toMatchObject({ uncertain: true, method: 'first-rib' });
    // Without a rib-free body above the first rib-bearing one there is no anchor: sizes decide.
    expect(assignLevels(chest).method).toBe('size');
  });

  it('a rib missed at the top of a crop is no C7: bone where the rib runs keeps it from being an anchor', () => {
    // A crop from T3: T3's rib is missed (not accepted, but hundreds of mm³ of bone), T4–T11 bear ribs.
    const crop = column(2, 10, (i, b) => ({ ...b, ribBearing: i !== 2, ribFree: false }));
    expect(assignLevels(crop).method).toBe('size');
  });

  it('a rib-free body below a body with rib bone, or eight levels above the last rib, is no C7', () => {
    // A scoliotic chest (T3–T11): T3's rib is not accepted (but there is rib bone), and T4, misplaced off
    // the column, reads rib-free. Without the rib bone above it, T4 would pass for C7 and T5 for T1.
    const chest = column(2, 10, (i, b) => ({ ...b, ribBearing: i >= 4, ribFree: i === 3 }));
    expect(assignLevels(chest).method).toBe('size');
    // T4 at the top of a T4–L1 scan: it passes for C7, but T1 to T12 would then span 8 bodies.
    const r = assignLevels(column(3, 12, (i, b) => ({ ...b, ribBearing: i >= 4 && i <= 11, ribFree: i === 3 || i > 11 })));
    expect(r.method).toBe('ribs');
    expect(r.levels).toEqual(SPINE_LEVELS.slice(3, 13));
    expect(r.notes).toContain('the first and last rib-bearing vertebrae are 8 bodies apart: the first rib is not used as an anchor');
  });

  it('three anchors: the majority labels, and a lone dissenter flags (a sacralised L5 read as S1)', () => {
    const c7 = { z: 272, s1Fraction: 0, sacral: false, ribBearing: false, ribFree: true, posteriorMm: 14 };
    // The alae begin at L5 (sacralised): the sacrum counts one level off, both rib anchors agree.
    const whole = column(0, 17, (i, b) => ({ ...b, sacral: i >= 16, s1Fraction: i >= 16 ? 0.6 : 0, ribFree: i > 11 }));
    const r = assignLevels([c7, ...whole]);
    expect(r.levels).toEqual([null, ...SPINE_LEVELS]);
    expect(r).toMatchObject({ uncertain: true, method: 'disagree-first-rib' });
    expect(r.notes).toContain(
      'counting from the first rib-bearing vertebra and the last rib-bearing vertebra disagrees with the sacrum by 1 level(s); labelled from the first rib-bearing vertebra (the majority)',
    );
    // Two anchors that disagree (the 12th rib missed, no sacrum in view): the first rib wins the tie.
    const chest = [c7, ...column(0, 14, (i, b) => ({ ...b, ribBearing: i <= 10, ribFree: i > 11 }))];
    const tie = assignLevels(chest);
    expect(tie).toMatchObject({ uncertain: true, method: 'disagree-first-rib' });
    expect(tie.levels).toEqual([null, ...SPINE_LEVELS.slice(0, 15)]);
    // All three agree: trusted.
    const agree = assignLevels([c7, ...column(0, 17, (i, b) => ({ ...b, ribFree: i > 11 }))]);
    expect(agree).toMatchObject({ uncertain: false, method: 'both-agree' });
    expect(agree.levels).toEqual([null, ...SPINE_LEVELS]);
  });

  it('one rib missed beside a thoracic body is no thoracolumbar transition: ribs further down keep the count off T12', () => {
    // A chest scan (T3–T11) on thick slices: the rib test misses T6's ribs.
    const bodies = column(2, 10, (i, b) => ({ ...b, ribBearing: i !== 5 }));
    const r = assignLevels(bodies);
    expect(r.method).toBe('size');
    // Every rib-bearing body stays thoracic, whatever the sizes say.
    const lumbarSized = bodies.map((b) => ({ ...b, posteriorMm: 27 }));
    const sized = assignLevels(lumbarSized);
    expect(sized.levels.every((l) => l !== null && l.startsWith('T'))).toBe(true);
    expect(sized.notes).toContain('rib-bearing bodies kept thoracic');
    // Without the ribs, lumbar-sized bodies are counted lumbar.
    expect(assignLevels(lumbarSized.map((b) => ({ ...b, ribBearing: null }))).levels.at(-1)).toBe('S1');
  });
});
