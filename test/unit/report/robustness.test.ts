import { analyzeReport } from '../../../src/report';

function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('every input yields the CONTRACT JSON', () => {
  it('empty text', () => {
    expect(analyzeReport('')).toEqual({ language: 'en', mentions: [], reportedLevels: [], reportedRegions: [], regionLevels: [] });
    expect(analyzeReport('   \n\n\t ')).toEqual({ language: 'en', mentions: [], reportedLevels: [], reportedRegions: [], regionLevels: [] });
  });

  it('non-string input from JS callers does not throw', () => {
    expect(analyzeReport(undefined as unknown as string).mentions).toEqual([]);
  });

  it('binary junk decoded leniently', () => {
    for (const seed of [1, 2, 3]) {
      const text = randomBytes(200_000, seed).toString('latin1');
      const r = analyzeReport(text);
      expect(Array.isArray(r.mentions)).toBe(true);
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
      for (const m of r.mentions) expect(text.slice(m.evidence.start, m.evidence.end)).toBe(m.evidence.text);
    }
    const utf8Junk = randomBytes(100_000, 9).toString('utf8'); // with U+FFFD replacement characters
    expect(() => analyzeReport(utf8Junk)).not.toThrow();
  });

  it('unicode oddities keep offsets (emoji, combining accents, dotted capital I)', () => {
    const text = 'İİ 😀 Tasse\u0301ment de L1. Compression fracture of T12 😀.';
    const r = analyzeReport(text);
    expect(r.reportedLevels).toContain('T12');
    for (const m of r.mentions) expect(text.slice(m.evidence.start, m.evidence.end)).toBe(m.evidence.text);
  });

  // Its speed is measured by bench:nlp (oneMegabyteReportMs), not asserted here: a timed test fails on a busy machine.
  it('a 1 MB report is analysed whole', () => {
    const unit =
      'FINDINGS: Compression fracture of L1, L2 and L4 with 30% height loss; no fracture of T12. Tassements de D11 à L2. Rib fractures. L4-L5 disc bulge. ';
    const big = unit.repeat(Math.ceil(1_048_576 / unit.length));
    const r = analyzeReport(big);
    expect(r.reportedLevels).toEqual(['T11', 'T12', 'L1', 'L2', 'L4']);
  });

  it('pathological inputs stay linear: no punctuation, one giant line, repeated cues', () => {
    const cases = [
      'fracture '.repeat(120_000),
      'L1 '.repeat(200_000),
      'no '.repeat(200_000) + 'fracture of L1',
      'a'.repeat(1_000_000),
      'T12-'.repeat(100_000),
      '((((('.repeat(100_000),
      'heights of the of the of the '.repeat(20_000) + 'maintained',
    ];
    for (const text of cases) {
      const t0 = Date.now();
      analyzeReport(text);
      expect(Date.now() - t0).toBeLessThan(3000);
    }
  });
});
