import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredStudy, StudyStatus, StudyStore } from '../store/studies';
import { type StudyJobData, STUDIES_QUEUE, studyJobId, studyJobOptions } from './studies';
import { acquireLock, queueStep, releaseLock } from './redis';
import { traceparentFor } from '../observability/trace-context';

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

/**
 * What `POST /studies/{uid}/replay` is told. `accepted`: the study was queued again (202). `pending`: its
 * job is still queued, running or waiting for a retry, nothing added (409). `unknown`: no notification
 * was ever received for it, so there is no source to fetch it from (404).
 */
export type ReplayOutcome =
  | { kind: 'accepted'; jobId: string; status: 'queued' }
  | { kind: 'pending'; jobId: string; status: StudyStatus }
  | { kind: 'unknown'; jobId: string };

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
const PENDING_JOB_STATES: ReadonlySet<string> = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

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
    const outcome = await this.locked(n.studyInstanceUid, () => this.decide(n, jobId, traceId));
    return outcome ?? { kind: 'duplicate', jobId, status: (await this.redisStep(this.store.get(n.studyInstanceUid)))?.status ?? 'queued' };
  }

  /**
   * Queues a known study again whatever its fingerprint says: the operator's answer to a study that
   * failed while its source was down (its attempts spent), or one to analyse again with a new model.
   * Same queueing as a notification, from the source and identifiers its first notification gave; a
   * pending job is left alone (its retries are still to come).
   */
  /** Whether the study's job is still queued, running or waiting for a retry (a replay would be refused). */
  async isPending(studyInstanceUid: string): Promise<boolean> {
    const job = await this.redisStep(this.queue.getJob(studyJobId(studyInstanceUid)));
    return job ? PENDING_JOB_STATES.has(await this.redisStep(job.getState())) : false;
  }

  async replay(studyInstanceUid: string, traceId: string): Promise<ReplayOutcome> {
    const jobId = studyJobId(studyInstanceUid);
    const outcome = await this.locked(studyInstanceUid, async (): Promise<ReplayOutcome> => {
      const stored = await this.redisStep(this.store.get(studyInstanceUid));
      if (!stored) return { kind: 'unknown', jobId };
      const job = await this.redisStep(this.queue.getJob(jobId));
      const jobState = job ? await this.redisStep(job.getState()) : null;
      if (jobState !== null && PENDING_JOB_STATES.has(jobState)) return { kind: 'pending', jobId, status: stored.status };
      // Only what a notification said is carried over: what the worker read from the source it reads again.
      const n: StudyNotification = {
        studyInstanceUid,
        source: stored.source,
        accessionNumber: stored.identifiers.accessionNumber === 'notification' ? (stored.accessionNumber ?? undefined) : undefined,
        patientId: stored.identifiers.patientId === 'notification' ? (stored.patientId ?? undefined) : undefined,
      };
      return (await this.enqueue(n, jobId, traceId, Boolean(job))) ? { kind: 'accepted', jobId, status: 'queued' } : { kind: 'pending', jobId, status: stored.status };
    });
    // A notification of this study is being decided right now: as good as pending.
    return outcome ?? { kind: 'pending', jobId, status: (await this.redisStep(this.store.get(studyInstanceUid)))?.status ?? 'queued' };
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
    if (jobState !== null && PENDING_JOB_STATES.has(jobState)) {
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
    if (!(await this.enqueue(n, jobId, traceId, Boolean(job)))) return { kind: 'duplicate', jobId, status: stored?.status ?? 'queued' };
    return { kind: 'accepted', jobId, status: 'queued' };
  }

  /**
   * Runs `work` under a short Redis lock per study, which serialises notifications and replays of one
   * study; null when another holds it.
   */
  private async locked<T>(studyInstanceUid: string, work: () => Promise<T>): Promise<T | null> {
    const lockKey = `${this.options.prefix}:study-notify-lock:${studyInstanceUid}`;
    const token = await this.redisStep(acquireLock(this.redis, lockKey, 30_000));
    if (token === null) return null;
    try {
      return await work();
    } finally {
      await releaseLock(this.redis, lockKey, token);
    }
  }

  /**
   * Resets the study's state to queued and adds its job; false when the finished job of `jobExists`
   * could not be removed (a worker took it meanwhile), so nothing was added.
   */
  private async enqueue(n: StudyNotification, jobId: string, traceId: string, jobExists: boolean): Promise<boolean> {
    // A finished job keeps its id until removed; BullMQ would ignore an add with the same id.
    if (jobExists && (await this.redisStep(this.queue.remove(jobId))) === 0) return false;
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
    // The active span (the notification's or the replay's) becomes the study job's parent.
    const data: StudyJobData = { studyInstanceUid: n.studyInstanceUid, source: n.source, traceId, ...traceparentFor(traceId) };
    await this.redisStep(this.queue.add(STUDIES_QUEUE, data, { ...studyJobOptions(this.options.attempts, this.options.backoffMs), jobId }));
    return true;
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
