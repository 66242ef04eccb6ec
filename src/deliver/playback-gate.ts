/**
 * Who may watch a private stream, as delivery sees it: one synchronous check
 * of a viewer token (from `?token=`, or the WebSocket's protocol header)
 * against a stream id. The control plane implements it (PlaybackAuthorizer,
 * RS256 viewer tokens) and server.ts hands it to the media routes and the
 * WebSocket hub, so delivery never imports the control plane.
 */

/** missing/invalid/expired/revoked: who are you (HTTP 401, WebSocket 4401); wrong_stream: not for you (403, 4403) */
export type PlaybackRefusal = 'missing' | 'invalid' | 'expired' | 'revoked' | 'wrong_stream';

export type PlaybackCheck = { ok: true } | { ok: false; reason: PlaybackRefusal };

/**
 * Synchronous where the verifier lives in this thread; a delivery thread asks
 * the main thread's and gets its answer later (see deliver/threads/).
 */
export type PlaybackGate = (streamId: string, token: string | null) => PlaybackCheck | Promise<PlaybackCheck>;

/** A gate that lets nobody into a private stream (no token can be checked): what delivery uses when it was given none. */
export const REFUSE_PRIVATE: PlaybackGate = (_streamId, token) => ({ ok: false, reason: token === null || token === '' ? 'missing' : 'invalid' });

const MESSAGES: Record<PlaybackRefusal, string> = {
  missing: 'this stream is private: a viewer token is required (?token=)',
  invalid: 'viewer token invalid',
  expired: 'viewer token expired',
  revoked: 'viewer token revoked',
  wrong_stream: 'viewer token is for another stream',
};

/** The message a refusal is answered with (HTTP error body, WebSocket close reason: under 123 bytes). */
export function refusalMessage(reason: PlaybackRefusal): string {
  return MESSAGES[reason];
}

/** Whether the refusal is "not for you" (403 / 4403) rather than "who are you" (401 / 4401). */
export function isForbidden(reason: PlaybackRefusal): boolean {
  return reason === 'wrong_stream';
}
