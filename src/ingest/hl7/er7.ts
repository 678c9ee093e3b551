import { isUtf8 } from 'node:buffer';
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

/**
 * What reading one message may cost. Any MLLP or HTTP peer can send a frame of MLLP_MAX_FRAME_BYTES,
 * so the work per frame is bounded here rather than by what the bytes ask for (issue 16: a 4 MB frame
 * of \X41\ escapes held the event loop for seconds). Past a bound the message is refused with
 * PAYLOAD_TOO_LARGE (AE, ERR-3 207: a limit of this application, not an HL7 syntax error). Radiology
 * ORU^R01 stay far below them: tens of segments, under 60 fields per segment, a few repetitions, escapes
 * for line breaks, delimiters and accented letters.
 */
export const ER7_LIMITS = {
  /** Lines: segments and the lines of values wrapped over several (a 4 MB base64 PDF at 76 a line: 55,000). */
  lines: 100_000,
  /** Segments per message (a long report sent as one OBX per line has a few thousand). */
  segments: 10_000,
  /** Fields per segment (the longest standard segments define about 50). */
  fields: 1_000,
  /** Repetitions of one field that we read (PID-3; OBX-5 with one repetition per report line). */
  repetitions: 10_000,
  /** Escape sequences decoded per message, over every field read. */
  escapes: 20_000,
  /** Line breaks one \.sp n\ may stand for (n is attacker-chosen: \.sp999999999\ is 10 bytes). */
  spLines: 100,
} as const;

function tooLarge(what: string, location?: string): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `message too complex: ${what}`, location === undefined ? undefined : { location });
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
  /** Escape sequences this message may still decode (ER7_LIMITS.escapes): fields are decoded when read. */
  private escapesLeft: number = ER7_LIMITS.escapes;

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
    // At most one field past the bound is split off, so a line of a million separators costs no more
    // than a line of text; the check below then refuses the segment.
    const splitFields = (line: string) => line.split(delimiters.field, ER7_LIMITS.fields + 2);
    const checkFields = (seg: Segment) => {
      if (seg.fields.length - 1 > ER7_LIMITS.fields) throw tooLarge(`segment ${seg.name} has more than ${ER7_LIMITS.fields} fields`, `${seg.name}^${seg.sequence}`);
    };
    // Real feeds mix CR, LF and CRLF; the standard says CR. Empty lines are not segments, so a run of
    // breaks is one. Split one line past the bound at most: a frame of line breaks costs no more than text.
    const lines = text.slice(start).split(/[\r\n]+/, ER7_LIMITS.lines + 1);
    if (lines.length > ER7_LIMITS.lines) throw tooLarge(`more than ${ER7_LIMITS.lines} lines`);
    for (const line of lines) {
      if (line.length === 0 || /^\s+$/.test(line)) continue;
      const name = line.slice(0, 3);
      const last = segments[segments.length - 1];
      if (!/^[A-Z][A-Z0-9]{2}$/.test(name) || (line.length > 3 && line[3] !== delimiters.field)) {
        // Not a segment: a value that a sender wrapped over lines (base64 PDFs, long IDs). It belongs to
        // the segment before it, as HAPI and Mirth read it.
        if (!last) throw new AppError('HL7_MALFORMED', 'the message does not start with MSH', { location: 'MSH' });
        const tail = splitFields(line);
        last.fields[last.fields.length - 1] += tail[0]!;
        for (let k = 1; k < tail.length; k++) last.fields.push(tail[k]!); // not push(...tail): a spread that long overflows the stack
        checkFields(last);
        continue;
      }
      const sequence = segments.length + 1;
      if (name === 'MSH' && last) {
        // Two messages in one frame would get one ACK for both, and the second's orders would be filed
        // under the first's MSH-10: refused whole, the sender splits them (HL7 table 0357 100, segment sequence error).
        throw new AppError('HL7_MALFORMED', `one message per frame: a second MSH at segment ${sequence}`, { location: `MSH^${sequence}` });
      }
      if (sequence > ER7_LIMITS.segments) throw tooLarge(`more than ${ER7_LIMITS.segments} segments`, `${name}^${sequence}`);
      const parts = splitFields(line);
      // MSH-1 is the field separator itself, so MSH fields are shifted by one against the split.
      const fields = name === 'MSH' ? ['MSH', delimiters.field, ...parts.slice(1)] : parts;
      const segment = { name, fields, sequence };
      checkFields(segment);
      segments.push(segment);
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

  /** Repetitions of a field, each still escaped; more than ER7_LIMITS.repetitions refuses the message. */
  repetitions(segment: Segment | undefined, n: number): string[] {
    const raw = this.rawField(segment, n);
    if (raw === '') return [];
    // MSH-2 holds the delimiters themselves and must not be split.
    if (segment?.name === 'MSH' && n <= 2) return [raw];
    const reps = raw.split(this.delimiters.repetition, ER7_LIMITS.repetitions + 1);
    if (reps.length > ER7_LIMITS.repetitions) {
      throw tooLarge(`field ${segment?.name ?? '?'}-${n} has more than ${ER7_LIMITS.repetitions} repetitions`, `${segment?.name ?? ''}^${segment?.sequence ?? ''}^${n}`);
    }
    return reps;
  }

  /** Component `c` (1-based) of the first repetition (or of `value`), unescaped. */
  component(segment: Segment | undefined, n: number, c = 1, rep = 0): string {
    return this.componentOf(this.repetitions(segment, n)[rep] ?? '', c);
  }

  componentOf(value: string, c: number, sub = 0): string {
    // Split no further than the part asked for: a value of a million component separators costs nothing.
    const comp = value.split(this.delimiters.component, c)[c - 1] ?? '';
    const part = sub === 0 ? comp : (comp.split(this.delimiters.subcomponent, sub)[sub - 1] ?? '');
    return this.unescape(part);
  }

  /** Whole field value unescaped, delimiters inside it kept as they are (for free text). */
  text(segment: Segment | undefined, n: number): string {
    return this.unescape(this.rawField(segment, n));
  }

  /**
   * Decodes HL7 escape sequences (v2.x §2.7): delimiters, \.br\ and \.sp\ line breaks, \Xhh\ bytes.
   * Counts them against the message's ER7_LIMITS.escapes and refuses the message past it.
   */
  unescape(value: string): string {
    const e = this.delimiters.escape;
    let at = value.indexOf(e);
    if (at === -1) return value;
    const out: string[] = [];
    let from = 0;
    while (at !== -1) {
      const close = value.indexOf(e, at + 1);
      if (close === -1) break; // an unterminated escape is literal text
      if (--this.escapesLeft < 0) throw tooLarge(`more than ${ER7_LIMITS.escapes} escape sequences`);
      out.push(value.slice(from, at), this.decodeEscape(value.slice(at + 1, close)));
      from = close + 1;
      at = value.indexOf(e, from);
    }
    out.push(value.slice(from));
    return out.join('');
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
    // Dispatched on the first character: a regex per kind on every sequence cost microseconds each.
    switch (seq[0]) {
      case '.':
        if (/^\.sp\s*\d*$/.test(seq)) return '\n'.repeat(Math.min(ER7_LIMITS.spLines, Math.max(1, Number(seq.slice(3).trim() || 1))));
        if (/^\.(in|ti|sk|ce|fi|nf)/.test(seq)) return seq.startsWith('.sk') ? ' ' : '';
        break;
      case 'X': {
        const text = this.decodeHex(seq);
        if (text !== null) return text;
        break;
      }
      case 'C':
      case 'M':
        if (/^[CM][0-9A-Fa-f]+$/.test(seq)) return ''; // ISO 2022 charset switches: dropped, text kept
        break;
      default:
        break;
    }
    return `${this.delimiters.escape}${seq}${this.delimiters.escape}`; // unknown: keep literally
  }

  /** \Xhhhh..\: bytes in the message's character set; null when `seq` is not X and pairs of hex digits. */
  private decodeHex(seq: string): string | null {
    if (seq.length % 2 === 0) return null;
    const bytes = Buffer.allocUnsafe((seq.length - 1) / 2);
    let ascii = true;
    for (let k = 0; k < bytes.length; k++) {
      const hi = hexDigit(seq.charCodeAt(1 + 2 * k));
      const lo = hexDigit(seq.charCodeAt(2 + 2 * k));
      if (hi < 0 || lo < 0) return null;
      bytes[k] = hi * 16 + lo;
      if (hi >= 8) ascii = false;
    }
    // ASCII (an escaped delimiter or control character, the usual case) reads the same in every character
    // set we accept, and Node decodes UTF-8 and latin1 itself: iconv-lite only for the others, as it
    // costs a microsecond per call.
    if (ascii || this.charset === 'latin1') return bytes.toString('latin1');
    if (this.charset === 'utf8') return bytes.toString('utf8');
    return iconv.decode(bytes, this.charset);
  }
}

/** The value of a hex digit's char code, or -1. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  const lower = code | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1; // a-f, A-F
}

function readDelimiters(mshHead: string): Delimiters {
  const field = mshHead[3];
  const enc = mshHead.slice(4).split(field ?? '|')[0] ?? '';
  const delimiters = {
    field: field ?? '',
    component: enc[0] ?? '',
    repetition: enc[1] ?? '',
    escape: enc[2] ?? DEFAULT_DELIMITERS.escape,
    subcomponent: enc[3] ?? DEFAULT_DELIMITERS.subcomponent,
  };
  // Five distinct characters, none a letter, digit or space: "MSH\X41\|..." would otherwise make digits
  // delimiters, and the ACK, written with the message's own delimiters, unreadable.
  const chars = Object.values(delimiters);
  if (enc.length < 2 || chars.some((c) => c === '' || /[A-Za-z0-9\s]/.test(c)) || new Set(chars).size !== chars.length) {
    throw new AppError('HL7_MALFORMED', 'MSH-1/MSH-2 do not define the encoding characters', { location: 'MSH^1^2' });
  }
  return delimiters;
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
  // Declared UTF-8 that is not: decoding would put replacement characters into the report silently.
  if (encoding === 'utf8' && !isUtf8(bytes)) {
    throw new AppError('HL7_INVALID_ENCODING', 'MSH-18 declares UNICODE UTF-8 but the message bytes are not valid UTF-8', { location: 'MSH^1^18' });
  }
  return { text: iconv.decode(bytes, encoding), charset: encoding };
}
