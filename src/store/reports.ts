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

/** Accessions are scoped by the sending facility: two hospitals may reuse the same numbers. */
export function reportAccessionKey(report: Pick<RadiologyReport, 'sender' | 'accessionNumber'>): string {
  return `${report.sender.facility}|${report.accessionNumber}`;
}

export type UpsertOutcome = 'new' | 'replaced' | 'stale' | 'same';

/** Entries kept in a report's history (GET /reports/{accessionNumber}). */
const HISTORY_LENGTH = 50;

/**
 * How long a report and its indexes are kept after the last message that carried its accession, when the
 * writer does not say (REPORT_TTL_S, config/default.json: 400 days). Readers need no TTL.
 */
export const DEFAULT_REPORT_TTL_S = 400 * 24 * 3600;

// Compare-and-set in one script, so two workers storing two versions of one accession cannot race.
// KEYS[4] is the history: every message that carried this accession, stored or not (ARGV[7] its summary).
// ARGV[8] the retention (s): every key written gets it again, so an accession lives REPORT_TTL_S after its
// last message and a study-report link or accession index as long as the newest report it points to.
const UPSERT_LUA = `
local ttl = tonumber(ARGV[8])
local function remember(outcome, version)
  local entry = cjson.decode(ARGV[7])
  entry.outcome = outcome
  entry.version = version
  redis.call('RPUSH', KEYS[4], cjson.encode(entry))
  redis.call('LTRIM', KEYS[4], -${HISTORY_LENGTH}, -1)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
end
local cur = redis.call('HMGET', KEYS[1], 'rank', 'receivedAt', 'messageId')
if cur[3] == ARGV[4] then return {tonumber(redis.call('HGET', KEYS[1], 'version')), 'same'} end
if cur[1] then
  local r = tonumber(cur[1]); local n = tonumber(ARGV[1])
  if n < r or (n == r and tonumber(ARGV[2]) < tonumber(cur[2])) then
    local v = tonumber(redis.call('HGET', KEYS[1], 'version'))
    remember('stale', v)
    return {v, 'stale'}
  end
end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'receivedAt', ARGV[2], 'json', ARGV[3], 'messageId', ARGV[4])
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[6], 'EX', ttl) end
redis.call('SADD', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[3], ttl)
local outcome = 'new'
if cur[1] then outcome = 'replaced' end
remember(outcome, v)
return {v, outcome}
`;

/**
 * One message that carried a report of this accession, and what the store did with it: `new` and
 * `replaced` made version `version`; `stale` was older than version `version` and was not stored.
 */
export interface ReportHistoryEntry {
  version: number;
  outcome: 'new' | 'replaced' | 'stale';
  resultStatus: string | null;
  receivedAt: number;
  controlId: string;
}

export class ReportStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Retention of what `upsert` writes (REPORT_TTL_S), refreshed on every write. */
    private readonly ttlS: number = DEFAULT_REPORT_TTL_S,
  ) {}


  private key(accessionKey: string): string {
    return `${this.prefix}:report:${accessionKey}`;
  }

  private historyKey(accessionKey: string): string {
    return `${this.prefix}:report-history:${accessionKey}`;
  }

  /** The messages that carried this accession, oldest first (the last HISTORY_LENGTH). */
  async history(accessionKey: string): Promise<ReportHistoryEntry[]> {
    return (await this.redis.lrange(this.historyKey(accessionKey), 0, -1)).map((j) => JSON.parse(j) as ReportHistoryEntry);
  }

  async upsert(report: RadiologyReport, analysis: ReportAnalysis, receivedAt: number, messageId: string): Promise<{ outcome: UpsertOutcome; version: number; accessionKey: string }> {
    const accessionKey = reportAccessionKey(report);
    const rank = report.resultStatus === null ? 1 : STATUS_RANK[report.resultStatus];
    const studyKey = report.studyInstanceUid ? `${this.prefix}:study-report:${report.studyInstanceUid}` : `${this.prefix}:unused`;
    const summary = JSON.stringify({ resultStatus: report.resultStatus, receivedAt, controlId: report.messageControlId });
    const [version, outcome] = (await this.redis.eval(
      UPSERT_LUA, 4, this.key(accessionKey), studyKey, `${this.prefix}:accession-index:${report.accessionNumber}`, this.historyKey(accessionKey),
      String(rank), String(receivedAt), JSON.stringify({ report, analysis }), messageId, report.studyInstanceUid ?? '', accessionKey, summary, String(this.ttlS),
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
