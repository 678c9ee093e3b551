import { adjacentHeight, expectedPosteriorHeight, genantGrade, gradeForLoss } from '../../../src/inference/grading';

describe('Genant grading (CLINICAL.md)', () => {
  it('maps height reduction to grades at 20/25/40%', () => {
    expect([0.1, 0.199, 0.2, 0.25, 0.26, 0.4, 0.41].map(gradeForLoss)).toEqual([0, 0, 1, 1, 2, 2, 3]);
  });

  it('normal thoracic proportions are grade 0 with no morphology', () => {
    const g = genantGrade({ anterior: 18.8, middle: 19.2, posterior: 20 }, 20);
    expect(g).toMatchObject({ grade: 0, morphology: null });
    expect(g.heightLossPercent).toBeCloseTo(6, 0);
  });

  it('wedge: anterior vs posterior of the same body', () => {
    expect(genantGrade({ anterior: 16, middle: 20, posterior: 24 }, 24)).toMatchObject({ grade: 2, morphology: 'wedge', heightLossPercent: 33.3 });
  });

  it('biconcave: middle vs posterior', () => {
    expect(genantGrade({ anterior: 24, middle: 13, posterior: 25 }, 25)).toMatchObject({ grade: 3, morphology: 'biconcave', heightLossPercent: 48 });
  });

  it('crush: posterior vs the expected height from the neighbours; without neighbours no crush call', () => {
    expect(genantGrade({ anterior: 16, middle: 15.5, posterior: 16.5 }, 25)).toMatchObject({ grade: 2, morphology: 'crush', heightLossPercent: 34 });
    expect(genantGrade({ anterior: 16, middle: 15.5, posterior: 16.5 }, null)).toMatchObject({ grade: 0 });
  });

  it('margin is small next to a grade boundary', () => {
    expect(genantGrade({ anterior: 19.9, middle: 24, posterior: 25 }, 25).margin).toBeLessThan(0.2);
    expect(genantGrade({ anterior: 16, middle: 24, posterior: 24 }, 24).margin).toBe(1);
  });

  it('expected posterior height: median of normal neighbours scaled by the caudal growth, fractured neighbours ignored', () => {
    const n = (level: 'T11' | 'T12' | 'L1' | 'L2' | 'L3', hp: number, ha = hp) => ({ level, heights: { anterior: ha, middle: hp, posterior: hp }, usable: true });
    const items = [n('T11', 22), n('T12', 23), n('L1', 16), n('L2', 25.5), n('L3', 26.5)];
    expect(expectedPosteriorHeight(items, 2)).toBeCloseTo(24.5, 1);
    // A wedge-fractured neighbour does not count.
    items[1] = n('T12', 23, 15);
    expect(expectedPosteriorHeight(items, 2)).toBeCloseTo(24.5, 1);
    expect(expectedPosteriorHeight([n('L1', 16)], 0)).toBeNull();
  });

  it('adjacent height: the taller neighbour, scaled to the level; a neighbour measured as fractured is no comparator', () => {
    const n = (level: 'L4' | 'L5' | 'S1', ha: number, hp: number, fractured = false) => ({ level, heights: { anterior: ha, middle: hp, posterior: hp }, usable: true, fractured });
    // L5 between L4 and S1 (26 mm reference against L5's 27.5).
    const items = [n('L4', 26, 27.5), n('L5', 19.7, 26.7), n('S1', 24, 26)];
    expect(adjacentHeight(items, 1, 'anterior')).toBeCloseTo(26, 5);
    expect(adjacentHeight([{ ...items[0]!, fractured: true }, items[1]!, items[2]!], 1, 'anterior')).toBeCloseTo((24 * 27.5) / 26, 5);
    // L4 crushed and S1 cut by the scan: nothing to compare with.
    expect(adjacentHeight([n('L4', 15, 14.9, true), items[1]!, { ...items[2]!, usable: false }], 1, 'anterior')).toBeNull();
  });
});
