import type { HttpResponse } from 'uWebSockets.js';
import type { CorsPolicy } from './cors.js';
import { writeResponse, type HeaderList } from './media-response.js';
import { isForbidden, refusalMessage, type PlaybackRefusal } from '../playback-gate.js';
import { sendJson, type RequestContext } from '../../http/uws-helpers.js';

/**
 * A request that cannot be served, as the answer it gets: status, coded
 * error and message. Thrown inside a media route and answered by its
 * router, or answered at once with sendProblem.
 */
export class HttpProblem {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
    /** headers the answer carries besides CORS (WWW-Authenticate of a 401) */
    readonly headers: HeaderList = [],
  ) {}
}

export function notFound(message: string): HttpProblem {
  return new HttpProblem(404, 'NOVA_ERR_NOT_FOUND', message);
}

export function badRequest(message: string): HttpProblem {
  return new HttpProblem(400, 'NOVA_ERR_BAD_REQUEST', message);
}

/**
 * A private stream refused: 401 (no usable token: missing, invalid, expired,
 * revoked) with a WWW-Authenticate challenge (RFC 9110 11.6.1; the token goes
 * in the query, RFC 6750 2.3), or 403 (a good token for another stream).
 */
export function playbackRefused(reason: PlaybackRefusal): HttpProblem {
  const message = refusalMessage(reason);
  if (isForbidden(reason)) return new HttpProblem(403, 'NOVA_ERR_FORBIDDEN', message);
  // RFC 6750 3.1: a request with no credentials gets the challenge without an error code
  const challenge = reason === 'missing' ? 'Bearer realm="nova-playback"' : 'Bearer realm="nova-playback", error="invalid_token"';
  return new HttpProblem(401, 'NOVA_ERR_UNAUTHORIZED', message, ['www-authenticate', challenge]);
}

/** The server could not deliver in time: the client may ask again after Retry-After. */
export function tooLate(message: string): HttpProblem {
  return new HttpProblem(503, 'NOVA_ERR_INTERNAL', message);
}

/** The instance ingesting the stream cannot be reached (origin–edge): the client may ask again after Retry-After. */
export function originUnavailable(streamId: string): HttpProblem {
  return new HttpProblem(503, 'NOVA_ERR_ORIGIN_UNAVAILABLE', `the instance ingesting stream ${streamId} cannot be reached; retry shortly`);
}

/** One Retry-After for everything late: parts come every few hundred ms, so a second later something has changed. */
export const RETRY_AFTER: HeaderList = ['retry-after', '1'];

/** The JSON error body {"error":{"code","message"}} with CORS headers (a HEAD gets the headers alone). */
export function sendProblem(res: HttpResponse, ctx: RequestContext, cors: CorsPolicy, problem: HttpProblem, extra: HeaderList = []): void {
  if (problem.headers.length > 0) extra = [...extra, ...problem.headers];
  // every 503 says when to come back (RFC 9110 15.6.4): players and CDNs retry instead of giving up
  if (problem.status === 503 && !extra.includes('retry-after')) extra = [...extra, ...RETRY_AFTER];
  if (ctx.method === 'HEAD') {
    const headers = cors.headers(ctx, ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', ...extra]);
    writeResponse(res, ctx, problem.status, headers, '', true);
    return;
  }
  const record = cors.record(ctx);
  for (let i = 0; i < extra.length; i += 2) record[extra[i]!] = extra[i + 1]!;
  sendJson(res, ctx, problem.status, { error: { code: problem.code, message: problem.message } }, record);
}
