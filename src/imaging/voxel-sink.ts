/**
 * Stored voxels → HU int16, a chunk at a time: the volume readers (NIfTI, NRRD, MetaImage) stream raw or
 * decompressed bytes through one sink that writes straight into the preallocated volume, so a file is
 * never held whole in memory (an int16 volume costs its own size; a float64 one is never expanded).
 */
// Module-local aliases: global lookups are slow inside vm contexts (jest), and these run per voxel.
const { max, min, round } = Math;

export type ElementType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

export const ELEMENT_BYTES: Record<ElementType, number> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
};

type Reader = (v: DataView, o: number, le: boolean) => number;
const READERS: Record<ElementType, Reader> = {
  int8: (v, o) => v.getInt8(o),
  uint8: (v, o) => v.getUint8(o),
  int16: (v, o, le) => v.getInt16(o, le),
  uint16: (v, o, le) => v.getUint16(o, le),
  int32: (v, o, le) => v.getInt32(o, le),
  uint32: (v, o, le) => v.getUint32(o, le),
  float32: (v, o, le) => v.getFloat32(o, le),
  float64: (v, o, le) => v.getFloat64(o, le),
};

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Converts stored values (value·slope + inter, rounded, clamped to int16; NaN → −1024) into `out`,
 * element by element across chunk boundaries. `push` returns false once `out` is full (the caller can
 * stop reading); `skip` bytes at the start are discarded (NRRD "byte skip" after decompression).
 */
export class VoxelSink {
  private readonly size: number;
  private readonly read: Reader;
  /** Bytes of a partial element carried over from the previous chunk. */
  private readonly carry: Uint8Array;
  private carryLen = 0;
  private written = 0;
  private readonly copy: boolean;
  private readonly outBytes: Uint8Array;

  constructor(
    private readonly out: Int16Array,
    private readonly type: ElementType,
    private readonly littleEndian: boolean,
    private readonly slope = 1,
    private readonly inter = 0,
    private skip = 0,
  ) {
    this.size = ELEMENT_BYTES[type];
    this.read = READERS[type];
    this.carry = new Uint8Array(this.size);
    // Unscaled int16 in the host's byte order is copied byte for byte (most CT files).
    this.copy = type === 'int16' && littleEndian === HOST_LITTLE_ENDIAN && slope === 1 && inter === 0;
    this.outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** Voxels written so far. */
  get voxels(): number {
    return this.copy ? this.written >> 1 : this.written;
  }

  get full(): boolean {
    return this.voxels >= this.out.length;
  }

  push(chunk: Uint8Array): boolean {
    let c = chunk;
    if (this.skip > 0) {
      const s = min(this.skip, c.length);
      this.skip -= s;
      c = c.subarray(s);
    }
    if (c.length === 0) return !this.full;
    if (this.copy) {
      const take = min(c.length, this.outBytes.length - this.written);
      this.outBytes.set(c.subarray(0, take), this.written);
      this.written += take;
      return !this.full;
    }
    const { size, out, read, littleEndian: le, slope, inter } = this;
    let off = 0;
    if (this.carryLen > 0) {
      const need = size - this.carryLen;
      const take = min(need, c.length);
      this.carry.set(c.subarray(0, take), this.carryLen);
      this.carryLen += take;
      off = take;
      if (this.carryLen < size) return true;
      this.carryLen = 0;
      if (this.written < out.length) out[this.written++] = toHu(read(new DataView(this.carry.buffer), 0, le), slope, inter);
    }
    const view = new DataView(c.buffer, c.byteOffset, c.byteLength);
    const whole = off + Math.floor((c.length - off) / size) * size;
    const limit = min(whole, off + (out.length - this.written) * size);
    let w = this.written;
    if (slope === 1 && inter === 0) {
      for (let o = off; o < limit; o += size) {
        const v = read(view, o, le);
        out[w++] = v !== v ? -1024 : v <= -32768 ? -32768 : v >= 32767 ? 32767 : round(v);
      }
    } else {
      for (let o = off; o < limit; o += size) out[w++] = toHu(read(view, o, le), slope, inter);
    }
    this.written = w;
    if (w < out.length && whole < c.length) {
      this.carry.set(c.subarray(whole), 0);
      this.carryLen = c.length - whole;
    }
    return w < out.length;
  }
}

function toHu(v: number, slope: number, inter: number): number {
  const x = v * slope + inter;
  return x !== x ? -1024 : max(-32768, min(32767, round(x)));
}
