import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredStudy, StudyStatus, StudyStore } from '../store/studies';
import { type StudyJobData, STUDIES_QUEUE, studyJobId, studyJobOptions } from './studies';
import { acquireLock, queueStep, releaseLock } from './redis';

/** A validated `POST /notifications/studies` body. */
export interface StudyNotification {
  studyInstanceUid: string;
  source: string;
  accessionNumber?: string | undefined;
  patientId?: string | undefined;
}

/**
 * What the caller is told. `accepted`: a job was added (202). `duplicate`: the study's job is still queued
 * or running, nothing added (202). `unchanged`: the study was already analysed (or failed for good) and the
 * source holds the same content, nothing added (200).
 */
export type NotifyOutcome =
  | { kind: 'accepted'; jobId: string; status: 'queued' }
  | { kind: 'duplicate'; jobId: string; status: StudyStatus }
  | { kind: 'unchanged'; jobId: string; status: StudyStatus };

export interface StudyIntakeOptions {
  prefix: string;
  attempts: number;
  backoffMs: number;
  /** Longest wait for each Redis step before answering 503 (the sender retries). Default 3000 ms. */
  redisTimeoutMs?: number;
  /**
   * The source's current fingerprint of the study (see `studyFingerprint`), or null when it could not be
   * told in time: the study is then analysed again rather than the notification lost.
   */
  currentFingerprint(source: string, studyInstanceUid: string): Promise<string | null>;
}

/** BullMQ states in which the study's job will still run (or is running). */
const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * One job per Study Instance UID (id `study-<uid>`). A notification adds it unless it is pending, or the
 * study settled (analysed, or failed for a reason retrying cannot fix) and its fingerprint on the source
 * has not changed since. A short Redis lock per study serialises concurrent notifications of one study.
 */
export class StudyIntake {
  private readonly timeoutMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly queue: Queue<StudyJobData>,
    private readonly store: StudyStore,
    private readonly options: StudyIntakeOptions,
  ) {
    this.timeoutMs = options.redisTimeoutMs ?? 3000;
  }

  async accept(n: StudyNotification, traceId: string): Promise<NotifyOutcome> {
    const jobId = studyJobId(n.studyInstanceUid);
    const lockKey = `${this.options.prefix}:study-notify-lock:${n.studyInstanceUid}`;
    const token = await this.redisStep(acquireLock(this.redis, lockKey, 30_000));
    if (token === null) return { kind: 'duplicate', jobId, status: (await this.redisStep(this.store.get(n.studyInstanceUid)))?.status ?? 'queued' };
    try {
      return await this.decide(n, jobId, traceId);
    } finally {
      await releaseLock(this.redis, lockKey, token);
    }
  }

  /** The stored state, for `GET /studies/{uid}`; Redis trouble is QUEUE_UNAVAILABLE like above. */
  async getStudy(studyInstanceUid: string): Promise<StoredStudy | null> {
    return this.redisStep(this.store.get(studyInstanceUid));
  }

  /** The key image (PNG) of the latest analysis, for `GET /studies/{uid}/key-image.png`. */
  async getKeyImage(studyInstanceUid: string): Promise<Buffer | null> {
    return this.redisStep(this.store.getKeyImage(studyInstanceUid));
  }

  private async decide(n: StudyNotification, jobId: string, traceId: string): Promise<NotifyOutcome> {
    const job = await this.redisStep(this.queue.getJob(jobId));
    const jobState = job ? await this.redisStep(job.getState()) : null;
    const stored = await this.redisStep(this.store.get(n.studyInstanceUid));
    if (jobState !== null && PENDING.has(jobState)) {
      await this.rememberIdentifiers(n, stored);
      return { kind: 'duplicate', jobId, status: stored?.status ?? 'queued' };
    }

    if (stored?.settledFingerprint && stored.source === n.source) {
      const current = await this.options.currentFingerprint(n.source, n.studyInstanceUid).catch(() => null);
      if (current === stored.settledFingerprint) {
        await this.rememberIdentifiers(n, stored);
        return { kind: 'unchanged', jobId, status: stored.status };
      }
    }
    // A finished job keeps its id until removed; BullMQ would ignore an add with the same id.
    if (job && (await this.redisStep(this.queue.remove(jobId))) === 0) {
      return { kind: 'duplicate', jobId, status: stored?.status ?? 'queued' };
    }
    // The state first: a worker picking the job up at once must find it, and then overwrite it.
    await this.redisStep(
      this.store.markQueued(n.studyInstanceUid, {
        source: n.source,
        jobId,
        maxAttempts: this.options.attempts,
        accessionNumber: n.accessionNumber ?? null,
        patientId: n.patientId ?? null,
        traceId,
      }),
    );
    // References only: the notification's accession number and patient id live in the study's state.
    const data: StudyJobData = { studyInstanceUid: n.studyInstanceUid, source: n.source, traceId };
    await this.redisStep(this.queue.add(STUDIES_QUEUE, data, { ...studyJobOptions(this.options.attempts, this.options.backoffMs), jobId }));
    return { kind: 'accepted', jobId, status: 'queued' };
  }

  /** A repeat may carry the accession number or patient id the first notification lacked: keep them. */
  private async rememberIdentifiers(n: StudyNotification, stored: StoredStudy | null): Promise<void> {
    if (!stored) return;
    const patch: Partial<Pick<StoredStudy, 'accessionNumber' | 'patientId' | 'identifiers'>> = {};
    const identifiers = { ...stored.identifiers };
    if (n.accessionNumber && n.accessionNumber !== stored.accessionNumber) {
      patch.accessionNumber = n.accessionNumber;
      identifiers.accessionNumber = 'notification';
    }
    if (n.patientId && n.patientId !== stored.patientId) {
      patch.patientId = n.patientId;
      identifiers.patientId = 'notification';
    }
    if (Object.keys(patch).length > 0) patch.identifiers = identifiers;
    if (Object.keys(patch).length > 0) await this.redisStep(this.store.update(n.studyInstanceUid, patch));
  }

  /** Any Redis failure or stall becomes QUEUE_UNAVAILABLE (503, retryable): the PACS notifies again. */
  private redisStep<T>(p: Promise<T>): Promise<T> {
    return queueStep(p, this.timeoutMs);
  }

}
