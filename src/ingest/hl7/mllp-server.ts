import net from 'node:net';
import { AppError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../observability/metrics';
import { type AckCode, ackTargetFromRaw, buildAck } from './ack';
import { type Hl7Outcome, peerOf, recordAckSent } from './intake';
import { MllpFramer, encodeMllp } from './mllp';

export interface MllpServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  /**
   * Bytes all connections together may hold: unfinished frames plus complete frames waiting for their
   * handler. Past it, the connection with the largest unfinished frame is closed (MLLP_MAX_BUFFERED_BYTES).
   */
  maxBufferedBytes: number;
  /**
   * How long a frame may take from its <VT> to its <FS>; a connection still mid-frame then is closed.
   * A deadline, not an idle timer, so a peer trickling a byte at a time cannot hold a frame open
   * (MLLP_FRAME_TIMEOUT_MS).
   */
  frameTimeoutMs: number;
  /** Handles one complete message; must never throw (intake turns failures into AE/AR). */
  /** `peer`: the remote address:port, for the trace line and the message log. */
  onMessage(payload: Buffer, peer: string | null): Promise<Hl7Outcome>;
  logger: Logger;
  metrics: Metrics;
}

/** Frames waiting per connection before we stop reading from it (backpressure on a fast sender). */
const MAX_QUEUED_FRAMES = 64;

/** Why a connection was closed by us while it held data (the `reason` label of vcf_mllp_connections_shed_total). */
export type ShedReason = 'buffer_limit' | 'frame_timeout';

/** One MLLP connection's state. */
interface Connection {
  socket: net.Socket;
  peer: string | null;
  framer: MllpFramer;
  /** The messages of this connection, handled one after the other. */
  chain: Promise<void>;
  /** Complete frames waiting for (or in) their handler, and their bytes. */
  queued: number;
  queuedBytes: number;
  /** When the unfinished frame started (Date.now()), or null between frames. */
  frameStartedAt: number | null;
  frameTimer: NodeJS.Timeout | undefined;
  /** Closed by us for holding too much or too long: its data is dropped and no longer counted. */
  shed: boolean;
}

/**
 * MLLP listener. Per connection: one framer, messages handled strictly in order (each ACK written
 * before the next message is handled, so ACKs match messages by position as senders expect), reads
 * paused while too many frames or bytes wait. Garbage outside frames closes that connection cleanly after
 * the pending ACKs; nothing a peer sends can crash the process. Memory is bounded across connections:
 * MLLP_MAX_BUFFERED_BYTES in all, each frame complete within MLLP_FRAME_TIMEOUT_MS.
 */
export class MllpServer {
  private readonly server: net.Server;
  private readonly connections = new Map<net.Socket, Connection>();
  private stopping = false;

  constructor(private readonly options: MllpServerOptions) {
    this.server = net.createServer((socket) => this.onConnection(socket));
    this.server.on('error', (err) => options.logger.error({ event: 'mllp.server_error', err }, 'MLLP server error'));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const port = this.port;
    this.options.logger.info({ event: 'mllp.listening', port }, `MLLP listening on ${port}`);
    return port;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Bytes held by all connections: unfinished frames and complete frames not yet handled. */
  get bufferedBytes(): number {
    let total = 0;
    for (const c of this.connections.values()) if (!c.shed) total += c.framer.buffered + c.queuedBytes;
    return total;
  }

  /** Stops accepting, lets every connection finish the messages it has sent, then closes them. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const c of this.connections.values()) this.clearFrameTimer(c); // reading stops: no frame can finish
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections.keys()) socket.pause();
    const drained = Promise.all([...this.connections.values()].map((c) => c.chain)).then(() => undefined);
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    for (const socket of this.connections.keys()) socket.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const socket of this.connections.keys()) socket.destroy();
  }

  private onConnection(socket: net.Socket): void {
    const { logger, metrics, maxFrameBytes } = this.options;
    const conn: Connection = {
      socket,
      peer: peerOf(socket),
      framer: new MllpFramer(maxFrameBytes),
      chain: Promise.resolve(),
      queued: 0,
      queuedBytes: 0,
      frameStartedAt: null,
      frameTimer: undefined,
      shed: false,
    };
    let closing = false;
    metrics.mllpConnections.inc();
    this.connections.set(socket, conn);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.end());
    const { peer, framer } = conn;
    logger.debug({ event: 'mllp.connected', peer }, 'MLLP connection opened');

    // Backpressure: a connection holds at most MAX_QUEUED_FRAMES frames, or about one frame's bytes, waiting.
    const mustPause = () => conn.queued >= MAX_QUEUED_FRAMES || conn.queuedBytes >= maxFrameBytes;
    const enqueue = (bytes: number, work: () => Promise<void>) => {
      conn.queued++;
      conn.queuedBytes += bytes;
      if (mustPause()) {
        socket.pause();
        this.trackFrameDeadline(conn, false); // not reading: the peer cannot finish its frame, no deadline
      }
      conn.chain = conn.chain.then(work).catch((err: unknown) => logger.error({ event: 'mllp.handler_error', err }, 'handler failed'))
        .finally(() => {
          conn.queued--;
          conn.queuedBytes -= bytes;
          metrics.mllpBufferedBytes.set(this.bufferedBytes);
          if (socket.isPaused() && !mustPause() && conn.queued < MAX_QUEUED_FRAMES / 2 && !this.stopping && !closing && !conn.shed) {
            socket.resume();
            this.trackFrameDeadline(conn, true); // a fresh deadline for a frame we stopped reading
          }
        });
    };
    const write = (ack: string, code: AckCode, startedAt: bigint) => {
      if (socket.destroyed || !socket.writable) return; // the peer left: nothing was acknowledged
      socket.write(encodeMllp(ack));
      recordAckSent(metrics, 'mllp', code, startedAt);
    };

    socket.on('data', (chunk: Buffer) => {
      if (closing || conn.shed) return;
      const startedAt = process.hrtime.bigint();
      const events = framer.push(chunk);
      for (const event of events) {
        switch (event.kind) {
          case 'frame':
            enqueue(event.payload.length, async () => {
              const outcome = await this.options.onMessage(event.payload, peer);
              write(outcome.ack, outcome.code, startedAt);
            });
            break;
          case 'oversize': {
            const error = new AppError('PAYLOAD_TOO_LARGE', `message of ${event.bytes} bytes exceeds the ${maxFrameBytes}-byte limit`);
            enqueue(event.head.length, async () => write(buildAck(ackTargetFromRaw(event.head), 'AE', error), 'AE', startedAt));
            metrics.hl7Received.inc({ transport: 'mllp' }); // received, though never parsed
            metrics.hl7ParseErrors.inc({ error: error.code });
            break;
          }
          case 'garbage':
            // Not MLLP: answer nothing we cannot frame, finish what was sent, and hang up cleanly.
            logger.warn({ event: 'mllp.garbage', bytes: event.bytes }, 'bytes outside an MLLP frame; closing connection');
            closing = true;
            this.clearFrameTimer(conn);
            enqueue(0, async () => {
              socket.end();
            });
            return;
          default:
            event satisfies never;
        }
      }
      this.trackFrameDeadline(conn, events.length > 0);
      this.enforceBufferLimit();
    });
    socket.on('error', (err) => logger.debug({ event: 'mllp.socket_error', code: (err as NodeJS.ErrnoException).code }, 'socket error'));
    socket.on('close', () => {
      metrics.mllpConnections.dec();
      this.clearFrameTimer(conn);
      this.connections.delete(socket);
      metrics.mllpBufferedBytes.set(this.bufferedBytes);
      if (framer.buffered > 0) logger.warn({ event: 'mllp.partial_frame_dropped', peer, bytes: framer.buffered }, 'connection closed mid-frame');
    });
  }

  /**
   * Keeps the frame deadline: armed when a frame starts (no timer yet, or `restart`: the chunk completed
   * the frame before it), cleared between frames and while we are not reading from the socket.
   */
  private trackFrameDeadline(conn: Connection, restart: boolean): void {
    if (!conn.framer.midFrame || conn.socket.isPaused() || conn.shed) {
      this.clearFrameTimer(conn);
      return;
    }
    if (conn.frameTimer !== undefined && !restart) return;
    this.clearFrameTimer(conn);
    conn.frameStartedAt = Date.now();
    conn.frameTimer = setTimeout(() => this.shed(conn, 'frame_timeout'), this.options.frameTimeoutMs);
    conn.frameTimer.unref();
  }

  private clearFrameTimer(conn: Connection): void {
    clearTimeout(conn.frameTimer);
    conn.frameTimer = undefined;
    conn.frameStartedAt = null;
  }

  /**
   * Over MLLP_MAX_BUFFERED_BYTES: close the connections holding the largest unfinished frames (the
   * oldest first on a tie) until under it. Complete frames are never dropped: they are handled soon and
   * each connection holds about one frame of them (backpressure); only unfinished frames, whose lifetime
   * the peer controls, are shed.
   */
  private enforceBufferLimit(): void {
    let total = this.bufferedBytes;
    while (total > this.options.maxBufferedBytes) {
      let victim: Connection | undefined;
      for (const c of this.connections.values()) {
        if (c.shed || c.framer.buffered === 0) continue;
        if (!victim || c.framer.buffered > victim.framer.buffered
          || (c.framer.buffered === victim.framer.buffered && (c.frameStartedAt ?? Infinity) < (victim.frameStartedAt ?? Infinity))) victim = c;
      }
      if (!victim) break;
      total -= victim.framer.buffered;
      this.shed(victim, 'buffer_limit');
    }
    this.options.metrics.mllpBufferedBytes.set(total);
  }

  /** Closes a connection that holds too much or too long, dropping its unfinished frame: one warn line, one count. */
  private shed(conn: Connection, reason: ShedReason): void {
    if (conn.shed) return;
    const frameBytes = conn.framer.discard();
    conn.shed = true;
    this.clearFrameTimer(conn);
    this.options.metrics.mllpConnectionsShed.inc({ reason });
    // No PHI: the peer and byte counts only.
    this.options.logger.warn(
      { event: 'mllp.connection_shed', reason, peer: conn.peer, frameBytes, bufferedBytes: this.bufferedBytes, maxBufferedBytes: this.options.maxBufferedBytes, frameTimeoutMs: this.options.frameTimeoutMs },
      reason === 'buffer_limit'
        ? `MLLP buffers over ${this.options.maxBufferedBytes} bytes: closing ${conn.peer ?? 'a connection'} and its unfinished frame of ${frameBytes} bytes`
        : `MLLP frame unfinished after ${this.options.frameTimeoutMs} ms: closing ${conn.peer ?? 'a connection'} (${frameBytes} bytes dropped)`,
    );
    conn.socket.destroy();
  }
}
