import iconv from 'iconv-lite';
import { AppError } from '../../errors';

/**
 * A small ER7 (pipe-delimited HL7 v2) reader of our own rather than @medplum/core's Hl7Message:
 * we need the raw bytes decoded per MSH-18 before parsing, every escape sequence of HL7 v2.x §2.7
 * decoded (Medplum keeps \.br\ and \Xhh\ as they are), error locations for ERR-2, and tolerance of
 * the CR/LF/CRLF mixes real senders emit. The bench compares its speed with Medplum's and
 * node-hl7-client's parsers.
 */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export const DEFAULT_DELIMITERS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/** A segment as its fields, each kept raw (still escaped); index n is field n (for MSH, n is MSH-n). */
export interface Segment {
  name: string;
  fields: string[];
  /** 1-based position among the message's segments, for ERR-2 error locations. */
  sequence: number;
}

/** MSH-18 values we decode (HL7 table 0211), mapped to iconv-lite encodings. */
const CHARSETS: Record<string, string> = {
  '': 'utf8',
  ASCII: 'latin1',
  'UNICODE UTF-8': 'utf8',
  'UTF-8': 'utf8',
  UTF8: 'utf8',
  '8859/1': 'latin1',
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/9': 'iso-8859-9',
  '8859/15': 'iso-8859-15',
  'WINDOWS-1252': 'win1252',
  CP1252: 'win1252',
};

export class Er7Message {
  readonly delimiters: Delimiters;
  readonly segments: Segment[];
  /** The character set the bytes were decoded with. */
  readonly charset: string;

  constructor(delimiters: Delimiters, segments: Segment[], charset: string) {
    this.delimiters = delimiters;
    this.segments = segments;
    this.charset = charset;
  }

  /** Decodes the bytes (MSH-18 honoured) and splits them; throws HL7_MALFORMED when there is no MSH. */
  static parse(input: Buffer | string): Er7Message {
    const { text, charset } = typeof input === 'string' ? { text: input, charset: 'utf8' } : decodeBytes(input);
    const start = text.indexOf('MSH');
    if (start === -1 || text.length < start + 8) throw new AppError('HL7_MALFORMED', 'no MSH segment', { location: 'MSH' });
    if (/[^\s]/.test(text.slice(0, start).replace(/^\uFEFF/, ''))) {
      throw new AppError('HL7_MALFORMED', 'data before the MSH segment', { location: 'MSH' });
    }
    const delimiters = readDelimiters(text.slice(start, start + 9));
    const segments: Segment[] = [];
    // Real feeds mix CR, LF and CRLF; the standard says CR. Empty lines are not segments.
    for (const line of text.slice(start).split(/\r\n|\r|\n/)) {
      if (line.length === 0 || /^\s+$/.test(line)) continue;
      const name = line.slice(0, 3);
      const last = segments[segments.length - 1];
      if (!/^[A-Z][A-Z0-9]{2}$/.test(name) || (line.length > 3 && line[3] !== delimiters.field)) {
        // Not a segment: a value that a sender wrapped over lines (base64 PDFs, long IDs). It belongs to
        // the segment before it, as HAPI and Mirth read it.
        if (!last) throw new AppError('HL7_MALFORMED', 'the message does not start with MSH', { location: 'MSH' });
        const tail = line.split(delimiters.field);
        last.fields[last.fields.length - 1] += tail[0]!;
        last.fields.push(...tail.slice(1));
        continue;
      }
      const parts = line.split(delimiters.field);
      // MSH-1 is the field separator itself, so MSH fields are shifted by one against the split.
      const fields = name === 'MSH' ? ['MSH', delimiters.field, ...parts.slice(1)] : parts;
      segments.push({ name, fields, sequence: segments.length + 1 });
    }
    return new Er7Message(delimiters, segments, charset);
  }

  segment(name: string, occurrence = 0): Segment | undefined {
    let n = 0;
    for (const s of this.segments) if (s.name === name && n++ === occurrence) return s;
    return undefined;
  }

  /** Field `n` of a segment, still escaped. */
  rawField(segment: Segment | undefined, n: number): string {
    return segment?.fields[n] ?? '';
  }

  /** Repetitions of a field, each split into components, each component's subcomponents joined raw. */
  repetitions(segment: Segment | undefined, n: number): string[] {
    const raw = this.rawField(segment, n);
    if (raw === '') return [];
    // MSH-2 holds the delimiters themselves and must not be split.
    if (segment?.name === 'MSH' && n <= 2) return [raw];
    return raw.split(this.delimiters.repetition);
  }

  /** Component `c` (1-based) of the first repetition (or of `value`), unescaped. */
  component(segment: Segment | undefined, n: number, c = 1, rep = 0): string {
    return this.componentOf(this.repetitions(segment, n)[rep] ?? '', c);
  }

  componentOf(value: string, c: number, sub = 0): string {
    const comp = value.split(this.delimiters.component)[c - 1] ?? '';
    const part = sub === 0 ? comp : (comp.split(this.delimiters.subcomponent)[sub - 1] ?? '');
    return this.unescape(part);
  }

  /** Whole field value unescaped, delimiters inside it kept as they are (for free text). */
  text(segment: Segment | undefined, n: number): string {
    return this.unescape(this.rawField(segment, n));
  }

  /** Decodes HL7 escape sequences (v2.x §2.7): delimiters, \.br\ and \.sp\ line breaks, \Xhh\ bytes. */
  unescape(value: string): string {
    const e = this.delimiters.escape;
    if (!value.includes(e)) return value;
    let out = '';
    let i = 0;
    while (i < value.length) {
      const ch = value[i]!;
      if (ch !== e) {
        out += ch;
        i++;
        continue;
      }
      const close = value.indexOf(e, i + 1);
      if (close === -1) {
        out += value.slice(i); // an unterminated escape is literal text
        break;
      }
      out += this.decodeEscape(value.slice(i + 1, close));
      i = close + 1;
    }
    return out;
  }

  private decodeEscape(seq: string): string {
    const d = this.delimiters;
    switch (seq) {
      case 'F': return d.field;
      case 'S': return d.component;
      case 'T': return d.subcomponent;
      case 'R': return d.repetition;
      case 'E': return d.escape;
      case '.br': return '\n';
      case 'H': case 'N': return ''; // highlighting on/off: no meaning in plain text
      default: break;
    }
    if (/^\.sp\s*\d*$/.test(seq)) return '\n'.repeat(Math.max(1, Number(seq.slice(3).trim() || 1)));
    if (/^\.(in|ti|sk|ce|fi|nf)/.test(seq)) return seq.startsWith('.sk') ? ' ' : '';
    if (/^X[0-9A-Fa-f]*$/.test(seq) && seq.length % 2 === 1) {
      const bytes = Buffer.from(seq.slice(1), 'hex');
      return iconv.decode(bytes, this.charset);
    }
    if (/^[CM][0-9A-Fa-f]+$/.test(seq)) return ''; // ISO 2022 charset switches: dropped, text kept
    return `${this.delimiters.escape}${seq}${this.delimiters.escape}`; // unknown: keep literally
  }
}

function readDelimiters(mshHead: string): Delimiters {
  const field = mshHead[3];
  const enc = mshHead.slice(4).split(field ?? '|')[0] ?? '';
  if (!field || /[A-Za-z0-9\s]/.test(field) || enc.length < 2) {
    throw new AppError('HL7_MALFORMED', 'MSH-1/MSH-2 do not define the encoding characters', { location: 'MSH^1^2' });
  }
  return {
    field,
    component: enc[0]!,
    repetition: enc[1]!,
    escape: enc[2] ?? DEFAULT_DELIMITERS.escape,
    subcomponent: enc[3] ?? DEFAULT_DELIMITERS.subcomponent,
  };
}

/**
 * Decodes message bytes by MSH-18. The MSH segment is ASCII in every HL7 character set we accept, so
 * MSH-18 is read from a latin1 view first. With MSH-18 empty, UTF-8 is tried and latin1 used when the
 * bytes are not valid UTF-8 (many 8859/1 senders leave MSH-18 empty).
 */
function decodeBytes(bytes: Buffer): { text: string; charset: string } {
  const head = bytes.subarray(0, 2048).toString('latin1');
  const mshAt = head.indexOf('MSH');
  let declared = '';
  if (mshAt !== -1 && head.length > mshAt + 3) {
    const fs = head[mshAt + 3]!;
    const line = head.slice(mshAt).split(/\r|\n/)[0]!;
    declared = (line.split(fs)[17] ?? '').split(head[mshAt + 5] ?? '~')[0]!.trim().toUpperCase();
  }
  const encoding = CHARSETS[declared];
  if (encoding === undefined) {
    throw new AppError('HL7_UNSUPPORTED_CHARSET', `character set "${declared.slice(0, 32)}" in MSH-18 is not supported`, {
      location: 'MSH^1^18',
    });
  }
  if (declared === '') {
    const text = bytes.toString('utf8');
    return text.includes('\uFFFD') ? { text: bytes.toString('latin1'), charset: 'latin1' } : { text, charset: 'utf8' };
  }
  return { text: iconv.decode(bytes, encoding), charset: encoding };
}
