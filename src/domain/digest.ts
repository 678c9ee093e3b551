import { createHash } from 'node:crypto';

/**
 * The first `hexChars` hex digits of SHA-256(text): a fixed-length, non-identifying handle for a value
 * that may be long, hostile or PHI (Redis keys, job ids, log tags).
 */
export function sha256Hex(text: string, hexChars = 64): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

/** A short, stable, non-identifying handle for a UID in info-level logs (UIDs themselves only at debug). */
export function uidTag(uid: string): string {
  return sha256Hex(uid, 12);
}
