import type { JwtVerifier } from './jwt-verifier.js';
import type { RevocationList } from './revocation-list.js';
import type { SigningKeyRing } from './signing-keys.js';
import { VIEWER_AUDIENCE, VIEWER_TYPE } from './token-service.js';

/**
 * The one check every path of a private stream makes (HLS, LL-HLS, DASH,
 * the WebSocket): is this viewer token, from `?token=`, good for this
 * stream now? Synchronous, so the media routes' and the WebSocket upgrade's
 * checks stay synchronous; a verified token is remembered, so a player's
 * segment requests cost a map lookup after the first.
 */

export type PlaybackVerdict =
  | { ok: true; viewerId: string; displayName: string | null; expiresAt: number }
  /** missing/invalid/expired/revoked: who are you (HTTP 401, WebSocket 4401); wrong_stream: not for you (403, 4403) */
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'revoked' | 'wrong_stream' };

export class PlaybackAuthorizer {
  readonly #verifier: JwtVerifier;
  readonly #revocations: RevocationList;
  readonly #keys: SigningKeyRing;

  constructor(verifier: JwtVerifier, revocations: RevocationList, keys: SigningKeyRing) {
    this.#verifier = verifier;
    this.#revocations = revocations;
    this.#keys = keys;
  }

  verify(streamId: string, token: string | null | undefined): PlaybackVerdict {
    if (token === null || token === undefined || token === '') return { ok: false, reason: 'missing' };
    const check = this.#verifier.verify(token, { audience: VIEWER_AUDIENCE, type: VIEWER_TYPE });
    if (!check.ok) {
      // Another instance may have started signing with a key this one has not loaded yet: the next try will know it.
      if (check.reason === 'unknown_kid') void this.#keys.reloadForUnknownKid().catch(() => {});
      return { ok: false, reason: check.reason === 'expired' ? 'expired' : 'invalid' };
    }
    const { stream_id: claimed, sub, jti, client_id: mintedBy, name } = check.claims;
    if (typeof sub !== 'string' || typeof jti !== 'string') return { ok: false, reason: 'invalid' };
    if (this.#revocations.has(`jti:${jti}`, typeof mintedBy === 'string' ? `client:${mintedBy}` : '')) return { ok: false, reason: 'revoked' };
    if (claimed !== streamId) return { ok: false, reason: 'wrong_stream' };
    return { ok: true, viewerId: sub, displayName: typeof name === 'string' ? name : null, expiresAt: check.claims.exp * 1000 };
  }
}
