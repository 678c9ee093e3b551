import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Observation, Resource, ServiceRequest } from '@medplum/fhirtypes';
import type { CdsResponse } from '../../src/emit/cds-hooks/types';
import { cdsResponseProblems } from '../../src/emit/cds-hooks/validate';
import { expectValidFhir } from '../helpers/fhir';
import { orthancSkipReason } from '../helpers/orthanc';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');
const skip = orthancSkipReason();

(skip ? describe.skip : describe)(`vcf-sentinel demo (the README's main command)${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('runs the loop end to end: phantom in Orthanc, ORU over MLLP, notification, findings vs report, FHIR outputs', async () => {
    const outDir = mkdtempSync(path.join(tmpdir(), 'vcf-demo-'));
    // Isolated whatever the shell says: a Redis and a PACS that do not exist must not matter.
    const shell = { REDIS_URL: 'redis://127.0.0.1:1', DICOMWEB_SOURCES: '{"elsewhere":{"url":"http://127.0.0.1:1/dicom-web"}}' };
    // The README's demo at its default 256-pixel matrix (1.5 mm pixels): at 128 (3 mm pixels, coarser than any
    // diagnostic CT) model 0.2.0 reads T12's posterior wall 20% above its neighbours' and caps the grade.
    const proc = spawn(process.execPath, [BIN, 'demo', '--out', outDir], { env: { ...process.env, ...shell, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect({ code, err: err.slice(-2000) }).toEqual({ code: 0, err: expect.any(String) });
    expect(out).toMatch(/^0\. Temporary Redis at redis:\/\/127\.0\.0\.1:\d+ \(removed at exit/m);
    expect(out).toMatch(/^2\. Temporary Orthanc PACS at http:\/\/127\.0\.0\.1:\d+\/dicom-web/m);
    expect(out).toMatch(/ACK: MSA\|AA\|DEMO-/);
    expect(out).toMatch(/Study notification: HTTP 202/);
    expect(out).toMatch(/GET \/studies\/\{uid\}: status done/);
    expect(out).toMatch(/Correlation: evaluated, report joined by study-instance-uid/);
    expect(out).toMatch(/The report mentions fractures at: L1\n/);
    // The model finds both fractures; the one the report omits is the one to act on.
    expect(out).toMatch(/Fractures on the CT: .*T12 \(grade [23]\).*L1 \(grade [23]\)/);
    expect(out).toMatch(/Present but not reported: .*T12 \(grade [23]\)/);
    expect(out).not.toMatch(/Present but not reported: .*L1/);
    expect(out).toMatch(/L1 grade [23]: reported \(L1 is named in the report\)/);

    // Every resource written is saved, valid FHIR R4, and the omitted T12 is among the Observations.
    const saved = readdirSync(outDir).filter((f) => !f.startsWith('cds-hooks')).map((f) => JSON.parse(readFileSync(path.join(outDir, f), 'utf8')) as Resource);
    for (const r of saved) expectValidFhir(r);
    const types = new Set(saved.map((r) => r.resourceType));
    expect([...types].sort()).toEqual(['DetectedIssue', 'Device', 'Media', 'Observation', 'ServiceRequest', 'Task']);
    const t12 = saved.find((r): r is Observation => r.resourceType === 'Observation' && r.bodySite?.text === 'T12');
    expect(t12).toMatchObject({ status: 'preliminary', subject: { identifier: { system: 'urn:oid:2.999.1.1', value: 'DEMO-0001' } } });
    expect(out).toMatch(/ServiceRequest\/\S+ \[active, proposal, routine\] Osteoporosis \/ bone-health work-up/);

    // The chart opens: a card for T12 (the detector may add a false grade-1 elsewhere: not relied on), none for L1.
    expect(out).toMatch(/CDS Hooks patient-view → HTTP 200, \d+ card\(s\), valid per CDS Hooks 2\.0/);
    const response = JSON.parse(readFileSync(path.join(outDir, 'cds-hooks-response.json'), 'utf8')) as CdsResponse;
    expect(cdsResponseProblems(response)).toEqual([]);
    const t12Card = response.cards.find((c) => /^Unreported T12 vertebral compression fracture on CT: Genant grade [123]/.test(c.summary));
    expect(t12Card).toBeDefined();
    expect(response.cards.filter((c) => /\bL1\b/.test(c.summary))).toEqual([]);
    expect(t12Card!.detail).toMatch(/not mentioned in the report of/);
    // The grade's proposal: the recommended suggestion (grade 2–3), the only one for grade 1.
    const suggestion = t12Card!.suggestions!.find((s) => s.isRecommended) ?? t12Card!.suggestions![0]!;
    const proposal = suggestion.actions![0]!.resource as ServiceRequest;
    expect(proposal).toMatchObject({ resourceType: 'ServiceRequest', intent: 'proposal', subject: { reference: 'Patient/demo-patient-1' } });
    expect(proposal.code?.coding?.[0]?.code).toBe(t12Card!.summary.includes('grade 3') ? 'ir-augmentation-consult' : 'bone-health-workup');
    expectValidFhir(proposal);
    expect(out).toMatch(/\[(INFO|WARNING)\] Unreported T12/);
    expect(out).toMatch(/\[button\] Propose .*: create ServiceRequest/);
    rmSync(outDir, { recursive: true, force: true });
  }, 180_000);
});

describe('vcf-sentinel demo without a Redis', () => {
  const runDemo = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string; err: string; ms: number }>((resolve) => {
      const started = Date.now();
      const proc = spawn(process.execPath, [BIN, 'demo', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (d) => (out += d));
      proc.stderr.on('data', (d) => (err += d));
      proc.on('exit', (code) => resolve({ code, out, err, ms: Date.now() - started }));
    });

  it.each([
    ['--use-env and nothing at REDIS_URL', ['--use-env'], {}],
    ['no redis-server installed and nothing at REDIS_URL', [], { VCF_TEST_REDIS_SERVER_BIN: '/nonexistent/redis-server' }],
  ])('%s: exits 1 within 10 s with one line naming REDIS_URL and how to start Redis', async (_name, args, env) => {
    const r = await runDemo(args as string[], { REDIS_URL: 'redis://127.0.0.1:1', ...(env as Record<string, string>) });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^vcf-sentinel: REDIS_URL=redis:\/\/127\.0\.0\.1:1: no answer \(ECONNREFUSED\); start Redis \(Debian: apt-get install redis-server/)]);
  }, 15_000);
});
