import request from 'supertest';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { deletePrefix, startTestApp, testPrefix } from '../helpers/service';
import { capturingLogger } from '../helpers/logs';

type App = Awaited<ReturnType<typeof startTestApp>>;
const TOKEN = 'lookup-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Issue 19 item 4: one trace line per message, and "did message X arrive, what did we answer, what did it become". */
describe('message traceability: trace lines, GET /hl7/messages/{MSH-10}, GET /reports/{accessionNumber}', () => {
  const prefix = testPrefix('lookups');
  let lines: Array<Record<string, unknown>> = [];
  let app: App;
  let base: string;

  beforeAll(async () => {
    const captured = capturingLogger();
    lines = captured.lines;
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: TOKEN }, 'all', captured.logger);
    base = `http://127.0.0.1:${app.httpPort}`;
  });
  afterAll(async () => {
    await app.stop();
    await deletePrefix(prefix);
  });

  /** The message log is written just after the ACK: poll briefly. */
  async function lookup(path: string, until: (body: any) => boolean = () => true) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await request(base).get(path).set(auth);
      if ((res.status === 200 && until(res.body)) || Date.now() > deadline) return res;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('answers what arrived, the ACK and why, and the report it became; a report with its versions and mentions', async () => {
    const acks = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'TRACE-1', accession: 'ACC-TRACE', studyInstanceUid: '1.2.826.0.1.3680043.10.543.991' }))], 1);
    expect(msa(acks.acks[0]!).code).toBe('AA');
    // A version 2.1 message is refused: the log says what was answered and why.
    const bad = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'TRACE-BAD', version: '2.1' }))], 1);
    expect(msa(bad.acks[0]!).code).toBe('AR');

    const msg = await lookup('/hl7/messages/TRACE-1');
    expect(msg.status).toBe(200);
    expect(msg.body.receptions).toHaveLength(1);
    expect(msg.body.receptions[0]).toMatchObject({
      transport: 'mllp',
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      sender: { application: 'RIS', facility: 'HOSP' },
      messageType: 'ORU^R01',
      controlId: 'TRACE-1',
      ack: 'AA',
      error: null,
      duplicate: false,
      reports: [{ accessionNumber: 'ACC-TRACE', reportKey: 'HOSP|ACC-TRACE', href: '/reports/ACC-TRACE?facility=HOSP' }],
    });
    const refused = await lookup('/hl7/messages/TRACE-BAD');
    expect(refused.body.receptions[0]).toMatchObject({ ack: 'AR', error: { code: 'HL7_UNSUPPORTED_VERSION', location: 'MSH^1^12' }, reports: [] });

    // The report the worker stored, with its versions, mentions and the study named in the ORU.
    await request(base).post('/notifications/studies').set(auth).send({ studyInstanceUid: '1.2.826.0.1.3680043.10.543.991' });
    const report = await lookup('/reports/ACC-TRACE', (b) => b.reports?.[0]?.versions?.length === 1);
    expect(report.status).toBe(200);
    const r = report.body.reports[0];
    expect(r).toMatchObject({ reportKey: 'HOSP|ACC-TRACE', resultStatus: 'F', version: 1, reportedLevels: ['L1'], language: 'en' });
    expect(r.versions).toEqual([{ version: 1, outcome: 'new', resultStatus: 'F', controlId: 'TRACE-1', receivedAt: expect.any(String) }]);
    expect(r.studies).toEqual([expect.objectContaining({ studyInstanceUid: '1.2.826.0.1.3680043.10.543.991', href: '/studies/1.2.826.0.1.3680043.10.543.991', evaluatedWithThisReport: false })]);
    // Behind the token, the mentions carry their evidence (the sentence); never the patient's ids or name.
    expect(JSON.stringify(report.body)).not.toMatch(/MRN12345|TEST\^PATIENT|TEST/);

    // A corrected report is a second version; a late preliminary is recorded as stale, not stored.
    await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'TRACE-2', accession: 'ACC-TRACE', status: 'C', text: ['No fracture.'] }))], 1);
    await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'TRACE-3', accession: 'ACC-TRACE', status: 'P' }))], 1);
    const after = await lookup('/reports/ACC-TRACE', (b) => b.reports?.[0]?.versions?.length === 3);
    expect(after.body.reports[0].versions.map((v: { outcome: string; version: number; controlId: string }) => [v.controlId, v.outcome, v.version])).toEqual([
      ['TRACE-1', 'new', 1],
      ['TRACE-2', 'replaced', 2],
      ['TRACE-3', 'stale', 2],
    ]);
    expect(after.body.reports[0]).toMatchObject({ version: 2, resultStatus: 'C', reportedLevels: [] });

    // One trace line per message, with the message's identifiers only.
    const traces = lines.filter((l) => l.event === 'hl7.message');
    expect(traces.map((t) => [t.controlId, t.ack, t.error])).toEqual([
      ['TRACE-1', 'AA', null],
      ['TRACE-BAD', 'AR', 'HL7_UNSUPPORTED_VERSION'],
      ['TRACE-2', 'AA', null],
      ['TRACE-3', 'AA', null],
    ]);
    expect(traces[0]).toMatchObject({ transport: 'mllp', sendingApplication: 'RIS', sendingFacility: 'HOSP', messageType: 'ORU^R01', peer: expect.stringMatching(/^127\.0\.0\.1:/), ms: expect.any(Number) });
    expect(JSON.stringify(lines)).not.toMatch(/MRN12345|TEST\^PATIENT|ACC-TRACE|compression fracture of L1/);
  }, 30_000);

  it('tells senders apart: the same MSH-10 from two senders, narrowed by ?sender=', async () => {
    await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'SHARED-1', sendingApplication: 'RIS_A', accession: 'ACC-A' }))], 1);
    await request(base).post('/hl7').set(auth).set('content-type', 'x-application/hl7-v2+er7').send(makeOru({ controlId: 'SHARED-1', sendingApplication: 'RIS_B', sendingFacility: 'OTHER', accession: 'ACC-B' }));
    const both = await lookup('/hl7/messages/SHARED-1', (b) => b.receptions.length === 2);
    expect(both.body.receptions.map((r: { sender: { application: string }; transport: string }) => [r.sender.application, r.transport]).sort()).toEqual([
      ['RIS_A', 'mllp'],
      ['RIS_B', 'http'],
    ]);
    const one = await lookup(`/hl7/messages/SHARED-1?sender=${encodeURIComponent('RIS_B^OTHER')}`);
    expect(one.body.receptions).toHaveLength(1);
    expect(one.body.receptions[0].sender).toEqual({ application: 'RIS_B', facility: 'OTHER' });
    expect((await request(base).get('/hl7/messages/SHARED-1?sender=NOBODY').set(auth)).status).toBe(404);
  });

  it('finds a long MSH-10 (up to the 199 characters the intake accepts) by its whole value', async () => {
    const long = `LONG-${'9'.repeat(150)}`;
    expect(msa((await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: long, accession: 'ACC-LONG' }))], 1)).acks[0]!).code).toBe('AA');
    const found = await lookup(`/hl7/messages/${long}`);
    expect(found.status).toBe(200);
    expect(found.body.receptions[0]).toMatchObject({ controlId: long, ack: 'AA' });
  });

  it('is behind API_TOKEN, and answers 404 JSON for what it does not know', async () => {
    for (const path of ['/hl7/messages/TRACE-1', '/reports/ACC-TRACE']) {
      const res = await request(base).get(path);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    }
    const none = await request(base).get('/hl7/messages/NEVER-SENT').set(auth);
    expect(none.status).toBe(404);
    expect(none.body.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('NEVER-SENT') });
    expect((await request(base).get('/reports/NO-SUCH-ACC').set(auth)).status).toBe(404);
    expect((await request(base).get(`/reports/${'x'.repeat(300)}`).set(auth)).status).toBe(400);
  });
});
