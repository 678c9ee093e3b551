import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/log';
import { QUEUES } from '../../src/queue/names';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { REDIS_URL, deletePrefix, freePort, startTestApp, testPrefix } from '../helpers/service';

describe('logs carry no PHI at info level', () => {
  const prefix = testPrefix('logs');
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });

  afterAll(() => deletePrefix(prefix));

  it('ingests, rejects and stores reports without names, identifiers, accession or text in the log', async () => {
    const app = await startTestApp(
      { QUEUE_PREFIX: prefix, DICOMWEB_SOURCES: { default: { url: `http://127.0.0.1:${await freePort()}/dicom-web` } }, STUDY_JOB_BACKOFF_MS: 100 },
      'all',
      createLogger('info', sink),
    );
    const redis = new Redis(REDIS_URL);
    const reports = new Queue(QUEUES.reports, { connection: redis, prefix });
    try {
      const oru = makeOru({ controlId: 'LOG-1', patientId: 'MRN-SECRET-77', accession: 'ACC-SECRET-88', text: ['SECRETTEXT moderate T12 wedge fracture.'] }).replace('TEST^PATIENT', 'ZZSECRET^NAME');
      const bad = 'MSH|^~\\&|RIS|HOSP|VCF|HOSP|2026||ORU^R01|LOG-2|P|2.5.1\rPID|||MRN-SECRET-77^^^H||ZZSECRET^NAME\r';
      const { acks } = await sendRaw(app.mllpPort!, [frame(oru), frame(bad)], 2);
      expect(acks.map((a) => msa(a).code)).toEqual(['AA', 'AE']);
      // A study notification carries identifiers too; its source (nothing listens there) makes the
      // worker log a retry.
      const notified = await fetch(`http://127.0.0.1:${app.httpPort}/notifications/studies`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ studyInstanceUid: '1.2.826.0.1.99', accessionNumber: 'ACC-SECRET-88', patientId: 'MRN-SECRET-77' }),
      });
      expect(notified.status).toBe(202);
      const deadline = Date.now() + 10_000;
      while ((await reports.getJobCountByTypes('completed')) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(lines.some((l) => l.includes('"event":"report.stored"'))).toBe(true);
      expect(lines.some((l) => l.includes('"event":"hl7.message"') && l.includes('"ack":"AE"'))).toBe(true);
      while (!lines.some((l) => l.includes('"queue":"studies"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(lines.some((l) => l.includes('"queue":"studies"'))).toBe(true);
    } finally {
      await app.stop();
      await reports.close();
      redis.disconnect();
    }
    const log = lines.join('');
    for (const phi of ['ZZSECRET', 'MRN-SECRET-77', 'ACC-SECRET-88', 'SECRETTEXT', '1.2.826.0.1.99']) expect(log).not.toContain(phi);
  });
});
