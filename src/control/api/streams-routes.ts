import { NovaError } from '../../errors.js';
import { seesEverything, type Principal } from '../auth/principal.js';
import type { TokenService } from '../auth/token-service.js';
import type { StreamStatus } from '../db/schema.js';
import type { StreamRecord, StreamRepository } from '../db/stream-repository.js';
import type { ApiRequest, ApiRouter } from './api-router.js';
import { DEFAULT_PLAYBACK_TOKEN_SECONDS } from './openapi-document.js';

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
  tokens: TokenService;
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
}

const STREAM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The streams operations. A stream belongs to the client that created it:
 * another client gets 404 for it (not 403: whether it exists is not theirs to
 * know); the admin token and `admin` clients see every stream.
 */
export function registerStreamRoutes(router: ApiRouter, deps: StreamRoutesDeps): void {
  // Read per response, not once here: with HTTP_PORT=0 the server learns its port only after the routes are registered.
  const urls = () => streamUrlBuilder(deps.urls.rtmpBase, deps.urls.httpBase);

  const view = (stream: StreamRecord): Record<string, unknown> => {
    const live = stream.status === 'ACTIVE' ? deps.liveInfo(stream.id) : null;
    return {
      id: stream.id,
      title: stream.title,
      status: stream.status,
      private: stream.private,
      owner_client_id: stream.ownerClientId,
      created_at: stream.createdAt.toISOString(),
      started_at: stream.startedAt?.toISOString() ?? null,
      ended_at: stream.endedAt?.toISOString() ?? null,
      end_reason: stream.endReason,
      viewers: live?.viewers ?? 0,
      peak_viewers: Math.max(stream.peakViewers, live?.peakViewers ?? 0),
      renditions: live?.renditions ?? stream.renditions,
      warnings: live?.warnings ?? [],
      ...urls().playback(stream.id),
    };
  };

  /** The stream if this principal may see it, else the same 404 as an unknown id. */
  const visibleStream = async (request: ApiRequest): Promise<StreamRecord> => {
    const id = request.params.id as string;
    const stream = STREAM_ID.test(id) ? await deps.repo.get(id) : null;
    if (!stream || !owns(request.principal!, stream)) throw new NovaError('NOVA_ERR_NOT_FOUND', `no stream ${JSON.stringify(id.slice(0, 64))}`);
    return stream;
  };

  router.handle('createStream', async (request) => {
    const principal = request.principal!;
    const created = await deps.repo.create({
      title: request.body.title as string,
      private: request.body.private as boolean,
      ownerClientId: principal.kind === 'client' ? principal.clientId : null,
    });
    request.log.info({ streamId: created.stream.id }, 'stream created');
    return { status: 201, body: { ...view(created.stream), stream_key: created.streamKey, ...urls().publish(created.streamKey) } };
  });

  router.handle('listStreams', async (request) => {
    const principal = request.principal!;
    const { status, limit, cursor } = request.params as { status?: StreamStatus; limit: number; cursor?: string };
    const page = await deps.repo.list({
      limit,
      cursor: cursor ?? null,
      ...(status === undefined ? {} : { status }),
      ...(seesEverything(principal) || principal.kind !== 'client' ? {} : { ownerClientId: principal.clientId }),
    });
    return { status: 200, body: { items: page.items.map(view), next_cursor: page.nextCursor } };
  });

  router.handle('getStream', async (request) => ({ status: 200, body: view(await visibleStream(request)) }));

  router.handle('deleteStream', async (request) => {
    let stream = await visibleStream(request);
    const id = stream.id;
    if (stream.status === 'PENDING' || stream.status === 'ACTIVE') {
      stream = (await deps.repo.markEnded(id, 'deleted')) ?? (await deps.repo.get(id)) ?? stream;
    }
    await deps.repo.revokeKeys(id);
    try {
      deps.onDelete(id);
    } catch (err) {
      request.log.error({ err, streamId: id }, 'disconnecting the publisher of a deleted stream failed');
    }
    request.log.info({ streamId: id }, 'stream deleted');
    return { status: 200, body: view(stream) };
  });

  router.handle('createPlaybackToken', async (request) => {
    const stream = await visibleStream(request);
    const principal = request.principal!;
    const { expires_in: expiresIn, display_name: displayName, viewer_id: viewerId } = request.body as { expires_in: number; display_name?: string; viewer_id?: string };
    const minted = await deps.tokens.mintViewerToken({
      streamId: stream.id,
      expiresInSeconds: expiresIn ?? DEFAULT_PLAYBACK_TOKEN_SECONDS,
      ...(displayName === undefined ? {} : { displayName }),
      ...(viewerId === undefined ? {} : { viewerId }),
      mintedBy: principal.kind === 'client' ? principal.clientId : 'admin',
    });
    const suffix = `?token=${encodeURIComponent(minted.token)}`;
    const playback = urls().playback(stream.id);
    return {
      status: 201,
      body: {
        token: minted.token,
        token_type: 'viewer',
        stream_id: stream.id,
        expires_at: new Date(minted.expiresAt).toISOString(),
        hls_url: playback.hls_url + suffix,
        ll_hls_url: playback.ll_hls_url + suffix,
        dash_url: playback.dash_url + suffix,
        ws_url: playback.ws_url + suffix,
      },
    };
  });
}

function owns(principal: Principal, stream: StreamRecord): boolean {
  return seesEverything(principal) || (principal.kind === 'client' && stream.ownerClientId === principal.clientId);
}

/** The public URLs of a stream, from the configured bases (trailing slashes dropped). */
function streamUrlBuilder(rtmpBase: string, httpBase: string) {
  const rtmp = rtmpBase.replace(/\/+$/, '');
  const http = httpBase.replace(/\/+$/, '');
  const ws = http.replace(/^http/i, 'ws');
  return {
    playback(id: string) {
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
