import { spawn } from 'node:child_process';
import path from 'node:path';
import { orthancSkipReason } from '../helpers/orthanc';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');
const skip = orthancSkipReason();

(skip ? describe.skip : describe)(`vcf-sentinel demo (the README's main command)${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('runs the loop end to end: phantom in Orthanc, ORU over MLLP, notification, findings vs report', async () => {
    const proc = spawn(process.execPath, [BIN, 'demo', '--size', '128'], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    expect({ code, err: err.slice(-2000) }).toEqual({ code: 0, err: expect.any(String) });
    expect(out).toMatch(/ACK: MSA\|AA\|DEMO-/);
    expect(out).toMatch(/Study notification: HTTP 202/);
    expect(out).toMatch(/GET \/studies\/\{uid\}: status (awaiting-report|done)/);
    expect(out).toMatch(/The report mentions fractures at: L1\n/);
    // The model finds both fractures; the one the report omits is the one to act on.
    expect(out).toMatch(/Fractures on the CT: .*T12 \(grade [23]\).*L1 \(grade [23]\)/);
    expect(out).toMatch(/Present but not reported: .*T12 \(grade [23]\)/);
    expect(out).not.toMatch(/Present but not reported: .*L1/);
  }, 180_000);
});
