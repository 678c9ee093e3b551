import { summary } from './helpers';

describe('6. assertions and their scope', () => {
  it.each([
    ['No fracture at L1; however mild height loss of L2.', 'L1:absent L2:present'],
    ['No fracture at L1, but mild height loss of L2.', 'L1:absent L2:present'],
    ['Pas de fracture de L1 ; en revanche, discrète perte de hauteur de L2.', 'L1:absent L2:present'],
    ['Pas de tassement de L1 mais tassement de L2.', 'L1:absent L2:present'],
    ['Compression fracture of T12 and no fracture of L1.', 'T12:present L1:absent'],
    ['No compression fracture at T10, T11 or T12.', 'T10:absent T11:absent T12:absent'],
    ['No acute or chronic vertebral body fracture.', 'spine:absent'],
    ['L1 fracture is not identified.', 'L1:absent'],
    ['Absence de tassement de D11, D12 ou L1.', 'T11:absent T12:absent L1:absent'],
    ['Tassement de L1 sans recul du mur postérieur.', 'L1:present'],
    ['Lésion condensante de D10 sans tassement.', 'T10:absent'],
    ['No new vertebral fracture. Stable L1 compression deformity.', 'spine:absent L1:historical'],
  ])('absent: %s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });

  it.each([
    ['Possible mild superior endplate compression fracture of T12.', 'T12:possible'],
    ['Subtle loss of height of L4; an acute fracture cannot be excluded.', 'L4:possible'],
    ['Findings are suspicious for an early compression fracture at T10.', 'T10:possible'],
    ['Mild T12 height loss, which may represent an old fracture.', 'T12:possible'],
    ['Question of a subtle superior endplate fracture at T7.', 'T7:possible'],
    ['On ne peut exclure un tassement récent de L4.', 'L4:possible'],
    ['Aspect évoquant un tassement de D10.', 'T10:possible'],
    ['Probable tassement de L1.', 'L1:possible'],
    ['Discrète perte de hauteur de D12, pouvant correspondre à un tassement débutant.', 'T12:possible'],
  ])('possible: %s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });

  it.each([
    ['Known T8 compression fracture, unchanged.', 'T8:historical'],
    ['Old L3 compression deformity.', 'L3:historical'],
    ['Chronic compression fractures of T11 and T12 are again seen.', 'T11:historical T12:historical'],
    ['Stable mild wedge deformity of L2.', 'L2:historical'],
    ['Redemonstrated L1 compression fracture.', 'L1:historical'],
    ['Tassement ancien de L3.', 'L3:historical'],
    ['Tassement connu de D8, inchangé.', 'T8:historical'],
    ['Séquelle de fracture de D6.', 'T6:historical'],
    ['Tassement de L3 superposable au précédent examen.', 'L3:historical'],
    ['Compression fractures of T12 (old) and L1 (new).', 'T12:historical L1:present'],
  ])('historical: %s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });

  it.each([
    ['Rule out compression fracture of L1.', 'L1:hypothetical'],
    ['Evaluate for L1 fracture.', 'L1:hypothetical'],
    ['If there is concern for a T12 fracture, MRI could be performed.', 'T12:hypothetical'],
    ['Recherche de tassement de L2.', 'L2:hypothetical'],
    ['Lésion lytique de D10 avec risque de tassement.', 'T10:hypothetical'],
  ])('hypothetical: %s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });

  it.each([
    ['New compression fracture of L3, not present on the previous CT.', 'L3:present'],
    ['Tassement de D12 non visible sur l\'examen précédent.', 'T12:present'],
    ['Interval progression of the L1 compression fracture.', 'L1:present'],
    ['Nouveau tassement de L1. Tassement ancien de D12.', 'L1:present T12:historical'],
  ])('present (new, progression): %s', (text, expected) => {
    expect(summary(text)).toBe(expected);
  });
});

describe('7. grade, morphology, height loss', () => {
  it.each([
    ['Genant grade 2 wedge fracture of T12.', { grade: 2, morphology: 'wedge', heightLossPercent: null }],
    ['Mild compression deformity of L1.', { grade: 1 }],
    ['Moderate biconcave deformity of L3.', { grade: 2, morphology: 'biconcave' }],
    ['Severe compression fracture of L1.', { grade: 3 }],
    ['Compression fracture of L2 with 30% height loss.', { grade: 2, heightLossPercent: 30 }],
    ['Vertebra plana at T9.', { grade: 3, morphology: 'crush' }],
    ['Tassement léger de D12.', { grade: 1 }],
    ['Tassement cunéiforme modéré de D7.', { grade: 2, morphology: 'wedge' }],
    ['Tassement sévère de L2.', { grade: 3 }],
    ['Tassement de L1 de 25 %.', { heightLossPercent: 25, grade: 1 }],
    ['Tassement de L4 de 50 %, grade 3 de Genant.', { heightLossPercent: 50, grade: 3 }],
    ['Tassement du corps vertébral L3 avec perte de hauteur d\'environ un tiers.', { heightLossPercent: 33 }],
    ['Compression fracture of L1 without a stated grade.', { grade: null, morphology: null, heightLossPercent: null }],
  ])('%s', (text, expected) => {
    const m = analyse(text).mentions[0];
    expect(m).toMatchObject(expected);
  });

  it('each level of a sentence gets its own grade', () => {
    const r = analyse('Mild compression deformity of L1 and moderate compression deformity of L2.');
    expect(r.mentions.map((m) => `${m.level}:${m.grade}`)).toEqual(['L1:1', 'L2:2']);
  });
});

import { analyse } from './helpers';
