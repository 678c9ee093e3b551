import net from 'node:net';
import { MllpFramer, encodeMllp } from '../../src/ingest/hl7/mllp';

export interface OruOptions {
  controlId: string;
  sendingApplication?: string;
  sendingFacility?: string;
  accession?: string;
  status?: string;
  version?: string;
  text?: string[];
  studyInstanceUid?: string;
  patientId?: string;
}

/** A radiology ORU^R01 like a RIS sends it: CR-separated, one OBX per report line. */
export function makeOru(o: OruOptions): string {
  const text = o.text ?? ['FINDINGS: Mild wedge compression fracture of L1 with 20% anterior height loss.', 'IMPRESSION: L1 fracture.'];
  const segs = [
    `MSH|^~\\&|${o.sendingApplication ?? 'RIS'}|${o.sendingFacility ?? 'HOSP'}|VCF|HOSP|20260101120000||ORU^R01^ORU_R01|${o.controlId}|P|${o.version ?? '2.5.1'}|||AL|NE||UNICODE UTF-8`,
    `PID|1||${o.patientId ?? 'MRN12345'}^^^HOSP^MR||TEST^PATIENT||19500101|F`,
    `ORC|RE|PL-${o.accession ?? 'ACC1'}|${o.accession ?? 'ACC1'}`,
    `OBR|1|PL-${o.accession ?? 'ACC1'}|${o.accession ?? 'ACC1'}|CTCAP^CT chest abdomen pelvis^L|||20260101110000|||||||||||||||20260101115500||CT|${o.status ?? 'F'}`,
  ];
  let n = 1;
  if (o.studyInstanceUid) segs.push(`OBX|${n++}|ST|113014^DICOM Study^DCM||${o.studyInstanceUid}||||||F`);
  for (const line of text) segs.push(`OBX|${n++}|TX|18782-3^Radiology Study observation^LN||${line}||||||${o.status ?? 'F'}`);
  return segs.join('\r') + '\r';
}

/** Sends raw bytes on one socket and collects `expected` MLLP frames (ACKs) as strings. */
export function sendRaw(port: number, chunks: Buffer[], expected: number, timeoutMs = 10_000): Promise<{ acks: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const framer = new MllpFramer(64 * 1024 * 1024);
    const acks: string[] = [];
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out with ${acks.length}/${expected} ACKs`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ acks, closed });
    };
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setImmediate(r));
      }
      if (expected === 0) setTimeout(finish, 300);
    });
    socket.on('data', (d) => {
      for (const e of framer.push(d)) if (e.kind === 'frame') acks.push(e.payload.toString('utf8'));
      if (acks.length >= expected && expected > 0) finish();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const frame = encodeMllp;

/** MSA-1 and MSA-2 of an ACK. */
export function msa(ack: string): { code: string; controlId: string; text: string } {
  const line = ack.split('\r').find((s) => s.startsWith('MSA|')) ?? '';
  const f = line.split('|');
  return { code: f[1] ?? '', controlId: f[2] ?? '', text: f[3] ?? '' };
}

export function errSegment(ack: string): string | undefined {
  return ack.split('\r').find((s) => s.startsWith('ERR|'));
}
