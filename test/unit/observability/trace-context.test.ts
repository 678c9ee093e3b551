import { ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Job } from 'bullmq';
import { capturingLogger } from '../../helpers/logs';
import { createMetrics } from '../../../src/observability/metrics';
import { observedProcessor } from '../../../src/observability/jobs';
import {
  contextFromTraceparent,
  inSpan,
  jobParentContext,
  startSpan,
  traceparentFor,
  traceparentOf,
} from '../../../src/observability/trace-context';

const HEX32 = /^[0-9a-f]{32}$/;

describe('trace context without an SDK (tracing off)', () => {
  it('gives a root span a random W3C trace id, a child inherits it', () => {
    const a = startSpan('a', {});
    const b = startSpan('b', {});
    expect(a.spanContext().traceId).toMatch(HEX32);
    expect(a.spanContext().traceId).not.toBe(b.spanContext().traceId);
    const child = startSpan('child', {}, { parent: trace.setSpan(ROOT_CONTEXT, a) });
    expect(child.spanContext().traceId).toBe(a.spanContext().traceId);
  });

  it('reads and writes traceparent (W3C Trace Context, version 00)', () => {
    const ctx = contextFromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    const span = trace.getSpan(ctx!)!;
    expect(span.spanContext()).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    expect(traceparentOf(span)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    // Malformed, or the all-zero ids the spec forbids: no parent.
    for (const bad of [undefined, '', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01']) {
      expect(contextFromTraceparent(bad)).toBeNull();
    }
  });

  it('keeps a job in its trace without a traceparent (a job queued by an older version: a UUID)', () => {
    const ctx = jobParentContext({ traceId: '0b5b2a5e-8d1c-4a53-9f7e-1f2a3b4c5d6e' });
    expect(trace.getSpan(ctx)?.spanContext().traceId).toBe('0b5b2a5e8d1c4a539f7e1f2a3b4c5d6e');
  });
});

describe('trace context with the SDK (tracing on)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  it('a job span is the child of the span that queued it, and failures carry the code only', async () => {
    const metrics = createMetrics();
    let queued: { traceId: string; traceparent?: string } | undefined;
    await inSpan('intake', {}, async (span) => {
      const traceId = span.spanContext().traceId;
      queued = { traceId, ...traceparentFor(traceId) };
    });
    expect(queued?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // A study job: its span carries the study's hash tag, never the UID.
    const job = { data: { ...queued!, studyInstanceUid: '2.25.1234567890123' }, attemptsMade: 0, timestamp: Date.now() - 1500, processedOn: Date.now(), opts: {} } as unknown as Job<{ traceId: string; studyInstanceUid: string }>;
    const failing = observedProcessor('studies', metrics, async () => {
      throw new Error('STUDY_NOT_FOUND: the source "default" has no series of this study (yet) 2.25.1234567890123');
    });
    await expect(failing(job)).rejects.toThrow('STUDY_NOT_FOUND');
    const spans = exporter.getFinishedSpans();
    const intake = spans.find((s) => s.name === 'intake')!;
    const processed = spans.find((s) => s.name === 'studies process')!;
    expect(processed.spanContext().traceId).toBe(intake.spanContext().traceId);
    expect(processed.parentSpanContext?.spanId).toBe(intake.spanContext().spanId);
    expect(processed.status).toEqual({ code: 2, message: 'STUDY_NOT_FOUND' });
    expect(JSON.stringify(processed.attributes)).not.toContain('2.25.1234567890123');
    expect(processed.attributes['vcf.study']).toMatch(/^[0-9a-f]{12}$/);
    // The wait and the attempt's duration, by queue (and outcome).
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/vcf_job_queue_wait_seconds_count\{queue="studies"\} 1/);
    expect(text).toMatch(/vcf_job_duration_seconds_count\{queue="studies",outcome="failed"\} 1/);
  });

  it('a log line written inside a span gets its trace id, unless it names its own', async () => {
    const { logger, lines } = capturingLogger('info');
    let traceId = '';
    await inSpan('work', {}, async (span) => {
      traceId = span.spanContext().traceId;
      logger.info({ event: 'deep.line' }, 'no trace id given');
      logger.info({ event: 'own.line', traceId: 'mine' }, 'its own');
      logger.child({ traceId: 'bound' }).info({ event: 'child.line' }, 'bound to one');
    });
    logger.info({ event: 'outside' }, 'no span');
    expect(lines.map((l) => [l.event, l.traceId])).toEqual([
      ['deep.line', traceId],
      ['own.line', 'mine'],
      ['child.line', 'bound'],
      ['outside', undefined],
    ]);
  });
});
