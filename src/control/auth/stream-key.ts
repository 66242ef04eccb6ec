import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stream keys: "nsk_" + 32 random bytes in base64url (43 characters). Only
 * their sha256 is stored; a leaked database does not leak publish rights.
 * Plaintext keys must never be logged.
 */

export const STREAM_KEY_PREFIX = 'nsk_';
const STREAM_KEY_PATTERN = /^nsk_[A-Za-z0-9_-]{43}$/;
/** Characters of the key kept for display ("nsk_" + 8): enough to tell keys apart, far too few to guess the rest. */
const DISPLAY_PREFIX_LENGTH = 12;

export interface GeneratedStreamKey {
  plaintext: string;
  hash: string;
  displayPrefix: string;
}

export function generateStreamKey(): GeneratedStreamKey {
  const plaintext = STREAM_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { plaintext, hash: hashStreamKey(plaintext), displayPrefix: plaintext.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** Cheap shape check before any hashing or database work. */
export function looksLikeStreamKey(candidate: string): boolean {
  return STREAM_KEY_PATTERN.test(candidate);
}

/** sha256, lowercase hex. A fast hash is right here: keys carry 256 bits of entropy, nothing to brute-force. */
export function hashStreamKey(plaintext: string): string {
  return createHash('sha256').update(plaintext, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex hashes of equal length. */
export function streamKeyHashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
