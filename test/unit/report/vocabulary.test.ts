import { analyse, summary } from './helpers';

describe('5. fracture vocabulary', () => {
  it.each([
    'Compression fracture of L1.',
    'Compression deformity of L1.',
    'Wedge deformity of L1.',
    'Anterior wedging of L1.',
    'Biconcave deformity of L1.',
    'Crush fracture of L1.',
    'Height loss of L1.',
    'Loss of height of the L1 vertebral body.',
    'Height reduction of L1 by 30%.',
    'Collapse of the L1 vertebral body.',
    'Vertebra plana at L1.',
    'Superior endplate fracture of L1.',
    'Burst fracture of L1.',
    'Pathologic fracture of L1.',
    'Insufficiency fracture of the L1 vertebral body.',
    'Tassement de L1.',
    'Tassement cunéiforme de L1.',
    'Tassement biconcave de L1.',
    'Fracture-tassement de L1.',
    'Perte de hauteur de L1.',
    'Cunéiformisation de L1.',
    'Vertèbre plate L1.',
    'Recul du mur postérieur de L1.',
  ])('%s -> L1 present', (text) => {
    expect(summary(text)).toBe('L1:present');
  });

  it.each(['Status post L1 vertebroplasty.', 'Kyphoplasty of L1.', 'Cementoplasty of L1.', 'Cimentoplastie de L1.', 'Vertébroplastie de L1.'])(
    'treated fracture is historical: %s',
    (text) => {
      expect(summary(text)).toBe('L1:historical');
    },
  );

  it.each([
    'Acute nondisplaced fractures of the left 8th and 9th ribs.',
    'Right 10th rib fracture adjacent to the T10 vertebral body.',
    'Fracture costale droite consolidée en regard de D9.',
    'Fracture de la 12e côte droite en regard de D12.',
    'Nondisplaced fracture of the sternum.',
    'Fracture of the right clavicle.',
    'Old healed fracture of the left femoral neck.',
    'Bilateral sacral insufficiency fractures.',
    'Sacral insufficiency fracture extending to the S1 neural foramen.',
    'Fracture du sacrum par insuffisance osseuse.',
    'Comminuted fracture of the right iliac wing.',
    'Fracture of the left L2 and L3 transverse processes.',
    'Fracture of the T12 spinous process.',
    "Fracture de l'apophyse transverse gauche de L2.",
    "Schmorl's node along the superior endplate of L3.",
    'Hernie intraspongieuse du plateau supérieur de L3.',
    'Multilevel degenerative disc disease with disc height loss at L4-L5 and L5-S1.',
    'Discopathie L4-L5 avec pincement discal.',
    'Cord compression at T10 from epidural disease.',
    'Collapse of the right lower lobe.',
  ])('not a vertebral body fracture: %s', (text) => {
    expect(analyse(text).reportedLevels).toEqual([]);
    expect(analyse(text).reportedRegions).toEqual([]);
  });

  it('heights maintained / conservée are explicit negatives', () => {
    expect(summary('Vertebral body heights are maintained.')).toBe('spine:absent');
    expect(summary('Vertebral body heights and intervertebral disc spaces are preserved.')).toBe('spine:absent');
    expect(summary('Hauteur des corps vertébraux conservée.')).toBe('spine:absent');
    expect(summary('Hauteurs vertebrales respectees.')).toBe('spine:absent');
    expect(summary('L1 is normal in height.')).toBe('L1:absent');
    expect(summary('L1 de hauteur normale.')).toBe('L1:absent');
  });

  it('a vertebral fracture and a rib fracture in one sentence', () => {
    expect(summary('T8 compression fracture and left 8th rib fracture.')).toBe('T8:present');
    expect(summary('Tassement de L2 associé à une fracture de la 12e côte.')).toBe('L2:present');
    expect(summary('Fracture of the L1 vertebral body with fracture of the left L1 transverse process.')).toBe('L1:present');
  });

  it('a region without a level', () => {
    expect(analyse('Multiple thoracic compression fractures.')).toMatchObject({ reportedLevels: [], reportedRegions: ['thoracic'] });
    expect(analyse('Multiples tassements vertébraux dorsaux.').reportedRegions).toEqual(['thoracic']);
    expect(analyse('Tassements lombaires anciens.').mentions[0]).toMatchObject({ level: null, region: 'lumbar', assertion: 'historical' });
    expect(analyse('Compression fracture at the thoracolumbar junction.').reportedRegions).toEqual(['thoracic', 'lumbar']);
    expect(summary('No acute fracture.')).toBe('');
    expect(summary('No thoracic or lumbar compression fracture.')).toBe('thoracic:absent lumbar:absent');
  });
});
