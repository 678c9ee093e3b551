import { analyse, summary } from './helpers';

describe('3. sections', () => {
  it('findings and impression are read as findings', () => {
    const r = analyse('FINDINGS: Compression fracture of L2.\nIMPRESSION: 1. L2 compression fracture.');
    expect(r.mentions.map((m) => `${m.level}:${m.assertion}:${m.section}`)).toEqual(['L2:present:findings', 'L2:present:impression']);
  });

  it('résultats / conclusion (with and without accents) are findings', () => {
    expect(analyse('RÉSULTATS :\nTassement de L1.').mentions[0]).toMatchObject({ section: 'findings', assertion: 'present' });
    expect(analyse('CONCLUSION :\nTassement recent de L1.').mentions[0]).toMatchObject({ section: 'impression', assertion: 'present' });
    expect(analyse('Resultats : tassement de L1.').mentions[0]).toMatchObject({ section: 'findings', assertion: 'present' });
  });

  it('"rule out compression fracture" in an indication is hypothetical', () => {
    expect(summary('INDICATION: Back pain after fall. Rule out compression fracture.')).toBe('spine:hypothetical');
    expect(summary('Indication : lombalgies, recherche de tassement vertébral.')).toBe('spine:hypothetical');
  });

  it('a question in the indication is hypothetical, an affirmed known fracture is historical', () => {
    expect(summary('Clinical history: Fall. L3 fracture?')).toBe('L3:hypothetical');
    expect(summary('INDICATION: Metastatic breast cancer, known T8 fracture, restaging.')).toBe('T8:historical');
    expect(summary('Renseignements cliniques : myélome, tassement de D7.')).toBe('T7:historical');
    expect(summary('Motif : chute, fracture de D12 ?')).toBe('T12:hypothetical');
  });

  it('a comparison sentence describing a prior fracture is historical', () => {
    expect(summary('COMPARISON: CT dated 03/2024, which demonstrated an L1 compression fracture.')).toBe('L1:historical');
    expect(summary('Comparaison : scanner du 12/01/2024 montrant un tassement de L2.')).toBe('L2:historical');
  });

  it('the indication does not leak into the findings', () => {
    const r = analyse('INDICATION: Evaluate for T10 fracture.\n\nFINDINGS:\nAcute compression fracture at T10.');
    expect(r.mentions.map((m) => `${m.level}:${m.assertion}:${m.section}`)).toEqual(['T10:hypothetical:indication', 'T10:present:findings']);
    expect(r.reportedLevels).toEqual(['T10']);
  });

  it('a report that only asks the question reports nothing', () => {
    const r = analyse('INDICATION: Question L1 fracture on radiograph.\nFINDINGS: Vertebral body heights are preserved.');
    expect(r.reportedLevels).toEqual([]);
    expect(r.reportedRegions).toEqual([]);
  });

  it('bulleted items under a lead-in inherit its fracture', () => {
    const r = analyse('FINDINGS:\nCompression fractures:\n- T12, grade 2\n- L1, grade 1\n');
    expect(r.mentions.map((m) => `${m.level}:${m.assertion}:${m.grade}`)).toEqual(['T12:present:2', 'L1:present:1']);
    expect(r.reportedRegions).toEqual([]);
  });
});
