import { MllpFramer, encodeMllp } from '../../../../src/ingest/hl7/mllp';

const frames = (f: MllpFramer, chunk: Buffer) => f.push(chunk).filter((e) => e.kind === 'frame').map((e) => (e as { payload: Buffer }).payload.toString());

describe('MllpFramer', () => {
  const a = 'MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rPID|||1\r';
  const b = 'MSH|^~\\&|A|B|C|D|20260101||ORU^R01|2|P|2.5\rPID|||2\r';

  it('yields several frames from one chunk', () => {
    const f = new MllpFramer(1024);
    expect(frames(f, Buffer.concat([encodeMllp(a), encodeMllp(b)]))).toEqual([a, b]);
    expect(f.buffered).toBe(0);
  });

  it('reassembles frames split at every byte position', () => {
    const stream = Buffer.concat([encodeMllp(a), encodeMllp(b)]);
    for (let cut = 1; cut < stream.length; cut++) {
      const f = new MllpFramer(1024);
      const out = [...frames(f, stream.subarray(0, cut)), ...frames(f, stream.subarray(cut))];
      expect(out).toEqual([a, b]);
    }
  });

  it('handles one byte at a time, and a frame end without its CR', () => {
    const f = new MllpFramer(1024);
    const stream = Buffer.concat([encodeMllp(a), Buffer.from([0x0b]), Buffer.from(b), Buffer.from([0x1c]), encodeMllp(a)]);
    const out: string[] = [];
    for (const byte of stream) out.push(...frames(f, Buffer.of(byte)));
    expect(out).toEqual([a, b, a]);
  });

  it('ignores CR/LF between frames but reports other bytes as garbage', () => {
    const f = new MllpFramer(1024);
    const events = f.push(Buffer.concat([Buffer.from('\r\n'), encodeMllp(a), Buffer.from('hello')]));
    expect(events.map((e) => e.kind)).toEqual(['frame', 'garbage']);
    expect(events[1]).toEqual({ kind: 'garbage', bytes: 5 });
  });

  it('drops an oversize frame but keeps its head so the reject can echo MSH-10', () => {
    const f = new MllpFramer(100);
    const big = a + 'OBX|1|TX|||' + 'x'.repeat(500) + '\r';
    const events = [...f.push(encodeMllp(big).subarray(0, 50)), ...f.push(encodeMllp(big).subarray(50)), ...f.push(encodeMllp(b))];
    expect(events.map((e) => e.kind)).toEqual(['oversize', 'frame']);
    const over = events[0] as { kind: 'oversize'; bytes: number; head: Buffer };
    expect(over.bytes).toBe(Buffer.byteLength(big));
    expect(over.head.toString()).toContain('ORU^R01|1|');
    expect(f.buffered).toBe(0);
  });
});

describe('MllpFramer state for the server (issue 16 item 4)', () => {
  const a = 'MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rPID|||1\r';

  it('says when it is inside a frame, with or without bytes held', () => {
    const f = new MllpFramer(1024);
    expect(f.midFrame).toBe(false);
    f.push(Buffer.of(0x0b));
    expect([f.midFrame, f.buffered]).toEqual([true, 0]);
    f.push(Buffer.from(a));
    expect([f.midFrame, f.buffered]).toEqual([true, a.length]);
    f.push(Buffer.of(0x1c, 0x0d));
    expect([f.midFrame, f.buffered]).toEqual([false, 0]);
  });

  it('drops an unfinished frame on discard and reports its bytes', () => {
    const f = new MllpFramer(1024);
    f.push(encodeMllp(a).subarray(0, 30));
    expect(f.discard()).toBe(29);
    expect([f.midFrame, f.buffered]).toEqual([false, 0]);
  });

  it('keeps a frame sent one byte per chunk as one buffer: the frame is intact and bounded by the limit', () => {
    const f = new MllpFramer(5000);
    const big = a + 'OBX|1|TX|||' + 'y'.repeat(4000) + '\r';
    const out: string[] = [];
    for (const byte of encodeMllp(big)) {
      out.push(...frames(f, Buffer.of(byte)));
      expect(f.buffered).toBeLessThanOrEqual(5000);
    }
    expect(out).toEqual([big]);
  });
});
