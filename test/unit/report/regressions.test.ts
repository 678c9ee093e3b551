import { summary, analyse } from './helpers';

// Sentences written after the corpus, probing phrasing the corpus does not contain.
describe('phrasing beyond the corpus', () => {
  it.each([
    ['IMPRESSION: No acute fracture or malalignment of the thoracolumbar spine.', 'thoracic:absent lumbar:absent'],
    ['Compression fracture: none', 'spine:absent'],
    ['Tassement vertébral : non.', 'spine:absent'],
    ['No compression fracture, retropulsion or height loss at T12.', 'T12:absent'],
    ['L1 compression fracture without significant interval change.', 'L1:historical'],
    ['Compression fractures involving T12, L1 and L3, with sparing of L2.', 'T12:present L1:present L3:present L2:absent'],
    ['The T12 vertebral body is diminished in height anteriorly, consistent with a compression fracture, age indeterminate.', 'T12:present'],
    ['Tassement de D8 non connu, à confronter à une IRM.', 'T8:present'],
    ['There is a 40% loss of height of the L3 vertebral body which was not present previously.', 'L3:present'],
    ['Mild superior endplate depression of L2 is favored to represent a Schmorl node rather than a fracture.', ''],
    ['Schmorl node at T11 and compression fracture of L1.', 'L1:present'],
    ['Cord compression at T10 and compression fracture of T11.', 'T11:present'],
    ['Fracture costale en regard de D9 et tassement de D10.', 'T10:present'],
    ['Le corps vertébral de L2 n\'est pas tassé.', 'L2:absent'],
    ['Fracture tassement L1 ancienne, sans évolution.', 'L1:historical'],
    ['Reason for exam: r/o fx L1', 'L1:hypothetical'],
    ['Tassement D12\nPas de tassement L1', 'T12:present L1:absent'],
    ['Contexte : suspicion de tassement vertébral.\nRésultats : tassement cunéiforme de L1.', 'spine:hypothetical L1:present'],
    ['Mild anterior wedging at T7 and T8, likely physiologic.', 'T7:possible T8:possible'],
    ['Stable appearance of known T9 and T10 compression fractures. There is a new fracture of T11.', 'T9:historical T10:historical T11:present'],
    ['T12 and L1 compression deformities are unchanged; new compression deformity of L3.', 'T12:historical L1:historical L3:present'],
    ['FINDINGS: KNOWN COMPRESSION FRACTURE OF\nL1. NO OTHER FRACTURE.', 'L1:historical'],
    ['Tassement de\nD12 ancien.', 'T12:historical'],
    ['Tassement du plateau superieur de L2 sans perte de hauteur significative.', 'L2:present'],
    ['Fracture of the superior endplate of L1 without significant loss of height.', 'L1:present'],
    ['Osteoporosis of the lumbar spine with high vertebral fracture risk.', 'lumbar:hypothetical'],
  ])('%s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });

  it('inline section titles', () => {
    const r = analyse('Findings: mild T12 compression deformity. Impression: T12 compression deformity, age indeterminate.');
    expect(r.mentions.map((m) => m.section)).toEqual(['findings', 'impression']);
  });

  it('per-level grades in a French list', () => {
    const r = analyse('Tassements vertébraux D12 (grade 2) et L2 (grade 1).');
    expect(r.mentions.map((m) => `${m.level}:${m.grade}`)).toEqual(['T12:2', 'L2:1']);
  });

  it('multiple fractures of a region with examples keep the region', () => {
    const r = analyse('Multilevel compression fractures in the thoracic spine, most pronounced at T8.');
    expect(r.reportedLevels).toEqual(['T8']);
    expect(r.reportedRegions).toEqual(['thoracic']);
    expect(analyse('Multilevel thoracic compression fractures at T4, T5 and T6.').reportedRegions).toEqual([]);
  });
});
