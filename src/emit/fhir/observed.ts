import { toAppError } from '../../errors';
import type { Metrics } from '../../observability/metrics';
import { SpanKind, inSpan } from '../../observability/trace-context';
import type { FhirWriter, WrittenResource } from './writer';

/**
 * A FhirWriter whose every write is a span of the active trace (the correlate job's, or the CDS feedback
 * call's) and counts in vcf_fhir_writes_total by resource type and outcome (`ok`, or the error code:
 * FHIR_UNAVAILABLE, FHIR_REJECTED, ...). Attributes name the resource type only: a resource's id and
 * identifier derive from the study UID.
 */
export function observedFhirWriter(writer: FhirWriter, metrics: Pick<Metrics, 'fhirWrites'>): FhirWriter {
  return {
    async upsert<T extends WrittenResource>(resource: T): Promise<T & { id: string }> {
      const type = resource.resourceType;
      try {
        const written = await inSpan(`fhir upsert ${type}`, { 'fhir.resource_type': type, 'fhir.interaction': 'conditional-update' }, () => writer.upsert(resource), { kind: SpanKind.CLIENT });
        metrics.fhirWrites.inc({ resource: type, outcome: 'ok' });
        return written;
      } catch (err) {
        metrics.fhirWrites.inc({ resource: type, outcome: toAppError(err).code });
        throw err;
      }
    },
    search: (resourceType, query) => inSpan(`fhir search ${resourceType}`, { 'fhir.resource_type': resourceType, 'fhir.interaction': 'search-type' }, () => writer.search(resourceType, query), { kind: SpanKind.CLIENT }),
    close: () => writer.close(),
  };
}
