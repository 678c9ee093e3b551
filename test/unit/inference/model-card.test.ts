import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../../src/errors';
import { cardPathFor, parseModelCard, readModel, sha256Of } from '../../../src/inference/model-card';

const MODEL = join(__dirname, '..', '..', '..', 'models', 'vcf-unet-ref', 'model.onnx');

describe('model card', () => {
  const card = JSON.parse(readFileSync(cardPathFor(MODEL), 'utf8')) as Record<string, unknown>;

  it('the committed reference model has a valid card whose sha256 matches the file', () => {
    const { card: c, bytes } = readModel(MODEL);
    expect(c.name).toBe('vcf-unet-ref');
    expect(c.intendedUse).toMatch(/not for clinical use/i);
    expect(sha256Of(bytes)).toBe(c.sha256);
    expect(bytes.byteLength).toBeLessThan(20 * 1024 * 1024);
  });

  it('sits beside the model: model.onnx → model.card.json', () => {
    expect(cardPathFor('/m/x/model.onnx')).toBe('/m/x/model.card.json');
    expect(cardPathFor('/m/other.onnx')).toBe('/m/other.card.json');
  });

  it.each([
    ['intendedUse', { intendedUse: 'screening' }, /intendedUse/],
    ['channel offsets', { input: { ...(card.input as object), channelOffsetsMm: [0] } }, /channelOffsetsMm/],
    ['classes', { output: { ...(card.output as object), classes: ['a', 'b'] } }, /classes/],
    ['sha256', { sha256: 'xyz' }, /sha256/],
  ])('rejects a card with bad %s', (_name, patch, msg) => {
    expect(() => parseModelCard({ ...card, ...patch })).toThrow(msg);
  });

  it('a model whose bytes do not match its card is MODEL_INVALID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vcf-card-'));
    writeFileSync(join(dir, 'model.onnx'), Buffer.from('not the model'));
    writeFileSync(join(dir, 'model.card.json'), JSON.stringify(card));
    expect(() => readModel(join(dir, 'model.onnx'))).toThrow(expect.objectContaining({ code: 'MODEL_INVALID', message: expect.stringMatching(/sha256/) }) as AppError);
  });

  it('a model without a card beside it is MODEL_INVALID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vcf-card-'));
    writeFileSync(join(dir, 'm.onnx'), Buffer.from('x'));
    expect(() => readModel(join(dir, 'm.onnx'))).toThrow(/missing/);
  });
});
