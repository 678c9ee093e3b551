/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol): <VT> message <FS><CR>.
 *
 * A pure object, one per connection: bytes in, complete frames out, the remainder kept for the next
 * chunk. It knows nothing of sockets, so partial frames, many frames in one chunk and garbage can be
 * tested byte by byte.
 */
export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_END_CR = 0x0d;

export type MllpEvent =
  | { kind: 'frame'; payload: Buffer }
  /** Bytes outside a frame (before <VT>); the connection may be closed if there are too many. */
  | { kind: 'garbage'; bytes: number }
  /** A frame grew past the limit; its bytes are dropped until the next <FS>. */
  | { kind: 'oversize'; bytes: number; head: Buffer };

/** How much of an oversize frame is kept: enough for the MSH segment, so the reject can echo MSH-10. */
const OVERSIZE_HEAD_BYTES = 4096;

export function encodeMllp(message: string | Buffer): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return Buffer.concat([Buffer.of(MLLP_START), body, Buffer.of(MLLP_END, MLLP_END_CR)]);
}

export class MllpFramer {
  /**
   * The partial frame: one buffer grown by doubling, not a list of the socket's chunks, so a peer
   * sending one byte per packet holds its bytes, not a Buffer object (~100 bytes) per byte.
   */
  private buf: Buffer = Buffer.alloc(0);
  private size = 0;
  private inFrame = false;
  private discarding = false;
  private discarded = 0;
  private head: Buffer = Buffer.alloc(0);
  /** An <FS> ended the last chunk: its <CR> (if any) arrives with the next one. */
  private pendingCr = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds one chunk; returns the events it completes, in order. */
  push(chunk: Buffer): MllpEvent[] {
    const events: MllpEvent[] = [];
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk[0] === MLLP_END_CR) i = 1;
    }
    let garbage = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(MLLP_START, i);
        // Line noise between frames (CR/LF keep-alives from some senders) is harmless; anything else is garbage.
        const stop = start === -1 ? chunk.length : start;
        for (let k = i; k < stop; k++) if (chunk[k] !== 0x0d && chunk[k] !== 0x0a) garbage++;
        if (start === -1) break;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(MLLP_END, i);
      const stop = end === -1 ? chunk.length : end;
      this.append(chunk.subarray(i, stop));
      if (end === -1) break;
      events.push(this.finishFrame());
      i = end + 1;
      if (i >= chunk.length) this.pendingCr = true;
      else if (chunk[i] === MLLP_END_CR) i++;
    }
    if (garbage > 0) events.push({ kind: 'garbage', bytes: garbage });
    return events;
  }

  /** Bytes held for an unfinished frame. */
  get buffered(): number {
    return this.size;
  }

  /** Inside a frame (its <VT> seen, its <FS> not yet), whether or not it holds bytes. */
  get midFrame(): boolean {
    return this.inFrame;
  }

  /** Drops the unfinished frame (its connection is being closed); returns the bytes it held. */
  discard(): number {
    const dropped = this.size;
    this.reset();
    return dropped;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.discarding) {
      this.discarded += bytes.length;
      // The head is the frame's first bytes whatever the chunking (below 4096, the limit alone would cut it).
      if (this.head.length < OVERSIZE_HEAD_BYTES) this.head = Buffer.concat([this.head, bytes], Math.min(OVERSIZE_HEAD_BYTES, this.head.length + bytes.length));
      return;
    }
    if (this.size + bytes.length > this.maxFrameBytes) {
      // Keep only the head and drop the rest, bounding memory per connection; the event comes when the
      // frame ends, so the reject is sent in order with the other ACKs.
      const total = this.size + bytes.length;
      this.head = Buffer.concat([this.buf.subarray(0, this.size), bytes], Math.min(total, OVERSIZE_HEAD_BYTES));
      this.buf = Buffer.alloc(0);
      this.size = 0;
      this.discarding = true;
      this.discarded = total;
      return;
    }
    if (this.size + bytes.length > this.buf.length) {
      // Double (up to the frame limit): one copy per doubling, and at most twice the bytes held.
      const grown = Buffer.allocUnsafe(Math.min(this.maxFrameBytes, Math.max(this.size + bytes.length, 2 * this.buf.length, 4096)));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    // Copied: the socket may reuse its chunk buffer.
    bytes.copy(this.buf, this.size);
    this.size += bytes.length;
  }

  private finishFrame(): MllpEvent {
    const event: MllpEvent = this.discarding
      ? { kind: 'oversize', bytes: this.discarded, head: this.head }
      : // A copy of exactly the frame, so a queued frame does not hold the doubled buffer's slack.
        { kind: 'frame', payload: Buffer.from(this.buf.subarray(0, this.size)) };
    this.reset();
    return event;
  }

  private reset(): void {
    this.buf = Buffer.alloc(0);
    this.size = 0;
    this.inFrame = false;
    this.discarding = false;
    this.discarded = 0;
    this.head = Buffer.alloc(0);
  }
}
