import { timingSafeEqual } from 'node:crypto';
import { NovaError } from '../errors.js';

/**
 * Which client a forwarded request came from. A delivery thread that hands
 * a request over to the main thread (src/deliver/threads/forward-to-main.ts)
 * connects from 127.0.0.1 itself, so the main thread would take every
 * forwarded request for one local client (rate limits keyed by address,
 * audit logs, viewer fingerprints). The delivery thread therefore says who
 * the client was in CLIENT_ADDRESS_HEADER and proves it is the delivery
 * thread with the process's forwarding secret in FORWARDED_SECRET_HEADER.
 * Anyone else sending those headers gets their own socket address: the
 * headers count only with the secret, and only on a thread told to trust it.
 */

export const FORWARDED_SECRET_HEADER = 'x-nova-forwarded-secret';
export const CLIENT_ADDRESS_HEADER = 'x-nova-client-address';

/** Module state of this thread: null trusts nobody (delivery threads, and the main thread until start-up says otherwise). */
let trustedSecret: Buffer | null = null;

/**
 * Makes this thread believe CLIENT_ADDRESS_HEADER on requests that carry
 * `secret` (null: believe none). Set once by the composition root of the
 * thread that receives forwarded requests, before it listens.
 */
export function trustForwardedRequests(secret: string | null): void {
  if (secret === '') throw new NovaError('NOVA_ERR_CONFIG', 'the forwarding secret must not be empty');
  trustedSecret = secret === null ? null : Buffer.from(secret, 'utf8');
}

/**
 * The client address a delivery thread vouched for, or null when the
 * request does not carry the trusted secret. Both headers are taken out of
 * `headers` either way, so no route, log line or echo ever sees the secret
 * or a client's claim about its own address.
 */
export function takeForwardedAddress(headers: Map<string, string>): string | null {
  const secret = headers.get(FORWARDED_SECRET_HEADER);
  const address = headers.get(CLIENT_ADDRESS_HEADER);
  if (secret === undefined && address === undefined) return null;
  headers.delete(FORWARDED_SECRET_HEADER);
  headers.delete(CLIENT_ADDRESS_HEADER);
  if (trustedSecret === null || secret === undefined || address === undefined || address === '') return null;
  return secretMatches(trustedSecret, secret) ? address : null;
}

/** Constant-time comparison (a wrong guess takes as long whatever its prefix); only the length may show. */
export function secretMatches(expected: Buffer, given: string): boolean {
  const candidate = Buffer.from(given, 'utf8');
  return candidate.length === expected.length && timingSafeEqual(candidate, expected);
}
