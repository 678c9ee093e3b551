/**
 * The integration console (/console) over the real service (startApp: HTTP app, Redis, BullMQ, stores).
 *
 * 1. Authentication without Orthanc: the sign-in form and its cookie, the bearer header, wrong tokens,
 *    forged cookies, CSRF refusals, bull-board's destructive routes refused, no console without API_TOKEN.
 * 2. A real flow (skips, saying why, without Orthanc): an ORU^R01 over POST /hl7, another message type
 *    (AR), the demo's phantom (T12 grade 2, L1 grade 3) through a real Orthanc, the report mentioning L1
 *    only, and a study the PACS does not have (failed). Every page is read over HTTP: what it says, and
 *    that no URL in it carries a UID, accession number or patient id.
 * 3. The same pages in headless Chromium (playwright-core driving /usr/bin/chromium): sign in, messages, a
 *    study with its key image, failed jobs with the replay button clicked, the queues in bull-board, log
 *    out; every URL the browser asks for is checked for PHI, and a screenshot of the study page is written
 *    (VCF_CONSOLE_SCREENSHOT, default a temporary file; docs/console.png in the README comes from it).
 *    Skips when /usr/bin/chromium is absent, unless VCF_BROWSER_REQUIRED=1 (CI), which makes that a failure.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { uidTag } from '../../src/domain/digest';
import { parseFractureList, phantomBuffers, type GroundTruth } from '../../src/imaging/phantom/generate';
import { QUEUES } from '../../src/queue/names';
import { StudyStore } from '../../src/store/studies';
import type { StudyState } from '../../src/store/studies';
import { makeOru } from '../helpers/hl7';
import { describeUnless } from '../helpers/imaging-fixtures';
import { orthancSkipReason, startOrthanc, stowRs, type OrthancInstance } from '../helpers/orthanc';
import { REDIS_URL, deletePrefix, startTestApp, testPrefix } from '../helpers/service';

type App = Awaited<ReturnType<typeof startTestApp>>;

jest.setTimeout(240_000);

const TOKEN = 'console-test-token-5f2a';
const CHROMIUM = '/usr/bin/chromium';

/** Signs in with the form; returns the Cookie header to send. */
async function signIn(base: string): Promise<string> {
  const res = await request(base).post('/console/login').set('origin', base).type('form').send({ token: TOKEN });
  expect(res.status).toBe(303);
  const cookie = (res.headers['set-cookie'] as unknown as string[])[0]!;
  return cookie.split(';')[0]!;
}

/** Every URL a page links to, loads or posts to. */
function urlsIn(page: string): string[] {
  return [...page.matchAll(/\b(?:href|src|action)="([^"]*)"/g)].map((m) => m[1]!);
}

describe('console authentication (real app, role api)', () => {
  const prefix = testPrefix('console-auth');
  let app: App;
  let base: string;
  let redis: Redis;
  let studies: Queue;
  const failedUid = `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;

  beforeAll(async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: TOKEN }, 'api');
    base = `http://127.0.0.1:${app.httpPort}`;
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    studies = new Queue(QUEUES.studies, { connection: redis, prefix });
    // A study as the worker leaves one that failed for good (no job left to run): replayable.
    const store = new StudyStore(redis, prefix, 600);
    await store.markQueued(failedUid, { source: 'default', jobId: `study-${failedUid}`, maxAttempts: 1, accessionNumber: 'ACC-AUTH-1', patientId: null, traceId: 't' });
    await store.recordError(failedUid, { at: new Date().toISOString(), attempt: 1, code: 'STUDY_UNUSABLE', message: 'no usable CT series', retryable: false }, { status: 'failed' });
  });

  afterAll(async () => {
    await app?.stop();
    await studies?.close();
    await deletePrefix(prefix);
    redis?.disconnect();
  });

  it('without a session: pages redirect to the sign-in form, API calls get 401 JSON, the form itself is served', async () => {
    for (const p of ['/console', '/console/messages', `/console/studies/${uidTag(failedUid)}`, '/console/jobs', '/console/queues/']) {
      const res = await request(base).get(p);
      expect({ p, status: res.status, location: res.headers.location }).toEqual({ p, status: 303, location: '/console/login' });
    }
    const api = await request(base).get('/console/queues/api/queues');
    expect(api.status).toBe(401);
    expect(api.body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/sign in/) } });
    const replay = await request(base).post(`/console/studies/${uidTag(failedUid)}/replay`).set('origin', base);
    expect(replay.status).toBe(401);
    const login = await request(base).get('/console/login');
    expect(login.status).toBe(200);
    expect(login.text).toContain('<input id="token" name="token" type="password"');
  });

  it('a wrong token is refused (401, no cookie); the right one sets an HttpOnly, SameSite=Strict cookie for /console', async () => {
    const wrong = await request(base).post('/console/login').set('origin', base).type('form').send({ token: `${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That is not the API token.');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const empty = await request(base).post('/console/login').set('origin', base).type('form').send({});
    expect(empty.status).toBe(401);

    const ok = await request(base).post('/console/login').set('origin', base).type('form').send({ token: TOKEN });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/console');
    const [cookie] = ok.headers['set-cookie'] as unknown as string[];
    expect(cookie).toMatch(/^vcf_console=v1\.\d+\.[\w-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    // Over plain http the cookie is not Secure (a browser would drop it); PUBLIC_BASE_URL https makes it so.
    const page = await request(base).get('/console').set('cookie', cookie!.split(';')[0]!);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h1>Overview</h1>');
    expect(page.headers['content-security-policy']).toBe("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('a forged, altered or other-token cookie is no session; a bearer header is, a wrong one is 401', async () => {
    const good = await signIn(base);
    const [name, value] = good.split('=') as [string, string];
    const [v, exp, mac] = value.split('.') as [string, string, string];
    for (const bad of [`${name}=${v}.${Number(exp) + 86400}.${mac}`, `${name}=v1.9999999999.${'A'.repeat(43)}`, `${name}=${TOKEN}`]) {
      const res = await request(base).get('/console/messages').set('cookie', bad);
      expect(res.status).toBe(303);
    }
    const bearer = await request(base).get('/console/messages').set('authorization', `Bearer ${TOKEN}`);
    expect(bearer.status).toBe(200);
    expect(bearer.text).toContain('<h1>HL7 messages</h1>');
    const wrong = await request(base).get('/console/messages').set('authorization', 'Bearer nope');
    expect(wrong.status).toBe(401);
  });

  it('CSRF: a replay with the cookie from another site, or with no origin at all, is refused (403) and queues nothing', async () => {
    const cookie = await signIn(base);
    const action = `/console/studies/${uidTag(failedUid)}/replay`;
    const attempts = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' },
      {},
    ];
    for (const headers of attempts) {
      const res = await request(base).post(action).set('cookie', cookie).set(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expect(res.text).toContain('cross-site request refused');
    }
    // A cross-site retry through bull-board's API too.
    const put = await request(base).put('/console/queues/api/queues/reports/retry/failed').set('cookie', cookie).set('origin', 'https://evil.example');
    expect(put.status).toBe(403);
    expect(await studies.getJobCounts('waiting')).toEqual({ waiting: 0 });

    // From the console's own page: replayed, and back to the study page with a notice.
    const ok = await request(base).post(action).set('cookie', cookie).set('origin', base);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe(`/console/studies/${uidTag(failedUid)}?replay=accepted`);
    expect(await (await studies.getJob(`study-${failedUid}`))?.getState()).toBe('waiting');
    const page = await request(base).get(ok.headers.location!).set('cookie', cookie);
    expect(page.text).toContain('Replay accepted: the study is queued again.');
    // Pending now: the page offers no replay, and a second post is told so.
    expect(page.text).not.toContain('Replay study</button>');
    const again = await request(base).post(action).set('cookie', cookie).set('sec-fetch-site', 'same-origin');
    expect(again.headers.location).toBe(`/console/studies/${uidTag(failedUid)}?replay=pending`);
  });

  it('bull-board behind the console (reports, correlate, results): reads and retries only; no studies queue (its job ids carry UIDs)', async () => {
    const cookie = await signIn(base);
    const queues = await request(base).get('/console/queues/api/queues').set('cookie', cookie);
    expect(queues.status).toBe(200);
    expect((queues.body.queues as Array<{ name: string }>).map((q) => q.name).sort()).toEqual(['correlate', 'reports', 'results']);
    const board = await request(base).get('/console/queues/').set('cookie', cookie);
    expect(board.status).toBe(200);
    expect(board.text).toContain('<base href="/console/queues/"');
    for (const destructive of ['/console/queues/api/queues/reports/empty', '/console/queues/api/queues/reports/obliterate', '/console/queues/api/queues/reports/pause']) {
      const res = await request(base).put(destructive).set('cookie', cookie).set('origin', base);
      expect({ destructive, status: res.status }).toEqual({ destructive, status: 403 });
    }
    const add = await request(base).post('/console/queues/api/queues/reports/add').set('cookie', cookie).set('origin', base).send({ name: 'x', data: {} });
    expect(add.status).toBe(403);
    const retry = await request(base).put('/console/queues/api/queues/reports/retry/failed').set('cookie', cookie).set('origin', base);
    expect(retry.status).toBe(200);
  });

  it('a study is addressed by its tag: an unknown or malformed tag is a 404/400 page, never a UID lookup', async () => {
    const cookie = await signIn(base);
    const unknown = await request(base).get('/console/studies/000000000000').set('cookie', cookie);
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('no study with this tag');
    const uid = await request(base).get(`/console/studies/${failedUid}`).set('cookie', cookie);
    expect(uid.status).toBe(400);
  });
});

describe('console without API_TOKEN', () => {
  const prefix = testPrefix('console-off');
  let app: App;
  afterAll(async () => {
    await app?.stop();
    await deletePrefix(prefix);
  });

  it('is disabled: every console URL says to set API_TOKEN (503) and shows nothing else', async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: null }, 'api');
    const base = `http://127.0.0.1:${app.httpPort}`;
    for (const p of ['/console', '/console/login', '/console/messages', '/console/queues/api/queues']) {
      const res = await request(base).get(p);
      expect({ p, status: res.status }).toEqual({ p, status: 503 });
      expect(res.text).toContain('Set <code>API_TOKEN</code> and restart');
    }
    expect((await request(base).post('/console/login').type('form').send({ token: '' })).status).toBe(503);
  });
});

const orthancSkip = orthancSkipReason();
if (orthancSkip) console.warn(`console.int: ${orthancSkip}`);
const chromiumSkip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is absent (Debian: apt-get install chromium): the console's browser test skipped`;
if (chromiumSkip) {
  if (process.env.VCF_BROWSER_REQUIRED === '1') throw new Error(chromiumSkip.replace('skipped', 'is required (VCF_BROWSER_REQUIRED=1)'));
  console.warn(`console.int: ${chromiumSkip}`);
}

describeUnless(orthancSkip)('console over a real flow (Orthanc, MLLP/HTTP HL7, workers)', () => {
  const prefix = testPrefix('console-flow');
  let orthanc: OrthancInstance;
  let app: App;
  let base: string;
  let truth: GroundTruth;
  /** A study the PACS does not have: STUDY_NOT_FOUND, one attempt, failed. */
  const missingUid = `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
  const controlId = `CONSOLE-ORU-${randomUUID().slice(0, 8)}`;
  const adtControlId = `CONSOLE-ADT-${randomUUID().slice(0, 8)}`;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  async function studyState(uid: string): Promise<StudyState | null> {
    const res = await request(base).get(`/studies/${uid}`).set(bearer);
    return res.status === 200 ? (res.body as StudyState) : null;
  }

  async function waitStudy(uid: string, done: (s: StudyState) => boolean, what: string): Promise<StudyState> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      const s = await studyState(uid);
      if (s && done(s)) return s;
      if (Date.now() > deadline) throw new Error(`${what}: last ${JSON.stringify(s).slice(0, 1500)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** PHI of this flow that no URL may carry. */
  const phi = () => [truth.studyInstanceUid, truth.seriesInstanceUid, truth.accessionNumber, truth.patientId, missingUid];

  beforeAll(async () => {
    orthanc = await startOrthanc();
    // The demo's study: T12 grade 2 and L1 grade 3 at 256 pixels; fresh UIDs per run.
    const phantom = phantomBuffers({
      seed: 7, size: 256, pixelSpacing: 1.5, sliceSpacing: 2.5, uidSalt: randomUUID().replace(/-/g, '').slice(0, 12),
      fractures: parseFractureList('T12:2:wedge,L1:3:crush'), localizer: true,
    });
    truth = phantom.truth;
    await stowRs(orthanc, phantom.files.filter((f) => f.name.endsWith('.dcm')).map((f) => f.data));
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: TOKEN, DICOMWEB_SOURCES: { default: { url: orthanc.dicomWebUrl } }, STUDY_JOB_ATTEMPTS: 1 });
    base = `http://127.0.0.1:${app.httpPort}`;

    // The report first, over HTTP: it mentions L1 only.
    const hl7 = (body: string) => request(base).post('/hl7').set(bearer).set('content-type', 'x-application/hl7-v2+er7').send(body);
    const oru = await hl7(makeOru({ controlId, accession: truth.accessionNumber, patientId: truth.patientId, text: ['FINDINGS: Severe compression fracture of L1.', 'IMPRESSION: L1 fracture.'] }));
    expect(oru.text).toContain('MSA|AA|');
    // A message type the service does not take: AR with an ERR segment (HL7_OTHER_MESSAGE_ACK).
    const adt = await hl7(`MSH|^~\\&|ADT|HOSP|VCF|HOSP|20260101120000||ADT^A01|${adtControlId}|P|2.5.1\rPID|1||X^^^HOSP^MR\r`);
    expect(adt.text).toContain('MSA|AR|');

    const notified = await request(base).post('/notifications/studies').set(bearer).send({ studyInstanceUid: truth.studyInstanceUid, accessionNumber: truth.accessionNumber });
    expect(notified.status).toBe(202);
    const missing = await request(base).post('/notifications/studies').set(bearer).send({ studyInstanceUid: missingUid });
    expect(missing.status).toBe(202);
    await waitStudy(truth.studyInstanceUid, (s) => s.status === 'done' || s.status === 'failed', 'phantom study');
    await waitStudy(missingUid, (s) => s.status === 'failed', 'missing study');
  });

  afterAll(async () => {
    await app?.stop();
    await deletePrefix(prefix);
    await orthanc?.stop();
  });

  it('the pages say what happened, and no URL in them carries a UID, accession number or patient id', async () => {
    const cookie = await signIn(base);
    const get = async (p: string) => {
      const res = await request(base).get(p).set('cookie', cookie);
      expect({ p, status: res.status }).toEqual({ p, status: 200 });
      for (const url of urlsIn(res.text)) for (const value of phi()) expect({ p, url, hasPhi: url.includes(value) }).toEqual({ p, url, hasPhi: false });
      return res.text;
    };
    const tag = uidTag(truth.studyInstanceUid);
    const state = (await studyState(truth.studyInstanceUid))!;
    expect(state.status).toBe('done');

    // Messages: the ORU (AA, the report it became) and the ADT (AR, why).
    const messages = await get('/console/messages');
    expect(messages).toContain(`>${controlId}</a>`);
    expect(messages).toMatch(new RegExp(`${adtControlId}</a>.*?ADT\\^A01.*?badge bad">AR<.*?<code>HL7_[A-Z0-9_]+</code>`, 's'));
    const message = await get(`/console/messages/${controlId}?sender=RIS%5EHOSP`);
    expect(message).toContain('<dt>type</dt><dd>ORU^R01 (v2.5.1)</dd>');
    expect(message).toMatch(/badge ok">AA</);
    expect(message).toContain(`accession <strong>${truth.accessionNumber}</strong>: status F, version 1,\nreported levels L1`);
    expect(message).toContain(`<a href="/console/studies/${tag}">study ${tag}</a> <span class="badge ok">done</span> correlation evaluated`);

    // Studies: the list, and the study page with the series chosen, findings, correlation, outputs.
    const list = await get('/console/studies');
    expect(list).toContain(`<a href="/console/studies/${tag}">${tag}</a>`);
    expect(list).toContain(`<a href="/console/studies/${uidTag(missingUid)}">`);
    const study = await get(`/console/studies/${tag}`);
    expect(study).toContain(`<img class="keyimage" src="/console/studies/${tag}/key-image.png"`);
    expect(study).toContain(state.series!.reasons[0]!.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'));
    expect(study).toMatch(/localizer|scout/i);
    expect(study).toMatch(/<tr class="fracture"><td>T12<\/td><td class="num">[23]<\/td>/);
    expect(study).toContain('joined by</dt><dd>accession-number');
    expect(study).toMatch(/<td>T12<\/td><td class="num">[23]<\/td><td><span class="badge bad">not reported<\/span>/);
    const t12 = state.correlation!.fractures.find((f) => f.level === 'T12')!;
    expect(study).toContain(`<td class="mono">${t12.outputs!.observation}</td>`);
    expect(study).toContain('Replay study</button>');
    const png = await request(base).get(`/console/studies/${tag}/key-image.png`).set('cookie', cookie).buffer(true);
    expect(png.status).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect((png.body as Buffer).subarray(1, 4).toString()).toBe('PNG');

    // Failed jobs: the missing study, with its reason and a replay form; queue depths for all three queues.
    const jobs = await get('/console/jobs');
    expect(jobs).toMatch(new RegExp(`<a href="/console/studies/${uidTag(missingUid)}">study ${uidTag(missingUid)}</a></td>\\s*<td class="num">1</td><td>[^<]*STUDY_NOT_FOUND`));
    expect(jobs).toContain(`<form class="inline" method="post" action="/console/studies/${uidTag(missingUid)}/replay">`);
    expect(jobs).toMatch(/<tr><td>studies<\/td>(<td class="num">\d+<\/td>){5}<td class="num">1<\/td><td class="num">1<\/td><\/tr>/);
    expect(await get('/console')).toMatch(/<tr><td>reports<\/td>(<td class="num">\d+<\/td>){5}<td class="num">1<\/td><td class="num">0<\/td><\/tr>/);
  });

  (chromiumSkip ? describe.skip : describe)(`in headless Chromium${chromiumSkip ? ` [skipped: ${chromiumSkip}]` : ''}`, () => {
    it('signs in, reads messages, a study with its key image, replays a failed study, opens the queues, signs out', async () => {
      // Loaded here so that a machine without the browser never needs the package either.
      const { chromium } = await import('playwright-core');
      const userDataDir = mkdtempSync(path.join(tmpdir(), 'vcf-console-chromium-'));
      const screenshot = process.env.VCF_CONSOLE_SCREENSHOT ?? path.join(userDataDir, 'console.png');
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        // Chromium's own background connections are refused on closed networks: none is made.
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1360, height: 1000 },
      });
      const requested: string[] = [];
      const problems: string[] = [];
      /** Requests the browser did not complete (the CSP refuses any to another site). */
      const refused: string[] = [];
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(20_000);
        page.on('request', (r) => requested.push(r.url()));
        page.on('requestfailed', (r) => refused.push(`${r.url()} ${r.failure()?.errorText}`));
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        // Every answer the pages get is a success, but the deliberate wrong sign-in below.
        page.on('response', (r) => {
          if (r.status() >= 400 && !(r.status() === 401 && r.url() === `${base}/console/login`)) problems.push(`${r.status()} ${r.url()}`);
        });
        page.on('console', (m) => {
          // Failed loads are checked above (Chromium's own /favicon.ico probe, a 404 outside the console, is not a
          // page's); bull-board's stylesheet link to Google Fonts is refused by the CSP by design (nothing leaves the site).
          if (m.type() === 'error' && !/^Failed to load resource|fonts\.googleapis\.com/.test(m.text())) problems.push(`console: ${m.text()}`);
        });
        const text = async () => page.locator('body').innerText();
        const tag = uidTag(truth.studyInstanceUid);
        const missingTag = uidTag(missingUid);

        // Sign in: the console sends the browser to the form first.
        await page.goto(`${base}/console`);
        expect(new URL(page.url()).pathname).toBe('/console/login');
        await page.fill('#token', `${TOKEN}-wrong`);
        await page.click('button[type=submit]');
        expect(await page.getByRole('alert').innerText()).toBe('That is not the API token.');
        await page.fill('#token', TOKEN);
        await page.click('button[type=submit]');
        await page.waitForURL(`${base}/console`);
        expect(await page.locator('h1').innerText()).toBe('Overview');
        expect(await text()).toMatch(/reports\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+1\s+0/);

        // HL7 messages: the list, then the ORU's page by clicking its MSH-10.
        await page.click('text=HL7 messages');
        expect(await page.locator('h1').innerText()).toBe('HL7 messages');
        expect(await text()).toContain(adtControlId);
        await page.click(`a:text-is("${controlId}")`);
        expect(await page.locator('h1').innerText()).toBe(`HL7 message ${controlId}`);
        const message = await text();
        expect(message).toContain(`accession ${truth.accessionNumber}: status F, version 1, reported levels L1`);
        expect(message).toMatch(/ACK sent\s+AA/);

        // The study it became, with the key image loaded and the unreported T12.
        await page.click(`a:text-is("study ${tag}")`);
        expect(await page.locator('h1').innerText()).toBe(`Study ${tag}`);
        await page.waitForFunction("(() => { const img = document.querySelector('img.keyimage'); return img !== null && img.complete && img.naturalWidth > 0; })()");
        const study = await text();
        expect(study).toMatch(/status\s+done/);
        expect(study).toMatch(/T12\s+[23]\s+not reported/);
        expect(study).toContain('Outputs written');
        await page.screenshot({ path: screenshot, fullPage: false });
        expect(statSync(screenshot).size).toBeGreaterThan(20_000);

        // Failed jobs: the study the PACS does not have; its Replay button queues it again.
        await page.click('text=Failed jobs');
        expect(await text()).toMatch(new RegExp(`study ${missingTag}\\s+1\\s+.*STUDY_NOT_FOUND`));
        await page.locator('tr', { hasText: `study ${missingTag}` }).getByRole('button', { name: 'Replay' }).click();
        await page.waitForURL(`${base}/console/studies/${missingTag}?replay=accepted`);
        expect(await page.getByRole('status').innerText()).toBe('Replay accepted: the study is queued again.');

        // The queues in bull-board, under the console and its session.
        await page.click('text=Queues');
        await page.waitForURL(`${base}/console/queues/`);
        await page.getByText('correlate').first().waitFor();
        const board = await text();
        expect(board).toContain('reports');
        expect(board).toContain('correlate');
        expect(board).not.toMatch(/\bstudies\b/);

        // Sign out: the cookie is gone, the console asks for the token again.
        await page.goto(`${base}/console`);
        await page.click('text=Log out');
        await page.waitForURL(`${base}/console/login`);
        await page.goto(`${base}/console/jobs`);
        expect(new URL(page.url()).pathname).toBe('/console/login');
      } finally {
        await context.close();
        if (!process.env.VCF_CONSOLE_SCREENSHOT) rmSync(userDataDir, { recursive: true, force: true });
      }
      expect(problems).toEqual([]);
      // Nothing the browser asked for carried PHI, and whatever a page asked of another site (bull-board's
      // Google Fonts stylesheet) the CSP refused before it left the browser.
      expect(requested.length).toBeGreaterThan(10);
      for (const url of requested) {
        for (const value of phi()) expect({ url, hasPhi: url.includes(value) }).toEqual({ url, hasPhi: false });
        if (!url.startsWith(`${base}/`)) expect(refused).toContain(`${url} csp`);
      }
    });
  });
});
