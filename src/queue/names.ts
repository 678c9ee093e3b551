import { CORRELATE_QUEUE } from './correlate';
import { REPORTS_QUEUE } from './reports';
import { RESULTS_QUEUE } from './results';
import { STUDIES_QUEUE } from './studies';

/**
 * Every queue of the service, for wiring and metrics. Each queue's module owns its name, job data,
 * natural id, options and processor: reports.ts, studies.ts, correlate.ts, results.ts.
 */
export const QUEUES = {
  reports: REPORTS_QUEUE,
  correlate: CORRELATE_QUEUE,
  studies: STUDIES_QUEUE,
  results: RESULTS_QUEUE,
} as const;
