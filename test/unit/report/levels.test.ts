import { foldText } from '../../../src/report/text';
import { findLevelSpans } from '../../../src/report/levels';
import { analyse } from './helpers';

const DISC = /(?<![a-z])(?:discs?|disque|discopathie|bulge|level)(?![a-z])/;
const levels = (text: string) => findLevelSpans(foldText(text), DISC).flatMap((s) => s.levels);
const reported = (text: string) => analyse(text).reportedLevels;

describe('4. vertebral levels', () => {
  it.each([
    ['T12 compression fracture.', ['T12']],
    ['T-12 compression fracture.', ['T12']],
    ['Th12 compression fracture.', ['T12']],
    ['Tassement de D12.', ['T12']],
    ['Compression fracture of T 12.', ['T12']],
    ['L1 vertebral body compression fracture.', ['L1']],
    ['Compression fracture of the first lumbar vertebra.', ['L1']],
    ['Mild wedge deformity of the twelfth thoracic vertebral body.', ['T12']],
    ['Compression fractures of the 11th and 12th thoracic vertebrae.', ['T11', 'T12']],
    ['Tassement de la douzième vertèbre dorsale.', ['T12']],
    ['Tassements de la 8e et de la 9e vertèbre dorsale.', ['T8', 'T9']],
    ['Compression fracture of C6.', ['C6']],
    ['Compression fracture of S1.', ['S1']],
  ])('%s', (text, expected) => {
    expect(reported(text)).toEqual(expected);
  });

  it.each([
    ['Compression fractures of L1, L2 and L4.', ['L1', 'L2', 'L4']],
    ['Tassements de L1, L2 et L4.', ['L1', 'L2', 'L4']],
    ['Compression deformities at T11, 12 and L1.', ['T11', 'T12', 'L1']],
  ])('lists: %s', (text, expected) => {
    expect(reported(text)).toEqual(expected);
  });

  it.each([
    'Compression fractures T11-L2.',
    'Compression fractures T11 through L2.',
    'Compression fractures from T11 to L2.',
    'Tassements vertébraux étagés de D11 à L2.',
    'Tassements vertebraux de D11 a L2.',
    'Tassements vertébraux de D11 jusqu\'à L2.',
  ])('ranges mean every level between: %s', (text) => {
    expect(reported(text)).toEqual(['T11', 'T12', 'L1', 'L2']);
  });

  it('shorthand ranges keep their prefix', () => {
    expect(reported('Compression fractures L2-4.')).toEqual(['L2', 'L3', 'L4']);
  });

  it('a disc level is not a vertebra range', () => {
    expect(levels('L4-L5 disc bulge')).toEqual([]);
    expect(levels('discopathie L4-L5')).toEqual([]);
    expect(levels('Discopathie étagée L3-L4, L4-L5 et L5-S1')).toEqual([]);
    expect(reported('Mild L4-L5 disc height loss.')).toEqual([]);
    expect(reported('Moderate narrowing of the L4-L5 disc space with loss of disc height.')).toEqual([]);
    expect(reported('Pincement discal L5-S1.')).toEqual([]);
    // adjacent levels without disc words are two vertebrae
    expect(reported('Compression fractures T12-L1.')).toEqual(['T12', 'L1']);
  });

  it('does not take MRI sequences, TNM stages, sizes or vitamin D for levels', () => {
    expect(levels('T1-weighted images')).toEqual([]);
    expect(levels('cT2 N0 M0 tumour, T2 N1')).toEqual([]);
    expect(levels('a lesion of L 5 cm')).toEqual([]);
    expect(levels('vitamin D3 and vitamine D 12')).toEqual([]);
    expect(levels('C1D1 of chemotherapy')).toEqual([]);
    expect(levels('invalid T13, L6, C8, S3')).toEqual([]);
  });
});
