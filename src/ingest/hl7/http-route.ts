import express, { Router } from 'express';
import { requireApiToken } from '../../http/auth';
import type { Metrics } from '../../observability/metrics';
import { type Hl7Outcome, peerOf, recordAckSent } from './intake';

/** The media type of ER7-encoded HL7 v2 over HTTP (HL7 v2 over HTTP/HTTPS transport spec). */
export const HL7_ER7_MEDIA_TYPE = 'x-application/hl7-v2+er7';

/**
 * POST /hl7: one ER7 message as the body, the ACK as the answer (ER7, or JSON when the caller asks
 * for it). The HTTP status follows the ACK: 200 for AA, 4xx for AE, 503 when the sender must retry.
 */
export function hl7HttpRouter(opts: {
  apiToken: string | null;
  maxBodyBytes: number;
  onMessage(payload: Buffer, peer: string | null): Promise<Hl7Outcome>;
  metrics: Metrics;
}): Router {
  const router = Router();
  router.post(
    '/hl7',
    requireApiToken(opts.apiToken),
    express.raw({ type: () => true, limit: opts.maxBodyBytes }),
    async (req, res) => {
      const startedAt = process.hrtime.bigint();
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const outcome = await opts.onMessage(body, peerOf(req.socket));
      res.on('finish', () => recordAckSent(opts.metrics, 'http', outcome.code, startedAt));
      const status = outcome.error ? outcome.error.spec.http : 200;
      if ((req.get('accept') ?? '').includes('application/json')) {
        res.status(status).json({
          ack: outcome.code,
          ...(outcome.error ? { error: { code: outcome.error.code, message: outcome.error.message } } : {}),
          message: outcome.ack,
        });
        return;
      }
      res.status(status).type(`${HL7_ER7_MEDIA_TYPE}; charset=utf-8`).send(outcome.ack);
    },
  );
  return router;
}
