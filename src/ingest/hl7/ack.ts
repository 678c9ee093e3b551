import { randomUUID } from 'node:crypto';
import { type AppError, ERROR_CODES } from '../../errors';
import { DEFAULT_DELIMITERS, type Delimiters } from './er7';
import { MAX_CONTROL_ID_LENGTH, type MessageHeader } from './oru';

/** HL7 table 0008 acknowledgement codes (original mode). */
export type AckCode = 'AA' | 'AE' | 'AR';

/** Our identity in ACK MSH-3/MSH-4. */
export const RECEIVER_APPLICATION = 'VCF-SENTINEL';

/** What we know about the incoming message; a header we could not read leaves these empty. */
export type AckTarget = Partial<MessageHeader> & { delimiters?: Delimiters };

function escapeText(value: string, d: Delimiters): string {
  // The escape character first, so the escapes we add are not escaped again.
  return value
    .replace(/[\r\n]+/g, ' ')
    .split(d.escape).join(`${d.escape}E${d.escape}`)
    .split(d.field).join(`${d.escape}F${d.escape}`)
    .split(d.component).join(`${d.escape}S${d.escape}`)
    .split(d.subcomponent).join(`${d.escape}T${d.escape}`)
    .split(d.repetition).join(`${d.escape}R${d.escape}`);
}

function hl7Now(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}+0000`;
}

/** v2.5 moved the error into ERR-2..ERR-8; older versions carry it in ERR-1 (ELD). */
function usesV25Err(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major === undefined || Number.isNaN(major) || major > 2 || (major === 2 && (minor ?? 0) >= 5);
}

/**
 * Builds the original-mode ACK: MSH with sender and receiver swapped, MSA (MSA-2 echoes MSH-10, MSA-3
 * a short text), and for AE/AR an ERR segment with the HL7 table 0357 code and location.
 */
export function buildAck(target: AckTarget, code: AckCode, error?: AppError): string {
  const d = target.delimiters ?? DEFAULT_DELIMITERS;
  const f = d.field;
  const enc = `${d.component}${d.repetition}${d.escape}${d.subcomponent}`;
  const version = target.version || '2.5.1';
  const esc = (v: string | undefined) => escapeText(v ?? '', d);
  const msh = [
    'MSH', enc, RECEIVER_APPLICATION, esc(target.receivingFacility), esc(target.sendingApplication),
    esc(target.sendingFacility), hl7Now(), '',
    `ACK${d.component}${esc(target.triggerEvent)}${d.component}ACK`,
    randomUUID().replace(/-/g, '').slice(0, 20), esc(target.processingId) || 'P', esc(version),
  ].join(f);
  const text = error ? error.message : 'Message accepted';
  // Cut before escaping, so an escape sequence is never cut in half. MSA-2 echoes at most the MSH-10
  // length we accept (a longer one is refused, and its echo cut to the bound).
  const controlId = (target.messageControlId ?? '').slice(0, MAX_CONTROL_ID_LENGTH);
  const segments = [msh, ['MSA', code, esc(controlId), esc(text.slice(0, 80))].join(f)];
  if (error) {
    const spec = ERROR_CODES[error.code];
    const location = (error.location ?? '').split('^').map((p) => esc(p)).join(d.component);
    const codeCwe = [spec.hl7Code, esc(spec.message), 'HL70357'].join(d.component);
    if (usesV25Err(version)) {
      segments.push(['ERR', '', location, codeCwe, 'E', '', '', '', esc(error.message)].join(f));
    } else {
      // ERR-1 ELD: segment ID ^ sequence ^ field position ^ code (a CE whose parts are subcomponents).
      const parts = location === '' ? [] : location.split(d.component);
      while (parts.length < 3) parts.push('');
      const ce = [spec.hl7Code, esc(spec.message), 'HL70357'].join(d.subcomponent);
      segments.push(['ERR', [...parts.slice(0, 3), ce].join(d.component)].join(f));
    }
  }
  return segments.join('\r') + '\r';
}

/**
 * What the ACK can echo from a message we cannot parse: the MSH fields read leniently, so MSA-2 still
 * carries MSH-10 whenever the sender put one there.
 */
export function ackTargetFromRaw(raw: Buffer): AckTarget {
  const text = raw.subarray(0, 4096).toString('latin1');
  const at = text.indexOf('MSH');
  if (at === -1 || text.length < at + 8) return {};
  const fs = text[at + 3]!;
  if (/[A-Za-z0-9\s]/.test(fs)) return {};
  const fields = text.slice(at).split(/\r|\n/)[0]!.split(fs);
  const cs = fields[1]?.[0] ?? DEFAULT_DELIMITERS.component;
  const first = (i: number, max = 64) => (fields[i] ?? '').split(cs, 1)[0]!.slice(0, max);
  return {
    sendingApplication: first(2),
    sendingFacility: first(3),
    receivingApplication: first(4),
    receivingFacility: first(5),
    triggerEvent: (fields[8] ?? '').split(cs, 2)[1]?.slice(0, 3) ?? '',
    messageControlId: first(9, MAX_CONTROL_ID_LENGTH),
    processingId: first(10),
    version: first(11),
  };
}
