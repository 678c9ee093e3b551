/**
 * Turns a retrieved series (Part-10 buffers) into the study's analysis: volume assembly, then detection
 * when a model is loaded. Two ways to run it, one contract (`StudyAnalyser`):
 *
 *   analyseInProcess(model)          on the caller's thread (the CLI, unit tests)
 *   await AnalysisThreads.start(...)  on worker threads, each with its own model session (the study worker)
 *
 * The study worker uses threads because assembly and detection are synchronous and CPU-bound: on the
 * event loop they held HL7 ACKs and HTTP answers for about a second per 200 MB study (issue 16, item 13)
 * whenever api and worker share a process (`--role all`). Off the loop, the main thread only copies the
 * bytes over, a part at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AppError, type ErrorCode, ERROR_CODES } from '../errors';
import { analyzeSeriesBuffers, type StudyAnalysis } from '../imaging';
import type { ModelCard } from './model-card';
import type { ModelHandle } from './session';
import { completeAnalysis } from './study';

export interface AnalysedSeries {
  analysis: StudyAnalysis;
  /** The key image (PNG) when a model found vertebrae; null otherwise. */
  keyImage: Buffer | null;
}

/** Analyses one series' Part-10 instances; rejects with an AppError when they cannot be analysed. */
export type StudyAnalyser = (buffers: Buffer[]) => Promise<AnalysedSeries>;

/** On the caller's thread; `model` null: volume facts only. */
export function analyseInProcess(model: ModelHandle | null): StudyAnalyser {
  return async (buffers) => {
    const { analysis, volume } = analyzeSeriesBuffers(buffers);
    if (!model) return { analysis, keyImage: null };
    const { keyImage } = await completeAnalysis({ analysis, volume }, model, { keyImage: true });
    return { analysis, keyImage };
  };
}

/** What the main thread sends a thread: the series' bytes packed into one transferred buffer. */
export interface ThreadRequest {
  id: number;
  bytes: ArrayBuffer;
  /** [offset, length] of each instance in `bytes`. */
  parts: Array<[number, number]>;
}

/** An error as it crosses the thread boundary: an AppError keeps its code, anything else only its class. */
export interface ThreadError {
  code: ErrorCode | null;
  message: string;
  name: string;
}

export type ThreadReply =
  | { kind: 'ready'; card: ModelCard }
  | { kind: 'start-failed'; error: ThreadError }
  | { kind: 'done'; id: number; analysis: StudyAnalysis; keyImage: Uint8Array | null }
  | { kind: 'failed'; id: number; error: ThreadError };

export function toThreadError(err: unknown): ThreadError {
  if (err instanceof AppError) return { code: err.code, message: err.message, name: err.name };
  // Not an AppError: its text may quote data (PHI), so only its class crosses over (it becomes INTERNAL).
  return { code: null, message: 'internal error', name: err instanceof Error ? err.name : typeof err };
}

function fromThreadError(e: ThreadError): Error {
  if (e.code !== null && e.code in ERROR_CODES) return new AppError(e.code, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** The bytes copied per turn of the event loop while packing (a few ms of memcpy each). */
const PACK_SLICE_BYTES = 16 * 1024 * 1024;

/**
 * Copies the instances into one fresh ArrayBuffer that can be transferred (not cloned) to a thread,
 * yielding to the event loop between slices. Each source buffer is dropped from `buffers` once copied, so
 * the retrieval's memory can go while the copy grows. (The retrieved buffers are views into shared,
 * sometimes pooled memory, which cannot be transferred themselves.)
 */
async function pack(buffers: Buffer[]): Promise<{ bytes: ArrayBuffer; parts: Array<[number, number]> }> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const bytes = new ArrayBuffer(total);
  const target = new Uint8Array(bytes);
  const parts: Array<[number, number]> = [];
  let offset = 0;
  let sinceYield = 0;
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i] as Buffer;
    target.set(b, offset);
    parts.push([offset, b.length]);
    offset += b.length;
    sinceYield += b.length;
    buffers[i] = EMPTY;
    if (sinceYield >= PACK_SLICE_BYTES) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { bytes, parts };
}

const EMPTY = Buffer.alloc(0);

/** The thread's entry: compiled JavaScript in dist, or the TypeScript source through tsx (tests, tsx runs). */
function spawnThread(workerData: ThreadOptions): Worker {
  const compiled = path.join(__dirname, 'analysis-thread.js');
  if (fs.existsSync(compiled)) return new Worker(compiled, { workerData });
  const source = path.join(__dirname, 'analysis-thread.ts');
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(source)});`, { eval: true, workerData });
}

export interface ThreadOptions {
  modelPath: string;
  /** onnxruntime intra-op threads per session. */
  ortThreads: number;
}

interface Pending {
  resolve(r: AnalysedSeries): void;
  reject(e: Error): void;
}

/** One worker thread with its own model session; it analyses one series at a time. */
class AnalysisThread {
  private pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the thread has exited: the pool replaces it. */
  exited = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: ThreadReply) => {
      if (m.kind !== 'done' && m.kind !== 'failed') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!p) return;
      if (m.kind === 'failed') p.reject(fromThreadError(m.error));
      else p.resolve({ analysis: m.analysis, keyImage: m.keyImage ? Buffer.from(m.keyImage.buffer, m.keyImage.byteOffset, m.keyImage.byteLength) : null });
    });
    // A thread that dies (out of memory, a native crash) fails its series as INTERNAL, which BullMQ retries.
    const fail = (why: string) => {
      this.exited = true;
      const err = new Error(`analysis thread ${why}`);
      err.name = 'AnalysisThreadExit';
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(`failed (${e.name})`));
    worker.on('exit', (code) => fail(`exited (${code})`));
  }

  /** Starts a thread and waits until its model session is loaded; rejects with the thread's error. */
  static start(options: ThreadOptions): Promise<{ thread: AnalysisThread; card: ModelCard }> {
    const worker = spawnThread(options);
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new AppError('INTERNAL', `analysis thread exited (${code}) while starting`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.once('message', (m: ThreadReply) => {
        worker.off('exit', onExit);
        worker.off('error', reject);
        if (m.kind === 'ready') resolve({ thread: new AnalysisThread(worker), card: m.card });
        else {
          void worker.terminate();
          reject(m.kind === 'start-failed' ? fromThreadError(m.error) : new AppError('INTERNAL', 'analysis thread did not start'));
        }
      });
    });
  }

  async analyse(buffers: Buffer[]): Promise<AnalysedSeries> {
    const { bytes, parts } = await pack(buffers);
    const id = this.nextId++;
    return new Promise<AnalysedSeries>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: ThreadRequest = { id, bytes, parts };
      this.worker.postMessage(request, [bytes]);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * A fixed pool of analysis threads (one per concurrent study job). A series waits for a free thread; a
 * thread that died is replaced before its next series.
 */
export class AnalysisThreads {
  private idle: AnalysisThread[];
  private waiting: Array<(t: AnalysisThread) => void> = [];
  private readonly all: Set<AnalysisThread>;

  private constructor(
    threads: AnalysisThread[],
    private readonly options: ThreadOptions,
    /** The model's card, as the threads loaded it. */
    readonly card: ModelCard,
  ) {
    this.idle = [...threads];
    this.all = new Set(threads);
  }

  static async start(size: number, options: ThreadOptions): Promise<AnalysisThreads> {
    const started = await Promise.allSettled(Array.from({ length: size }, () => AnalysisThread.start(options)));
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((s) => s.thread.terminate()));
      throw failed.reason;
    }
    return new AnalysisThreads(
      ok.map((s) => s.thread),
      options,
      (ok[0] as { card: ModelCard }).card,
    );
  }

  readonly analyse: StudyAnalyser = async (buffers) => {
    let thread = await this.acquire();
    try {
      if (thread.exited) thread = await this.replace(thread);
      return await thread.analyse(buffers);
    } finally {
      this.release(thread);
    }
  };

  async close(): Promise<void> {
    await Promise.all([...this.all].map((t) => t.terminate()));
    this.all.clear();
  }

  private acquire(): Promise<AnalysisThread> {
    const t = this.idle.pop();
    if (t) return Promise.resolve(t);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(t: AnalysisThread): void {
    const next = this.waiting.shift();
    if (next) next(t);
    else this.idle.push(t);
  }

  private async replace(dead: AnalysisThread): Promise<AnalysisThread> {
    this.all.delete(dead);
    const { thread } = await AnalysisThread.start(this.options);
    this.all.add(thread);
    return thread;
  }
}
