import type { PackagedTrack } from '../../package/packaged-media.js';
import { blockingMsnOutOfRange, parseBlockingReload } from '../hls/blocking-reload.js';
import {
  buildMasterPlaylist,
  buildMediaPlaylist,
  buildTsMasterPlaylist,
  targetDurationSeconds,
  trackIsPlayable,
  type PlaylistBuildOptions,
} from '../hls/playlist-builder.js';
import type { SegmentStore, StreamStore } from '../store/segment-store.js';
import type { CorsPolicy } from './cors.js';
import { badRequest, HttpProblem, notFound } from './http-problem.js';
import type { MediaResponder } from './media-responder.js';
import type { PlaylistRenderCache } from './playlist-render-cache.js';
import { holdRequest } from './request-hold.js';
import type { StreamRequest } from './stream-request.js';

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/** How a store's playlists are built under this configuration. */
export function playlistOptions(store: SegmentStore, config: HlsPlaylistsConfig, uriSuffix: string): PlaylistBuildOptions {
  return {
    windowSegments: store.options.windowSegments,
    partSegments: store.options.partSegments,
    partTargetMs: config.partTargetMs,
    targetDurationMs: config.targetDurationMs,
    uriSuffix,
    cdnBaseUrl: config.cdnBaseUrl,
  };
}

export interface HlsPlaylistsConfig {
  partTargetMs: number;
  targetDurationMs: number;
  /** "https://cdn.example" (no trailing slash): segment URIs in playlists go there */
  cdnBaseUrl: string | null;
}

/**
 * Which playlist of a stream: its render cache key without the token suffix,
 * "master", "ts-master" or "<rendition>/<track>", or an MPD's (mpdKey in
 * dash-manifest.ts); the main thread renders a public stream's watched
 * playlists and MPDs for every delivery thread by these keys.
 */
export type PlaylistKey = string;

/** The playlist a key names, rendered from the stream as it is now; null when the key names none. */
export function renderPlaylist(stream: StreamStore, streamPath: string, key: PlaylistKey, options: PlaylistBuildOptions): string | null {
  if (key === 'master') return buildMasterPlaylist(stream, options);
  if (key === 'ts-master') return buildTsMasterPlaylist(stream, options);
  const slash = key.lastIndexOf('/');
  const track = key.slice(slash + 1);
  const rendition = slash > 0 ? stream.renditions.get(key.slice(0, slash)) : undefined;
  if (rendition === undefined || (track !== 'video' && track !== 'audio' && track !== 'ts')) return null;
  return buildMediaPlaylist(stream, streamPath, rendition, track, options);
}

/**
 * The HLS playlists of a live stream: the CMAF and MPEG-TS multivariant
 * playlists, and media playlists with LL-HLS blocking reload (parked until
 * the asked part exists) and MPEG-TS muxed on demand (the first TS request
 * waits for its first segment). Renders go through the render cache.
 */
export class HlsPlaylists {
  constructor(
    private readonly store: SegmentStore,
    private readonly config: HlsPlaylistsConfig,
    private readonly respond: MediaResponder,
    private readonly cors: CorsPolicy,
    private readonly cache: PlaylistRenderCache,
    /** turns MPEG-TS on for a stream (idempotent); undefined: TS is always produced */
    private readonly onTsRequested: ((streamId: string) => void) | undefined,
    /** a player asked for a playlist it can play (viewer sessionization) */
    private readonly onPlayback: (req: StreamRequest) => void,
  ) {}

  master(req: StreamRequest): void {
    const { stream, uriSuffix } = req;
    this.onPlayback(req);
    const text = this.cache.get(stream, `master${uriSuffix}`, () => renderPlaylist(stream, req.streamPath, 'master', this.playlistOptions(uriSuffix)));
    this.respond.playlist(req.res, req.ctx, stream, text, 'playlist', PLAYLIST_TYPE);
  }

  tsMaster(req: StreamRequest): void {
    const { stream, uriSuffix } = req;
    this.onPlayback(req);
    // the ingested rendition (the first one stored) gets its TS on demand; transcoded ones always have it
    const ingested = stream.renditions.keys().next();
    this.afterTs(req, ingested.done ? null : ingested.value, () => {
      const text = this.cache.get(stream, `ts-master${uriSuffix}`, () => renderPlaylist(stream, req.streamPath, 'ts-master', this.playlistOptions(uriSuffix)));
      this.respond.playlist(req.res, req.ctx, stream, text, 'playlist', PLAYLIST_TYPE);
    });
  }

  /** A media playlist; throws HttpProblem for a missing track or a malformed blocking reload. */
  media(req: StreamRequest, renditionName: string, trackName: PackagedTrack, waitedForTs = false): void {
    const { res, ctx, stream, uriSuffix } = req;
    const rendition = stream.renditions.get(renditionName);
    const track = rendition?.tracks.get(trackName);
    if (trackName === 'ts' && rendition && !trackIsPlayable(track) && !waitedForTs) {
      this.afterTs(req, renditionName, () => {
        try {
          this.media(req, renditionName, trackName, true);
        } catch (err) {
          this.respond.problem(res, ctx, err instanceof HttpProblem ? err : new HttpProblem(500, 'NOVA_ERR_INTERNAL', 'playlist failed'));
        }
      });
      return;
    }
    if (!rendition || !trackIsPlayable(track)) throw notFound(`no ${trackName} playlist for ${stream.id}/${renditionName}`);
    const key: PlaylistKey = `${renditionName}/${trackName}`;
    const render = (): string | null => this.cache.get(stream, `${key}${uriSuffix}`, () => renderPlaylist(stream, req.streamPath, key, this.playlistOptions(uriSuffix)));
    const respond = (): void => this.respond.playlist(res, ctx, stream, render(), 'playlist', PLAYLIST_TYPE);
    this.onPlayback(req);
    const blocking = trackName === 'ts' ? ({ kind: 'none' } as const) : parseBlockingReload(req.params);
    if (blocking.kind === 'bad') throw badRequest(blocking.reason);
    if (blocking.kind !== 'wait' || stream.ended) {
      respond();
      return;
    }
    // LL-HLS blocking reload: park until the asked part or segment exists
    const { msn, part } = blocking;
    if (blockingMsnOutOfRange(track, msn)) throw badRequest(`_HLS_msn=${msn} is beyond the next segment`);
    const timeoutMs = targetDurationSeconds(track, this.config.targetDurationMs) * 3000;
    holdRequest(
      res,
      ctx,
      this.cors,
      (onDone) => this.store.waitFor(stream.id, renditionName, track.track, msn, part, timeoutMs, onDone),
      { kind: 'playlist', timeouts: this.respond, late: `msn ${msn} part ${part} not produced in time`, gone: `stream ${stream.id} is gone`, streamId: stream.id },
      respond,
    );
  }

  /**
   * MPEG-TS is muxed on demand: a TS playlist request turns it on for the
   * stream and waits for the rendition's first TS segment (it starts at the
   * next segment boundary; measured 4–6 s with 2 s segments) before `respond` runs. Answers
   * at once when the TS exists, nothing can wait (no media yet, ended), or
   * TS is always on; 503 + Retry-After if the first segment is late.
   */
  private afterTs(req: StreamRequest, renditionName: string | null, respond: () => void): void {
    const { stream } = req;
    if (this.onTsRequested === undefined || renditionName === null || stream.ended) {
      respond();
      return;
    }
    this.onTsRequested(stream.id);
    // the rest of the open segment, the first TS segment, and the muxer's wait for audio to pass it: 3 segments (long GOPs make them longer)
    const cmaf = stream.renditions.get(renditionName)?.tracks;
    const paced = cmaf?.get('video') ?? cmaf?.get('audio');
    const targetDurationMs = this.config.targetDurationMs;
    const timeoutMs = 3000 * (paced ? targetDurationSeconds(paced, targetDurationMs) : Math.ceil(targetDurationMs / 1000)) + 1000;
    holdRequest(
      req.res,
      req.ctx,
      this.cors,
      (onDone) => this.store.waitForTrack(stream.id, renditionName, 'ts', timeoutMs, onDone),
      { kind: 'ts', timeouts: this.respond, late: `no MPEG-TS for ${stream.id}/${renditionName} yet`, gone: `stream ${stream.id} is gone`, streamId: stream.id },
      respond,
    );
  }

  private playlistOptions(uriSuffix: string): PlaylistBuildOptions {
    return playlistOptions(this.store, this.config, uriSuffix);
  }
}
