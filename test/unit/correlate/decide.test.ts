import { decideFracture, emitsOutputs, isLevelReported } from '../../../src/correlate/decide';
import type { ReportAnalysis } from '../../../src/report/types';
import { levelsOfRegion } from '../../../src/domain/vocabulary';
import { analyzeReport } from '../../../src/report';
import { fracture } from '../../helpers/correlation';

const report = (
  reportedLevels: ReportAnalysis['reportedLevels'],
  reportedRegions: ReportAnalysis['reportedRegions'] = [],
  regionLevels: ReportAnalysis['regionLevels'] = reportedRegions.flatMap(levelsOfRegion),
): ReportAnalysis => ({
  language: 'en',
  mentions: [],
  reportedLevels,
  reportedRegions,
  regionLevels,
});

describe('a region mention covers the levels its words cover (issue 15)', () => {
  it.each([
    ['Mild midthoracic compression fracture.', { T6: true, T12: false, L1: false }],
    ['Compression fracture at the thoracolumbar junction.', { T10: false, T11: true, L2: true, L3: false }],
    ['Tassement de la charnière thoraco-lombaire.', { T11: true, L1: true, L4: false }],
    ['Multiple thoracic compression fractures.', { T1: true, T12: true, L1: false }],
    ['Tassements dorsaux moyens.', { T5: true, T9: false }],
  ] as const)('%s', (text, expected) => {
    const a = analyzeReport(text);
    for (const [level, reported] of Object.entries(expected)) expect([level, isLevelReported(a, level as 'T1')]).toEqual([level, reported]);
  });

  it('an analysis stored before regionLevels existed falls back to whole regions', () => {
    const old = { reportedLevels: [], reportedRegions: ['thoracic' as const] };
    expect(isLevelReported(old, 'T12')).toBe(true);
    expect(isLevelReported(old, 'L1')).toBe(false);
  });
});

describe('the decision per detected fracture', () => {
  it('follows the CONTRACT rule: the level, or its region named without a level; a bare "spine" covers no level', () => {
    expect(decideFracture(fracture('T12', 2), report(['T12']), false)).toMatchObject({ reported: true, reason: 'level-mentioned' });
    expect(decideFracture(fracture('T9', 2), report([], ['thoracic']), false)).toMatchObject({ reported: true, reason: 'region-mentioned' });
    expect(decideFracture(fracture('L2', 2), report([], ['spine']), false)).toMatchObject({ reported: false, reason: 'not-mentioned' });
    expect(isLevelReported(report([], ['lumbar']), 'L2')).toBe(true);
  });

  it('an uncertain level counts as reported one level away, never two', () => {
    expect(decideFracture(fracture('T11', 2, ['levelUncertain']), report(['T12']), false)).toMatchObject({ reported: true, reason: 'adjacent-level-mentioned', levelText: 'T11 or adjacent' });
    expect(decideFracture(fracture('T10', 2, ['levelUncertain']), report(['T12']), false)).toMatchObject({ reported: false, reason: 'not-mentioned' });
    expect(decideFracture(fracture('T11', 2), report(['T12']), false)).toMatchObject({ reported: false });
  });

  it('an unanchored level (a count from body sizes) counts as reported by any vertebral fracture mention, and says the level is not determined', () => {
    const unanchored = fracture('L4', 2, ['levelUncertain', 'levelUnanchored']);
    expect(decideFracture(unanchored, report(['T8']), false)).toMatchObject({ reported: true, reason: 'unanchored-level-fracture-mentioned', levelUnanchored: true });
    expect(decideFracture(unanchored, report([], ['thoracic']), false)).toMatchObject({ reported: true });
    const alone = decideFracture(unanchored, report([]), false);
    expect(alone).toMatchObject({ reported: false, reason: 'not-mentioned', levelText: 'vertebra ≈L4 (level not determined)' });
    expect(emitsOutputs(alone)).toBe(true);
  });

  it('writes outputs only for a demonstrated, unmentioned fracture of a report that stands', () => {
    expect(emitsOutputs(decideFracture(fracture('L1', 1, ['insufficientEvidence']), report([]), false))).toBe(false);
    expect(decideFracture(fracture('L1', 1, ['insufficientEvidence']), report(['L1']), false)).toMatchObject({ reported: true, reason: 'level-mentioned' });
    expect(emitsOutputs(decideFracture(fracture('L1', 3), report([]), true))).toBe(false);
    expect(emitsOutputs(decideFracture(fracture('L1', 3), report([]), false))).toBe(true);
  });
});
