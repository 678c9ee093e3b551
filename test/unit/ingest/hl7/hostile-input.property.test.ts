/**
 * Property-based hostile input for everything an unauthenticated MLLP or HTTP peer reaches (issue 16):
 * the MLLP framer and the ER7 parser behind handleHl7Message. Random bytes, truncated frames, huge
 * fields, deep repetitions, escape storms: always framer events or an ACK, never a throw, never an
 * INTERNAL error (an exception we did not mean), never an unreadable ACK. Runs are few and each property
 * stops after a time limit (fast-check's interruptAfterTimeLimit), so the file takes seconds; a failure
 * prints the seed and path to replay it.
 */
import fc from 'fast-check';
import pino from 'pino';
import { Er7Message } from '../../../../src/ingest/hl7/er7';
import { type Hl7Outcome, handleHl7Message } from '../../../../src/ingest/hl7/intake';
import { MLLP_END, MLLP_START, MllpFramer, type MllpEvent, encodeMllp } from '../../../../src/ingest/hl7/mllp';
import { MAX_CONTROL_ID_LENGTH } from '../../../../src/ingest/hl7/oru';
import { createMetrics } from '../../../../src/observability/metrics';
import { makeOru } from '../../../helpers/hl7';

/** Per property: stop generating new cases after this long (what ran is still checked). */
const TIME_LIMIT_MS = 2500;
const settings = (numRuns: number) => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

/** Bytes with the MLLP control bytes and ER7 delimiters over-represented, so frames and segments happen. */
const byte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 1, arbitrary: fc.constantFrom(MLLP_START, MLLP_END, 0x0d, 0x0a, 0x7c, 0x5e, 0x7e, 0x5c, 0x26) },
);
const bytes = (maxLength: number) => fc.array(byte, { maxLength }).map((a) => Buffer.from(a));

/** Cuts `data` at the given offsets (taken modulo its length), in order. */
function chunk(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (data.length === 0 ? 0 : c % data.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(data.subarray(from, p));
    from = p;
  }
  out.push(data.subarray(from));
  return out;
}

/** What a stream means, whatever its chunking: frames, oversize frames, total garbage bytes. */
function digest(framer: MllpFramer, chunks: Buffer[], max: number) {
  const frames: string[] = [];
  const oversize: string[] = [];
  let garbage = 0;
  for (const c of chunks) {
    const events: MllpEvent[] = framer.push(c);
    expect(framer.buffered).toBeLessThanOrEqual(max);
    for (const e of events) {
      if (e.kind === 'frame') frames.push(e.payload.toString('latin1'));
      else if (e.kind === 'oversize') oversize.push(`${e.bytes}:${e.head.toString('latin1')}`);
      else garbage += e.bytes;
    }
  }
  return { frames, oversize, garbage };
}

describe('MllpFramer under hostile bytes', () => {
  it('never throws, never holds more than the frame limit, and means the same whatever the chunking', () => {
    fc.assert(
      fc.property(bytes(3000), fc.array(fc.nat(), { maxLength: 40 }), fc.integer({ min: 1, max: 600 }), (data, cuts, max) => {
        const whole = digest(new MllpFramer(max), [data], max);
        const pieces = digest(new MllpFramer(max), chunk(data, cuts), max);
        const bytewise = digest(new MllpFramer(max), [...data].map((b) => Buffer.of(b)), max);
        expect(pieces).toEqual(whole);
        expect(bytewise).toEqual(whole);
        for (const f of whole.frames) expect(Buffer.byteLength(f, 'latin1')).toBeLessThanOrEqual(max);
      }),
      settings(300),
    );
  });

  it('returns exactly the frames sent, split anywhere, and reports the ones over the limit as oversize', () => {
    const payload = bytes(400).map((b) => Buffer.from(b.filter((x) => x !== MLLP_START && x !== MLLP_END)));
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, cuts) => {
        const max = 200;
        const stream = Buffer.concat(payloads.map((p) => encodeMllp(p)));
        const got = digest(new MllpFramer(max), chunk(stream, cuts), max);
        expect(got.frames).toEqual(payloads.filter((p) => p.length <= max).map((p) => p.toString('latin1')));
        expect(got.oversize.map((o) => Number(o.split(':')[0]))).toEqual(payloads.filter((p) => p.length > max).map((p) => p.length));
        expect(got.garbage).toBe(0);
      }),
      settings(300),
    );
  });
});

describe('handleHl7Message under hostile messages', () => {
  const deps = {
    enqueue: async () => ({ duplicate: false }),
    otherMessageAck: 'AR' as const,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
  };

  /** The answer to any input: an original-mode ACK we can read back, for a reason we meant. */
  async function expectSaneAck(input: Buffer | string): Promise<Hl7Outcome> {
    const raw = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    const outcome = await handleHl7Message(raw, { transport: 'mllp', peer: null }, deps);
    expect(['AA', 'AE', 'AR']).toContain(outcome.code);
    // INTERNAL is what an unexpected exception (RangeError, TypeError...) becomes.
    expect(outcome.error?.code).not.toBe('INTERNAL');
    // Read with our own parser: the ACK uses the message's delimiters when it had valid ones.
    const ack = Er7Message.parse(outcome.ack);
    expect(ack.segments.map((s) => s.name).slice(0, 2)).toEqual(['MSH', 'MSA']);
    expect(ack.component(ack.segment('MSA'), 1)).toBe(outcome.code);
    expect(ack.component(ack.segment('MSA'), 2).length).toBeLessThanOrEqual(MAX_CONTROL_ID_LENGTH);
    if (outcome.code !== 'AA') expect(ack.segment('ERR')).toBeDefined();
    return outcome;
  }

  /** ER7-looking text: segment names, every delimiter, escapes and line breaks. */
  const er7Text = fc
    .array(
      fc.oneof(
        fc.constantFrom('MSH|^~\\&|', 'PID|', 'OBR|', 'OBX|', 'ORC|', 'ZDS|', 'NTE|', 'BHS|', '|', '^', '~', '\\', '&', '\r', '\n', '\r\n'),
        fc.constantFrom('\\X41\\', '\\XC3A9\\', '\\.br\\', '\\.sp5\\', '\\.sp99999999\\', '\\F\\', '\\E\\', '\\H\\', '\\Z\\', '\\X4\\'),
        fc.constantFrom('ORU^R01', '2.5.1', '2.3', 'TX', 'ST', 'CE', '113014^Study Instance UID', '1.2.840.1', 'F', 'C', 'UNICODE UTF-8', '8859/1'),
        fc.string({ maxLength: 8 }),
      ),
      { maxLength: 120 },
    )
    .map((parts) => parts.join(''));

  it('answers random bytes', async () => {
    await fc.assert(fc.asyncProperty(bytes(4000), async (data) => void (await expectSaneAck(data))), settings(300));
  });

  it('answers random ER7-looking messages, with and without a proper MSH', async () => {
    const msh = fc.constantFrom('', 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|2026||ORU^R01|P-1|P|2.5.1\r', 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|2026||ORU^R01|P-1|P|2.5.1\rPID|||1\rOBR|1||A\r');
    await fc.assert(fc.asyncProperty(msh, er7Text, async (head, body) => void (await expectSaneAck(head + body))), settings(400));
  });

  it('answers every truncation of a valid report, in UTF-8 and 8859/1', async () => {
    const oru = makeOru({ controlId: 'TRUNC-1', text: ['Fracture de L1, tassement cunéiforme \\.br\\ 30 %.', 'IMPRESSION: L1 \\F\\ T12.'] });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: oru.length }), fc.constantFrom('utf8', 'latin1') as fc.Arbitrary<BufferEncoding>, async (cut, enc) => {
        await expectSaneAck(Buffer.from(oru.slice(0, cut), enc));
      }),
      settings(300),
    );
  });

  it('answers huge fields, deep repetitions, escape storms and extra MSHs anywhere in a valid report', async () => {
    const unit = fc.constantFrom('|', '~', '^', '&', 'x', ' ', '\r', '\r\n ', '\\X41\\', '\\XC3A9\\', '\\.sp9999\\', '\\E\\', 'NTE|1\r', 'OBR|1||A\r', 'MSH|^~\\&|', 'a~b^c&d|');
    await fc.assert(
      fc.asyncProperty(unit, fc.integer({ min: 1, max: 120_000 }), fc.nat(), fc.constantFrom('P-1', 'C'.repeat(300)), async (u, times, at, controlId) => {
        const oru = makeOru({ controlId });
        const where = at % oru.length;
        await expectSaneAck(oru.slice(0, where) + u.repeat(times) + oru.slice(where));
      }),
      settings(60),
    );
  });

  it('answers each frame a hostile stream carries through the framer, one ACK per frame', async () => {
    const frameBody = fc.oneof(er7Text, bytes(300).map((b) => b.toString('latin1')), fc.constant(makeOru({ controlId: 'S-1' })));
    await fc.assert(
      fc.asyncProperty(fc.array(frameBody, { maxLength: 6 }), bytes(200), fc.array(fc.nat(), { maxLength: 20 }), async (bodies, noise, cuts) => {
        const stream = Buffer.concat([...bodies.map((b) => encodeMllp(Buffer.from(b, 'latin1'))), noise]);
        const framer = new MllpFramer(1024);
        const events = chunk(stream, cuts).flatMap((c) => framer.push(c));
        for (const e of events) {
          if (e.kind === 'frame') await expectSaneAck(e.payload);
          else if (e.kind === 'oversize') expect(e.head.length).toBeLessThanOrEqual(4096);
        }
      }),
      settings(200),
    );
  });
});
