/**
 * No PHI in logs (issue 16, deliverable 4): the whole flow runs with recognisable patient data, with the
 * service's own logger at debug level writing into a buffer, and every line is scanned.
 *
 * What counts as PHI here (CONTRACT "Logs carry MSH-10 and job ids, never names, patient ids or report
 * text"; README "Observability": no names, patient identifiers, accession numbers, UIDs or report text at
 * info level): the patient's name, identifiers, birth date, address and phone, the accession number and
 * the report text may appear on NO line, whatever its level. Study, Series and SOP Instance UIDs may
 * appear at debug level only (study lines carry the hash tag `study` instead). MSH-10 control ids and the
 * sender (MSH-3/MSH-4) are allowed by contract, so they carry no canary.
 *
 * The phantom study in a real Orthanc carries the canaries in its DICOM patient module; the ORU carries
 * them in PID (name, id, birth date, address PID-11, phone PID-13), OBR and the report text, over MLLP
 * and POST /hl7, accepted, refused (AR), in error (AE), malformed, and under a reused MSH-10. The study
 * is notified, analysed, correlated, its FHIR outputs are written, the CDS Hooks service is called (card
 * and feedback with a comment) and the lookups are read. A second study, absent from the PACS, fails.
 */
import { randomUUID } from 'node:crypto';
import dcmjs from 'dcmjs';
import request from 'supertest';
import { type CdsClient, startCdsClient } from '../../src/dev/cds-client';
import { OVERRIDE_REASON_SYSTEM } from '../../src/emit/cds-hooks/codes';
import type { CdsResponse } from '../../src/emit/cds-hooks/types';
import { parseFractureList, phantomBuffers } from '../../src/imaging/phantom/generate';
import { frame, msa, sendRaw } from '../helpers/hl7';
import { capturingLogger } from '../helpers/logs';
import { type OrthancInstance, orthancSkipReason, startOrthanc, stowRs } from '../helpers/orthanc';
import { deletePrefix, startTestApp, testPrefix } from '../helpers/service';

dcmjs.log.setLevel('silent');

const skip = orthancSkipReason();
if (skip) console.warn(`phi-logs.int: ${skip}`);
jest.setTimeout(300_000);

/** The patient, as the RIS and the PACS know them: each value unlikely to occur in a log by chance. */
const CANARY = {
  family: 'Canaryname',
  given: 'Zebulon',
  mrn: 'MRN-CANARY-7731',
  birthDate: '19230417',
  accession: 'ACC-CANARY-55',
  /** A second accession, under a reused MSH-10. */
  accession2: 'ACC-CANARY-56',
  street: 'Quillfeather Row',
  city: 'Zebulonville',
  phone: '(555)013-9917',
  phrase: 'periwinkle ossuary sign',
  comment: 'Marmalade-jar comment from Dr Oddbody',
};

/**
 * Every form in which a canary could reach a log: whole, each part alone (family name, given name, the
 * birth date as HL7 and as FHIR writes it), HL7-escaped (`^` → `\S\`), and, since the scan is
 * case-insensitive, any change of case.
 */
const FORBIDDEN = [
  CANARY.family, CANARY.given, `${CANARY.family}^${CANARY.given}`, `${CANARY.family}\\S\\${CANARY.given}`,
  CANARY.mrn, 'CANARY-7731', CANARY.birthDate, '1923-04-17', CANARY.accession, 'CANARY-55', CANARY.accession2, 'CANARY-56',
  'Quillfeather', CANARY.city, '013-9917', '0139917', CANARY.phrase, 'periwinkle', 'ossuary', 'Marmalade', 'Oddbody',
];

const SYSTEM = 'urn:oid:2.999.77.1';
const API_TOKEN = 'phi-logs-token';
const SERVICE = '/cds-services/vcf-unreported-fracture';

const PID = `PID|1||${CANARY.mrn}^^^ZHOSP^MR||${CANARY.family}^${CANARY.given}^Q||${CANARY.birthDate}|M|||42 ${CANARY.street}^^${CANARY.city}^ZB^99731||${CANARY.phone}`;

/** An ORU^R01 for the canary patient whose report mentions L1 and not T12 (the phantom has both). */
function canaryOru(o: { controlId: string; accession?: string; status?: string; version?: string; studyUid: string }): string {
  const acc = o.accession ?? CANARY.accession;
  const lines = [
    'CT CHEST ABDOMEN PELVIS WITH CONTRAST',
    `INDICATION: ${CANARY.family} ${CANARY.given}, born ${CANARY.birthDate}, staging.`,
    `FINDINGS: Incidental ${CANARY.phrase} in the left iliac fossa.`,
    'Severe compression fracture of L1 with more than 40% loss of height.',
    'IMPRESSION: L1 compression fracture.',
  ];
  return [
    `MSH|^~\\&|RIS|ZHOSP|VCF|ZHOSP|20260101120000||ORU^R01^ORU_R01|${o.controlId}|P|${o.version ?? '2.5.1'}|||AL|NE||UNICODE UTF-8`,
    PID,
    `ORC|RE|${acc}|${acc}`,
    `OBR|1|${acc}|${acc}|CTCAP^CT chest abdomen pelvis^L|||20260101110000|||||||||||||||20260101115500||CT|${o.status ?? 'F'}`,
    `OBX|1|ST|113014^DICOM Study^DCM||${o.studyUid}||||||F`,
    ...lines.map((l, i) => `OBX|${i + 2}|TX|18782-3^Radiology Study observation^LN||${l}||||||${o.status ?? 'F'}`),
  ].join('\r') + '\r';
}

/** The phantom's patient module rewritten with the canaries (the generator writes a synthetic patient). */
function withCanaryPatient(file: Buffer): Buffer {
  const dicom = dcmjs.data.DicomMessage.readFile(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer);
  Object.assign(dicom.dict, {
    '00080050': { vr: 'SH', Value: [CANARY.accession] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: `${CANARY.family}^${CANARY.given}` }] },
    '00100020': { vr: 'LO', Value: [CANARY.mrn] },
    '00100030': { vr: 'DA', Value: [CANARY.birthDate] },
    '00101040': { vr: 'LO', Value: [`42 ${CANARY.street}, ${CANARY.city}`] },
    '00102154': { vr: 'SH', Value: [CANARY.phone] },
  });
  return Buffer.from(dicom.write());
}

(skip ? describe.skip : describe)(`no PHI in logs: the end-to-end flow at LOG_LEVEL=debug${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const prefix = testPrefix('phi-logs');
  const captured = capturingLogger('debug');
  let orthanc: OrthancInstance | undefined;
  let client: CdsClient | undefined;
  let app: Awaited<ReturnType<typeof startTestApp>> | undefined;
  const uids = { study: '', series: [] as string[], sop: [] as string[] };
  /** A study the PACS does not have: its job fails, and the failure is logged at warn. */
  const missingStudy = `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;

  afterAll(async () => {
    await app?.stop();
    await client?.stop();
    await orthanc?.stop();
    await deletePrefix(prefix);
  });

  it('runs intake, analysis, correlation, FHIR, CDS Hooks and the lookups', async () => {
    // The demo's study: T12 grade 2 and L1 grade 3 at 256 pixels; fresh UIDs per run.
    const { truth, files } = phantomBuffers({
      seed: 7, size: 256, pixelSpacing: 1.5, sliceSpacing: 2.5, uidSalt: randomUUID().replace(/-/g, '').slice(0, 12),
      fractures: parseFractureList('T12:2:wedge,L1:3:crush'),
    });
    const dicom = files.filter((f) => f.name.endsWith('.dcm')).map((f) => withCanaryPatient(f.data));
    uids.study = truth.studyInstanceUid;
    uids.series = [truth.seriesInstanceUid, ...truth.extraSeries.map((s) => s.seriesInstanceUid)];
    uids.sop = dicom.map((d) => dcmjs.data.DicomMessage.readFile(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) as ArrayBuffer, { untilTag: '7FE00010' }).dict['00080018']!.Value![0] as string);
    expect(uids.sop.length).toBeGreaterThan(50);

    orthanc = await startOrthanc();
    await stowRs(orthanc, dicom);
    client = await startCdsClient();
    app = await startTestApp(
      {
        QUEUE_PREFIX: prefix,
        API_TOKEN,
        DICOMWEB_SOURCES: { default: { url: orthanc.dicomWebUrl } },
        PATIENT_ID_SYSTEMS: { ZHOSP: SYSTEM },
        CDS_TRUSTED_ISSUERS: { [client.issuer]: client.jwksUrl },
        LOG_LEVEL: 'debug',
        STUDY_JOB_ATTEMPTS: 2,
        STUDY_JOB_BACKOFF_MS: 100,
      },
      'all',
      captured.logger,
    );
    const base = `http://127.0.0.1:${app.httpPort}`;
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    const http = () => request(base);
    const sendHttp = (body: string | Buffer) => http().post('/hl7').set(auth).set('content-type', 'x-application/hl7-v2+er7').send(body);
    const poll = async <T>(get: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 240_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await get();
        if (done(v)) return v;
        if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v).slice(0, 1500)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const report = () => http().get(`/reports/${CANARY.accession}`).set(auth);

    // The report over MLLP, accepted; then, under other MSH-10s, the refused and malformed cases.
    const mllp = await sendRaw(app.mllpPort!, [frame(canaryOru({ controlId: 'PHI-MLLP-1', studyUid: uids.study }))], 1);
    expect(msa(mllp.acks[0]!).code).toBe('AA');
    await poll(report, (r) => r.body.reports?.[0]?.versions?.length === 1, 'report version 1');
    const refused = await sendRaw(app.mllpPort!, [
      frame(canaryOru({ controlId: 'PHI-MLLP-AR', version: '2.1', studyUid: uids.study })), // unsupported version: AR
      frame(`MSH|^~\\&|RIS|ZHOSP|VCF|ZHOSP|20260101120000||ORU^R01|PHI-MLLP-AE|P|2.5.1\r${PID}\r`), // no OBR: AE
      frame(`${PID}\rOBX|1|TX|||${CANARY.phrase}\r`), // no MSH at all
      frame(canaryOru({ controlId: 'PHI-MLLP-1', accession: CANARY.accession2, studyUid: uids.study })), // MSH-10 reused for another message
    ], 4);
    expect(refused.acks.map((a) => msa(a).code)).toEqual(['AR', 'AE', 'AE', 'AA']);

    // Over POST /hl7: the corrected report (a second version, re-correlated), a message with no
    // accession number, and bytes that are not UTF-8 although MSH-18 says so.
    const corrected = await sendHttp(canaryOru({ controlId: 'PHI-HTTP-1', status: 'C', studyUid: uids.study }));
    expect(corrected.status).toBe(200);
    expect(corrected.text).toMatch(/MSA\|AA\|PHI-HTTP-1/);
    const noAccession = await sendHttp(canaryOru({ controlId: 'PHI-HTTP-AE', studyUid: uids.study }).replace(/\rORC\|[^\r]*/, '').replace(/\rOBR\|1\|[^|]*\|[^|]*\|/, '\rOBR|1|||'));
    expect(noAccession.text).toMatch(/MSA\|AE\|PHI-HTTP-AE/);
    const latin1 = Buffer.from(canaryOru({ controlId: 'PHI-HTTP-ENC', studyUid: uids.study }).replace(CANARY.given, 'Zebulôn'), 'latin1');
    const badBytes = await sendHttp(latin1);
    expect(badBytes.status).toBe(400);
    await poll(report, (r) => r.body.reports?.[0]?.versions?.length === 2, 'report version 2');

    // The study: a notification carrying the identifiers, one that is refused, then analysis and correlation.
    const bad = await http().post('/notifications/studies').set(auth).send({ studyInstanceUid: `${CANARY.mrn}`, accessionNumber: CANARY.accession, patientId: CANARY.mrn });
    expect(bad.status).toBe(400);
    const notified = await http().post('/notifications/studies').set(auth).send({ studyInstanceUid: uids.study, accessionNumber: CANARY.accession, patientId: CANARY.mrn });
    expect(notified.status).toBe(202);
    const study = await poll(() => http().get(`/studies/${uids.study}`).set(auth), (r) => ['done', 'failed'].includes(r.body.status), 'study');
    expect(study.body.status).toBe('done');
    expect((await http().post('/notifications/studies').set(auth).send({ studyInstanceUid: missingStudy, accessionNumber: CANARY.accession, patientId: CANARY.mrn })).status).toBe(202);
    await poll(() => http().get(`/studies/${missingStudy}`).set(auth), (r) => r.body.status === 'failed', 'the missing study');
    const unreported = (study.body.correlation.fractures as Array<{ level: string; outputs: unknown }>).filter((f) => f.outputs);
    expect(unreported.map((f) => f.level)).toContain('T12');

    // FHIR outputs and lookups, by the patient's identifier too; a search the store refuses.
    const observations = await http().get(`/fhir/R4/Observation?subject:identifier=${encodeURIComponent(`${SYSTEM}|${CANARY.mrn}`)}`).set(auth);
    expect(observations.status).toBe(200);
    expect(observations.body.total ?? observations.body.entry.length).toBeGreaterThan(0);
    expect((await http().get(`/fhir/R4/Observation?name=${CANARY.family}`).set(auth)).status).toBe(400);
    expect((await http().get('/hl7/messages/PHI-MLLP-1').set(auth)).body.receptions.length).toBe(2);
    await poll(() => http().get(`/reports/${CANARY.accession2}`).set(auth), (r) => r.status === 200, 'report under the reused MSH-10');
    expect((await http().get('/reports/ACC-CANARY-NONE').set(auth)).status).toBe(404);
    expect((await http().get(`/studies/${uids.study}/key-image.png`).set(auth)).status).toBe(200);

    // The clinician opens the chart (the Patient prefetched with name, birth date, address, phone), then
    // dismisses the card with a comment.
    const patient = {
      resourceType: 'Patient', id: `ehr-${CANARY.mrn}`,
      identifier: [{ system: SYSTEM, value: CANARY.mrn }],
      name: [{ family: CANARY.family, given: [CANARY.given] }],
      birthDate: '1923-04-17',
      address: [{ line: [`42 ${CANARY.street}`], city: CANARY.city }],
      telecom: [{ system: 'phone', value: CANARY.phone }],
    };
    const view = await http().post(SERVICE).set('authorization', `Bearer ${await client.sign({ aud: `${base}${SERVICE}` })}`).send({
      hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/1', patientId: patient.id }, prefetch: { patient },
    });
    expect(view.status).toBe(200);
    const cards = (view.body as CdsResponse).cards;
    expect(cards.some((c) => /T12/.test(c.summary))).toBe(true);
    const feedback = await http().post(`${SERVICE}/feedback`).set('authorization', `Bearer ${await client.sign({ aud: `${base}${SERVICE}/feedback` })}`).send({
      feedback: [{ card: cards[0]!.uuid, outcome: 'overridden', overrideReason: { reason: { system: OVERRIDE_REASON_SYSTEM, code: 'already-known' }, userComment: CANARY.comment }, outcomeTimestamp: new Date().toISOString() }],
    });
    expect(feedback.status).toBe(200);
    // A refused call whose body carries the patient: 401 before anything is read.
    expect((await http().post(SERVICE).set('authorization', 'Bearer not-a-jwt').send({ prefetch: { patient } })).status).toBe(401);

    await app.stop();
    app = undefined;
  });

  it('logged every step, at every level', () => {
    const events = new Set(captured.lines.map((l) => l.event));
    for (const e of ['hl7.message', 'hl7.control_id_reused', 'report.stored', 'study.notified', 'study.retrieving', 'study.analysed', 'correlate.evaluated', 'job.failed', 'cds.patient_view', 'cds.feedback']) {
      expect([e, events.has(e)]).toEqual([e, true]);
    }
    const levels = new Set(captured.lines.map((l) => l.level));
    for (const level of ['debug', 'info', 'warn']) expect([level, levels.has(level)]).toEqual([level, true]);
    // The scan below can see a UID: debug lines carry it (where CONTRACT allows it).
    expect(captured.lines.some((l) => l.level === 'debug' && JSON.stringify(l).includes(uids.study))).toBe(true);
  });

  it('no line, at any level, carries a name, identifier, birth date, address, phone, accession number or report text', () => {
    const leaks: string[] = [];
    for (const line of captured.lines) {
      const text = JSON.stringify(line).toLowerCase();
      for (const phi of FORBIDDEN) if (text.includes(phi.toLowerCase())) leaks.push(`${phi}: ${JSON.stringify(line).slice(0, 400)}`);
    }
    expect(leaks).toEqual([]);
  });

  it('no line at info level or above carries a Study, Series or SOP Instance UID', () => {
    const all = [uids.study, ...uids.series, ...uids.sop, missingStudy];
    const leaks: string[] = [];
    for (const line of captured.lines) {
      if (line.level === 'debug' || line.level === 'trace') continue;
      const text = JSON.stringify(line);
      for (const uid of all) if (text.includes(uid)) leaks.push(`${uid}: ${text.slice(0, 400)}`);
    }
    expect(leaks).toEqual([]);
  });
});
