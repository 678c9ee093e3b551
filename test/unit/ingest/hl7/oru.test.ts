import iconv from 'iconv-lite';
import { AppError } from '../../../../src/errors';
import { Er7Message } from '../../../../src/ingest/hl7/er7';
import { hl7DateTimeToIso, parseOru, readHeader } from '../../../../src/ingest/hl7/oru';
import { makeOru } from '../../../helpers/hl7';

describe('Er7Message', () => {
  it('decodes every escape sequence', () => {
    const msg = Er7Message.parse('MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5.1\rOBX|1|FT|||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X0D0A\\h\\H\\i\\N\\\r');
    expect(msg.text(msg.segment('OBX'), 5)).toBe('a|b^c&d~e\\f\ng\r\nhi');
  });

  it('honours the message own encoding characters', () => {
    const msg = Er7Message.parse('MSH#*@!%#A#B#C#D#2026##ORU*R01#7#P#2.4\rOBX#1#TX###one!F!two@three#');
    expect(msg.delimiters).toEqual({ field: '#', component: '*', repetition: '@', escape: '!', subcomponent: '%' });
    expect(readHeader(msg)).toMatchObject({ messageType: 'ORU', triggerEvent: 'R01', messageControlId: '7', version: '2.4' });
    expect(msg.repetitions(msg.segment('OBX'), 5).map((r) => msg.unescape(r))).toEqual(['one#two', 'three']);
  });

  it('accepts CR, LF and CRLF segment separators', () => {
    for (const sep of ['\r', '\n', '\r\n', '\r\r\n']) {
      const msg = Er7Message.parse(makeOru({ controlId: 'X' }).split('\r').join(sep));
      expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'ORC', 'OBR', 'OBX', 'OBX']);
    }
  });

  it('decodes 8859/1 by MSH-18 and UTF-8 by MSH-18 or by default', () => {
    const text = 'Tassement cunéiforme de D12, réduction de hauteur de 30 %';
    const latin = (cs: string) => `MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5||||||${cs}\rPID|||1\rOBR|1||A1\rOBX|1|TX|||${text}\r`;
    expect(parseOru(Er7Message.parse(iconv.encode(latin('8859/1'), 'latin1')))[0]!.text).toBe(text);
    expect(parseOru(Er7Message.parse(Buffer.from(latin('UNICODE UTF-8'), 'utf8')))[0]!.text).toBe(text);
    expect(parseOru(Er7Message.parse(Buffer.from(latin(''), 'utf8')))[0]!.text).toBe(text);
    // No MSH-18 and bytes that are not UTF-8: read as 8859/1 rather than replacing characters.
    expect(parseOru(Er7Message.parse(iconv.encode(latin(''), 'latin1')))[0]!.text).toBe(text);
  });

  it('rejects bytes that are not UTF-8 under MSH-18 UNICODE UTF-8 (HL7 102, data type error) instead of replacing characters', () => {
    const raw = iconv.encode('MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5||||||UNICODE UTF-8\rPID|||1\rOBR|1||A1\rOBX|1|TX|||cunéiforme\r', 'latin1');
    expect(() => Er7Message.parse(raw)).toThrow(expect.objectContaining({ code: 'HL7_INVALID_ENCODING', location: 'MSH^1^18' }));
  });

  it('rejects an unknown MSH-18 character set with its location', () => {
    const raw = Buffer.from('MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5||||||KLINGON\rPID|||1\r');
    expect(() => Er7Message.parse(raw)).toThrow(expect.objectContaining({ code: 'HL7_UNSUPPORTED_CHARSET', location: 'MSH^1^18' }));
  });

  it('rejects text without MSH, or with data before it', () => {
    expect(() => Er7Message.parse('hello')).toThrow(AppError);
    expect(() => Er7Message.parse('PID|||1\rMSH|^~\\&|A\r')).toThrow(expect.objectContaining({ code: 'HL7_MALFORMED' }));
  });

  it('joins a value wrapped over lines to the segment before it', () => {
    const msg = Er7Message.parse('MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rOBX|1|ED|||^AP^PDF^Base64^JVBER\r\ni0xLjM=||||||F\r');
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'OBX']);
    expect(msg.component(msg.segment('OBX'), 5, 5)).toBe('JVBERi0xLjM=');
    expect(msg.rawField(msg.segment('OBX'), 11)).toBe('F');
  });
});

describe('parseOru', () => {
  it('reads identifiers, accession, procedure, time, status, study UID and text in order', () => {
    const raw = makeOru({ controlId: 'C1', accession: 'ACC-9', status: 'C', studyInstanceUid: '1.2.840.113619.2.55.3', text: ['Line one', 'Line two'] });
    const [report] = parseOru(Er7Message.parse(raw));
    expect(report).toEqual({
      sender: { application: 'RIS', facility: 'HOSP' },
      messageControlId: 'C1',
      version: '2.5.1',
      patient: { identifiers: [{ value: 'MRN12345', assigningAuthority: 'HOSP', typeCode: 'MR' }] },
      accessionNumber: 'ACC-9',
      placerOrderNumber: 'PL-ACC-9',
      fillerOrderNumber: 'ACC-9',
      procedure: { code: 'CTCAP', text: 'CT chest abdomen pelvis', codingSystem: 'L' },
      observationDateTime: '2026-01-01T11:00:00',
      resultStatus: 'C',
      studyInstanceUid: '1.2.840.113619.2.55.3',
      text: 'Line one\nLine two',
    });
  });

  it('takes the Study Instance UID from ZDS-1 and the accession from ORC-3 when OBR has none', () => {
    const raw = 'MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.3\rPID|||P1^^^AUTH~P2^^^OTHER\rORC|RE||ORC-ACC\rOBR|1|||X^Y\rOBX|1|CE|||C1^Coded text\rZDS|1.2.3.4^100^Application^DICOM\r';
    const [report] = parseOru(Er7Message.parse(raw));
    expect(report!.accessionNumber).toBe('ORC-ACC');
    expect(report!.studyInstanceUid).toBe('1.2.3.4');
    expect(report!.patient.identifiers.map((i) => i.assigningAuthority)).toEqual(['AUTH', 'OTHER']);
    expect(report!.text).toBe('Coded text');
  });

  it('names the missing field', () => {
    const noPid3 = 'MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rPID|1||\rOBR|1||A\r';
    expect(() => parseOru(Er7Message.parse(noPid3))).toThrow(expect.objectContaining({ code: 'HL7_REQUIRED_FIELD_MISSING', location: 'PID^2^3' }));
    const noObr = 'MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rPID|||1\r';
    expect(() => parseOru(Er7Message.parse(noObr))).toThrow(expect.objectContaining({ location: 'OBR' }));
  });

  it('gives each order the patient above it, and joins orders that share an accession', () => {
    const raw = [
      'MSH|^~\\&|RIS|H|VCF|H|2026||ORU^R01|M1|P|2.5.1',
      'PID|||A1^^^H',
      'ORC|RE||ACC-A',
      'OBR|1|||CT^CT',
      'OBX|1|TX|||Report A part 1',
      'OBR|2||ACC-A|CT^CT',
      'OBX|1|TX|||Report A part 2',
      'ZDS|1.2.3.4^^Application^DICOM',
      'PID|||B2^^^H',
      'OBR|1||ACC-B|CT^CT',
      'OBX|1|TX|||Report B',
    ].join('\r');
    const reports = parseOru(Er7Message.parse(raw));
    expect(reports.map((r) => [r.patient.identifiers[0]!.value, r.accessionNumber, r.text, r.studyInstanceUid])).toEqual([
      ['A1', 'ACC-A', 'Report A part 1\nReport A part 2', '1.2.3.4'],
      ['B2', 'ACC-B', 'Report B', null],
    ]);
  });

  it('reads PID-2 when PID-3 is empty, with the first subcomponent of the authority', () => {
    const raw = 'MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.3\rPID||X9^^^HOSP&1.2.3&ISO|\rOBR|1||ACC\r';
    expect(parseOru(Er7Message.parse(raw))[0]!.patient.identifiers).toEqual([{ value: 'X9', assigningAuthority: 'HOSP', typeCode: '' }]);
  });

  it('trims trailing blanks without quadratic backtracking on long runs of spaces', () => {
    const raw = `MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|2.5\rPID|||1\rOBR|1||ACC\rOBX|1|TX|||${' '.repeat(200_000)}x   \r`;
    expect(parseOru(Er7Message.parse(raw))[0]!.text).toBe(`${' '.repeat(200_000)}x`);
  });

  it('converts HL7 timestamps', () => {
    expect(hl7DateTimeToIso('20260102030405.12+0100')).toBe('2026-01-02T03:04:05.12+01:00');
    expect(hl7DateTimeToIso('202601')).toBe('2026-01');
    expect(hl7DateTimeToIso('garbage')).toBeNull();
  });
});
