import { timingSafeEqual } from 'node:crypto';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../../log.js';
import { captureRequest, sendJson, type RequestContext } from '../../http/uws-helpers.js';
import type { FeedOutput, OriginFeeds } from './origin-feeds.js';

export interface InternalRoutesDeps {
  feeds: OriginFeeds;
  secret: string;
  /** an edge's TS viewers asked for a stream ingested here (idempotent); absent: TS is always muxed */
  onTsRequested?(streamId: string): void;
  /** bytes an edge may fall behind on its feed before it is dropped (and resyncs) */
  maxFeedBacklogBytes: number;
  log: Logger;
}

const FEED_PATH = /^\/internal\/v1\/streams\/([^/]{1,128})\/(feed|ts)$/;

function authorized(ctx: RequestContext, secret: Buffer): boolean {
  const header = ctx.headers.get('authorization') ?? '';
  if (!header.startsWith('Bearer ')) return false;
  const presented = Buffer.from(header.slice(7));
  return presented.length === secret.length && timingSafeEqual(presented, secret);
}

/** An open HTTP response the feed is written to, chunked; a peer that falls behind by more than the limit is dropped. */
function responseOutput(res: HttpResponse, ctx: RequestContext, maxBacklogBytes: number): FeedOutput {
  let congested = false;
  let backlog = 0;
  let closed = false;
  res.onWritable(() => {
    congested = false;
    backlog = 0;
    return true;
  });
  return {
    write(head, body) {
      if (closed || ctx.aborted) return false;
      let ok = true;
      res.cork(() => {
        ok = res.write(head);
        if (body !== null) ok = res.write(body) && ok;
      });
      if (!ok) congested = true;
      if (congested) backlog += head.byteLength + (body === null ? 0 : body.byteLength);
      return backlog <= maxBacklogBytes;
    },
    close() {
      if (closed) return;
      closed = true;
      if (!ctx.aborted) res.cork(() => res.end());
    },
  };
}

/**
 * The internal HTTP API instances use between themselves (origin–edge):
 *
 *   GET  /internal/v1/streams/:id/feed[?ts=1][&thumbnails=1]   the stream's feed (snapshot, then live; thumbnail frames only when asked)
 *   POST /internal/v1/streams/:id/ts            a TS viewer appeared at an edge
 *
 * Every request carries the shared secret as a bearer token.
 */
export function registerInternalRoutes(app: TemplatedApp, deps: InternalRoutesDeps): void {
  const secret = Buffer.from(deps.secret);
  app.any('/internal/*', (res, req) => {
    const ctx = captureRequest(res, req);
    if (!authorized(ctx, secret)) {
      sendJson(res, ctx, 401, { error: { code: 'NOVA_ERR_UNAUTHORIZED', message: 'internal requests need the shared secret' } }, { 'www-authenticate': 'Bearer' });
      return;
    }
    const match = FEED_PATH.exec(ctx.url);
    const streamId = match ? decodeURIComponent(match[1]!) : null;
    if (match === null || streamId === null) {
      sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.url}` } });
      return;
    }
    if (match[2] === 'ts') {
      if (ctx.method !== 'POST') {
        sendJson(res, ctx, 405, { error: { code: 'NOVA_ERR_BAD_REQUEST', message: 'POST only' } });
        return;
      }
      deps.onTsRequested?.(streamId);
      if (!ctx.aborted) res.cork(() => res.writeStatus('204 No Content').end());
      return;
    }
    if (ctx.method !== 'GET') {
      sendJson(res, ctx, 405, { error: { code: 'NOVA_ERR_BAD_REQUEST', message: 'GET only' } });
      return;
    }
    if (!deps.feeds.has(streamId)) {
      sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `stream ${streamId} is not ingested here` } });
      return;
    }
    const query = new URLSearchParams(ctx.query);
    if (query.get('ts') === '1') deps.onTsRequested?.(streamId);
    const thumbnails = query.get('thumbnails') === '1';
    const output = responseOutput(res, ctx, deps.maxFeedBacklogBytes);
    let unsubscribe: (() => void) | null = null;
    res.onAborted(() => {
      ctx.aborted = true;
      unsubscribe?.();
    });
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'application/vnd.nova.feed');
      res.writeHeader('cache-control', 'no-store');
      unsubscribe = deps.feeds.subscribe(streamId, output, { thumbnails });
    });
  });
}
