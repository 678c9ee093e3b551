import {
  GRADES,
  isSpineLevel,
  isVertebralLevel,
  levelDistance,
  levelIndex,
  MORPHOLOGIES,
  REPORTED_REGIONS,
  regionOfLevel,
  SPINE_LEVELS,
  spineLevelIndex,
  VERTEBRA_FLAGS,
  VERTEBRAL_LEVELS,
  type VertebralLevel,
} from '../../../src/domain/vocabulary';

describe('domain vocabulary', () => {
  it('lists the 25 levels in cranio-caudal order, C1 first', () => {
    expect(VERTEBRAL_LEVELS).toHaveLength(25);
    expect(VERTEBRAL_LEVELS.slice(0, 8)).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'T1']);
    expect(VERTEBRAL_LEVELS.slice(-7)).toEqual(['T12', 'L1', 'L2', 'L3', 'L4', 'L5', 'S1']);
    expect(new Set(VERTEBRAL_LEVELS).size).toBe(VERTEBRAL_LEVELS.length);
    VERTEBRAL_LEVELS.forEach((level, i) => expect(levelIndex(level)).toBe(i));
    expect(levelIndex('C1')).toBe(0);
    expect(levelIndex('T1')).toBe(7);
    expect(levelIndex('S1')).toBe(24);
  });

  it('SPINE_LEVELS is the contiguous T1–S1 slice of VERTEBRAL_LEVELS', () => {
    const start = levelIndex('T1');
    expect(VERTEBRAL_LEVELS.slice(start, start + SPINE_LEVELS.length)).toEqual([...SPINE_LEVELS]);
    expect(SPINE_LEVELS[0]).toBe('T1');
    expect(SPINE_LEVELS[SPINE_LEVELS.length - 1]).toBe('S1');
    expect(SPINE_LEVELS).toHaveLength(18);
    SPINE_LEVELS.forEach((level, i) => {
      expect(spineLevelIndex(level)).toBe(i);
      expect(levelIndex(level)).toBe(start + i);
    });
  });

  it('recognises levels', () => {
    expect(isVertebralLevel('C7')).toBe(true);
    expect(isVertebralLevel('S1')).toBe(true);
    expect(isVertebralLevel('S2')).toBe(false);
    expect(isVertebralLevel('t12')).toBe(false);
    expect(isSpineLevel('T1')).toBe(true);
    expect(isSpineLevel('C7')).toBe(false);
  });

  it('maps each level to its region', () => {
    const expected = (l: VertebralLevel): string =>
      ({ C: 'cervical', T: 'thoracic', L: 'lumbar', S: 'sacral' })[l[0] as 'C' | 'T' | 'L' | 'S'];
    for (const level of VERTEBRAL_LEVELS) expect(regionOfLevel(level)).toBe(expected(level));
    expect(regionOfLevel('C7')).toBe('cervical');
    expect(regionOfLevel('T12')).toBe('thoracic');
    expect(regionOfLevel('L1')).toBe('lumbar');
    expect(regionOfLevel('S1')).toBe('sacral');
    expect(REPORTED_REGIONS).toEqual(['cervical', 'thoracic', 'lumbar', 'spine']);
    expect(REPORTED_REGIONS).not.toContain('sacral');
  });

  it('counts vertebrae between levels, symmetrically, across region borders', () => {
    expect(levelDistance('T12', 'T12')).toBe(0);
    expect(levelDistance('T12', 'L1')).toBe(1);
    expect(levelDistance('L1', 'T12')).toBe(1);
    expect(levelDistance('C7', 'T1')).toBe(1);
    expect(levelDistance('L5', 'S1')).toBe(1);
    expect(levelDistance('T11', 'L2')).toBe(3);
    expect(levelDistance('C1', 'S1')).toBe(24);
  });

  it('grades, morphologies and flags', () => {
    expect(GRADES).toEqual([0, 1, 2, 3]);
    expect(MORPHOLOGIES).toEqual(['wedge', 'biconcave', 'crush']);
    expect(VERTEBRA_FLAGS).toEqual(['sclerotic', 'lytic', 'scoliosis', 'levelUncertain', 'partialCoverage', 'insufficientEvidence', 'levelUnanchored']);
  });
});
