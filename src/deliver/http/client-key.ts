import { createHash } from 'node:crypto';
import type { RequestContext } from '../../http/uws-helpers.js';

/**
 * One playback session per player: the session id the player sends with every
 * request (AVPlayer's X-Playback-Session-Id header, or `?sid=` from players that
 * can only add a query), else a fingerprint of address and user agent. Headers
 * and queries do not change what is served, so playlists stay one cacheable
 * object for everyone. `params`: the query already parsed, when the caller has it.
 */
export function clientKey(ctx: RequestContext, params?: URLSearchParams): string {
  const sessionId = ctx.headers.get('x-playback-session-id') || (params ?? new URLSearchParams(ctx.query)).get('sid');
  if (sessionId) return `sid:${sessionId.slice(0, 128)}`;
  const forwarded = ctx.headers.get('x-forwarded-for');
  const address = forwarded ? forwarded.split(',')[0]!.trim() : ctx.remoteAddress;
  return createHash('sha1')
    .update(address)
    .update('\n')
    .update(ctx.headers.get('user-agent') ?? '')
    .digest('base64url')
    .slice(0, 16);
}
