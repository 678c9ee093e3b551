import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { frame, makeOru, msa, sendRaw } from '../helpers/hl7';
import { deletePrefix, startTestApp, testPrefix } from '../helpers/service';

/**
 * Docs that are tested (issue 19 item 8): every route the README, the Helm chart's README and the
 * contract name answers (is a route of the running service, whatever its status for this request), the
 * README's "Connect your feed" block runs as written against a running service, and the quick start's
 * commands are scripts that exist.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = [path.join(ROOT, 'README.md'), path.join(ROOT, 'helm', 'vcf-sentinel', 'README.md'), path.resolve(ROOT, '..', 'shared', 'CONTRACT.md')].filter((f) => existsSync(f));
const TOKEN = 'docs-token';
const UID = '1.2.826.0.1.3680043.10.543.77';
const CONTROL_ID = 'DOCS-1';
const ACCESSION = 'ACC-DOCS';

/** Every `…/path…` in backticks, optionally after a method: `GET /studies/{uid}`, `/fhir/R4/*`. */
function documentedRoutes(): Array<{ method: string | null; route: string; doc: string }> {
  const out = new Map<string, { method: string | null; route: string; doc: string }>();
  for (const file of DOCS) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/`(?:(GET|POST|PUT|DELETE) )?(\/[^`\s]*)`/g)) {
      const route = m[2]!.replace(/\[.*\]$/, ''); // optional query parts: `[?sender=…]`
      // A lone slash is prose; absolute file paths are not routes.
      if (route === '/' || /^\/(usr|etc|tmp|var|opt|home|dev|proc|work)\//.test(route)) continue;
      out.set(`${m[1] ?? ''} ${route}`, { method: m[1] ?? null, route, doc: path.basename(file) });
    }
  }
  return [...out.values()];
}

/** A request path for a documented route: placeholders and wildcards filled with things that exist. */
function concrete(route: string): string {
  return route
    .replace(/\{(uid|studyInstanceUid)\}/g, UID)
    .replace('{MSH-10}', CONTROL_ID)
    .replace('{accessionNumber}', ACCESSION)
    .replace('{type}', 'Observation')
    .replace('{id}', 'unknown-id')
    .replace(/^\/studies\/\*$/, `/studies/${UID}`)
    .replace(/^\/notifications\/\*$/, '/notifications/studies')
    .replace(/^\/fhir\/R4(\/\*)?$/, '/fhir/R4/metadata')
    .replace(/^\/cds-services\*$/, '/cds-services');
}

function runBash(script: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('docs that are tested', () => {
  const prefix = testPrefix('docs');
  let app: Awaited<ReturnType<typeof startTestApp>>;
  let base: string;

  beforeAll(async () => {
    app = await startTestApp({ QUEUE_PREFIX: prefix, API_TOKEN: TOKEN });
    base = `http://127.0.0.1:${app.httpPort}`;
    // Something for the placeholders to name: a message and its report, a notified study.
    const { acks } = await sendRaw(app.mllpPort!, [frame(makeOru({ controlId: CONTROL_ID, accession: ACCESSION }))], 1);
    expect(msa(acks[0]!).code).toBe('AA');
    await request(base).post('/notifications/studies').set('authorization', `Bearer ${TOKEN}`).send({ studyInstanceUid: UID });
  });
  afterAll(async () => {
    await app.stop();
    await deletePrefix(prefix);
  });

  it('finds the routes in README.md, the Helm README and the contract', () => {
    const routes = documentedRoutes().map((r) => r.route);
    for (const r of ['/hl7', '/notifications/studies', '/fhir/R4', '/cds-services', '/readyz', '/hl7/messages/{MSH-10}']) expect(routes).toContain(r);
  });

  it.each(documentedRoutes().map((r) => [`${r.method ?? 'GET|POST'} ${r.route} (${r.doc})`, r] as const))('%s is a route of the service', async (_name, r) => {
    const url = concrete(r.route);
    const methods = r.method ? [r.method] : ['GET', 'POST'];
    const answers: string[] = [];
    for (const method of methods) {
      const res = await request(base)[method.toLowerCase() as 'get' | 'post'](url).set('authorization', `Bearer ${TOKEN}`).set('accept', 'application/json');
      // The catch-all answers 404 "no such route"; anything else (200, 400, 401, a resource's 404) is the route.
      const unrouted = res.status === 404 && res.body?.error?.message === 'no such route';
      if (!unrouted) return;
      answers.push(`${method} ${url}: ${res.status}`);
    }
    throw new Error(`documented but not served: ${answers.join('; ')}`);
  });

  it('runs the README\'s "Connect your feed" block as written against a running service', async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Connect your feed'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    // Asynchronously: the service runs in this process and must keep answering while the block runs.
    const r = await runBash(block!, { VCF_URL: base, API_TOKEN: TOKEN });
    expect({ status: r.status, stderr: r.stderr.slice(-1000) }).toEqual({ status: 0, stderr: expect.any(String) });
    const feed = JSON.parse(readFileSync('/tmp/vcf-feed.json', 'utf8')) as { accessionNumber: string; oru: { controlId: string } };
    // The ACK, the message log entry and the stored report, in that order on stdout.
    expect(r.stdout).toMatch(/MSA\|AA\|PHANTOM-/);
    expect(r.stdout).toContain(`"controlId":"${feed.oru.controlId}"`);
    expect(r.stdout).toMatch(/"ack":"AA"/);
    expect(r.stdout).toContain(`"accessionNumber":"${feed.accessionNumber}"`);
    expect(r.stdout).toMatch(/"reportedLevels":\["L1"\]/);
  }, 150_000);

  it('the quick start names scripts that exist, and CI runs the test command', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const quick = /## The two commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const used = [...quick.matchAll(/npm (?:run )?([\w:-]+)/g)].map((m) => m[1]!).filter((s) => s !== 'ci');
    expect(used).toEqual(['demo', 'test']);
    for (const s of used) expect(scripts[s]).toBeDefined();
    // `npm run demo` is run end to end by demo.int.test.ts (the same CLI command); `npm test` by .ci/run.
    expect(scripts.demo).toMatch(/vcf-sentinel\.js demo$/);
    expect(readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm test\b/m);
  });
});
