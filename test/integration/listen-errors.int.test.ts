import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { testPrefix } from '../helpers/service';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'vcf-sentinel.js');

/** CONTRACT: a start-up error is one line naming the setting at fault (`MLLP_PORT=2575: address already in use`). */
describe('serve: a port already in use names its setting', () => {
  let busy: net.Server;
  let port: number;
  beforeAll(async () => {
    busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    port = (busy.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => busy.close(() => r())));

  it.each(['MLLP_PORT', 'HTTP_PORT'])('%s busy: exit 2 and one line naming it', (setting) => {
    const env = { ...process.env, LOG_LEVEL: 'silent', QUEUE_PREFIX: testPrefix('listen'), HTTP_HOST: '127.0.0.1', MLLP_HOST: '127.0.0.1', HTTP_PORT: '0', MLLP_PORT: '0', [setting]: String(port) };
    const r = spawnSync(process.execPath, [BIN, 'serve', '--role', 'api'], { env, encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 2, stderr: `vcf-sentinel: ${setting}=${port}: address already in use (127.0.0.1)\n` });
  });
});
