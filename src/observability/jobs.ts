import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Job } from 'bullmq';
import { uidTag } from '../domain/digest';
import type { Metrics } from './metrics';
import { SpanKind, type TracedJobData, failSpan, jobParentContext, startSpan } from './trace-context';

/**
 * A BullMQ processor inside the job's span (a child of the span that queued it, so the job joins the
 * message's or notification's trace, in whatever process it runs) with the queue-wait and duration
 * metrics. The span names no job id (study job ids carry the Study Instance UID): the queue, the
 * attempt and, for study jobs, the study's hash tag.
 */
export function observedProcessor<D extends TracedJobData, R>(
  queue: string,
  metrics: Pick<Metrics, 'jobQueueWait' | 'jobDuration'>,
  process: (job: Job<D>) => Promise<R>,
): (job: Job<D>) => Promise<R> {
  return async (job) => {
    // Queue wait once per job: a retry's wait is its backoff, a delayed job's its delay, neither a backlog.
    if (job.attemptsMade === 0 && job.processedOn !== undefined) {
      const waitedMs = job.processedOn - job.timestamp - (job.opts.delay ?? 0);
      metrics.jobQueueWait.observe({ queue }, Math.max(0, waitedMs) / 1000);
    }
    const uid = (job.data as { studyInstanceUid?: unknown }).studyInstanceUid;
    const span = startSpan(
      `${queue} process`,
      {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue,
        'vcf.job.attempt': job.attemptsMade + 1,
        ...(typeof uid === 'string' ? { 'vcf.study': uidTag(uid) } : {}),
      },
      { parent: jobParentContext(job.data), kind: SpanKind.CONSUMER },
    );
    const started = performance.now();
    let outcome: 'completed' | 'failed' = 'failed';
    try {
      const result = await context.with(trace.setSpan(context.active(), span), () => process(job));
      outcome = 'completed';
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      metrics.jobDuration.observe({ queue, outcome }, (performance.now() - started) / 1000);
      span.end();
    }
  };
}
