import { decideFracture, emitsOutputs, isLevelReported } from '../../../src/correlate/decide';
import type { ReportAnalysis } from '../../../src/report/types';
import { fracture } from '../../helpers/correlation';

const report = (reportedLevels: ReportAnalysis['reportedLevels'], reportedRegions: ReportAnalysis['reportedRegions'] = []): ReportAnalysis => ({
  language: 'en',
  mentions: [],
  reportedLevels,
  reportedRegions,
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
