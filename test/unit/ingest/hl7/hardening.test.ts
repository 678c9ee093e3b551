/**
 * Issue 16: what one hostile message can cost and what it can make us acknowledge. Bounded work per
 * message (escape sequences, lines, segments, fields, repetitions) answered AE 207 instead of burning
 * CPU; one message per frame; MSH-10 at most 199 characters. Speed is measured by a script, not here:
 * these tests check the answers.
 */
import pino from 'pino';
import { ER7_LIMITS, Er7Message } from '../../../../src/ingest/hl7/er7';
import { type Hl7Outcome, handleHl7Message } from '../../../../src/ingest/hl7/intake';
import { MAX_CONTROL_ID_LENGTH, parseOru } from '../../../../src/ingest/hl7/oru';
import { createMetrics } from '../../../../src/observability/metrics';
import { errSegment, makeOru, msa } from '../../../helpers/hl7';

const MSH = 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|20260101120000||ORU^R01|H-1|P|2.5.1';
const HEAD = `${MSH}\rPID|1||MRN1^^^HOSP^MR\rOBR|1||ACC1|CT\r`;

function intake() {
  const enqueued: string[] = [];
  const deps = {
    enqueue: async (header: { messageControlId: string }) => {
      enqueued.push(header.messageControlId);
      return { duplicate: false };
    },
    otherMessageAck: 'AA' as const,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
  };
  const send = (text: string): Promise<Hl7Outcome> => handleHl7Message(Buffer.from(text, 'latin1'), { transport: 'mllp', peer: null }, deps);
  return { send, enqueued };
}

/** ERR-2 (location) and ERR-3.1 (HL7 table 0357 code) of a v2.5 ACK. */
function err(ack: string): { location: string; code: string; text: string } {
  const f = (errSegment(ack) ?? '').split('|');
  return { location: f[2] ?? '', code: (f[3] ?? '').split('^')[0]!, text: f[8] ?? '' };
}

describe('bounded work per message (issue 16 item 3): over a bound is AE 207, never read to the end', () => {
  it.each([
    ['an \\X41\\ escape storm in OBX-5', `${HEAD}OBX|1|TX|||${'\\X41\\'.repeat(ER7_LIMITS.escapes + 1)}\r`, /more than 20000 escape sequences/, ''],
    ['escapes spread over many fields', `${HEAD}${Array.from({ length: 30 }, (_, i) => `OBX|${i + 1}|TX|||${'\\.br\\'.repeat(ER7_LIMITS.escapes / 20)}\r`).join('')}`, /escape sequences/, ''],
    ['an escape storm in MSH-10', HEAD.replace('|H-1|', `|${'\\X41\\'.repeat(ER7_LIMITS.escapes + 1)}|`), /escape sequences/, ''],
    ['a segment of too many fields', `${HEAD}OBX|1|TX|||a${'|'.repeat(ER7_LIMITS.fields)}\r`, /segment OBX has more than 1000 fields/, 'OBX^4'],
    ['a wrapped line of too many fields', `${HEAD}OBX|1|TX|||a\r\n${'|'.repeat(200_000)}\r`, /segment OBX has more than 1000 fields/, 'OBX^4'],
    ['a field of too many repetitions', `${HEAD}OBX|1|TX|||${'a~'.repeat(ER7_LIMITS.repetitions)}a\r`, /field OBX-5 has more than 10000 repetitions/, 'OBX^4^5'],
    ['too many segments', `${HEAD}${'NTE|1\r'.repeat(ER7_LIMITS.segments)}`, /more than 10000 segments/, 'NTE^10001'],
    ['too many lines', `${HEAD}OBX|1|TX|||a\r${' \r'.repeat(ER7_LIMITS.lines)}`, /more than 100000 lines/, ''],
  ])('%s', async (_name, text, message, location) => {
    const { send, enqueued } = intake();
    const outcome = await send(text);
    expect(outcome.code).toBe('AE');
    expect(outcome.error?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(outcome.error?.message).toMatch(message);
    expect(err(outcome.ack)).toMatchObject({ code: '207', location: location.replace(/\^/g, '^') });
    expect(enqueued).toEqual([]);
  });

  it('accepts big real-world shapes within the bounds: a long report, a wrapped PDF, many escapes and repetitions', async () => {
    const { send, enqueued } = intake();
    const lines = Array.from({ length: 5000 }, (_, i) => `Line ${i}: vertebral body heights are maintained\\.br\\caf\\XC3A9\\ \\F\\ ok.`);
    const longReport = makeOru({ controlId: 'BIG-TEXT', text: lines });
    const pdf = `${HEAD.replace('H-1', 'BIG-PDF')}OBX|1|ED|PDF^Report^L||^AP^PDF^Base64^${Array.from({ length: 60_000 }, () => 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=').join('\r\n')}||||||F\rOBX|2|TX|||${Array.from({ length: 9000 }, (_, i) => `line ${i}`).join('~')}\r`;
    const outcomes = [await send(longReport), await send(pdf)];
    expect(outcomes.map((o) => [o.code, o.error?.message])).toEqual([['AA', undefined], ['AA', undefined]]);
    expect(enqueued).toEqual(['BIG-TEXT', 'BIG-PDF']);
    const [report] = parseOru(Er7Message.parse(longReport));
    expect(report!.text.split('\n')).toHaveLength(10_000);
    expect(report!.text).toContain('Line 4999: vertebral body heights are maintained\ncafé | ok.');
  });

  it('caps the line breaks one \\.sp n\\ stands for (10 bytes must not become a gigabyte)', () => {
    const msg = Er7Message.parse(`${HEAD}OBX|1|TX|||a\\.sp999999999\\b\\.sp3\\c\r`);
    expect(msg.text(msg.segment('OBX'), 5)).toBe(`a${'\n'.repeat(ER7_LIMITS.spLines)}b\n\n\nc`);
  });

  it('still decodes hex escapes in every accepted character set, and leaves malformed ones as text', () => {
    const msg = Er7Message.parse(Buffer.from(`MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5.1||||||8859/1\rOBX|1|TX|||\\X41420D\\|\\XE9\\|\\X4G\\|\\X414\\|\\X\\\r`, 'latin1'));
    expect([5, 6, 7, 8, 9].map((n) => msg.text(msg.segment('OBX'), n))).toEqual(['AB\r', 'é', '\\X4G\\', '\\X414\\', '']);
    const utf8 = Er7Message.parse(`${MSH}||||||UNICODE UTF-8\rOBX|1|TX|||\\XC3A9E282AC\\\r`);
    expect(utf8.text(utf8.segment('OBX'), 5)).toBe('é€');
  });

  it('reads a Study Instance UID label however it is spaced, and a label of 300,000 spaces after "study" is just text', async () => {
    const uid = '1.2.840.113619.2.55.3';
    for (const label of ['Study Instance UID', 'StudyInstanceUID', 'study uid']) {
      const [report] = parseOru(Er7Message.parse(`${HEAD}OBX|1|ST|^${label}||${uid}\r`));
      expect(report!.studyInstanceUid).toBe(uid);
    }
    // /study\s*(instance)?\s*uid/ backtracked quadratically on this: minutes for one message.
    const { send } = intake();
    const outcome = await send(`${HEAD}OBX|1|ST|^study${' '.repeat(300_000)}x||${uid}\r`);
    expect(outcome.code).toBe('AA');
  });
});

describe('one message per frame (issue 16 item 8)', () => {
  it('refuses two messages in one frame with AE naming the second MSH, and queues neither', async () => {
    const { send, enqueued } = intake();
    const first = makeOru({ controlId: 'TWO-1', accession: 'ACC-A' });
    const second = makeOru({ controlId: 'TWO-2', accession: 'ACC-B' });
    const outcome = await send(first + second);
    expect(outcome.code).toBe('AE');
    expect(msa(outcome.ack).controlId).toBe('TWO-1');
    expect(err(outcome.ack)).toEqual({ location: 'MSH^7', code: '100', text: 'one message per frame: a second MSH at segment 7' });
    expect(enqueued).toEqual([]);
  });

  it('refuses it whatever the message type, even where other types are accepted with AA', async () => {
    const { send } = intake();
    const adt = 'MSH|^~\\&|ADT|HOSP|VCF|HOSP|2026||ADT^A01|ADT-1|P|2.5.1\rPID|||1\r';
    const outcome = await send(adt + makeOru({ controlId: 'AFTER-ADT' }));
    expect(outcome.code).toBe('AE');
    expect(outcome.error?.message).toBe('one message per frame: a second MSH at segment 3');
  });
});

describe('MSH-10 length (issue 16 item 9)', () => {
  it(`accepts ${MAX_CONTROL_ID_LENGTH} characters and echoes them whole`, async () => {
    const { send, enqueued } = intake();
    const id = 'C'.repeat(MAX_CONTROL_ID_LENGTH);
    const outcome = await send(makeOru({ controlId: id }));
    expect(outcome.code).toBe('AA');
    expect(msa(outcome.ack).controlId).toBe(id);
    expect(enqueued).toEqual([id]);
  });

  it('refuses a longer one with AE at MSH^1^10, echoing it cut to 199 characters', async () => {
    const { send, enqueued } = intake();
    const id = `X${'0123456789'.repeat(10_000)}`;
    const outcome = await send(makeOru({ controlId: id }));
    expect(outcome.code).toBe('AE');
    expect(msa(outcome.ack).controlId).toBe(id.slice(0, MAX_CONTROL_ID_LENGTH));
    expect(err(outcome.ack)).toMatchObject({ location: 'MSH^1^10', code: '207' });
    expect(err(outcome.ack).text).toBe('MSH-10 message control ID is 100001 characters long, more than 199');
    expect(outcome.ack.length).toBeLessThan(1000);
    expect(enqueued).toEqual([]);
  });
});
