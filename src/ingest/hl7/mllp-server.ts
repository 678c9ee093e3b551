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
  /** Handles one complete message; must never throw (intake turns failures into AE/AR). */
  /** `peer`: the remote address:port, for the trace line and the message log. */
  onMessage(payload: Buffer, peer: string | null): Promise<Hl7Outcome>;
  logger: Logger;
  metrics: Metrics;
}

/** Frames waiting per connection before we stop reading from it (backpressure on a fast sender). */
const MAX_QUEUED_FRAMES = 64;

/**
 * MLLP listener. Per connection: one framer, messages handled strictly in order (each ACK written
 * before the next message is handled, so ACKs match messages by position as senders expect), reads
 * paused while too many frames wait. Garbage outside frames closes that connection cleanly after the
 * pending ACKs; nothing a peer sends can crash the process.
 */
export class MllpServer {
  private readonly server: net.Server;
  private readonly connections = new Map<net.Socket, Promise<void>>();
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

  /** Stops accepting, lets every connection finish the messages it has sent, then closes them. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.connections.keys()) socket.pause();
    const drained = Promise.all([...this.connections.values()]).then(() => undefined);
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    for (const socket of this.connections.keys()) socket.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const socket of this.connections.keys()) socket.destroy();
  }

  private onConnection(socket: net.Socket): void {
    const { logger, metrics } = this.options;
    const framer = new MllpFramer(this.options.maxFrameBytes);
    let chain: Promise<void> = Promise.resolve();
    let queued = 0;
    let closing = false;
    metrics.mllpConnections.inc();
    this.connections.set(socket, chain);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.end());
    const peer = peerOf(socket);
    logger.debug({ event: 'mllp.connected', peer }, 'MLLP connection opened');

    const enqueue = (work: () => Promise<void>) => {
      queued++;
      if (queued >= MAX_QUEUED_FRAMES) socket.pause();
      chain = chain.then(work).catch((err: unknown) => logger.error({ event: 'mllp.handler_error', err }, 'handler failed'))
        .finally(() => {
          queued--;
          if (queued < MAX_QUEUED_FRAMES / 2 && !this.stopping && !closing) socket.resume();
        });
      this.connections.set(socket, chain);
    };
    const write = (ack: string, code: AckCode, startedAt: bigint) => {
      if (socket.destroyed || !socket.writable) return; // the peer left: nothing was acknowledged
      socket.write(encodeMllp(ack));
      recordAckSent(metrics, 'mllp', code, startedAt);
    };

    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      const startedAt = process.hrtime.bigint();
      for (const event of framer.push(chunk)) {
        switch (event.kind) {
          case 'frame':
            enqueue(async () => {
              const outcome = await this.options.onMessage(event.payload, peer);
              write(outcome.ack, outcome.code, startedAt);
            });
            break;
          case 'oversize': {
            const error = new AppError('PAYLOAD_TOO_LARGE', `message of ${event.bytes} bytes exceeds the ${this.options.maxFrameBytes}-byte limit`);
            enqueue(async () => write(buildAck(ackTargetFromRaw(event.head), 'AE', error), 'AE', startedAt));
            metrics.hl7Received.inc({ transport: 'mllp' }); // received, though never parsed
            metrics.hl7ParseErrors.inc({ error: error.code });
            break;
          }
          case 'garbage':
            // Not MLLP: answer nothing we cannot frame, finish what was sent, and hang up cleanly.
            logger.warn({ event: 'mllp.garbage', bytes: event.bytes }, 'bytes outside an MLLP frame; closing connection');
            closing = true;
            enqueue(async () => {
              socket.end();
            });
            return;
          default:
            event satisfies never;
        }
      }
    });
    socket.on('error', (err) => logger.debug({ event: 'mllp.socket_error', code: (err as NodeJS.ErrnoException).code }, 'socket error'));
    socket.on('close', () => {
      metrics.mllpConnections.dec();
      this.connections.delete(socket);
      if (framer.buffered > 0) logger.warn({ event: 'mllp.partial_frame_dropped', bytes: framer.buffered }, 'connection closed mid-frame');
    });
  }
}
