import type { Redis } from 'ioredis';
import type { RadiologyReport, ResultStatus } from '../ingest/hl7/oru';
import type { ReportAnalysis } from '../report';

/**
 * The latest report version per accession. Final replaces preliminary, corrected/amended replaces
 * final, and a late preliminary never overwrites a final (HL7 table 0123 order P → F → C/A).
 */
const STATUS_RANK: Record<ResultStatus, number> = {
  I: 0, O: 0, S: 0, R: 1, P: 1, F: 2, C: 3, A: 3, X: 3, D: 3, N: 0, Y: 0, Z: 0,
};

export interface StoredReport {
  report: RadiologyReport;
  /** Which vertebral fractures the text mentions; stored with the version it was computed from. */
  analysis: ReportAnalysis;
  version: number;
  receivedAt: number;
  messageId: string;
}

export type UpsertOutcome = 'new' | 'replaced' | 'stale' | 'same';

// Compare-and-set in one script, so two workers storing two versions of one accession cannot race.
const UPSERT_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'rank', 'receivedAt', 'messageId')
if cur[3] == ARGV[4] then return {tonumber(redis.call('HGET', KEYS[1], 'version')), 'same'} end
if cur[1] then
  local r = tonumber(cur[1]); local n = tonumber(ARGV[1])
  if n < r or (n == r and tonumber(ARGV[2]) < tonumber(cur[2])) then
    return {tonumber(redis.call('HGET', KEYS[1], 'version')), 'stale'}
  end
end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'receivedAt', ARGV[2], 'json', ARGV[3], 'messageId', ARGV[4])
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[6]) end
redis.call('SADD', KEYS[3], ARGV[6])
if cur[1] then return {v, 'replaced'} end
return {v, 'new'}
`;

export class ReportStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Accessions are scoped by the sending facility: two hospitals may reuse the same numbers. */
  accessionKey(report: Pick<RadiologyReport, 'sender' | 'accessionNumber'>): string {
    return `${report.sender.facility}|${report.accessionNumber}`;
  }

  private key(accessionKey: string): string {
    return `${this.prefix}:report:${accessionKey}`;
  }

  async upsert(report: RadiologyReport, analysis: ReportAnalysis, receivedAt: number, messageId: string): Promise<{ outcome: UpsertOutcome; version: number; accessionKey: string }> {
    const accessionKey = this.accessionKey(report);
    const rank = report.resultStatus === null ? 1 : STATUS_RANK[report.resultStatus];
    const studyKey = report.studyInstanceUid ? `${this.prefix}:study-report:${report.studyInstanceUid}` : `${this.prefix}:unused`;
    const [version, outcome] = (await this.redis.eval(
      UPSERT_LUA, 3, this.key(accessionKey), studyKey, `${this.prefix}:accession-index:${report.accessionNumber}`,
      String(rank), String(receivedAt), JSON.stringify({ report, analysis }), messageId, report.studyInstanceUid ?? '', accessionKey,
    )) as [number, UpsertOutcome];
    return { outcome, version, accessionKey };
  }

  async get(accessionKey: string): Promise<StoredReport | null> {
    const h = await this.redis.hgetall(this.key(accessionKey));
    if (!h.json) return null;
    const { report, analysis } = JSON.parse(h.json) as Pick<StoredReport, 'report' | 'analysis'>;
    return { report, analysis, version: Number(h.version), receivedAt: Number(h.receivedAt), messageId: h.messageId ?? '' };
  }

  /**
   * The stored accessions (facility-scoped keys) with this bare accession number: a study notification
   * carries the number without the sending facility. Read from an index kept by `upsert`.
   */
  async accessionKeysForNumber(accessionNumber: string): Promise<string[]> {
    return (await this.redis.smembers(`${this.prefix}:accession-index:${accessionNumber}`)).sort();
  }

  /** The accession whose report references this Study Instance UID, if any. */
  async accessionForStudy(studyInstanceUid: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}:study-report:${studyInstanceUid}`);
  }
}
