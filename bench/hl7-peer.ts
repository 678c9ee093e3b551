/**
 * A bare HL7 listener that ACKs without doing anything, for bench:hl7's "beside a peer" runs.
 * usage: tsx bench/hl7-peer.ts node-hl7-server|medplum PORT  (prints "ready" when listening)
 */
import { Hl7Message } from '@medplum/core';
import { Hl7Server } from '@medplum/hl7';
import { Server } from 'node-hl7-server';

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);

if (kind === 'node-hl7-server') {
  const server = new Server({ bindAddress: '127.0.0.1' });
  const inbound = server.createInbound({ port }, async (_req, res) => {
    await res.sendResponse('AA');
  });
  inbound.on('listen', () => process.stdout.write('ready\n'));
} else if (kind === 'medplum') {
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }: { message: Hl7Message }) => {
      connection.send(message.buildAck());
    });
  });
  server.start(port);
  setTimeout(() => process.stdout.write('ready\n'), 200);
} else {
  process.stderr.write('usage: hl7-peer.ts node-hl7-server|medplum PORT\n');
  process.exit(2);
}
