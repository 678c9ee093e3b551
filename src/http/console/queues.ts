/**
 * The console's queue view: bull-board (a maintained BullMQ UI) mounted at /console/queues behind the
 * console's authentication. It shows the reports, correlate and results queues, whose job ids are hashes, and lets
 * an operator retry their failed jobs. The studies queue is not in it: a study job's id is
 * `study-<Study Instance UID>` (CONTRACT) and bull-board puts job ids in its URLs, and a study must be
 * replayed through StudyIntake (which resets its state) rather than retried raw; the console's own pages
 * show its depth and failed jobs, with a replay button.
 *
 * Only reading and retrying are let through: adding, editing, cleaning, emptying, pausing or obliterating
 * a queue with the one shared API token is not an operator console's business (bull-board's buttons for
 * them answer 403).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import { AppError } from '../../errors';

export const QUEUES_PATH = '/console/queues';

/** bull-board's retry routes (PUT): one failed job, or every failed job of a queue. */
const RETRY = [/^\/api\/queues\/[^/]+\/[^/]+\/retry$/, /^\/api\/queues\/[^/]+\/retry\/failed$/];

/** Refuses what is neither a read nor a retry. */
export const readOrRetryOnly: RequestHandler = (req, _res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  if (req.method === 'PUT' && RETRY.some((r) => r.test(req.path))) return next();
  next(new AppError('FORBIDDEN', 'the console only reads queues and retries failed jobs'));
};

/** The bull-board express app for these queues, to mount at QUEUES_PATH. */
export function queueBoard(queues: Queue[]): ReturnType<ExpressAdapter['getRouter']> {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { description: `BullMQ queue ${q.name}` })),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'vcf-sentinel queues',
        miscLinks: [{ text: 'Back to the console', url: '/console' }],
        hideDocsLink: true,
      },
    },
  });
  return serverAdapter.getRouter();
}
