import { PassThrough, Readable } from 'node:stream';
import { decodeReport, MAX_INPUT_BYTES, run } from '../../../src/commands/analyze-report';
import { AppError } from '../../../src/errors';

async function runWith(input: Buffer | string, args: string[] = []): Promise<{ code: number; out: string }> {
  const stdin = Readable.from([typeof input === 'string' ? Buffer.from(input, 'utf8') : input]);
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  const code = await run(args, { stdin, stdout });
  return { code, out: Buffer.concat(chunks).toString('utf8') };
}

describe('vcf-sentinel analyze-report', () => {
  it('writes the CONTRACT JSON and a newline', async () => {
    const { code, out } = await runWith('IMPRESSION: New L2 compression fracture with 30% height loss.\n');
    expect(code).toBe(0);
    expect(out.endsWith('}\n')).toBe(true);
    const json = JSON.parse(out);
    expect(json).toMatchObject({ language: 'en', reportedLevels: ['L2'], reportedRegions: [] });
    expect(json.mentions[0]).toMatchObject({ level: 'L2', assertion: 'present', heightLossPercent: 30, section: 'impression' });
  });

  it('--language overrides detection', async () => {
    const { out } = await runWith('Tassement de L1.', ['--language', 'en']);
    expect(JSON.parse(out).language).toBe('en');
  });

  it('empty input gives empty arrays', async () => {
    const { code, out } = await runWith('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ language: 'en', mentions: [], reportedLevels: [], reportedRegions: [], regionLevels: [] });
  });

  it('reads Latin-1 when the bytes are not UTF-8 (accents survive)', async () => {
    const { out } = await runWith(Buffer.from('Tassement cunéiforme de D12, ancien, connu.', 'latin1'));
    const json = JSON.parse(out);
    expect(json.language).toBe('fr');
    expect(json.mentions[0]).toMatchObject({ level: 'T12', assertion: 'historical', morphology: 'wedge' });
    expect(json.mentions[0].evidence.text).toContain('cunéiforme');
  });

  it('strips a UTF-8 BOM', () => {
    expect(decodeReport(Buffer.from('\ufeffL1', 'utf8'))).toBe('L1');
  });

  it('refuses NUL bytes (not text) with BAD_REQUEST (exit 2)', async () => {
    await expect(runWith(Buffer.from([0x4c, 0x31, 0x00, 0x01]))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses more than 5 MB with BAD_REQUEST', async () => {
    const big = Buffer.alloc(MAX_INPUT_BYTES + 10, 0x61);
    await expect(runWith(big)).rejects.toBeInstanceOf(AppError);
    await expect(runWith(big)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses an unknown language or option', async () => {
    await expect(runWith('x', ['--language', 'de'])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(runWith('x', ['--bogus'])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('random bytes never crash', async () => {
    const junk = Buffer.alloc(100_000);
    for (let i = 0; i < junk.length; i++) junk[i] = 1 + ((i * 7919) % 255);
    const { code, out } = await runWith(junk);
    expect(code).toBe(0);
    expect(Array.isArray(JSON.parse(out).mentions)).toBe(true);
  });
});
