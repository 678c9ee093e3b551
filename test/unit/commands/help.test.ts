import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'vcf-sentinel.js');

/** CONTRACT: every command answers --help (exit 0: usage, options with defaults, the variables it reads). */
describe('--help on every command', () => {
  it.each(['serve', 'analyze-report', 'analyze-study', 'phantom', 'demo'])('%s --help: exit 0, its usage on stdout, nothing on stderr', (command) => {
    const r = spawnSync(process.execPath, [BIN, command, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^usage: vcf-sentinel ${command}\\b`));
  });

  it.each(['serve', 'analyze-report', 'analyze-study', 'phantom', 'demo'])('%s --bogus: exit 2, one line on stderr with the mistake and the usage line', (command) => {
    const r = spawnSync(process.execPath, [BIN, command, '--bogus'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^vcf-sentinel: Unknown option '--bogus'.* \\(usage: vcf-sentinel ${command}\\b.*\\)$`))]);
  });

  it('serve --help lists every setting with its default, and never a secret', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8', env: { ...process.env, API_TOKEN: 'do-not-print' } });
    expect(r.stdout).toMatch(/^ {2}REDIS_URL="redis:\/\/127\.0\.0\.1:6379"$/m);
    expect(r.stdout).toMatch(/^ {2}CORRELATE_REPORT_WAIT_H=72$/m);
    expect(r.stdout).toMatch(/^ {2}API_TOKEN=unset$/m);
    expect(r.stdout).not.toContain('do-not-print');
  });
});
