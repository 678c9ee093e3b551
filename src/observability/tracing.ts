/**
 * Tracing set-up, once per process (`serve`): the SDK and its exporters are loaded only here, so that the
 * CLI's other commands and the helpers in `trace-context.ts` (api only) do not pay for them.
 */
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { AppError } from '../errors';

export type TracesExporter = 'none' | 'otlp';

export interface Tracing {
  /** Exports what is buffered and stops; the process is about to exit. */
  shutdown(): Promise<void>;
}

/**
 * Once per process, before the app starts. `none` (the default) exports and records nothing and costs
 * nothing. `otlp` exports over OTLP/HTTP, protobuf unless OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is `http/json`;
 * the SDK reads the rest of the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, OTEL_TRACES_SAMPLER,
 * OTEL_BSP_*), and the resource takes OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
 */
export function startTracing(exporter: TracesExporter, env: NodeJS.ProcessEnv = process.env): Tracing {
  // Off: nothing registered at all. Not even the AsyncLocalStorage context manager: on Node 20 it turns on
  // async hooks for every promise, which cost the MLLP intake ~15% of its throughput in bench:hl7. The
  // trace id still travels explicitly (job data, child loggers); only the few lines of deep code that are
  // not handed one (dicomweb.retry, fhir.retry) go without it.
  if (exporter === 'none') return { shutdown: async () => undefined };
  const protocolVar = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protocolVar] ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new AppError('CONFIG_INVALID', `${protocolVar}=${protocol}: must be http/protobuf or http/json (grpc is not supported)`);
  }
  const spanExporter = protocol === 'http/json' ? new OtlpJsonExporter() : new OtlpProtoExporter();
  const resource = resourceFromAttributes({ 'service.name': 'vcf-sentinel' }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  // Registers the AsyncLocalStorage context manager and the W3C propagator as well.
  provider.register();
  return {
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

