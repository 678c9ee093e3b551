/**
 * Lossless JPEG (ITU-T T.81 process 14, DICOM 1.2.840.10008.1.2.4.57 and .70 "SV1") decoder for one
 * greyscale component, in plain TypeScript: the transfer syntax older PACS exports of CT use most.
 * Huffman-coded prediction differences, predictors 1–7, point transform and restart intervals.
 */
import { AppError } from '../errors';

interface Huffman {
  /** For each code length 1..16: first code, count, offset into `symbols`. */
  firstCode: Int32Array;
  count: Int32Array;
  offset: Int32Array;
  symbols: Uint8Array;
}

function buildHuffman(counts: Uint8Array, symbols: Uint8Array): Huffman {
  const firstCode = new Int32Array(17);
  const count = new Int32Array(17);
  const offset = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    firstCode[len] = code;
    count[len] = counts[len - 1] as number;
    offset[len] = k;
    code = (code + (count[len] as number)) << 1;
    k += count[len] as number;
  }
  return { firstCode, count, offset, symbols };
}

function fail(msg: string): never {
  throw new AppError('VOLUME_INVALID', `JPEG Lossless: ${msg}`);
}

/**
 * Decodes one lossless JPEG frame into little-endian 16-bit samples (`out` must hold rows × columns × 2
 * bytes from `outOffset`). Returns the precision (P) declared by the frame.
 */
export function decodeJpegLossless(data: Uint8Array, rows: number, columns: number, out: Uint8Array, outOffset: number): number {
  let p = 0;
  const u16 = (at: number): number => ((data[at] as number) << 8) | (data[at + 1] as number);
  if (u16(0) !== 0xffd8) fail('no SOI marker');
  p = 2;
  const tables = new Map<number, Huffman>();
  let precision = 0;
  let height = 0;
  let width = 0;
  let restartInterval = 0;
  let predictor = 1;
  let pointTransform = 0;
  let tableId = 0;
  for (;;) {
    if (p + 4 > data.length) fail('truncated before SOS');
    if (data[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = u16(p);
    if (marker === 0xffff) {
      p++;
      continue;
    }
    const len = u16(p + 2);
    const seg = p + 4;
    if (marker === 0xffc3) {
      precision = data[seg] as number;
      height = u16(seg + 1);
      width = u16(seg + 3);
      if ((data[seg + 5] as number) !== 1) fail(`${data[seg + 5]} components (1 expected for CT)`);
    } else if (marker >= 0xffc0 && marker <= 0xffcf && marker !== 0xffc4 && marker !== 0xffc8 && marker !== 0xffcc) {
      fail(`SOF marker ${marker.toString(16)} is not lossless (process 14)`);
    } else if (marker === 0xffc4) {
      let q = seg;
      while (q < seg + len - 2) {
        const tcth = data[q] as number;
        const counts = data.subarray(q + 1, q + 17);
        let total = 0;
        for (const c of counts) total += c;
        tables.set(tcth & 0x0f, buildHuffman(counts, data.subarray(q + 17, q + 17 + total)));
        q += 17 + total;
      }
    } else if (marker === 0xffdd) {
      restartInterval = u16(seg);
    } else if (marker === 0xffda) {
      const ns = data[seg] as number;
      if (ns !== 1) fail(`${ns} components in scan`);
      tableId = ((data[seg + 2] as number) >> 4) & 0x0f;
      predictor = data[seg + 1 + ns * 2] as number;
      pointTransform = (data[seg + 3 + ns * 2] as number) & 0x0f;
      p = seg + len - 2;
      break;
    } else if (marker === 0xffd9) {
      fail('EOI before SOS');
    }
    p = seg + len - 2;
  }
  if (precision === 0) fail('no SOF3 frame header');
  if (height !== rows || width !== columns) fail(`frame is ${width}x${height}, DICOM says ${columns}x${rows}`);
  if (predictor < 1 || predictor > 7) fail(`predictor ${predictor}`);
  const huff = tables.get(tableId) ?? fail(`Huffman table ${tableId} missing`);

  // Bit reader over the entropy-coded segment (0xFF00 → 0xFF; other 0xFFxx are markers).
  let bitBuf = 0;
  let bitCnt = 0;
  let pos = p;
  let hitMarker = false;
  const fill = (): void => {
    while (bitCnt <= 24) {
      let byte = 0;
      if (!hitMarker && pos < data.length) {
        byte = data[pos] as number;
        if (byte === 0xff) {
          const next = data[pos + 1] as number;
          if (next === 0x00) pos += 2;
          else {
            hitMarker = true;
            byte = 0;
          }
        } else pos++;
      }
      bitBuf = (bitBuf << 8) | byte;
      bitCnt += 8;
    }
  };
  const readBits = (n: number): number => {
    if (n === 0) return 0;
    if (bitCnt < n) fill();
    bitCnt -= n;
    return (bitBuf >>> bitCnt) & ((1 << n) - 1);
  };
  // 9-bit lookup for the short codes (almost all of them): entry = (length << 8) | symbol, 0 = not short.
  const LOOKUP_BITS = 9;
  const lookup = new Uint16Array(1 << LOOKUP_BITS);
  for (let len = 1; len <= LOOKUP_BITS; len++) {
    for (let k = 0; k < (huff.count[len] as number); k++) {
      const code = (huff.firstCode[len] as number) + k;
      const sym = huff.symbols[(huff.offset[len] as number) + k] as number;
      const shift = LOOKUP_BITS - len;
      for (let fillBits = 0; fillBits < 1 << shift; fillBits++) lookup[(code << shift) | fillBits] = (len << 8) | sym;
    }
  }
  const decodeSymbol = (): number => {
    if (bitCnt < LOOKUP_BITS) fill();
    const entry = lookup[(bitBuf >>> (bitCnt - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1)] as number;
    if (entry !== 0) {
      bitCnt -= entry >> 8;
      return entry & 0xff;
    }
    let code = 0;
    for (let len = 1; len <= 16; len++) {
      code = (code << 1) | readBits(1);
      const c = huff.count[len] as number;
      const first = huff.firstCode[len] as number;
      if (c > 0 && code - first < c && code >= first) return huff.symbols[(huff.offset[len] as number) + code - first] as number;
    }
    return fail('bad Huffman code');
  };
  const restart = (): void => {
    // Byte-align, then skip the RSTn marker.
    bitCnt = 0;
    bitBuf = 0;
    hitMarker = false;
    while (pos + 1 < data.length && !(data[pos] === 0xff && (data[pos + 1] as number) >= 0xd0 && (data[pos + 1] as number) <= 0xd7)) pos++;
    pos += 2;
  };

  const n = rows * columns;
  const samples = new Int32Array(n);
  const mask = precision >= 32 ? 0xffffffff : (1 << precision) - 1;
  const initial = 1 << (precision - pointTransform - 1);
  // Restarts fall on row boundaries in lossless mode (T.81 H.1.1): after the scan start and each restart
  // the first row predicts from the left (its first sample from 2^(P-Pt-1)), later rows start from above.
  let sinceRestart = 0;
  let firstLine = true;
  for (let i = 0; i < n; i++) {
    if (restartInterval > 0 && sinceRestart === restartInterval) {
      restart();
      sinceRestart = 0;
      firstLine = true;
    }
    const x = i % columns;
    const ssss = decodeSymbol();
    let diff: number;
    if (ssss === 0) diff = 0;
    else if (ssss === 16) diff = 32768;
    else {
      const v = readBits(ssss);
      diff = v < 1 << (ssss - 1) ? v - (1 << ssss) + 1 : v;
    }
    let pred: number;
    if (firstLine) pred = x === 0 ? initial : (samples[i - 1] as number);
    else if (x === 0) pred = samples[i - columns] as number;
    else {
      const ra = samples[i - 1] as number;
      const rb = samples[i - columns] as number;
      const rc = samples[i - columns - 1] as number;
      switch (predictor) {
        case 1:
          pred = ra;
          break;
        case 2:
          pred = rb;
          break;
        case 3:
          pred = rc;
          break;
        case 4:
          pred = ra + rb - rc;
          break;
        case 5:
          pred = ra + ((rb - rc) >> 1);
          break;
        case 6:
          pred = rb + ((ra - rc) >> 1);
          break;
        default:
          pred = (ra + rb) >> 1;
      }
    }
    samples[i] = (pred + diff) & mask;
    sinceRestart++;
    if (x === columns - 1) firstLine = false;
  }
  for (let i = 0; i < n; i++) {
    const v = ((samples[i] as number) << pointTransform) & 0xffff;
    out[outOffset + i * 2] = v & 0xff;
    out[outOffset + i * 2 + 1] = v >> 8;
  }
  return precision;
}
