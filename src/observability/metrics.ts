import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics, one registry per app instance (tests create several apps in one
 * process). Names follow Prometheus conventions: unit suffixes, _total for counters.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vcf_' });
  return {
    registry,
    hl7Received: new Counter({
      name: 'vcf_hl7_messages_received_total',
      help: 'HL7 v2 messages received, by transport (mllp|http).',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    hl7Acks: new Counter({
      name: 'vcf_hl7_acks_total',
      help: 'HL7 acknowledgements sent, by code (AA|AE|AR) and transport.',
      labelNames: ['code', 'transport'] as const,
      registers: [registry],
    }),
    hl7ParseErrors: new Counter({
      name: 'vcf_hl7_parse_errors_total',
      help: 'HL7 messages rejected as malformed or unsupported, by error code.',
      labelNames: ['error'] as const,
      registers: [registry],
    }),
    hl7Duplicates: new Counter({
      name: 'vcf_hl7_duplicates_total',
      help: 'HL7 messages whose (sender, MSH-10) was already accepted: acknowledged again, not processed again.',
      registers: [registry],
    }),
    hl7AckLatency: new Histogram({
      name: 'vcf_hl7_ack_latency_seconds',
      help: 'Time from a complete HL7 message to its ACK being written (queueing on the connection and the durable enqueue included; the Redis timeout is 3 s).',
      labelNames: ['transport'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    mllpConnections: new Gauge({
      name: 'vcf_mllp_connections',
      help: 'Open MLLP connections.',
      registers: [registry],
    }),
    mllpBufferedBytes: new Gauge({
      name: 'vcf_mllp_buffered_bytes',
      help: 'Bytes held by all MLLP connections: unfinished frames and complete frames waiting for their handler (capped by MLLP_MAX_BUFFERED_BYTES).',
      registers: [registry],
    }),
    mllpConnectionsShed: new Counter({
      name: 'vcf_mllp_connections_shed_total',
      help: 'MLLP connections closed by the service with their unfinished frame dropped, by reason (buffer_limit: MLLP_MAX_BUFFERED_BYTES reached; frame_timeout: a frame unfinished after MLLP_FRAME_TIMEOUT_MS).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'vcf_queue_jobs',
      help: 'Jobs per queue and state, read from Redis at scrape time.',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
    }),
    jobsProcessed: new Counter({
      name: 'vcf_jobs_processed_total',
      help: 'Jobs finished by this worker, by queue and outcome (completed|failed).',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    jobQueueWait: new Histogram({
      name: 'vcf_job_queue_wait_seconds',
      help: 'Time a job waited in its queue before a worker took it (first attempt: processedOn - timestamp - delay), by queue.',
      labelNames: ['queue'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'vcf_job_duration_seconds',
      help: 'Time a worker spent on one attempt of a job, by queue (the job kind) and outcome (completed|failed).',
      labelNames: ['queue', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    dicomwebSeconds: new Histogram({
      name: 'vcf_dicomweb_request_seconds',
      help: 'DICOMweb calls to the sources, retries included, by operation (searchSeries, retrieveSeries, storeInstances, ...) and outcome (ok|error).',
      labelNames: ['operation', 'outcome'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    dicomwebBytes: new Counter({
      name: 'vcf_dicomweb_bytes_total',
      help: 'Bytes exchanged with DICOMweb sources, by operation and direction (received|sent): DICOM JSON and Part-10 bodies.',
      labelNames: ['operation', 'direction'] as const,
      registers: [registry],
    }),
    inferenceSeconds: new Histogram({
      name: 'vcf_inference_seconds',
      help: 'Analysis of one retrieved series (volume assembly, model inference, labelling, grading), by outcome (ok|error).',
      labelNames: ['outcome'] as const,
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    cdsCards: new Counter({
      name: 'vcf_cds_cards_served_total',
      help: 'CDS Hooks cards returned, by hook and card kind (its indicator: info|warning|critical).',
      labelNames: ['hook', 'kind'] as const,
      registers: [registry],
    }),
    fhirWrites: new Counter({
      name: 'vcf_fhir_writes_total',
      help: 'FHIR resource writes (conditional updates), by resource type and outcome (ok, or the error code).',
      labelNames: ['resource', 'outcome'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
