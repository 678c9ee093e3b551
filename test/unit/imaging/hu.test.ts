import { convertToHu, headersFromDicomJson, parseHeaders } from '../../../src/imaging/dicom';
import { assembleVolume } from '../../../src/imaging/volume';
import { makeSlice, sources } from './helpers';

const le16 = (vals: number[]): Uint8Array => {
  const b = new Uint8Array(vals.length * 2);
  const v = new DataView(b.buffer);
  vals.forEach((x, i) => v.setUint16(i * 2, x & 0xffff, true));
  return b;
};
const be16 = (vals: number[]): Uint8Array => {
  const b = new Uint8Array(vals.length * 2);
  const v = new DataView(b.buffer);
  vals.forEach((x, i) => v.setUint16(i * 2, x & 0xffff, false));
  return b;
};
const base = { pixelRepresentation: 0 as 0 | 1, bitsStored: 16, rescaleSlope: 1, rescaleIntercept: 0, pixelPaddingValue: undefined };

describe('stored values to HU', () => {
  it('applies intercept to unsigned pixels', () => {
    const out = new Int16Array(3);
    convertToHu(le16([0, 1024, 4095]), false, { ...base, rescaleIntercept: -1024 }, out, 0);
    expect(Array.from(out)).toEqual([-1024, 0, 3071]);
  });

  it('reads two’s complement when PixelRepresentation = 1, and sign-extends BitsStored = 12', () => {
    const out = new Int16Array(3);
    convertToHu(le16([-1000, -1, 700]), false, { ...base, pixelRepresentation: 1 }, out, 0);
    expect(Array.from(out)).toEqual([-1000, -1, 700]);
    // 12-bit signed −1000 stored without sign extension in the high nibble.
    convertToHu(le16([(-1000 & 0x0fff) as number, 0x07ff, 0x0800]), false, { ...base, pixelRepresentation: 1, bitsStored: 12 }, out, 0);
    expect(Array.from(out)).toEqual([-1000, 2047, -2048]);
  });

  it('masks bits above BitsStored for unsigned data and maps PixelPaddingValue to air', () => {
    const out = new Int16Array(3);
    convertToHu(le16([0xf000 | 1024, 2000, 63536]), false, { ...base, bitsStored: 12, rescaleIntercept: -1024 }, out, 0);
    expect(out[0]).toBe(0);
    convertToHu(le16([63536, 1024, 0]), false, { ...base, rescaleIntercept: -1024, pixelPaddingValue: 63536 }, out, 0);
    expect(Array.from(out)).toEqual([-1024, 0, -1024]);
  });

  it('applies a non-unit slope with rounding and clamps to int16', () => {
    const out = new Int16Array(3);
    convertToHu(le16([0, 3, 65535]), false, { ...base, rescaleSlope: 0.5, rescaleIntercept: -1000.25 }, out, 0);
    expect(Array.from(out)).toEqual([-1000, -999, 31767]);
    convertToHu(le16([65535]), false, { ...base, rescaleSlope: 2, rescaleIntercept: 0 }, out, 0);
    expect(out[0]).toBe(32767);
  });

  it('swaps bytes for Explicit VR Big Endian', () => {
    const out = new Int16Array(2);
    convertToHu(be16([-5, 300]), true, { ...base, pixelRepresentation: 1 }, out, 0);
    expect(Array.from(out)).toEqual([-5, 300]);
  });

  it('decodes signed and unsigned Part-10 slices with their rescale through assembly', () => {
    const signed = [0, 2].map((z) => makeSlice({ imagePositionPatient: [0, 0, z], pixelRepresentation: 1, rescaleIntercept: 0, rescaleSlope: 1 }, (c) => -1000 + c * 500));
    const unsigned = [0, 2].map((z) => makeSlice({ imagePositionPatient: [0, 0, z], rescaleIntercept: -1024, rescaleSlope: 1 }, (c) => 24 + c * 500));
    const scaled = [0, 2].map((z) => makeSlice({ imagePositionPatient: [0, 0, z], rescaleIntercept: -1000, rescaleSlope: 0.5 }, (c) => c * 1000));
    const row = (bufs: Buffer[]) => Array.from(assembleVolume(sources(bufs)).volume.data.slice(0, 4));
    expect(row(signed)).toEqual([-1000, -500, 0, 500]);
    expect(row(unsigned)).toEqual([-1000, -500, 0, 500]);
    expect(row(scaled)).toEqual([-1000, -500, 0, 500]);
    const h = parseHeaders(signed[0]!).frames[0]!;
    expect(h.pixelRepresentation).toBe(1);
    expect(h.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
  });
});

describe('pixel data location', () => {
  it('finds pixels that are not the last element (trailing padding) through the full parse', () => {
    const value = (c: number, r: number) => 1024 + c + 10 * r;
    const plain = [0, 2].map((z) => makeSlice({ imagePositionPatient: [0, 0, z] }, value));
    const padded = [0, 2].map((z) =>
      makeSlice(
        {
          imagePositionPatient: [0, 0, z],
          extra: { DataSetTrailingPadding: new Uint8Array(6).buffer, _vrMap: { PixelData: 'OW', DataSetTrailingPadding: 'OB' } },
        },
        value,
      ),
    );
    expect(padded[0]!.length).toBeGreaterThan(plain[0]!.length);
    const a = assembleVolume(sources(plain)).volume.data;
    const b = assembleVolume(sources(padded)).volume.data;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(a[1 + 4 * 2]).toBe(21);
  });
});

/** PackBits with both packet kinds: runs of ≥ 3 equal bytes become repeat packets, the rest literals. */
function packBits(src: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let run = 1;
    while (i + run < src.length && run < 128 && src[i + run] === src[i]) run++;
    if (run >= 3) {
      out.push((1 - run) & 0xff, src[i]!);
      i += run;
      continue;
    }
    const start = i;
    while (i < src.length && i - start < 128 && !(i + 2 < src.length && src[i] === src[i + 1] && src[i] === src[i + 2])) i++;
    out.push(i - start - 1, ...src.subarray(start, i));
  }
  return out;
}

function rleFrame(samples: Uint16Array): ArrayBuffer {
  const hi = new Uint8Array(samples.length);
  const lo = new Uint8Array(samples.length);
  samples.forEach((v, k) => {
    hi[k] = v >> 8;
    lo[k] = v & 0xff;
  });
  const s0 = packBits(hi);
  const s1 = packBits(lo);
  if (s0.length % 2) s0.push(0x80); // segments are padded to even length with a no-op
  const buf = new Uint8Array(64 + s0.length + s1.length + ((s1.length % 2) as number));
  const view = new DataView(buf.buffer);
  view.setUint32(0, 2, true);
  view.setUint32(4, 64, true);
  view.setUint32(8, 64 + s0.length, true);
  buf.set(s0, 64);
  buf.set(s1, 64 + s0.length);
  return buf.buffer;
}

describe('RLE Lossless', () => {
  it('decodes 16-bit RLE frames (repeat and literal packets) to the same HU as uncompressed', () => {
    const value = (c: number, r: number) => (r < 2 ? 1024 : 24 + c * 300 + r);
    const plain = [0, 2].map((z) => makeSlice({ imagePositionPatient: [0, 0, z], rows: 4, columns: 8 }, value));
    const rle = [0, 2].map((z) => {
      const px = new Uint16Array(32);
      for (let r = 0; r < 4; r++) for (let c = 0; c < 8; c++) px[r * 8 + c] = value(c, r);
      return makeSlice({ imagePositionPatient: [0, 0, z], rows: 4, columns: 8, transferSyntaxUid: '1.2.840.10008.1.2.5', encapsulatedFrames: [rleFrame(px)] });
    });
    expect(parseHeaders(rle[0]!).transferSyntaxUid).toBe('1.2.840.10008.1.2.5');
    const a = assembleVolume(sources(plain)).volume.data;
    const b = assembleVolume(sources(rle)).volume.data;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(b[8 * 3 + 7]).toBe(24 + 7 * 300 + 3 - 1024);
  });
});

describe('PixelPaddingValue signedness', () => {
  it('matches a padding value read as US (implicit VR) against signed pixels', () => {
    const ds = {
      '00280103': { vr: 'US', Value: [1] },
      '00280120': { vr: 'US', Value: [63536] },
    };
    expect(headersFromDicomJson(ds)[0]!.pixelPaddingValue).toBe(-2000);
  });
});
