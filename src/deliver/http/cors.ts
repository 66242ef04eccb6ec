import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { writeResponse, type HeaderList } from './media-response.js';
import { captureRequest, type RequestContext } from '../../http/uws-helpers.js';

/** What a player's script may read of a media response (hls.js and dash.js read lengths, ranges and ETags). */
const EXPOSED_HEADERS = 'Content-Length, Content-Range, ETag, Accept-Ranges, Date';

/**
 * Cross-origin access to playlists and media: any origin ('*'), or an
 * allow-list whose matching Origin is echoed (with Vary: Origin, so a shared
 * cache keeps one copy per origin).
 */
export class CorsPolicy {
  /** The CORS headers when they are the same for every request (any origin), else null: answers may be prepared with them. */
  readonly fixedHeaders: HeaderList | null;

  constructor(private readonly origins: readonly string[] | '*') {
    this.fixedHeaders = origins === '*' ? ['access-control-allow-origin', '*', 'access-control-expose-headers', EXPOSED_HEADERS] : null;
  }

  /** Appends the CORS headers for this request to `into` and returns it. */
  headers(ctx: RequestContext, into: HeaderList): HeaderList {
    if (this.origins === '*') {
      into.push('access-control-allow-origin', '*');
    } else {
      const origin = ctx.headers.get('origin');
      if (origin !== undefined && this.origins.includes(origin)) into.push('access-control-allow-origin', origin);
      into.push('vary', 'Origin');
    }
    into.push('access-control-expose-headers', EXPOSED_HEADERS);
    return into;
  }

  /** The same headers as an object (for sendJson). */
  record(ctx: RequestContext): Record<string, string> {
    const list = this.headers(ctx, []);
    const record: Record<string, string> = {};
    for (let i = 0; i < list.length; i += 2) record[list[i]!] = list[i + 1]!;
    return record;
  }

  /** The OPTIONS handler: GET and HEAD from any allowed origin, preflight cached for a day. */
  readonly preflight = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = captureRequest(res, req);
    const headers = this.headers(ctx, [
      'access-control-allow-methods',
      'GET, HEAD, OPTIONS',
      'access-control-allow-headers',
      ctx.headers.get('access-control-request-headers') || 'Range, If-None-Match',
      'access-control-max-age',
      '86400',
    ]);
    writeResponse(res, ctx, 204, headers, null, true);
  };
}
