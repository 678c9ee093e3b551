import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { analyzeReport } from '../../../src/report';
import { loadCorpus, scoreCorpus } from '../../corpus/report/score';

describe('8. labelled corpus', () => {
  const items = loadCorpus();

  it('has at least 300 items, at least 100 per language, and a held-out split', () => {
    expect(items.length).toBeGreaterThanOrEqual(300);
    expect(items.filter((i) => i.language === 'en').length).toBeGreaterThanOrEqual(100);
    expect(items.filter((i) => i.language === 'fr').length).toBeGreaterThanOrEqual(100);
    const held = items.filter((i) => i.split === 'heldout').length;
    expect(held / items.length).toBeGreaterThan(0.1);
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
  });

  it('reported/not-reported decision accuracy per (report, level) is >= 0.97 (same scorer as bench:nlp)', () => {
    const score = scoreCorpus(items, (t, l) => analyzeReport(t, { language: l }));
    expect(score.decision.accuracy).toBeGreaterThanOrEqual(0.97);
  });
});

const NEGEX = resolve(__dirname, '../../../../shared/fixtures/nlp/negex/rsAnnotations-1-120-random.txt');
const describeFixture = existsSync(NEGEX) ? describe : describe.skip;
if (!existsSync(NEGEX)) console.warn(`skipping NegEx conformance: ${NEGEX} not found`);

describeFixture('NegEx annotated fracture sentences (../shared/fixtures)', () => {
  it('reports none of the non-vertebral fractures as vertebral', () => {
    const rows = readFileSync(NEGEX, 'utf8')
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((c) => c.length >= 5 && /fractur/i.test(c[1] ?? ''));
    expect(rows.length).toBeGreaterThan(10);
    for (const c of rows) {
      const r = analyzeReport(c[2] as string, { language: 'en' });
      expect({ sentence: c[2], levels: r.reportedLevels, regions: r.reportedRegions }).toEqual({ sentence: c[2], levels: [], regions: [] });
    }
  });
});
