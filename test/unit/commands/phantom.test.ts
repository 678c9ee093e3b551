import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Er7Message } from '../../../src/ingest/hl7/er7';
import { parseOru } from '../../../src/ingest/hl7/oru';
import { analyzeReport } from '../../../src/report';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'vcf-sentinel.js');

/** `phantom` as an integration engineer runs it: the built CLI, a small series, its JSON on stdout. */
function phantom(args: string[]): Record<string, unknown> {
  return JSON.parse(execFileSync(process.execPath, [BIN, 'phantom', '--size', '64', '--slices', '8', ...args], { encoding: 'utf8' })) as Record<string, unknown>;
}

describe('vcf-sentinel phantom: an engineer\'s test kit', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vcf-phantom-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the identifiers and writes a matching ORU^R01 that mentions the chosen levels', () => {
    const oruFile = path.join(dir, 'report.hl7');
    const out = phantom(['--out', path.join(dir, 'a'), '--fractures', 'T12:2,L1:3', '--oru', oruFile, '--mention', 'L1', '--authority', 'HOSP']);
    expect(out).toMatchObject({ accessionNumber: expect.stringMatching(/^SYN[0-9a-f]{12}$/), patientId: 'SYNTH-1', fractures: ['T12:2:wedge', 'L1:3:wedge'] });
    // The service's own ORU parser reads it back: same study, accession and patient; the report mentions L1.
    const [report] = parseOru(Er7Message.parse(readFileSync(oruFile, 'latin1')));
    expect(report).toMatchObject({
      accessionNumber: out.accessionNumber,
      studyInstanceUid: out.studyInstanceUid,
      resultStatus: 'F',
      patient: { identifiers: [{ value: 'SYNTH-1', assigningAuthority: 'HOSP' }] },
    });
    expect(analyzeReport(report!.text).reportedLevels).toEqual(['L1']);
  });

  it('fresh UIDs and accession on every run unless --seed is given', () => {
    const a = phantom(['--out', path.join(dir, 'b')]);
    const b = phantom(['--out', path.join(dir, 'c')]);
    expect(a.studyInstanceUid).not.toBe(b.studyInstanceUid);
    expect(a.accessionNumber).not.toBe(b.accessionNumber);
    const c = phantom(['--out', path.join(dir, 'd'), '--seed', '5']);
    const d = phantom(['--out', path.join(dir, 'e'), '--seed', '5']);
    expect(c.studyInstanceUid).toBe(d.studyInstanceUid);
    expect(c.accessionNumber).toBe('SYN000005');
  });

  it('--anatomy alternate draws the second anatomy (said in the truth); an unknown anatomy is a usage error', () => {
    phantom(['--out', path.join(dir, 'g'), '--seed', '5', '--anatomy', 'alternate']);
    const truth = JSON.parse(readFileSync(path.join(dir, 'g', 'ground-truth.json'), 'utf8')) as { confounders: { anatomy: string } };
    expect(truth.confounders.anatomy).toBe('alternate');
    const r = spawnSync(process.execPath, [BIN, 'phantom', '--out', path.join(dir, 'h'), '--anatomy', 'martian'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['vcf-sentinel: --anatomy must be one of reference, alternate']);
  });

  it('--mention without --oru is a usage error: exit 2, one line', () => {
    const r = spawnSync(process.execPath, [BIN, 'phantom', '--out', path.join(dir, 'f'), '--mention', 'T12'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['vcf-sentinel: --mention and --authority need --oru FILE']);
  });
});
