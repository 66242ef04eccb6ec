import { createHash } from 'node:crypto';
import type { RequestContext } from '../../http/uws-helpers.js';

/**
 * One playback session per player: the session id the player sends with every
 * request (AVPlayer's X-Playback-Session-Id header, or `?sid=` from players that
 * can only add a query), else a fingerprint of address and user agent. Headers
 * and queries do not change what is served, so playlists stay one cacheable
 * object for everyone. `params`: the query already parsed, when the caller has it.
 */
/**
 * Fingerprints computed lately, by address and user agent: a player asks
 * every second or so, and a sha1 per request costs more than finding it
 * again. Emptied when full (players still watching put theirs back at once).
 */
const fingerprints = new Map<string, string>();
const MAX_FINGERPRINTS = 4096;

export function clientKey(ctx: RequestContext, params?: URLSearchParams): string {
  const sessionId = ctx.headers.get('x-playback-session-id') || (params ?? new URLSearchParams(ctx.query)).get('sid');
  if (sessionId) return `sid:${sessionId.slice(0, 128)}`;
  const forwarded = ctx.headers.get('x-forwarded-for');
  const address = forwarded ? forwarded.split(',')[0]!.trim() : ctx.remoteAddress;
  const userAgent = ctx.headers.get('user-agent') ?? '';
  const seen = `${address}\n${userAgent}`;
  let key = fingerprints.get(seen);
  if (key === undefined) {
    key = createHash('sha1').update(seen).digest('base64url').slice(0, 16);
    if (fingerprints.size >= MAX_FINGERPRINTS) fingerprints.clear();
    fingerprints.set(seen, key);
  }
  return key;
}
