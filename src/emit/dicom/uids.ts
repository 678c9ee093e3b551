/**
 * UIDs of the instances the service writes back to PACS: derived, not random, so that a retried or
 * replayed send carries the same Series and SOP Instance UIDs and the PACS stores nothing twice.
 *
 * Form: `2.25.<integer>` (PS3.5 B.2, a UUID as a decimal integer), the UUID being the first 128 bits of
 * SHA-256 over the inputs with the RFC 9562 version 8 ("custom") and variant bits set. 44 characters at
 * most, well within the 64 a UID may have.
 */
import { createHash } from 'node:crypto';

export function derivedUid(...parts: string[]): string {
  const bytes = createHash('sha256').update(['vcf-sentinel', ...parts].join('\n')).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // variant 10
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}
