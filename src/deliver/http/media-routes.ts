import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { SegmentStore, StreamStore } from '../store/segment-store.js';
import { clientKey } from './client-key.js';
import { CorsPolicy } from './cors.js';
import { DashManifest } from './dash-manifest.js';
import { HlsPlaylists } from './hls-playlists.js';
import { HttpProblem, notFound, playbackRefused } from './http-problem.js';
import { MediaFiles } from './media-files.js';
import { MediaMetrics } from './media-metrics.js';
import { MediaResponder } from './media-responder.js';
import { writeResponse } from './media-response.js';
import { PlaylistRenderCache } from './playlist-render-cache.js';
import { ThumbnailFile } from './thumbnail-file.js';
import type { StreamRequest } from './stream-request.js';
import { captureRequest, type RequestContext } from '../../http/uws-helpers.js';
import { REFUSE_PRIVATE, type PlaybackCheck, type PlaybackGate } from '../playback-gate.js';
import type { ViewerContext, ViewerSessions } from '../sessions/viewer-session-tracker.js';

/**
 * HLS (CMAF + LL-HLS, and MPEG-TS) and DASH delivery from the segment store:
 *
 *   /hls/:stream/master.m3u8                       CMAF multivariant
 *   /hls/:stream/:rendition/{video,audio}.m3u8     LL-HLS media playlists (blocking reload)
 *   /hls/:stream/:rendition/{video,audio}/{init.mp4,init-vN.mp4,seg-N.m4s,part-N-M.m4s}
 *   /hls/:stream/ts/master.m3u8                    MPEG-TS multivariant
 *   /hls/:stream/:rendition/ts.m3u8, /ts/seg-N.ts
 *   /hls/:stream/thumbnail.jpg                     newest JPEG of the stream (thumbnail-file.ts)
 *   /dash/:stream/manifest.mpd                     dynamic MPD (static once ended)
 *   /dash/:stream/:rendition/{video,audio}/…       the same CMAF files
 *   /time                                          ISO clock for DASH UTCTiming
 *
 * This file only routes: a path to its stream (lookupStream), a private
 * stream's viewer token checked (`?token=`, see playback-gate.ts), then to the
 * playlists (hls-playlists.ts), the MPD (dash-manifest.ts) or the files
 * (media-files.ts). A private stream's token is written after every URI its
 * playlists and MPD list, so unmodified players carry it along; a public
 * stream's answers are the same bytes for everyone (CDN-cacheable).
 */

export interface MediaRoutesConfig {
  corsOrigins: string[] | '*';
  /** "https://cdn.example" (no trailing slash): segment URIs in playlists go there */
  cdnBaseUrl: string | null;
  partTargetMs: number;
  targetDurationMs: number;
  /** bytes of rendered playlists and MPDs kept for reuse, all streams together (see playlist-render-cache.ts) */
  renderCacheBytes: number;
  /** max-age of /hls/:stream/thumbnail.jpg: the thumbnail refresh interval (5) */
  thumbnailMaxAgeSec?: number;
}

/**
 * Finds the stream a request names: `found` with it, with null when it is
 * not live (404), or with the problem to answer instead (an edge whose origin
 * cannot be reached: 503). A continuation rather than a return value so that
 * a lookup may answer later (fetching the stream from elsewhere); the request
 * is already copied out of uWS, and a response written later is corked.
 */
export type StreamLookup = (streamId: string, found: (stream: StreamStore | HttpProblem | null) => void) => void;

export interface MediaRoutesDeps {
  store: SegmentStore;
  config: MediaRoutesConfig;
  metrics: Registry;
  log: Logger;
  /** where a stream id is looked up; the store's live streams when absent */
  lookupStream?: StreamLookup;
  /**
   * A TS playlist was asked for: the stream's packager muxes MPEG-TS only from
   * then on (idempotent). Absent: TS is always produced.
   */
  onTsRequested?(streamId: string): void;
  /** a playlist or MPD was requested (viewer sessionization); clientKey is the player's session id or a hash of address and user agent */
  onPlaybackRequest?(streamId: string, kind: 'hls' | 'dash', clientKey: string): void;
  /** checks a private stream's viewer token; absent: private streams refuse everyone */
  playback?: PlaybackGate;
  /** viewer sessions (CMCD, bytes, renditions, startup): every media request is added to its session */
  sessions?: ViewerSessions;
  /** makes the playlist render cache (a delivery thread's is one the main thread's renders seed); a plain one when absent */
  renderCache?: (maxBytes: number, onLookup: (hit: boolean) => void) => PlaylistRenderCache;
  /** epoch ms; tests inject a fake clock */
  now?: () => number;
}

/** The parameters of a request without a query: shared, never written to (routes and the session tracker only read them). */
const NO_PARAMS: URLSearchParams = new URLSearchParams();

function decodeSegment(text: string): string | null {
  // nothing to decode in most paths: skip the call (and its try)
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

export function registerMediaRoutes(app: TemplatedApp, deps: MediaRoutesDeps): void {
  const { store, config, log } = deps;
  const now = deps.now ?? Date.now;
  const lookupStream: StreamLookup = deps.lookupStream ?? ((streamId, found) => found(store.getStream(streamId) ?? null));
  const gate = deps.playback ?? REFUSE_PRIVATE;

  const cors = new CorsPolicy(config.corsOrigins);
  // the gauge reads the cache at scrape time; the cache counts its lookups into the metrics
  const metrics = new MediaMetrics(deps.metrics, store, () => renderCache.bytes);
  const renderCache = (deps.renderCache ?? ((maxBytes, onLookup) => new PlaylistRenderCache(maxBytes, onLookup)))(config.renderCacheBytes, (hit) =>
    metrics.countRender(hit),
  );
  const sessions = deps.sessions ?? null;
  const respond = new MediaResponder(cors, metrics, config.targetDurationMs, sessions);
  const files = new MediaFiles(store, respond, cors, config.targetDurationMs);
  const playlists = new HlsPlaylists(store, config, respond, cors, renderCache, deps.onTsRequested, (req) => notifyPlayback(req, 'hls'));
  const manifest = new DashManifest(store, config, respond, renderCache);
  const thumbnails = new ThumbnailFile(store, deps.metrics, cors, config.thumbnailMaxAgeSec ?? 5);

  function notifyPlayback(req: StreamRequest, kind: 'hls' | 'dash'): void {
    if (!deps.onPlaybackRequest) return;
    try {
      const viewer = (req.ctx as ViewerContext).viewer;
      deps.onPlaybackRequest(req.stream.id, kind, viewer ? viewer.clientKey : clientKey(req.ctx, req.params));
    } catch (err) {
      log.warn({ err, streamId: req.stream.id }, 'onPlaybackRequest hook threw');
    }
  }

  /** Runs a step of a media request, answering an HttpProblem it throws (and anything else as a 500). */
  function guarded(res: HttpResponse, ctx: RequestContext, step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err instanceof HttpProblem) {
        respond.problem(res, ctx, err);
        return;
      }
      log.error({ err, url: ctx.url }, 'media route failed');
      respond.problem(res, ctx, new HttpProblem(500, 'NOVA_ERR_INTERNAL', 'internal error'));
    }
  }

  function handle(res: HttpResponse, req: HttpRequest, protocol: 'hls' | 'dash'): void {
    const ctx = captureRequest(res, req);
    // ['', 'hls', stream, …rest]
    const path = ctx.url.split('/');
    const streamPath = path[2];
    const streamId = streamPath === undefined ? null : decodeSegment(streamPath);
    if (streamPath === undefined || streamId === null || streamId === '' || path.length < 4) {
      respond.problem(res, ctx, notFound('no such resource'));
      return;
    }
    // The one place a stream id becomes its store: a stream not live here is a 404 (or, given a
    // lookupStream that fetches it from where it is live, answered when that lookup answers).
    lookupStream(streamId, (stream) =>
      guarded(res, ctx, () => {
        if (ctx.aborted) return;
        if (stream === null) throw notFound(`stream ${streamId} is not live here`);
        if (stream instanceof HttpProblem) throw stream;
        const params = ctx.query === '' ? NO_PARAMS : new URLSearchParams(ctx.query);
        if (!stream.private) {
          serve(res, ctx, protocol, path, { res, ctx, stream, streamPath, params, uriSuffix: '' });
          return;
        }
        const token = params.get('token');
        const admitted = (check: PlaybackCheck): void => {
          if (!check.ok) {
            metrics.countRefused(protocol, check.reason);
            throw playbackRefused(check.reason);
          }
          serve(res, ctx, protocol, path, { res, ctx, stream, streamPath, params, uriSuffix: `?token=${encodeURIComponent(token!)}` });
        };
        const check = gate(streamId, token);
        if (!(check instanceof Promise)) {
          admitted(check);
          return;
        }
        check.then(
          (answer) => res.cork(() => guarded(res, ctx, () => !ctx.aborted && admitted(answer))),
          (err: unknown) => res.cork(() => guarded(res, ctx, () => { throw err; })),
        );
      }),
    );
  }

  /** A request admitted to its stream: the thumbnail, or playback (a viewer session) by protocol. */
  function serve(res: HttpResponse, ctx: RequestContext, protocol: 'hls' | 'dash', path: string[], request: StreamRequest): void {
    // a listing's picture, not playback: no viewer session for it
    if (protocol === 'hls' && path.length === 4 && path[3] === 'thumbnail.jpg') {
      thumbnails.serve(res, ctx, request.stream);
      return;
    }
    if (sessions !== null) (ctx as ViewerContext).viewer = sessions.request(request.stream.id, protocol, ctx, request.params);
    if (protocol === 'dash') routeDash(request, path);
    else routeHls(request, path);
  }

  function routeDash(req: StreamRequest, path: string[]): void {
    const rest = path.length - 3;
    const a = path[3]!;
    if (rest === 1 && a === 'manifest.mpd') {
      notifyPlayback(req, 'dash');
      manifest.serve(req);
      return;
    }
    if (rest === 3 && (path[4] === 'video' || path[4] === 'audio')) {
      files.serve(req, decodeSegment(a) ?? '', path[4], path[5]!);
      return;
    }
    throw notFound('no such resource');
  }

  function routeHls(req: StreamRequest, path: string[]): void {
    const rest = path.length - 3;
    const a = path[3]!;
    if (rest === 1 && a === 'master.m3u8') {
      playlists.master(req);
      return;
    }
    if (rest === 2 && a === 'ts' && path[4] === 'master.m3u8') {
      playlists.tsMaster(req);
      return;
    }
    const renditionName = decodeSegment(a);
    if (renditionName === null) throw notFound('no such resource');
    if (rest === 2) {
      const file = path[4]!;
      const trackName = file === 'video.m3u8' ? 'video' : file === 'audio.m3u8' ? 'audio' : file === 'ts.m3u8' ? 'ts' : null;
      if (trackName === null) throw notFound('no such resource');
      playlists.media(req, renditionName, trackName);
      return;
    }
    if (rest === 3) {
      files.serve(req, renditionName, path[4]!, path[5]!);
      return;
    }
    throw notFound('no such resource');
  }

  for (const protocol of ['hls', 'dash'] as const) {
    const pattern = `/${protocol}/*`;
    app.get(pattern, (res, req) => handle(res, req, protocol));
    app.head(pattern, (res, req) => handle(res, req, protocol));
    app.options(pattern, cors.preflight);
  }
  const time = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = captureRequest(res, req);
    const headers = cors.headers(ctx, ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-store']);
    writeResponse(res, ctx, 200, headers, new Date(now()).toISOString(), ctx.method === 'HEAD');
  };
  app.get('/time', time);
  app.head('/time', time);
  app.options('/time', cors.preflight);
}
