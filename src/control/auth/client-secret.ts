import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * API client secrets: "ncs_" + 32 random bytes, stored as scrypt with its
 * parameters and salt, so a leaked table costs an attacker scrypt work per
 * guess and the parameters can be raised later without breaking old rows.
 * scrypt runs on libuv's thread pool, never on the event loop.
 */

export const CLIENT_SECRET_PREFIX = 'ncs_';
/** N=2^14, r=8 (16 MiB), the scrypt paper's interactive setting: these secrets carry 256 random bits, so no N makes guessing feasible and the KDF is defence in depth, kept cheap enough for a token request. */
const DEFAULT_PARAMS = { N: 2 ** 14, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const STORED = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
const SECRET = /^ncs_[A-Za-z0-9_-]{43}$/;

export function generateClientSecret(): string {
  return CLIENT_SECRET_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeClientSecret(candidate: string): boolean {
  return SECRET.test(candidate);
}

function derive(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LENGTH, { ...options, maxmem: 256 * options.N! * options.r! }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** "scrypt$N$r$p$salt$hash" (base64url). `params` only for tests that need it cheap. */
export async function hashClientSecret(secret: string, params: { N: number; r: number; p: number } = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time check of a presented secret against a stored hash; false for a malformed one. */
export async function verifyClientSecret(secret: string, stored: string): Promise<boolean> {
  const match = STORED.exec(stored);
  if (!match) return false;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const expected = Buffer.from(match[5]!, 'base64url');
  const key = await derive(secret, Buffer.from(match[4]!, 'base64url'), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
