import pino from 'pino';
import { handleHl7Message } from '../../../../src/ingest/hl7/intake';
import { createMetrics } from '../../../../src/observability/metrics';
import { type FixtureMessage, loadHl7Fixtures, sharedFixture } from '../../../helpers/fixtures';
import { errSegment, msa } from '../../../helpers/hl7';

const dir = sharedFixture('hl7');
const messages: FixtureMessage[] = dir ? loadHl7Fixtures(dir) : [];

/** MSH-10 as the raw bytes carry it, for the MSA-2 echo check. */
function rawControlId(bytes: Buffer): string {
  // A line break not followed by a segment ID continues the value before it (wrapped MSH-10s exist).
  const text = bytes.toString('latin1').replace(/[\r\n]+(?![A-Z][A-Z0-9]{2}\|)/g, '');
  const line = text.slice(text.indexOf('MSH')).split(/\r|\n/)[0]!;
  const f = line.split(line[3]!);
  return (f[9] ?? '').split(f[1]?.[0] ?? '^')[0]!;
}

(dir ? describe : describe.skip)('every real HL7 message in ../shared/fixtures/hl7 gets a sensible ACK', () => {
  const enqueued: string[] = [];
  const deps = {
    // Conformance of parsing and ACKs only; the durable enqueue is tested against real Redis elsewhere.
    enqueue: async (header: { messageControlId: string }) => {
      enqueued.push(header.messageControlId);
      return { duplicate: false };
    },
    otherMessageAck: 'AR' as const,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
  };

  it('finds the corpus', () => {
    expect(messages.length).toBeGreaterThan(60);
  });

  it.each(messages.map((m) => [m.name, m] as const))('%s', async (_name, m) => {
    const outcome = await handleHl7Message(m.bytes, { transport: 'mllp', peer: null }, deps);
    const ack = msa(outcome.ack);
    expect(ack.code).toBe(outcome.code);
    if (m.bytes.toString('latin1').trimStart().startsWith('MSH')) expect(ack.controlId).toBe(rawControlId(m.bytes).slice(0, 64));
    if (outcome.code === 'AA') {
      expect(errSegment(outcome.ack)).toBeUndefined();
    } else {
      expect(errSegment(outcome.ack)).toBeDefined();
      expect(ack.text.length).toBeGreaterThan(0);
    }
    // Radiology ORUs from dcm4che and the NIST ORU test cases are valid and must be accepted.
    if (/dcm4che\/ORU_R01|nist\/ORU_R01/.test(m.name)) expect(outcome.code).toBe('AA');
    // Other message types get the configured answer (AR here), or AE when they lack MSH-10.
    if (/ADT|adt_|OMI|ORM|OML|omd|mfn|mdm|bar-/.test(m.name) && !/ORU/.test(m.name)) expect(outcome.code).not.toBe('AA');
    if (/^\s*(FHS|BHS)/.test(m.bytes.toString('latin1'))) expect(outcome.error?.code).toBe('HL7_BATCH_UNSUPPORTED');
  });
});

if (!dir) {
  // eslint-disable-next-line no-console
  console.warn('skipped: ../shared/fixtures/hl7 is absent');
}
