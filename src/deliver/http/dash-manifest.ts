import { buildMpd } from '../dash/mpd-builder.js';
import type { MpdUtcTiming } from '../dash/mpd-writer.js';
import type { SegmentStore, StreamStore } from '../store/segment-store.js';
import type { MediaResponder } from './media-responder.js';
import type { PlaylistRenderCache } from './playlist-render-cache.js';
import type { StreamRequest } from './stream-request.js';
import type { RequestContext } from '../../http/uws-helpers.js';

export interface DashManifestConfig {
  targetDurationMs: number;
  /** "https://cdn.example" (no trailing slash): the MPD's BaseURL points there */
  cdnBaseUrl: string | null;
}

const HTTP_ISO = 'urn:mpeg:dash:utc:http-iso:2014';
const PUBLISH_TIME = ' publishTime="';

/**
 * An MPD's render cache key: "mpd", the viewer's token suffix ("" on a public
 * stream), a space, and the /time URL its UTCTiming names. No HLS key has a
 * space (rendition names have none), so the main thread tells an MPD key
 * from a playlist's by its "mpd " start (public streams only share keys).
 */
export function mpdKey(uriSuffix: string, timeUrl: string): string {
  return `mpd${uriSuffix} ${timeUrl}`;
}

/** The /time URL of a public stream's MPD key, or null for a key that is not an MPD's. */
export function mpdTimeUrl(key: string): string | null {
  return key.startsWith('mpd ') ? key.slice(4) : null;
}

/**
 * The MPD of a stream as it is now. `previous` is the text last rendered for
 * the same key: when nothing but the time would differ (a part came, which an
 * MPD does not list) it is returned as it was, publishTime included; when the
 * text changed, its publishTime is the time of the stream's latest change.
 */
export function renderMpd(
  stream: StreamStore,
  streamPath: string,
  timeUrl: string,
  uriSuffix: string,
  windowSegments: number,
  config: DashManifestConfig,
  previous: string | null,
): string | null {
  const kept = previous === null ? null : publishTimeOf(previous);
  const text = buildMpd(stream, {
    windowSegments,
    targetDurationMs: config.targetDurationMs,
    uriSuffix,
    baseUrl: config.cdnBaseUrl ? `${config.cdnBaseUrl}/dash/${streamPath}/` : null,
    utcTimings: utcTimings(timeUrl),
    publishTime: kept ?? stream.changedAt,
  });
  if (text === null || kept === null) return text;
  if (text === previous) return previous;
  // rendered with the old publishTime to compare; the text changed, so it gets the new one
  return text.replace(`${PUBLISH_TIME}${new Date(kept).toISOString()}"`, `${PUBLISH_TIME}${new Date(stream.changedAt).toISOString()}"`);
}

/** The publishTime of a dynamic MPD text in epoch ms; null for a static one. */
function publishTimeOf(text: string): number | null {
  const at = text.indexOf(PUBLISH_TIME);
  if (at < 0) return null;
  const start = at + PUBLISH_TIME.length;
  const time = Date.parse(text.slice(start, text.indexOf('"', start)));
  return Number.isNaN(time) ? null : time;
}

/**
 * Only http-iso to our /time: no urn:mpeg:dash:utc:direct:2014, whose value in a cached MPD is as old as its render.
 * dash.js tries the MPD's sources in order, then its default time server, then the MPD response's Date header.
 */
function utcTimings(timeUrl: string): MpdUtcTiming[] {
  return timeUrl === '' ? [] : [{ schemeIdUri: HTTP_ISO, value: timeUrl }];
}

/**
 * The dynamic MPD of a live stream (static once ended), rendered once per
 * change of the stream for each key (token suffix, /time URL) through the
 * render cache, like the HLS playlists: it carries no wall clock of its own
 * (publishTime is the time of the change its text reflects).
 */
export class DashManifest {
  constructor(
    private readonly store: SegmentStore,
    private readonly config: DashManifestConfig,
    private readonly respond: MediaResponder,
    private readonly cache: PlaylistRenderCache,
  ) {}

  serve(req: StreamRequest): void {
    const { stream, ctx, uriSuffix } = req;
    const timeUrl = timeUrlOf(ctx);
    const text = this.cache.get(stream, mpdKey(uriSuffix, timeUrl), (previous) =>
      renderMpd(stream, req.streamPath, timeUrl, uriSuffix, this.store.options.windowSegments, this.config, previous),
    );
    this.respond.playlist(req.res, ctx, stream, text, 'mpd', 'application/dash+xml');
  }
}

/**
 * Our /time, absolute so that dash.js resolves it against this server and not
 * the page or a CDN BaseURL; "" when the request named no host.
 */
function timeUrlOf(ctx: RequestContext): string {
  const host = ctx.headers.get('host');
  if (!host) return '';
  const proto = ctx.headers.get('x-forwarded-proto') === 'https' ? 'https' : 'http';
  return `${proto}://${host}/time`;
}
