import type { Redis } from 'ioredis';
import { checkExec } from '../queue/redis';
import type { DetectedFracture, FractureDecision } from '../correlate/decide';
import type { OutputContext, WrittenRefs } from '../emit/fhir/resources';
import type { ReferralKind } from '../emit/fhir/codes';

/** The ids of the FHIR resources written for one finding. */
export interface OutputIds {
  observation: string;
  detectedIssue: string;
  serviceRequests: Partial<Record<ReferralKind, string>>;
  tasks: Partial<Record<ReferralKind, string>>;
}

/**
 * What was written for one finding of a study, kept apart from the study's processing state (which a new
 * analysis resets) so that a later correction, cancellation or re-analysis can retract exactly it: the
 * resources are rebuilt from the same inputs with their retracted status.
 */
export interface FindingOutputs {
  /** `findingKey`: study UID + level + model version. */
  key: string;
  fracture: DetectedFracture;
  decision: FractureDecision;
  context: OutputContext;
  refs: WrittenRefs;
  ids: OutputIds;
  /** False once retracted (Observation entered-in-error, ServiceRequest revoked, Task cancelled). */
  active: boolean;
}

/** One hash per study: finding key → FindingOutputs JSON. */
export class OutputStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
  ) {}

  private key(uid: string): string {
    return `${this.prefix}:study-outputs:${uid}`;
  }

  async all(uid: string): Promise<FindingOutputs[]> {
    const h = await this.redis.hgetall(this.key(uid));
    return Object.values(h).map((v) => JSON.parse(v) as FindingOutputs);
  }

  async put(uid: string, outputs: FindingOutputs): Promise<void> {
    await this.redis.multi().hset(this.key(uid), outputs.key, JSON.stringify(outputs)).expire(this.key(uid), this.ttlS).exec().then(checkExec);
  }
}
