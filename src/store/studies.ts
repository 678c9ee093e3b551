import type { ChainableCommander, Redis } from 'ioredis';
import type { ErrorCode } from '../errors';
import type { FractureDecision } from '../correlate/decide';
import type { StudyAnalysis } from '../imaging';
import type { OutputIds } from './outputs';
import { checkExec } from '../queue/redis';
import { uidTag } from '../domain/digest';

/**
 * The processing state of each notified study (`GET /studies/{studyInstanceUid}`, CONTRACT). One Redis
 * hash per study, one JSON value per field so that each step writes only what it changed, plus a
 * capped list of errors. Only facts and the analysis JSON are kept here: never pixel data.
 */

/** CONTRACT order: queued → retrieving → analysing → awaiting-report → done, or failed. */
export const STUDY_STATUSES = ['queued', 'retrieving', 'analysing', 'awaiting-report', 'done', 'failed'] as const;
export type StudyStatus = (typeof STUDY_STATUSES)[number];

export interface StudyError {
  at: string;
  /** The job attempt that failed (1 = first). */
  attempt: number;
  code: ErrorCode;
  message: string;
  /** Whether another attempt can help (the job retries while attempts remain). */
  retryable: boolean;
}

export interface StudySeries {
  /** The chosen series (the imaging selector's summary once analysed, else its UID), or null. */
  chosen: StudyAnalysis['series']['chosen'] | { seriesInstanceUid: string } | null;
  reasons: string[];
  rejected: Array<{ seriesInstanceUid: string; reason: string; seriesNumber?: number; description?: string }>;
}

/** How a study was joined with its report (CONTRACT order of preference). */
export type JoinedBy = 'accession-number' | 'study-instance-uid' | 'patient-and-date';

/** One detected fracture, what the report says of it, and what was written for it. */
export type CorrelatedFracture = FractureDecision & {
  /** The ids of the FHIR resources written for it (null when reported: nothing is emitted). */
  outputs: OutputIds | null;
  /** True when earlier outputs for it were retracted by this evaluation. */
  retracted: boolean;
};

export interface StudyCorrelation {
  /**
   * `awaiting-report`: analysed, no report joined yet (until `waitUntil`); `evaluated`: joined and every
   * output written; `no-report`: no report arrived within CORRELATE_REPORT_WAIT_H (no outputs);
   * `report-cancelled`: the report was cancelled (OBR-25 X), every output retracted.
   */
  outcome: 'awaiting-report' | 'evaluated' | 'no-report' | 'report-cancelled';
  joinedBy: JoinedBy | null;
  /** The report version evaluated: its version number in the store and its OBR-25 result status. */
  report: { version: number; resultStatus: string | null; language: string } | null;
  /** When an unjoined study stops waiting for its report. */
  waitUntil: string | null;
  evaluatedAt: string | null;
  fractures: CorrelatedFracture[];
  /** Outputs of findings no longer present in this analysis (another model or content) that were retracted. */
  retractedStale: string[];
}

/**
 * Where an identifier that pairs the study with its report came from: the notification, the source's
 * QIDO-RS study attributes (0008,0050 / 0010,0020), or the analysed series' instance metadata (when the
 * source's QIDO-RS does not return them).
 */
export type IdentifierSource = 'notification' | 'qido-rs' | 'instance-metadata';

/** The provenance of the study's accession number and patient id (never their values); null: not known. */
export interface IdentifierSources {
  accessionNumber: IdentifierSource | null;
  patientId: IdentifierSource | null;
}

/**
 * The results sent back to the study's PACS (RESULTS_TO_PACS, src/queue/results.ts), absent when that is
 * off. Apart from `status`: a PACS outage does not hold the analysis or its correlation.
 */
export interface ResultsToPacs {
  /** `queued` → `sending` → `sent`; `retrying` while attempts remain, then `failed`; `skipped`: nothing to send. */
  status: 'queued' | 'sending' | 'sent' | 'retrying' | 'failed' | 'skipped';
  /** What is sent: `sc` the key image (Secondary Capture), `sr` the findings (Structured Report). */
  kinds: Array<'sc' | 'sr'>;
  at: string;
  attempt: number;
  seriesInstanceUids: string[];
  sopInstanceUids: string[];
  error: { code: ErrorCode; message: string } | null;
}

/** What `GET /studies/{uid}` answers. */
export interface StudyState {
  studyInstanceUid: string;
  status: StudyStatus;
  source: string;
  jobId: string;
  notifiedAt: string;
  updatedAt: string;
  /** Job attempts started so far for the current notification, and how many are allowed. */
  attempts: number;
  maxAttempts: number;
  /** `studyFingerprint` of the study as the worker last saw it on the source. */
  fingerprint: string | null;
  /** Where the accession number and patient id used for pairing came from. */
  identifiers: IdentifierSources;
  series: StudySeries | null;
  /** The analyze-study JSON of the chosen series (volume facts included), once analysed. */
  findings: StudyAnalysis | null;
  /** Oldest first; the last one is why the study failed or is waiting for another attempt. */
  errors: StudyError[];
  correlation: StudyCorrelation | null;
  /** Where the last successful run spent its time: QIDO + metadata + WADO-RS retrieve, then parse + assembly. */
  timingsMs: { retrieve: number; analyse: number; total: number } | null;
  /** Results back to PACS; absent when RESULTS_TO_PACS is off (and until the analysis asks for them). */
  resultsToPacs?: ResultsToPacs;
}

/** Kept with the state but never answered: identifiers (PHI) and bookkeeping. */
export interface StudyPrivate {
  /** From the notification, else the DICOM AccessionNumber of the analysed series. */
  accessionNumber: string | null;
  /** From the notification, else the DICOM PatientID. */
  patientId: string | null;
  /** DICOM IssuerOfPatientID, when sent: checked against the report's PID-3.4 when joining by patient. */
  issuerOfPatientId: string | null;
  /** DICOM StudyDate (+ StudyTime) as ISO local date-time without zone, or a date. */
  studyDate: string | null;
  traceId: string;
  /**
   * The fingerprint at which the study reached an outcome a repeat cannot change: analysed, or failed for a
   * reason that is not transient. A notification finding the same fingerprint adds no job.
   */
  settledFingerprint: string | null;
}

export type StoredStudy = StudyState & StudyPrivate;
type Field = Exclude<keyof StoredStudy, 'studyInstanceUid' | 'errors'>;

const MAX_ERRORS = 20;

/**
 * Studies the recent-studies index keeps (about 100 bytes each): the integration console lists the latest
 * and opens any of these by its tag; older ones are still answered by `GET /studies/{uid}`.
 */
const STUDY_INDEX_MAX = 10_000;

/**
 * Touches a study in the recent-studies index, written in the same transaction as its state.
 * KEYS[1] sorted set tag → last change (ms), KEYS[2] hash tag → Study Instance UID.
 * ARGV[1] the study's tag (`uidTag`), ARGV[2] its UID, ARGV[3] now (ms), ARGV[4] TTL (s), ARGV[5] max entries.
 * Entries older than the TTL (their state has expired) and the oldest beyond the cap leave both keys;
 * both keys expire with the last state written. Returns 1.
 */
const INDEX_LUA = `
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[4]) * 1000))
local extra = redis.call('ZCARD', KEYS[1]) - #gone - tonumber(ARGV[5])
if extra > 0 then
  for _, t in ipairs(redis.call('ZRANGE', KEYS[1], #gone, #gone + extra - 1)) do table.insert(gone, t) end
end
for _, t in ipairs(gone) do
  redis.call('ZREM', KEYS[1], t)
  redis.call('HDEL', KEYS[2], t)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 1`;

export class StudyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
    /** Studies kept in the recent-studies index (tests set a small cap). */
    private readonly indexMax: number = STUDY_INDEX_MAX,
  ) {}

  private key(uid: string): string {
    return `${this.prefix}:study:${uid}`;
  }

  private errorsKey(uid: string): string {
    return `${this.prefix}:study-errors:${uid}`;
  }

  private indexKeys(): [string, string] {
    return [`${this.prefix}:study-index`, `${this.prefix}:study-index-tags`];
  }

  /** Arguments of INDEX_LUA for this study, to run in the transaction that writes its state. */
  private indexArgs(uid: string): [string, number, ...string[]] {
    return [INDEX_LUA, 2, ...this.indexKeys(), uidTag(uid), uid, String(Date.now()), String(this.ttlS), String(this.indexMax)];
  }

  /** How many studies the recent-studies index holds (one ZCARD; the console's overview). */
  async count(): Promise<number> {
    return this.redis.zcard(this.indexKeys()[0]);
  }

  /** The studies whose state changed last, newest first: their tag (`uidTag`, safe in URLs) and UID. */
  async recent(limit: number): Promise<Array<{ tag: string; studyInstanceUid: string }>> {
    const [index, tags] = this.indexKeys();
    const recent = await this.redis.zrevrange(index, 0, Math.max(0, limit - 1));
    if (recent.length === 0) return [];
    const uids = await this.redis.hmget(tags, ...recent);
    return recent.flatMap((tag, i) => (uids[i] ? [{ tag, studyInstanceUid: uids[i] as string }] : []));
  }

  /** The UID of an indexed study by its tag (the console's URLs carry the tag, never the UID), or null. */
  async uidByTag(tag: string): Promise<string | null> {
    return this.redis.hget(this.indexKeys()[1], tag);
  }

  private keyImageKey(uid: string): string {
    return `${this.prefix}:study-key-image:${uid}`;
  }

  /** The key image (PNG) of the latest analysis, kept as long as the state. */
  async setKeyImage(uid: string, png: Buffer): Promise<void> {
    await this.redis.set(this.keyImageKey(uid), png, 'EX', this.ttlS);
  }

  async getKeyImage(uid: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keyImageKey(uid));
  }

  /** A new job for the study: the run fields start again; earlier findings describe another study content. */
  async markQueued(
    uid: string,
    fields: Pick<StoredStudy, 'source' | 'jobId' | 'maxAttempts' | 'accessionNumber' | 'patientId' | 'traceId'>,
  ): Promise<void> {
    const now = new Date().toISOString();
    const all: Omit<StoredStudy, 'studyInstanceUid' | 'errors'> = {
      ...fields,
      status: 'queued',
      notifiedAt: now,
      updatedAt: now,
      attempts: 0,
      fingerprint: null,
      identifiers: { accessionNumber: fields.accessionNumber ? 'notification' : null, patientId: fields.patientId ? 'notification' : null },
      series: null,
      findings: null,
      correlation: null,
      timingsMs: null,
      settledFingerprint: null,
      issuerOfPatientId: null,
      studyDate: null,
    };
    await this.redis
      .multi()
      .del(this.key(uid), this.errorsKey(uid))
      .hset(this.key(uid), encode(all))
      .expire(this.key(uid), this.ttlS)
      .eval(...this.indexArgs(uid))
      .exec()
      .then(checkExec);
  }

  /** Writes the given fields (and updatedAt); other fields keep their values. */
  async update(uid: string, patch: Partial<Pick<StoredStudy, Field>>): Promise<void> {
    await this.write(uid, { ...patch, updatedAt: new Date().toISOString() }, this.redis.multi());
  }

  /** Appends an error (the list keeps the last MAX_ERRORS) together with a state change. */
  async recordError(uid: string, error: StudyError, patch: Partial<Pick<StoredStudy, Field>>): Promise<void> {
    const appendError = this.redis.multi().rpush(this.errorsKey(uid), JSON.stringify(error)).ltrim(this.errorsKey(uid), -MAX_ERRORS, -1);
    await this.write(uid, { ...patch, updatedAt: error.at }, appendError);
  }

  /** The fields, the TTLs and the recent-studies index in one transaction, after what `tx` already holds. */
  private async write(uid: string, patch: Partial<StoredStudy>, tx: ChainableCommander): Promise<void> {
    await tx
      .hset(this.key(uid), encode(patch))
      .expire(this.key(uid), this.ttlS)
      .expire(this.errorsKey(uid), this.ttlS)
      .eval(...this.indexArgs(uid))
      .exec()
      .then(checkExec);
  }

  async get(uid: string): Promise<StoredStudy | null> {
    const [[e1, hash], [e2, errors]] = (await this.redis.multi().hgetall(this.key(uid)).lrange(this.errorsKey(uid), 0, -1).exec()) as [
      [Error | null, Record<string, string>],
      [Error | null, string[]],
    ];
    if (e1 || e2) throw e1 ?? e2;
    if (!hash.status) return null;
    const decoded = Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, JSON.parse(v) as unknown])) as Omit<StoredStudy, 'studyInstanceUid' | 'errors'>;
    return { studyInstanceUid: uid, ...decoded, errors: errors.map((e) => JSON.parse(e) as StudyError) };
  }
}

/** The state as answered to callers: without the notification's identifiers and bookkeeping. */
export function publicStudyState(s: StoredStudy): StudyState {
  const { accessionNumber: _a, patientId: _p, issuerOfPatientId: _i, studyDate: _d, traceId: _t, settledFingerprint: _s, ...state } = s;
  return state;
}

function encode(fields: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = JSON.stringify(v);
  return out;
}
