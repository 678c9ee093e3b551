/**
 * The shipped Orthanc Lua script (config/orthanc/vcf-sentinel-notify.lua) against a real Orthanc and the
 * real service: a study STOWed into Orthanc becomes stable, the script POSTs the notification itself, and
 * the service fetches the study back from that Orthanc and analyses it. With a wrong token the service
 * refuses the notification, Orthanc logs it (without the patient id) and carries on.
 *
 * Orthanc reaches the service through a small recording relay in this file: it forwards every request
 * unchanged and keeps what Orthanc sent (headers, body) and what the service answered, since the
 * identifiers of a notification are never answered by the service. The relay also settles the start
 * order: its URL is known before Orthanc starts (Orthanc's environment), the service starts after
 * Orthanc (DICOMWEB_SOURCES names Orthanc's URL).
 * Skips, saying why, when Orthanc is absent.
 */
import http from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { phantomBuffers } from '../../src/imaging/phantom/generate';
import type { StudyState } from '../../src/store/studies';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { describeUnless } from '../helpers/imaging-fixtures';
import { orthancSkipReason, startOrthanc, stowRs, type OrthancInstance } from '../helpers/orthanc';
import { deletePrefix, startTestApp, testPrefix } from '../helpers/service';

type App = Awaited<ReturnType<typeof startTestApp>>;

const SCRIPT = path.resolve(__dirname, '../../config/orthanc/vcf-sentinel-notify.lua');
const TOKEN = 'lua-notify-secret';

const orthancSkip = orthancSkipReason();
if (orthancSkip) console.warn(`orthanc-lua.int: ${orthancSkip}`);
const describeOrthanc = describeUnless(orthancSkip);

jest.setTimeout(90_000);

/** One request Orthanc sent through the relay, and the service's answer to it. */
interface Relayed {
  /** The first path segment of the relay URL: which Orthanc sent it. */
  from: string;
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  status: number;
  answer: string;
}

interface Relay {
  url: string;
  seen: Relayed[];
  /** Where requests go (the service's base URL), set once the service listens. */
  target: string | null;
  close(): Promise<void>;
}

/** `{url}/{name}/...` is forwarded to `{target}/...`, unchanged but for the name. */
async function startRelay(): Promise<Relay> {
  const relay: Relay = { url: '', seen: [], target: null, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const [, from = '', ...rest] = (req.url ?? '/').split('/');
        const forwardPath = `/${rest.join('/')}`;
        let status = 503;
        let answer = '{"error":"relay: no service yet"}';
        let type = 'application/json';
        if (relay.target) {
          const headers: Record<string, string> = {};
          for (const name of ['authorization', 'content-type', 'accept']) {
            const value = req.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          try {
            const forwarded = await fetch(`${relay.target}${forwardPath}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
            status = forwarded.status;
            answer = await forwarded.text();
            type = forwarded.headers.get('content-type') ?? type;
          } catch (err) {
            status = 502;
            answer = JSON.stringify({ error: `relay: ${(err as Error).message}` });
          }
        }
        relay.seen.push({
          from,
          method: req.method ?? '',
          path: forwardPath,
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
          body,
          status,
          answer,
        });
        res.writeHead(status, { 'content-type': type }).end(answer);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  relay.url = `http://127.0.0.1:${port}`;
  relay.close = () => new Promise((resolve) => server.close(() => resolve()));
  return relay;
}

/** Polls `probe` until it returns a value (not undefined); fails naming `what` at the deadline. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, last?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Same-length ASCII substitution in every file (the phantom's identifiers, to numeric-looking ones). */
function replaceAscii(files: Buffer[], from: string, to: string): Buffer[] {
  if (from.length !== to.length) throw new Error('replaceAscii keeps lengths');
  const needle = Buffer.from(from, 'latin1');
  return files.map((file) => {
    const out = Buffer.from(file);
    let found = 0;
    for (let at = out.indexOf(needle); at !== -1; at = out.indexOf(needle, at + needle.length)) {
      out.write(to, at, 'latin1');
      found += 1;
    }
    if (found === 0) throw new Error(`${from} not found in a phantom file`);
    return out;
  });
}

/** Orthanc's own id of a study (POST /tools/lookup), or undefined while it does not hold it. */
async function orthancStudyId(orthanc: OrthancInstance, studyInstanceUid: string): Promise<string | undefined> {
  const res = await fetch(`${orthanc.url}/tools/lookup`, { method: 'POST', body: studyInstanceUid });
  const found = (await res.json()) as { ID: string; Type: string }[];
  return found.find((r) => r.Type === 'Study')?.ID;
}

describeOrthanc('the Orthanc Lua script notifies the service of stable studies', () => {
  const prefix = testPrefix('orthanc-lua');
  let relay: Relay;
  /** Notifies with the service's token. */
  let pacs: OrthancInstance;
  /** Same script and source name, wrong token. */
  let rogue: OrthancInstance;
  let app: App;
  let base: string;

  const luaOrthanc = (name: string, token: string) =>
    startOrthanc({
      gdcm: false,
      // StableAge 2 s: quick, yet the single STOW request below is stored well within it.
      extraConfig: { LuaScripts: [SCRIPT], StableAge: 2 },
      env: { VCF_SENTINEL_URL: `${relay.url}/${name}/`, VCF_SENTINEL_TOKEN: token, VCF_SENTINEL_SOURCE: 'pacs', VCF_SENTINEL_TIMEOUT_S: '20' },
    });

  beforeAll(async () => {
    relay = await startRelay();
    [pacs, rogue] = await Promise.all([luaOrthanc('pacs', TOKEN), luaOrthanc('rogue', 'not-the-token')]);
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: TOKEN, DICOMWEB_SOURCES: { pacs: { url: pacs.dicomWebUrl } } });
    base = `http://127.0.0.1:${app.httpPort}`;
    relay.target = base;
  });

  afterAll(async () => {
    await app?.stop();
    await deletePrefix(prefix);
    await pacs?.stop();
    await rogue?.stop();
    await relay?.close();
  });

  const getStudy = (uid: string) => request(base).get(`/studies/${uid}`).set('authorization', `Bearer ${TOKEN}`);

  it('loads the script with the settings of its environment', () => {
    expect(pacs.logTail()).toContain(
      `vcf-sentinel-notify: stable studies are notified to ${relay.url}/pacs/notifications/studies as source "pacs" with a bearer token`,
    );
    expect(pacs.logTail()).not.toContain(TOKEN);
  });

  it('a study stored in Orthanc is notified by Orthanc itself, fetched back, analysed and paired with its report', async () => {
    // Numeric-looking identifiers with leading zeros, as many RIS and HIS issue them: they must reach the
    // service as the same strings (not as numbers).
    const accession = '000012345';
    const patientId = '00098765';
    const phantom = phantomBuffers({ seed: 21, size: 128, pixelSpacing: 3, sliceSpacing: 4.5 });
    const uid = phantom.truth.studyInstanceUid;
    expect([phantom.truth.accessionNumber, phantom.truth.patientId]).toEqual(['SYN000021', 'SYNTH-21']);
    const files = replaceAscii(
      replaceAscii(
        phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data),
        'SYN000021',
        accession,
      ),
      'SYNTH-21',
      patientId,
    );

    // The radiology report for the same accession (no Study Instance UID in it) arrives over MLLP.
    const { acks } = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: 'LUA-ORU-1', accession, patientId }))], 1);
    expect(msa(acks[0]!).code).toBe('AA');

    // One STOW request: the study becomes stable once, 2 s after its last instance. No POST from here.
    await stowRs(pacs, files, files.length);
    const orthancId = await until('Orthanc to hold the study', () => orthancStudyId(pacs, uid));

    const sent = await until('the notification from Orthanc', () => relay.seen.find((r) => r.from === 'pacs'), 30_000, () => pacs.logTail());
    expect(sent).toMatchObject({
      method: 'POST',
      path: '/notifications/studies',
      authorization: `Bearer ${TOKEN}`,
      contentType: 'application/json',
      status: 202,
    });
    expect(JSON.parse(sent.body)).toEqual({ studyInstanceUid: uid, source: 'pacs', accessionNumber: accession, patientId });
    expect(JSON.parse(sent.answer)).toEqual({ jobId: `study-${uid}`, status: 'queued' });

    // Orthanc logs the outcome with its own study id, never the patient's identifiers.
    const logged = await until('the Lua success line', () => {
      const tail = pacs.logTail();
      return tail.includes(`vcf-sentinel-notify: Orthanc study ${orthancId} notified: accepted (status queued)`) ? tail : undefined;
    }, 10_000, () => pacs.logTail());
    expect(logged).not.toContain(patientId);
    expect(logged).not.toContain(accession);

    // The service took it from there: QIDO-RS + WADO-RS from this Orthanc, analysis, correlation.
    const state = await until(
      'the study to be analysed and correlated',
      async () => {
        const res = await getStudy(uid);
        const s = res.status === 200 ? (res.body as StudyState) : undefined;
        if (s?.status === 'failed') throw new Error(`study failed: ${JSON.stringify(s.errors)}`);
        return s?.status === 'done' && s.correlation?.outcome === 'evaluated' ? s : undefined;
      },
      60_000,
    );
    expect(state).toMatchObject({ studyInstanceUid: uid, source: 'pacs', status: 'done', attempts: 1, errors: [] });
    expect(state.series?.chosen).toMatchObject({ seriesInstanceUid: phantom.truth.seriesInstanceUid, frames: phantom.truth.geometry.slices });
    expect(state.findings?.model).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((state.findings?.vertebrae as unknown[]).length).toBeGreaterThan(10);
    // Paired with the report by the accession number Orthanc sent; the identifiers themselves are not answered.
    expect(state.correlation).toMatchObject({ outcome: 'evaluated', joinedBy: 'accession-number', report: { version: 1 } });
    expect(JSON.stringify(state)).not.toContain(accession);

    // Orthanc sent it once (its HttpPost does not retry, and the study did not change).
    expect(relay.seen.filter((r) => r.from === 'pacs')).toHaveLength(1);
  });

  it('with a wrong token the notification is refused (401), logged without PHI, and Orthanc carries on', async () => {
    const phantom = phantomBuffers({ seed: 22, size: 64, pixelSpacing: 6, sliceSpacing: 10, slices: 3 });
    const uid = phantom.truth.studyInstanceUid;
    await stowRs(rogue, phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
    const orthancId = await until('Orthanc to hold the study', () => orthancStudyId(rogue, uid));

    const sent = await until('the notification from Orthanc', () => relay.seen.find((r) => r.from === 'rogue'), 30_000, () => rogue.logTail());
    expect(sent).toMatchObject({ method: 'POST', path: '/notifications/studies', authorization: 'Bearer not-the-token', status: 401 });
    expect(JSON.parse(sent.body)).toMatchObject({ studyInstanceUid: uid, source: 'pacs' });

    const logged = await until('the Lua failure line', () => {
      const tail = rogue.logTail();
      return tail.includes(`vcf-sentinel-notify: FAILED to notify Orthanc study ${orthancId}: refused or not understood`) ? tail : undefined;
    }, 10_000, () => rogue.logTail());
    expect(logged).toMatch(/HTTP status 401/);
    expect(logged).not.toContain(phantom.truth.patientId);
    expect(logged).not.toContain(phantom.truth.accessionNumber);

    // The service never created the study.
    const res = await getStudy(uid);
    expect(res.status).toBe(404);

    // Orthanc is still up, still holds the study, and did not retry.
    expect(rogue.running).toBe(true);
    expect((await fetch(`${rogue.url}/system`)).status).toBe(200);
    expect(await orthancStudyId(rogue, uid)).toBe(orthancId);
    expect(relay.seen.filter((r) => r.from === 'rogue')).toHaveLength(1);
  });
});
