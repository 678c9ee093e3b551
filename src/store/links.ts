import type { Redis } from 'ioredis';
import { checkExec } from '../queue/redis';

/**
 * The indexes that join a study and its report when neither names the other's key: studies by accession
 * number, and studies and reports by patient identifier value, scored by time so a date window is one
 * range query. (Reports by accession and by Study Instance UID are indexed by the report store.)
 *
 * Patient identifiers are indexed by value alone: DICOM IssuerOfPatientID and HL7 PID-3.4 rarely spell the
 * same authority the same way, so the caller checks the authorities it has before it accepts a match.
 */
export class LinkStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Retention of the study links (STUDY_STATE_TTL_S), refreshed on each write. */
    private readonly ttlS: number,
    /**
     * Retention of the reports-by-patient index (REPORT_TTL_S): as long as the reports it finds, so a study
     * analysed late (a backfill) still joins its report by patient and date. The study TTL when not given.
     */
    private readonly reportTtlS: number = ttlS,
  ) {}

  private studiesByAccessionKey(accessionNumber: string): string {
    return `${this.prefix}:link:study-by-accession:${accessionNumber}`;
  }

  private studiesByPatientKey(patientId: string): string {
    return `${this.prefix}:link:study-by-patient:${patientId}`;
  }

  private reportsByPatientKey(patientId: string): string {
    return `${this.prefix}:link:report-by-patient:${patientId}`;
  }

  async addStudy(uid: string, ids: { accessionNumber: string | null; patientId: string | null; studyTimeMs: number | null }): Promise<void> {
    const tx = this.redis.multi();
    if (ids.accessionNumber) {
      const key = this.studiesByAccessionKey(ids.accessionNumber);
      tx.sadd(key, uid).expire(key, this.ttlS);
    }
    if (ids.patientId && ids.studyTimeMs !== null) {
      const key = this.studiesByPatientKey(ids.patientId);
      tx.zadd(key, ids.studyTimeMs, uid).expire(key, this.ttlS);
    }
    checkExec(await tx.exec());
  }

  async addReport(accessionKey: string, patientIds: string[], reportTimeMs: number | null): Promise<void> {
    if (reportTimeMs === null || patientIds.length === 0) return;
    const tx = this.redis.multi();
    for (const id of new Set(patientIds)) {
      const key = this.reportsByPatientKey(id);
      tx.zadd(key, reportTimeMs, accessionKey).expire(key, this.reportTtlS);
    }
    checkExec(await tx.exec());
  }

  /** Records that a study was evaluated against this report (GET /reports/{accessionNumber} lists them). */
  async addEvaluation(accessionKey: string, uid: string): Promise<void> {
    const key = this.evaluatedKey(accessionKey);
    checkExec(await this.redis.multi().sadd(key, uid).expire(key, this.ttlS).exec());
  }

  /** Studies evaluated against this report, whichever way they were joined. */
  async studiesEvaluatedWith(accessionKey: string): Promise<string[]> {
    return (await this.redis.smembers(this.evaluatedKey(accessionKey))).sort();
  }

  private evaluatedKey(accessionKey: string): string {
    return `${this.prefix}:link:study-by-report:${accessionKey}`;
  }

  async studiesByAccession(accessionNumber: string): Promise<string[]> {
    return (await this.redis.smembers(this.studiesByAccessionKey(accessionNumber))).sort();
  }

  /** Studies of this patient id whose time lies within ±windowMs of `atMs`, nearest first. */
  async studiesByPatient(patientId: string, atMs: number, windowMs: number): Promise<string[]> {
    return nearest(await this.redis.zrangebyscore(this.studiesByPatientKey(patientId), atMs - windowMs, atMs + windowMs, 'WITHSCORES'), atMs);
  }

  /** Reports (accession keys) of this patient id whose time lies within ±windowMs of `atMs`, nearest first. */
  async reportsByPatient(patientId: string, atMs: number, windowMs: number): Promise<string[]> {
    return nearest(await this.redis.zrangebyscore(this.reportsByPatientKey(patientId), atMs - windowMs, atMs + windowMs, 'WITHSCORES'), atMs);
  }
}

/** Members of a WITHSCORES reply ordered by distance of their score from `atMs`. */
function nearest(withScores: string[], atMs: number): string[] {
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i + 1 < withScores.length; i += 2) pairs.push([withScores[i] as string, Math.abs(Number(withScores[i + 1]) - atMs)]);
  return pairs.sort((a, b) => a[1] - b[1]).map(([m]) => m);
}
