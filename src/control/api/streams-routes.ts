import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import {
  captureRequest,
  parseJsonObject,
  readBody,
  sendError,
  sendJson,
  type RequestContext,
} from '../../http/uws-helpers.js';
import { checkBearer } from '../auth/admin-token.js';
import { STREAM_STATUSES, type StreamStatus } from '../db/schema.js';
import { MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT, type StreamRecord, type StreamRepository } from '../db/stream-repository.js';

export interface LiveStreamInfo {
  viewers: number;
  /** the highest count seen so far in this broadcast (the database keeps it once the stream ends) */
  peakViewers: number;
  renditions: unknown[];
  /** things the broadcaster should fix, e.g. a keyframe interval longer than the segment target */
  warnings: StreamWarning[];
}

export interface StreamWarning {
  code: 'long_keyframe_interval';
  message: string;
  keyframe_interval_ms: number;
}

export interface StreamRoutesDeps {
  repo: StreamRepository;
  adminToken: string;
  urls: {
    /** e.g. rtmp://host:1935/live */
    rtmpBase: string;
    /** e.g. http://host:8080 */
    httpBase: string;
  };
  /** Disconnects the stream's publisher, if any. Must not throw (a throw is logged). */
  onDelete(streamId: string): void;
  /** Live numbers for a stream ingested or watched here; null when not live. */
  liveInfo(streamId: string): LiveStreamInfo | null;
  log: Logger;
}

export const MAX_STREAM_BODY_BYTES = 16 * 1024;
export const MAX_TITLE_LENGTH = 200;

const STREAM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CREATE_FIELDS = new Set(['title', 'private']);
const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="nova-streaming"' };

/**
 * The streams REST API (admin bearer token on every route):
 *   POST   /api/v1/streams        create; the only response carrying stream_key
 *   GET    /api/v1/streams        list, ?status=&limit=&cursor=
 *   GET    /api/v1/streams/:id    one stream with live viewers and renditions
 *   DELETE /api/v1/streams/:id    end it, revoke its keys, drop its publisher
 */
export function registerStreamRoutes(app: TemplatedApp, deps: StreamRoutesDeps): void {
  // Read per response, not once here: with HTTP_PORT=0 the server learns its port only after the routes are registered.
  const urls = {
    playback: (id: string) => streamUrlBuilder(deps.urls.rtmpBase, deps.urls.httpBase).playback(id),
    publish: (streamKey: string) => streamUrlBuilder(deps.urls.rtmpBase, deps.urls.httpBase).publish(streamKey),
  };

  const view = (stream: StreamRecord): Record<string, unknown> => {
    const live = stream.status === 'ACTIVE' ? deps.liveInfo(stream.id) : null;
    return {
      id: stream.id,
      title: stream.title,
      status: stream.status,
      private: stream.private,
      created_at: stream.createdAt.toISOString(),
      started_at: stream.startedAt?.toISOString() ?? null,
      ended_at: stream.endedAt?.toISOString() ?? null,
      end_reason: stream.endReason,
      viewers: live?.viewers ?? 0,
      peak_viewers: Math.max(stream.peakViewers, live?.peakViewers ?? 0),
      renditions: live?.renditions ?? stream.renditions,
      warnings: live?.warnings ?? [],
      ...urls.playback(stream.id),
    };
  };

  /** Auth check and uniform error handling around an async handler. */
  const guarded = (
    res: HttpResponse,
    ctx: RequestContext,
    handler: () => Promise<void>,
  ): void => {
    if (!checkBearer(ctx.headers.get('authorization'), deps.adminToken)) {
      sendJson(
        res,
        ctx,
        401,
        { error: { code: 'NOVA_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } },
        WWW_AUTHENTICATE,
      );
      return;
    }
    handler().catch((err: unknown) => {
      if (!(err instanceof NovaError)) deps.log.error({ err, method: ctx.method, url: ctx.url }, 'streams API request failed');
      sendError(res, ctx, err);
    });
  };

  app.post('/api/v1/streams', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    const declared = Number(ctx.headers.get('content-length') ?? '0');
    if (declared > MAX_STREAM_BODY_BYTES) {
      sendError(res, ctx, new NovaError('NOVA_ERR_PAYLOAD_TOO_LARGE', `request body over ${MAX_STREAM_BODY_BYTES} bytes`));
      return;
    }
    // uWS hands body data only to an onData attached before the handler returns.
    const body = readBody(res, ctx, MAX_STREAM_BODY_BYTES);
    guarded(res, ctx, async () => {
      const input = parseCreateStream(parseJsonObject(await body));
      const created = await deps.repo.create(input);
      deps.log.info({ streamId: created.stream.id }, 'stream created');
      sendJson(res, ctx, 201, {
        ...view(created.stream),
        stream_key: created.streamKey,
        ...urls.publish(created.streamKey),
      });
    });
    // An unauthorized request's body is never awaited; keep its rejection quiet.
    body.catch(() => {});
  });

  app.get('/api/v1/streams', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    guarded(res, ctx, async () => {
      const query = parseListQuery(ctx.query);
      const page = await deps.repo.list(query);
      sendJson(res, ctx, 200, { items: page.items.map(view), next_cursor: page.nextCursor });
    });
  });

  app.get('/api/v1/streams/:id', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => {
      const stream = STREAM_ID.test(id) ? await deps.repo.get(id) : null;
      if (!stream) throw notFound(id);
      sendJson(res, ctx, 200, view(stream));
    });
  });

  app.del('/api/v1/streams/:id', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => {
      let stream = STREAM_ID.test(id) ? await deps.repo.get(id) : null;
      if (!stream) throw notFound(id);
      if (stream.status === 'PENDING' || stream.status === 'ACTIVE') {
        stream = (await deps.repo.markEnded(id, 'deleted')) ?? (await deps.repo.get(id)) ?? stream;
      }
      await deps.repo.revokeKeys(id);
      try {
        deps.onDelete(id);
      } catch (err) {
        deps.log.error({ err, streamId: id }, 'disconnecting the publisher of a deleted stream failed');
      }
      deps.log.info({ streamId: id }, 'stream deleted');
      sendJson(res, ctx, 200, view(stream));
    });
  });
}

function notFound(id: string): NovaError {
  return new NovaError('NOVA_ERR_NOT_FOUND', `no stream ${JSON.stringify(id.slice(0, 64))}`);
}

function parseCreateStream(body: Record<string, unknown>): { title: string; private: boolean } {
  for (const field of Object.keys(body)) {
    if (!CREATE_FIELDS.has(field)) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `unknown field ${JSON.stringify(field.slice(0, 64))}`);
    }
  }
  const title = body.title ?? '';
  if (typeof title !== 'string') throw new NovaError('NOVA_ERR_BAD_REQUEST', 'title must be a string');
  if (title.length > MAX_TITLE_LENGTH) {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', `title must be at most ${MAX_TITLE_LENGTH} characters`);
  }
  // Postgres text cannot hold NUL.
  if (title.includes('\u0000')) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'title must not contain NUL');
  const isPrivate = body.private ?? false;
  if (typeof isPrivate !== 'boolean') throw new NovaError('NOVA_ERR_BAD_REQUEST', 'private must be a boolean');
  return { title, private: isPrivate };
}

function parseListQuery(queryString: string): { status?: StreamStatus; limit: number; cursor: string | null } {
  const params = new URLSearchParams(queryString);
  const status = params.get('status');
  if (status !== null && !(STREAM_STATUSES as readonly string[]).includes(status)) {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', `status must be one of ${STREAM_STATUSES.join(', ')}`);
  }
  const limitText = params.get('limit');
  let limit = DEFAULT_PAGE_LIMIT;
  if (limitText !== null) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE_LIMIT)) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
    }
  }
  const cursor = params.get('cursor');
  return status === null ? { limit, cursor } : { status: status as StreamStatus, limit, cursor };
}

/** The public URLs of a stream, from the configured bases (trailing slashes dropped). */
function streamUrlBuilder(rtmpBase: string, httpBase: string) {
  const rtmp = rtmpBase.replace(/\/+$/, '');
  const http = httpBase.replace(/\/+$/, '');
  const ws = http.replace(/^http/i, 'ws');
  return {
    playback(id: string): Record<string, string> {
      const master = `${http}/hls/${id}/master.m3u8`;
      return {
        hls_url: master,
        // Same master: LL-HLS is what a capable player negotiates from it.
        ll_hls_url: master,
        dash_url: `${http}/dash/${id}/manifest.mpd`,
        ws_url: `${ws}/api/v1/streams/${id}/ws`,
        rtmp_url: rtmp,
      };
    },
    publish(streamKey: string): Record<string, string> {
      return { publish_url: `${rtmp}/${streamKey}` };
    },
  };
}
