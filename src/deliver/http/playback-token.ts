import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpProblem } from './http-problem.js';

/**
 * Signed playback URLs: `?token=<expiresAtEpochSec>.<signature>` where the
 * signature is HMAC-SHA256(key, "<streamId>\n<expiresAt>") in base64url.
 * Checked at the origin on playlists and media; the token is copied into
 * every URI a playlist writes so players carry it along.
 */

export type PlaybackTokenCheck =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'bad_signature' | 'expired' };

function signature(key: string, streamId: string, expiresAt: number): string {
  return createHmac('sha256', key).update(`${streamId}\n${expiresAt}`).digest('base64url');
}

/** The token value (goes after `?token=`). `expiresAt` in epoch seconds. */
export function signPlaybackUrl(key: string, streamId: string, expiresAt: number): string {
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new RangeError('expiresAt must be epoch seconds');
  return `${expiresAt}.${signature(key, streamId, expiresAt)}`;
}

const TOKEN = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

/** Signature first, then expiry: an edited expiry reads as a bad signature, not as "expired". */
export function verifyPlaybackToken(key: string, streamId: string, token: string | null, nowSec: number): PlaybackTokenCheck {
  if (token === null || token === '') return { ok: false, reason: 'missing' };
  const match = TOKEN.exec(token);
  if (!match) return { ok: false, reason: 'malformed' };
  const expiresAt = Number(match[1]);
  const expected = Buffer.from(signature(key, streamId, expiresAt));
  const given = Buffer.from(match[2]!);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad_signature' };
  if (expiresAt < nowSec) return { ok: false, reason: 'expired' };
  return { ok: true, expiresAt };
}

const REFUSALS = {
  missing: 'playback token missing: this stream requires a signed URL (?token=)',
  malformed: 'playback token malformed',
  bad_signature: 'playback token signature invalid',
  expired: 'playback token expired',
} as const;

/**
 * A request's right to a stream: with no signing key anyone may play (""), else
 * its `?token=` must verify. Returns the URI suffix that playlists write after
 * every URI so players carry the token along ("?token=…"), or the 403 to answer.
 */
export function authorizePlayback(key: string | null, streamId: string, params: URLSearchParams, nowSec: number): string | HttpProblem {
  if (key === null) return '';
  const token = params.get('token');
  const check = verifyPlaybackToken(key, streamId, token, nowSec);
  if (check.ok) return `?token=${token}`;
  return new HttpProblem(403, 'NOVA_ERR_FORBIDDEN', REFUSALS[check.reason]);
}
