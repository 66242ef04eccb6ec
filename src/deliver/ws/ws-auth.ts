/**
 * Where a WebSocket viewer's token comes from: `?token=<jwt>` or a
 * `Sec-WebSocket-Protocol` entry `bearer.<jwt>` (browsers cannot set headers
 * on WebSockets; the protocol list is the usual way around that). The token
 * is the stream's RS256 viewer token, checked by the PlaybackGate
 * (playback-gate.ts) like every other playback path's.
 */

/** Private-protocol close codes (4000–4999 are the application's): 4401 = who are you, 4403 = not for you, 4404 = no such stream. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_NOT_FOUND = 4404;
/** RFC 6455's "Try Again Later": the stream could not be looked up (the database is away). */
export const CLOSE_TRY_AGAIN_LATER = 1013;

const BEARER_PREFIX = 'bearer.';

/** The token from `?token=` or the `bearer.` protocol entry; null if neither is present. */
export function extractToken(query: string, protocolHeader: string): string | null {
  if (query !== '') {
    const fromQuery = new URLSearchParams(query).get('token');
    if (fromQuery) return fromQuery;
  }
  if (protocolHeader !== '') {
    for (const entry of protocolHeader.split(',')) {
      const trimmed = entry.trim();
      if (trimmed.startsWith(BEARER_PREFIX) && trimmed.length > BEARER_PREFIX.length) return trimmed.slice(BEARER_PREFIX.length);
    }
  }
  return null;
}

/** The protocol to echo back: "nova.v1" when offered, else the first entry offered (a client offering only its token needs one echoed back), else none. */
export function chooseProtocol(protocolHeader: string): string {
  if (protocolHeader === '') return '';
  const entries = protocolHeader.split(',').map((entry) => entry.trim());
  if (entries.includes('nova.v1')) return 'nova.v1';
  return entries[0] ?? '';
}
