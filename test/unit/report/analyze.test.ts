import { levelIndex } from '../../../src/domain/vocabulary';
import { isLevelReported } from '../../../src/correlate/decide';
import { analyzeReport } from '../../../src/report';
import { analyse, summary } from './helpers';

describe('1. analyzeReport returns the CONTRACT shape', () => {
  it('has exactly the contract keys, with evidence offsets into the original text', () => {
    const text = 'FINDINGS:\nWedge compression fracture of T12 with approximately 30% anterior height loss.';
    const r = analyzeReport(text);
    // CONTRACT keys, plus regionLevels (README, contract additions of issue 15).
    expect(Object.keys(r).sort()).toEqual(['language', 'mentions', 'regionLevels', 'reportedLevels', 'reportedRegions']);
    expect(r.mentions).toHaveLength(1);
    const m = r.mentions[0]!;
    expect(Object.keys(m).sort()).toEqual(
      ['assertion', 'evidence', 'grade', 'heightLossPercent', 'level', 'morphology', 'region', 'regionLevels', 'section'].sort(),
    );
    expect(m).toMatchObject({ level: 'T12', region: 'thoracic', assertion: 'present', grade: 2, morphology: 'wedge', heightLossPercent: 30, section: 'findings' });
    expect(text.slice(m.evidence.start, m.evidence.end)).toBe(m.evidence.text);
    expect(m.evidence.text).toContain('T12');
    expect(r.reportedLevels).toEqual(['T12']);
    expect(r.reportedRegions).toEqual([]);
  });

  it('keeps offsets right with accents, CRLF and tabs', () => {
    const text = 'RÉSULTATS :\r\n\tTassement cunéiforme de D12 (30 %).\r\n';
    const m = analyzeReport(text).mentions[0]!;
    expect(text.slice(m.evidence.start, m.evidence.end)).toBe('Tassement cunéiforme de D12 (30 %).');
  });

  it('sorts reportedLevels anatomically and de-duplicates', () => {
    const r = analyse('Compression fractures of L2 and T8. Known L2 compression fracture. Wedging of C6.');
    expect(r.reportedLevels).toEqual(['C6', 'T8', 'L2']);
    expect([...r.reportedLevels].sort((a, b) => levelIndex(a) - levelIndex(b))).toEqual(r.reportedLevels);
  });

  it('one mention per level per sentence', () => {
    const r = analyse('Compression fracture of L1 with 30% height loss of L1.');
    expect(r.mentions.filter((m) => m.level === 'L1')).toHaveLength(1);
  });

  it('a level both absent and present in different sentences is reported', () => {
    const r = analyse('No fracture of L1. Addendum: on review, mild compression fracture of L1.');
    expect(summary('No fracture of L1. Addendum: on review, mild compression fracture of L1.')).toBe('L1:absent L1:present');
    expect(r.reportedLevels).toEqual(['L1']);
  });

  it('isLevelReported follows the contract (level, or its region; "spine" does not cover a level)', () => {
    expect(isLevelReported(analyse('Multiple thoracic compression fractures.'), 'T9')).toBe(true);
    expect(isLevelReported(analyse('Multiple thoracic compression fractures.'), 'L2')).toBe(false);
    expect(isLevelReported(analyse('Multiple vertebral compression fractures.'), 'L2')).toBe(false);
    expect(analyse('Multiple vertebral compression fractures.').reportedRegions).toEqual(['spine']);
  });
});

describe('2. language detection', () => {
  it.each([
    ['Mild compression deformity of the L1 vertebral body.', 'en'],
    ['Tassement cunéiforme de L1 avec perte de hauteur antérieure.', 'fr'],
    ['Tassement cuneiforme de L1 sans recul du mur posterieur.', 'fr'],
    ['Pincement discal L5-S1.', 'fr'],
    ['INDICATION: Metastatic breast cancer, known T8 fracture, restaging.', 'en'],
    ['', 'en'],
  ])('%s -> %s', (text, lang) => {
    expect(analyzeReport(text).language).toBe(lang);
  });

  it('an explicit language wins', () => {
    expect(analyzeReport('Tassement de L1.', { language: 'en' }).language).toBe('en');
  });
});
