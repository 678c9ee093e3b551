/**
 * Counting FHIR outputs: a study's unreported fractures and the resources the correlation says it wrote,
 * against the resources a FHIR server holds, one per identifier; and an external FHIR server that fails.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { StudyState } from '../../src/store/studies';
import { TestFhirServer } from '../helpers/fhir-server';

export const OUTPUT_TYPES = ['Observation', 'DetectedIssue', 'ServiceRequest', 'Task', 'Device', 'Media'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

/**
 * What one correlation of one study must have written: per unreported fracture an Observation and a
 * DetectedIssue, a ServiceRequest and a Task per referral kind; once, the model's Device and the key
 * image's Media.
 */
export function expectedOutputs(state: StudyState): Record<OutputType, number> {
  const withOutputs = (state.correlation?.fractures ?? []).filter((f) => f.outputs !== null);
  const referrals = withOutputs.reduce((n, f) => n + Object.keys(f.outputs!.serviceRequests).length, 0);
  const any = withOutputs.length > 0 ? 1 : 0;
  return { Observation: withOutputs.length, DetectedIssue: withOutputs.length, ServiceRequest: referrals, Task: referrals, Device: any, Media: any };
}

/** Resources per type, and how many share an identifier with another (a duplicate write). */
export function tally(resources: Resource[]): { counts: Record<OutputType, number>; duplicates: string[] } {
  const counts = Object.fromEntries(OUTPUT_TYPES.map((t) => [t, 0])) as Record<OutputType, number>;
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const r of resources) {
    if ((OUTPUT_TYPES as readonly string[]).includes(r.resourceType)) counts[r.resourceType as OutputType]++;
    const first = (r as { identifier?: Array<{ system?: string; value?: string }> }).identifier?.[0];
    const key = `${r.resourceType} ${first?.system ?? ''}|${first?.value ?? `(no identifier: ${r.id})`}`;
    if (seen.has(key)) duplicates.push(key);
    seen.add(key);
  }
  return { counts, duplicates };
}

/**
 * An external FHIR R4 server whose next writes (PUTs) fail as told: an error status without writing, or a
 * stall that writes and then holds the answer back (the client has given up by then, and its retry must
 * find what was written).
 */
export function faultyFhirServer(): TestFhirServer {
  const server = new TestFhirServer();
  server.faultMethods = ['PUT'];
  return server;
}

/** Every resource of the output types the server holds. */
export async function outputResources(server: TestFhirServer): Promise<Resource[]> {
  const all: Resource[] = [];
  for (const resourceType of OUTPUT_TYPES) all.push(...(await server.repo.searchResources({ resourceType })));
  return all;
}
