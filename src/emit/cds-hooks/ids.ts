import { createHash } from 'node:crypto';

/** Our namespace for name-based card and suggestion UUIDs (a random v4, fixed once). */
const NAMESPACE = 'b3c1f0a4-5d2e-4f7a-9c61-2f8e4d7a1b90';

/**
 * RFC 4122 version-5 UUID of `name`: stable, so the same finding gets the same card uuid on every
 * request and after every replay, and feedback can name it days later.
 */
export function uuidV5(name: string, namespace: string = NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The card uuid of a finding (`findingKey`: study UID + level + model version). */
export function cardUuid(findingKey: string): string {
  return uuidV5(`card:${findingKey}`);
}

/** The uuid of one suggestion of a finding's card, named by the referral kinds it creates. */
export function suggestionUuid(findingKey: string, kinds: readonly string[]): string {
  return uuidV5(`suggestion:${findingKey}:${kinds.join('+')}`);
}
