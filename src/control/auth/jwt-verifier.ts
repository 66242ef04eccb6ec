import { verify as verifySignature, type KeyObject } from 'node:crypto';

/**
 * Synchronous RS256 JWT verification for every request path: the REST API,
 * and the media routes and WebSocket upgrade, whose checks are synchronous.
 * jose signs our tokens, but its verify is asynchronous (WebCrypto, a thread
 * pool hop per token); this is the same checks on node:crypto, in the
 * order RFC 8725 asks: the header's alg must be exactly RS256 (so "none" and
 * an HS256 token keyed with our public key fail before any key is looked
 * at), the kid must name a published key, the signature must verify, then
 * typ, iss, aud, exp and nbf. Verified tokens are remembered (bounded) so a
 * player's every segment request costs a map lookup, not an RSA verify.
 */

export type JwtFailure =
  | 'malformed'
  | 'bad_alg'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid';

export type JwtClaims = Record<string, unknown> & { exp: number };

export type JwtCheck = { ok: true; claims: JwtClaims } | { ok: false; reason: JwtFailure };

export interface JwtExpectation {
  audience: string;
  /** the header's typ, exactly */
  type: string;
}

/** Longer than any token we issue (~700 bytes); refuses giant strings before any work. */
export const MAX_TOKEN_LENGTH = 4096;
const CACHE_ENTRIES = 10_000;
const CLOCK_SKEW_S = 30;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

interface Remembered {
  claims: JwtClaims;
  audience: string;
  type: string;
}

export class JwtVerifier {
  readonly #publicKey: (kid: string) => KeyObject | undefined;
  readonly #issuer: () => string;
  readonly #nowMs: () => number;
  readonly #cache = new Map<string, Remembered>();

  /** `issuer`: read per token (a server on port 0 learns its URL after start). */
  constructor(publicKey: (kid: string) => KeyObject | undefined, issuer: () => string, nowMs: () => number = Date.now) {
    this.#publicKey = publicKey;
    this.#issuer = issuer;
    this.#nowMs = nowMs;
  }

  verify(token: string, expect: JwtExpectation): JwtCheck {
    const nowS = this.#nowMs() / 1000;
    const remembered = this.#cache.get(token);
    if (remembered !== undefined) {
      if (remembered.audience !== expect.audience || remembered.type !== expect.type) return { ok: false, reason: 'wrong_audience' };
      if (remembered.claims.exp + CLOCK_SKEW_S <= nowS) {
        this.#cache.delete(token);
        return { ok: false, reason: 'expired' };
      }
      return { ok: true, claims: remembered.claims };
    }
    const check = this.#verifyFully(token, expect, nowS);
    if (check.ok) {
      // Oldest first out: a Map iterates in insertion order.
      if (this.#cache.size >= CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(token, { claims: check.claims, audience: expect.audience, type: expect.type });
    }
    return check;
  }

  #verifyFully(token: string, expect: JwtExpectation, nowS: number): JwtCheck {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
    const first = token.indexOf('.');
    const second = token.indexOf('.', first + 1);
    if (first <= 0 || second <= first + 1 || second === token.length - 1 || token.indexOf('.', second + 1) !== -1) {
      return { ok: false, reason: 'malformed' };
    }
    const headerPart = token.slice(0, first);
    const payloadPart = token.slice(first + 1, second);
    const signaturePart = token.slice(second + 1);
    if (!SEGMENT.test(headerPart) || !SEGMENT.test(payloadPart) || !SEGMENT.test(signaturePart)) return { ok: false, reason: 'malformed' };
    const header = parseObject(headerPart);
    if (header === null) return { ok: false, reason: 'malformed' };
    if (header.alg !== 'RS256') return { ok: false, reason: 'bad_alg' };
    // A critical extension we do not implement must be refused (RFC 7515 §4.1.11).
    if (header.crit !== undefined) return { ok: false, reason: 'malformed' };
    if (typeof header.kid !== 'string') return { ok: false, reason: 'unknown_kid' };
    const key = this.#publicKey(header.kid);
    if (key === undefined) return { ok: false, reason: 'unknown_kid' };
    const signed = Buffer.from(token.slice(0, second), 'latin1');
    if (!verifySignature('sha256', signed, key, Buffer.from(signaturePart, 'base64url'))) return { ok: false, reason: 'bad_signature' };
    if (header.typ !== expect.type) return { ok: false, reason: 'wrong_type' };
    const claims = parseObject(payloadPart);
    if (claims === null || typeof claims.exp !== 'number') return { ok: false, reason: 'malformed' };
    if (claims.iss !== this.#issuer()) return { ok: false, reason: 'wrong_issuer' };
    const audience = claims.aud;
    if (!(audience === expect.audience || (Array.isArray(audience) && audience.includes(expect.audience)))) return { ok: false, reason: 'wrong_audience' };
    if (claims.exp + CLOCK_SKEW_S <= nowS) return { ok: false, reason: 'expired' };
    if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_S > nowS) return { ok: false, reason: 'not_yet_valid' };
    return { ok: true, claims: claims as JwtClaims };
  }
}

function parseObject(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
