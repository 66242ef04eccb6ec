import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../../log.js';
import type { PackagedTrack } from '../../package/packaged-media.js';
import { buildMpd } from '../dash/mpd-builder.js';
import { blockingMsnOutOfRange, parseBlockingReload } from '../hls/blocking-reload.js';
import {
  buildMasterPlaylist,
  buildMediaPlaylist,
  buildTsMasterPlaylist,
  targetDurationSeconds,
  trackIsPlayable,
  type PlaylistBuildOptions,
} from '../hls/playlist-builder.js';
import { segmentBody, type ParkedWait, type SegmentStore, type StreamStore, type TrackStore, type WaitOutcome } from '../store/segment-store.js';
import { parseByteRange } from './byte-range.js';
import { chunksLength, sliceChunks, writeResponse, type BodyChunks, type HeaderList } from './media-response.js';
import { verifyPlaybackToken } from './playback-token.js';
import { captureRequest, sendJson, type RequestContext } from './uws-helpers.js';
import { awaitReplica, type EdgeAccess } from '../edge/edge-access.js';

/**
 * HLS (CMAF + LL-HLS, and MPEG-TS) and DASH delivery from the segment store:
 *
 *   /hls/:stream/master.m3u8                       CMAF multivariant
 *   /hls/:stream/:rendition/{video,audio}.m3u8     LL-HLS media playlists (blocking reload)
 *   /hls/:stream/:rendition/{video,audio}/{init.mp4,init-vN.mp4,seg-N.m4s,part-N-M.m4s}
 *   /hls/:stream/ts/master.m3u8                    MPEG-TS multivariant
 *   /hls/:stream/:rendition/ts.m3u8, /ts/seg-N.ts
 *   /dash/:stream/manifest.mpd                     dynamic MPD (static once ended)
 *   /dash/:stream/:rendition/{video,audio}/…       the same CMAF files
 *   /time                                          ISO clock for DASH UTCTiming
 */

export interface MediaRoutesConfig {
  corsOrigins: string[] | '*';
  /** "https://cdn.example" (no trailing slash): segment URIs in playlists go there */
  cdnBaseUrl: string | null;
  /** when set, every /hls and /dash request needs ?token= (see playback-token.ts) */
  playbackSigningKey: string | null;
  partTargetMs: number;
  targetDurationMs: number;
}

export interface MediaRoutesDeps {
  store: SegmentStore;
  config: MediaRoutesConfig;
  metrics: Registry;
  log: Logger;
  /**
   * A TS playlist was asked for: the stream's packager muxes MPEG-TS only from
   * then on (idempotent). Absent: TS is always produced.
   */
  onTsRequested?(streamId: string): void;
  /** a playlist or MPD was requested (viewer sessionization); clientKey is the player's session id or a hash of address and user agent */
  onPlaybackRequest?(streamId: string, kind: 'hls' | 'dash', clientKey: string): void;
  /** origin–edge delivery: a stream ingested on another instance is replicated here on demand */
  edge?: EdgeAccess;
  /** epoch ms; tests inject a fake clock */
  now?: () => number;
}

type ServedKind = 'playlist' | 'init' | 'segment' | 'part' | 'mpd';

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** ended playlists no longer change except for going away after the grace period */
const ENDED_PLAYLIST_CACHE = 'public, max-age=60';
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const EXPOSED_HEADERS = 'Content-Length, Content-Range, ETag, Accept-Ranges, Date';
const NUMBER = /^\d{1,15}$/;
const SEGMENT_FILE = /^seg-(\d{1,15})\.(m4s|ts)$/;
const PART_FILE = /^part-(\d{1,15})-(\d{1,6})\.m4s$/;
const INIT_FILE = /^init(?:-v(\d{1,6}))?\.mp4$/;

class HttpProblem {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

function originUnavailable(streamId: string): HttpProblem {
  return new HttpProblem(503, 'NOVA_ERR_ORIGIN_UNAVAILABLE', `the instance ingesting stream ${streamId} cannot be reached; retry shortly`);
}

function notFound(message: string): HttpProblem {
  return new HttpProblem(404, 'NOVA_ERR_NOT_FOUND', message);
}

function metricOnce<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

function strongEtag(text: string): string {
  return `"${createHash('sha1').update(text).digest('base64url')}"`;
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || ifNoneMatch === '') return false;
  if (ifNoneMatch.trim() === '*') return true;
  for (const candidate of ifNoneMatch.split(',')) {
    const trimmed = candidate.trim();
    if (trimmed === etag || trimmed === `W/${etag}`) return true;
  }
  return false;
}

function decodeSegment(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

export function registerMediaRoutes(app: TemplatedApp, deps: MediaRoutesDeps): void {
  const { store, config, log } = deps;
  const now = deps.now ?? Date.now;

  const served = metricOnce(
    deps.metrics,
    'nova_streaming_segments_served_total',
    () =>
      new Counter({
        name: 'nova_streaming_segments_served_total',
        help: 'Playlists, MPDs, inits, segments and parts served (200/206)',
        labelNames: ['kind'] as const,
        registers: [deps.metrics],
      }),
  );
  const bytesServed = metricOnce(
    deps.metrics,
    'nova_streaming_bytes_served_total',
    () =>
      new Counter({
        name: 'nova_streaming_bytes_served_total',
        help: 'Body bytes served by kind',
        labelNames: ['kind'] as const,
        registers: [deps.metrics],
      }),
  );
  metricOnce(
    deps.metrics,
    'nova_streaming_segment_store_bytes',
    () =>
      new Gauge({
        name: 'nova_streaming_segment_store_bytes',
        help: 'Bytes of packaged media held in memory',
        registers: [deps.metrics],
        collect() {
          this.set(store.memoryBytes);
        },
      }),
  );
  metricOnce(
    deps.metrics,
    'nova_streaming_blocking_reloads_parked',
    () =>
      new Gauge({
        name: 'nova_streaming_blocking_reloads_parked',
        help: 'Requests parked on an LL-HLS blocking reload or preload hint',
        registers: [deps.metrics],
        collect() {
          this.set(store.parkedCount);
        },
      }),
  );

  const segmentGeneration = metricOnce(
    deps.metrics,
    'nova_streaming_hls_segment_generation_seconds',
    () =>
      new Histogram({
        name: 'nova_streaming_hls_segment_generation_seconds',
        help: 'Arrival of the bytes that completed a segment (the next keyframe) to the segment listed in playlists and MPDs',
        labelNames: ['track'] as const,
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [deps.metrics],
      }),
  );
  store.onSegmentListed((_streamId, _rendition, segment) => {
    if (segment.completedReceivedAt === undefined) return;
    // the same clock the ingest side stamped arrival with (performance.timeOrigin based epoch ms)
    const seconds = (performance.timeOrigin + performance.now() - segment.completedReceivedAt) / 1000;
    segmentGeneration.observe({ track: segment.track }, Math.max(0, seconds));
  });

  const targetDurationSec = Math.max(1, Math.ceil(config.targetDurationMs / 1000));
  // about half a target duration: a player reloading every target duration never sees a stale list twice
  const livePlaylistCache = `public, max-age=${Math.max(1, Math.floor(targetDurationSec / 2))}`;

  function corsHeaders(ctx: RequestContext, into: HeaderList): HeaderList {
    if (config.corsOrigins === '*') {
      into.push('access-control-allow-origin', '*');
    } else {
      const origin = ctx.headers.get('origin');
      if (origin !== undefined && config.corsOrigins.includes(origin)) into.push('access-control-allow-origin', origin);
      into.push('vary', 'Origin');
    }
    into.push('access-control-expose-headers', EXPOSED_HEADERS);
    return into;
  }

  function corsRecord(ctx: RequestContext): Record<string, string> {
    const list = corsHeaders(ctx, []);
    const record: Record<string, string> = {};
    for (let i = 0; i < list.length; i += 2) record[list[i]!] = list[i + 1]!;
    return record;
  }

  function sendProblem(res: HttpResponse, ctx: RequestContext, problem: HttpProblem, extra: HeaderList = []): void {
    if (ctx.method === 'HEAD') {
      const headers = corsHeaders(ctx, ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', ...extra]);
      writeResponse(res, ctx, problem.status, headers, '', true);
      return;
    }
    const record = corsRecord(ctx);
    for (let i = 0; i < extra.length; i += 2) record[extra[i]!] = extra[i + 1]!;
    sendJson(res, ctx, problem.status, { error: { code: problem.code, message: problem.message } }, record);
  }

  /**
   * One playback session per player: the session id the player sends with every
   * request (AVPlayer's X-Playback-Session-Id header, or `?sid=` from players that
   * can only add a query), else a fingerprint of address and user agent. Headers
   * and queries do not change what is served, so playlists stay one cacheable
   * object for everyone.
   */
  function clientKey(ctx: RequestContext): string {
    const sessionId = ctx.headers.get('x-playback-session-id') || new URLSearchParams(ctx.query).get('sid');
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

  function notifyPlayback(streamId: string, kind: 'hls' | 'dash', ctx: RequestContext): void {
    if (!deps.onPlaybackRequest) return;
    try {
      deps.onPlaybackRequest(streamId, kind, clientKey(ctx));
    } catch (err) {
      log.warn({ err, streamId }, 'onPlaybackRequest hook threw');
    }
  }

  /** Checks the playback token; returns the URI suffix to propagate ("?token=…" or ""). */
  function authorize(streamId: string, params: URLSearchParams): string | HttpProblem {
    if (config.playbackSigningKey === null) return '';
    const token = params.get('token');
    const check = verifyPlaybackToken(config.playbackSigningKey, streamId, token, Math.floor(now() / 1000));
    if (check.ok) return `?token=${token}`;
    const messages = {
      missing: 'playback token missing: this stream requires a signed URL (?token=)',
      malformed: 'playback token malformed',
      bad_signature: 'playback token signature invalid',
      expired: 'playback token expired',
    } as const;
    return new HttpProblem(403, 'NOVA_ERR_FORBIDDEN', messages[check.reason]);
  }

  function playlistOptions(uriSuffix: string): PlaylistBuildOptions {
    return {
      windowSegments: store.options.windowSegments,
      partSegments: store.options.partSegments,
      partTargetMs: config.partTargetMs,
      targetDurationMs: config.targetDurationMs,
      uriSuffix,
      cdnBaseUrl: config.cdnBaseUrl,
    };
  }

  // parked reloads released together get the same cached string: hash it once
  let lastHashedText = '';
  let lastHashedEtag = '';

  function sendText(
    res: HttpResponse,
    ctx: RequestContext,
    kind: ServedKind,
    contentType: string,
    cacheControl: string,
    text: string,
  ): void {
    if (text !== lastHashedText) {
      lastHashedText = text;
      lastHashedEtag = strongEtag(text);
    }
    const etag = lastHashedEtag;
    const headers = corsHeaders(ctx, ['content-type', contentType, 'cache-control', cacheControl, 'etag', etag]);
    if (etagMatches(ctx.headers.get('if-none-match'), etag)) {
      writeResponse(res, ctx, 304, headers, null, true);
      return;
    }
    writeResponse(res, ctx, 200, headers, text, ctx.method === 'HEAD');
    if (ctx.aborted) return;
    served.inc({ kind });
    if (ctx.method !== 'HEAD') bytesServed.inc({ kind }, Buffer.byteLength(text));
  }

  function sendBytes(
    res: HttpResponse,
    ctx: RequestContext,
    kind: ServedKind,
    contentType: string,
    etag: string,
    bytes: Uint8Array | BodyChunks,
  ): void {
    const chunks = bytes instanceof Uint8Array ? [bytes] : bytes;
    const size = chunksLength(chunks);
    const headers = corsHeaders(ctx, ['content-type', contentType, 'cache-control', IMMUTABLE, 'etag', etag, 'accept-ranges', 'bytes']);
    if (etagMatches(ctx.headers.get('if-none-match'), etag)) {
      writeResponse(res, ctx, 304, headers, null, true);
      return;
    }
    const range = parseByteRange(ctx.headers.get('range'), size);
    const head = ctx.method === 'HEAD';
    if (range.kind === 'unsatisfiable') {
      sendProblem(res, ctx, new HttpProblem(416, 'NOVA_ERR_BAD_REQUEST', 'range not satisfiable'), [
        'content-range',
        `bytes */${size}`,
      ]);
      return;
    }
    let body = chunks;
    let bodyLength = size;
    let status = 200;
    if (range.kind === 'partial') {
      body = sliceChunks(chunks, range.start, range.end + 1);
      bodyLength = range.end + 1 - range.start;
      status = 206;
      headers.push('content-range', `bytes ${range.start}-${range.end}/${size}`);
    }
    writeResponse(res, ctx, status, headers, body, head);
    if (ctx.aborted) return;
    served.inc({ kind });
    if (!head) bytesServed.inc({ kind }, bodyLength);
  }

  /** Playlist text (or null: nothing playable yet), rebuilt after a wait. */
  type PlaylistRender = () => string | null;

  interface Rendered {
    changes: number;
    text: string | null;
  }
  /**
   * A part releases every parked reload of a track at once: render its
   * playlist once per store change, not once per viewer. Keyed by path and
   * token suffix; bounded because tokens are per viewer.
   */
  const renderCache = new WeakMap<StreamStore, Map<string, Rendered>>();
  const RENDER_CACHE_ENTRIES = 256;

  function cachedRender(stream: StreamStore, key: string, render: PlaylistRender): PlaylistRender {
    return () => {
      let cache = renderCache.get(stream);
      if (!cache) {
        cache = new Map();
        renderCache.set(stream, cache);
      }
      const hit = cache.get(key);
      if (hit && hit.changes === stream.changes) return hit.text;
      const text = render();
      if (cache.size >= RENDER_CACHE_ENTRIES) cache.clear();
      cache.set(key, { changes: stream.changes, text });
      return text;
    };
  }

  function respondPlaylist(res: HttpResponse, ctx: RequestContext, stream: StreamStore, render: PlaylistRender, kind: ServedKind, contentType: string): void {
    const text = render();
    if (text === null) {
      sendProblem(res, ctx, notFound(`stream ${stream.id} has no media yet`));
      return;
    }
    sendText(res, ctx, kind, contentType, stream.ended ? ENDED_PLAYLIST_CACHE : livePlaylistCache, text);
  }

  /**
   * MPEG-TS is muxed on demand: a TS playlist request turns it on for the
   * stream and waits for the rendition's first TS segment (it starts at the
   * next segment boundary; measured 4–6 s with 2 s segments) before `respond` runs. Answers
   * at once when the TS exists, nothing can wait (no media yet, ended), or
   * TS is always on; 503 + Retry-After if the first segment is late.
   */
  function afterTs(res: HttpResponse, ctx: RequestContext, stream: StreamStore, renditionName: string | null, respond: () => void): void {
    if (deps.onTsRequested === undefined || renditionName === null || stream.ended) {
      respond();
      return;
    }
    deps.onTsRequested(stream.id);
    // the rest of the open segment, the first TS segment, and the muxer's wait for audio to pass it: 3 segments (long GOPs make them longer)
    const cmaf = stream.renditions.get(renditionName)?.tracks;
    const paced = cmaf?.get('video') ?? cmaf?.get('audio');
    const timeoutMs = 3000 * (paced ? targetDurationSeconds(paced, config.targetDurationMs) : Math.ceil(config.targetDurationMs / 1000)) + 1000;
    holdRequest(res, ctx, stream, `no MPEG-TS for ${stream.id}/${renditionName} yet`, (onDone) => store.waitForTrack(stream.id, renditionName, 'ts', timeoutMs, onDone), respond);
  }

  /**
   * Holds a request on a segment-store wait, then runs `respond` (at once when `park` finds
   * nothing to wait for). Late: 503 + Retry-After (RFC 8216bis 6.2.5.2: a server that cannot
   * deliver in time answers 503 rather than an old playlist); stream gone: 404. The request's
   * own onAborted replaces captureRequest's so the wait is cancelled (and the parked gauge
   * kept honest) when the client goes away.
   */
  function holdRequest(
    res: HttpResponse,
    ctx: RequestContext,
    stream: StreamStore,
    lateMessage: string,
    park: (onDone: (outcome: WaitOutcome) => void) => ParkedWait | null,
    respond: () => void,
  ): void {
    let wait: ParkedWait | null = null;
    wait = park((outcome) => {
      wait = null;
      if (ctx.aborted) return;
      if (outcome === 'timeout') {
        sendProblem(res, ctx, new HttpProblem(503, 'NOVA_ERR_INTERNAL', lateMessage), ['retry-after', '1']);
        return;
      }
      if (outcome === 'unavailable') {
        sendProblem(res, ctx, originUnavailable(stream.id), ['retry-after', '1']);
        return;
      }
      if (outcome === 'gone') {
        sendProblem(res, ctx, notFound(`stream ${stream.id} is gone`));
        return;
      }
      respond();
    });
    if (wait === null) {
      respond();
      return;
    }
    res.onAborted(() => {
      ctx.aborted = true;
      if (wait) wait.cancel();
    });
  }

  /** LL-HLS blocking reload: park until the asked part/segment exists (see holdRequest). */
  function parkPlaylist(
    res: HttpResponse,
    ctx: RequestContext,
    stream: StreamStore,
    renditionName: string,
    track: TrackStore,
    msn: number,
    part: number,
    render: PlaylistRender,
  ): void {
    if (blockingMsnOutOfRange(track, msn)) {
      sendProblem(res, ctx, new HttpProblem(400, 'NOVA_ERR_BAD_REQUEST', `_HLS_msn=${msn} is beyond the next segment`));
      return;
    }
    const timeoutMs = targetDurationSeconds(track, config.targetDurationMs) * 3000;
    holdRequest(
      res,
      ctx,
      stream,
      `msn ${msn} part ${part} not produced in time`,
      (onDone) => store.waitFor(stream.id, renditionName, track.track, msn, part, timeoutMs, onDone),
      () => respondPlaylist(res, ctx, stream, render, 'playlist', PLAYLIST_TYPE),
    );
  }

  function mediaPlaylist(
    res: HttpResponse,
    ctx: RequestContext,
    stream: StreamStore,
    streamPath: string,
    renditionName: string,
    trackName: PackagedTrack,
    params: URLSearchParams,
    suffix: string,
    waitedForTs = false,
  ): void {
    const rendition = stream.renditions.get(renditionName);
    const track = rendition?.tracks.get(trackName);
    if (trackName === 'ts' && rendition && !trackIsPlayable(track) && !waitedForTs) {
      afterTs(res, ctx, stream, renditionName, () => {
        try {
          mediaPlaylist(res, ctx, stream, streamPath, renditionName, trackName, params, suffix, true);
        } catch (err) {
          sendProblem(res, ctx, err instanceof HttpProblem ? err : new HttpProblem(500, 'NOVA_ERR_INTERNAL', 'playlist failed'));
        }
      });
      return;
    }
    if (!rendition || !trackIsPlayable(track)) throw notFound(`no ${trackName} playlist for ${stream.id}/${renditionName}`);
    const options = playlistOptions(suffix);
    const render = cachedRender(stream, `${renditionName}/${trackName}${suffix}`, () =>
      buildMediaPlaylist(stream, streamPath, rendition, trackName, options),
    );
    notifyPlayback(stream.id, 'hls', ctx);
    const blocking = trackName === 'ts' ? ({ kind: 'none' } as const) : parseBlockingReload(params);
    if (blocking.kind === 'bad') throw new HttpProblem(400, 'NOVA_ERR_BAD_REQUEST', blocking.reason);
    if (blocking.kind === 'wait' && !stream.ended) {
      parkPlaylist(res, ctx, stream, renditionName, track, blocking.msn, blocking.part, render);
      return;
    }
    respondPlaylist(res, ctx, stream, render, 'playlist', PLAYLIST_TYPE);
  }

  function mediaFile(
    res: HttpResponse,
    ctx: RequestContext,
    stream: StreamStore,
    renditionName: string,
    trackName: string,
    file: string,
  ): void {
    const rendition = stream.renditions.get(renditionName);
    const track = trackName === 'video' || trackName === 'audio' || trackName === 'ts' ? rendition?.tracks.get(trackName) : undefined;
    if (!rendition || !track) throw notFound(`no ${trackName} track in ${stream.id}/${renditionName}`);
    const contentType = track.track === 'ts' ? 'video/mp2t' : track.track === 'audio' ? 'audio/mp4' : 'video/mp4';
    const tag = `${encodeURIComponent(renditionName)}-${track.track}`;

    const segmentMatch = SEGMENT_FILE.exec(file);
    if (segmentMatch && (segmentMatch[2] === 'ts') === (track.track === 'ts')) {
      const msn = Number(segmentMatch[1]);
      const segment = track.findSegment(msn);
      if (!segment) throw notFound(`segment ${msn} of ${stream.id}/${renditionName}/${track.track} is not (or no longer) available`);
      sendBytes(res, ctx, 'segment', contentType, `"${segment.generation}-${tag}-${msn}"`, segmentBody(segment));
      return;
    }
    if (track.track === 'ts') throw notFound(`no such file ${file}`);
    const initMatch = INIT_FILE.exec(file);
    if (initMatch) {
      const version = initMatch[1] === undefined ? 0 : Number(initMatch[1]);
      const init = track.findInit(version);
      if (!init) throw notFound(`init ${file} of ${stream.id}/${renditionName}/${track.track} is not available`);
      sendBytes(res, ctx, 'init', contentType, `"${init.generation}-${tag}-init-${version}"`, init.bytes);
      return;
    }
    const partMatch = PART_FILE.exec(file);
    if (partMatch) {
      const msn = Number(partMatch[1]);
      const index = Number(partMatch[2]);
      const send = (): void => {
        const part = track.findPart(msn, index);
        if (!part || !part.bytes) {
          sendProblem(res, ctx, notFound(`part ${msn}.${index} of ${stream.id}/${renditionName}/${track.track} is not (or no longer) available`));
          return;
        }
        sendBytes(res, ctx, 'part', contentType, `"${part.generation}-${tag}-${msn}-${index}"`, part.bytes);
      };
      if (isPreloadHint(track, msn, index) && !stream.ended) {
        // EXT-X-PRELOAD-HINT: the player asks before the part exists; hold the request until it does
        const timeoutMs = targetDurationSeconds(track, config.targetDurationMs) * 3000;
        let wait: ParkedWait | null = null;
        wait = store.waitFor(stream.id, renditionName, track.track, msn, index, timeoutMs, (outcome) => {
          wait = null;
          if (ctx.aborted) return;
          if (outcome === 'timeout' || outcome === 'unavailable') {
            sendProblem(res, ctx, new HttpProblem(503, 'NOVA_ERR_INTERNAL', `part ${msn}.${index} not produced in time`), ['retry-after', '1']);
            return;
          }
          send();
        });
        if (wait !== null) {
          res.onAborted(() => {
            ctx.aborted = true;
            if (wait) wait.cancel();
          });
          return;
        }
      }
      send();
      return;
    }
    throw notFound(`no such file ${file}`);
  }

  function isPreloadHint(track: TrackStore, msn: number, index: number): boolean {
    if (track.pendingParts.length > 0) {
      return msn === track.pendingMsn && index === track.pendingParts[track.pendingParts.length - 1]!.index + 1;
    }
    const last = track.lastSegment();
    return index === 0 && msn === (last ? last.msn + 1 : 0);
  }

  function handle(res: HttpResponse, req: HttpRequest, protocol: 'hls' | 'dash'): void {
    handleRouted(res, captureRequest(res, req), protocol);
  }

  function handleRouted(res: HttpResponse, ctx: RequestContext, protocol: 'hls' | 'dash'): void {
    try {
      route(res, ctx, protocol);
    } catch (err) {
      if (err instanceof HttpProblem) {
        sendProblem(res, ctx, err, err.status === 503 ? ['retry-after', '1'] : []);
        return;
      }
      log.error({ err, url: ctx.url }, 'media route failed');
      sendProblem(res, ctx, new HttpProblem(500, 'NOVA_ERR_INTERNAL', 'internal error'));
    }
  }

  function route(res: HttpResponse, ctx: RequestContext, protocol: 'hls' | 'dash'): void {
    // ['', 'hls', stream, …rest]
    const path = ctx.url.split('/');
    const streamPath = path[2];
    const streamId = streamPath === undefined ? null : decodeSegment(streamPath);
    if (streamId === null || streamId === '' || path.length < 4) throw notFound('no such resource');
    const stream = store.getStream(streamId);
    if (!stream) {
      const edge = deps.edge;
      if (edge === undefined) throw notFound(`stream ${streamId} is not live here`);
      awaitReplica(
        res,
        ctx,
        edge,
        streamId,
        () => {
          if (!store.getStream(streamId)) sendProblem(res, ctx, notFound(`stream ${streamId} is not live`));
          else handleRouted(res, ctx, protocol);
        },
        () => sendProblem(res, ctx, notFound(`stream ${streamId} is not live`)),
        () => sendProblem(res, ctx, originUnavailable(streamId), ['retry-after', '1']),
      );
      return;
    }
    if (stream.unavailable || deps.edge?.touch(streamId) === 'unavailable') throw originUnavailable(streamId);
    const params = new URLSearchParams(ctx.query);
    const suffix = authorize(streamId, params);
    if (suffix instanceof HttpProblem) throw suffix;
    const rest = path.length - 3;
    const a = path[3]!;

    if (protocol === 'dash') {
      if (rest === 1 && a === 'manifest.mpd') {
        notifyPlayback(streamId, 'dash', ctx);
        const render = (): string | null =>
          buildMpd(stream, {
            windowSegments: store.options.windowSegments,
            targetDurationMs: config.targetDurationMs,
            uriSuffix: suffix,
            baseUrl: config.cdnBaseUrl ? `${config.cdnBaseUrl}/dash/${streamPath}/` : null,
            utcTimings: utcTimings(ctx),
            now: now(),
          });
        respondPlaylist(res, ctx, stream, render, 'mpd', 'application/dash+xml');
        return;
      }
      if (rest === 3 && (path[4] === 'video' || path[4] === 'audio')) {
        mediaFile(res, ctx, stream, decodeSegment(a) ?? '', path[4]!, path[5]!);
        return;
      }
      throw notFound('no such resource');
    }

    if (rest === 1 && a === 'master.m3u8') {
      notifyPlayback(streamId, 'hls', ctx);
      respondPlaylist(res, ctx, stream, cachedRender(stream, `master${suffix}`, () => buildMasterPlaylist(stream, { uriSuffix: suffix })), 'playlist', PLAYLIST_TYPE);
      return;
    }
    if (rest === 2 && a === 'ts' && path[4] === 'master.m3u8') {
      notifyPlayback(streamId, 'hls', ctx);
      const render = cachedRender(stream, `ts-master${suffix}`, () => buildTsMasterPlaylist(stream, { uriSuffix: suffix }));
      // the ingested rendition (the first one stored) gets its TS on demand; transcoded ones always have it
      const ingested = stream.renditions.keys().next();
      afterTs(res, ctx, stream, ingested.done ? null : ingested.value, () => respondPlaylist(res, ctx, stream, render, 'playlist', PLAYLIST_TYPE));
      return;
    }
    const renditionName = decodeSegment(a);
    if (renditionName === null) throw notFound('no such resource');
    if (rest === 2) {
      const file = path[4]!;
      const trackName = file === 'video.m3u8' ? 'video' : file === 'audio.m3u8' ? 'audio' : file === 'ts.m3u8' ? 'ts' : null;
      if (trackName === null) throw notFound('no such resource');
      mediaPlaylist(res, ctx, stream, streamPath!, renditionName, trackName, params, suffix);
      return;
    }
    if (rest === 3) {
      mediaFile(res, ctx, stream, renditionName, path[4]!, path[5]!);
      return;
    }
    throw notFound('no such resource');
  }

  /**
   * dash.js syncs its clock with the first UTCTiming it can use: our /time
   * (absolute, so it resolves against this server and not the page), then
   * the MPD's own generation time as a fallback.
   */
  function utcTimings(ctx: RequestContext): { schemeIdUri: string; value: string }[] {
    const timings: { schemeIdUri: string; value: string }[] = [];
    const host = ctx.headers.get('host');
    if (host) {
      const proto = ctx.headers.get('x-forwarded-proto') === 'https' ? 'https' : 'http';
      timings.push({ schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: `${proto}://${host}/time` });
    }
    timings.push({ schemeIdUri: 'urn:mpeg:dash:utc:direct:2014', value: new Date(now()).toISOString() });
    return timings;
  }

  function preflight(res: HttpResponse, req: HttpRequest): void {
    const ctx = captureRequest(res, req);
    const headers = corsHeaders(ctx, [
      'access-control-allow-methods',
      'GET, HEAD, OPTIONS',
      'access-control-allow-headers',
      ctx.headers.get('access-control-request-headers') || 'Range, If-None-Match',
      'access-control-max-age',
      '86400',
    ]);
    writeResponse(res, ctx, 204, headers, null, true);
  }

  for (const protocol of ['hls', 'dash'] as const) {
    const pattern = `/${protocol}/*`;
    app.get(pattern, (res, req) => handle(res, req, protocol));
    app.head(pattern, (res, req) => handle(res, req, protocol));
    app.options(pattern, preflight);
  }
  const time = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = captureRequest(res, req);
    const headers = corsHeaders(ctx, ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-store']);
    writeResponse(res, ctx, 200, headers, new Date(now()).toISOString(), ctx.method === 'HEAD');
  };
  app.get('/time', time);
  app.head('/time', time);
  app.options('/time', preflight);
}
