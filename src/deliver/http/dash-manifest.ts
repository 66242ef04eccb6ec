import { buildMpd } from '../dash/mpd-builder.js';
import type { SegmentStore } from '../store/segment-store.js';
import type { MediaResponder } from './media-responder.js';
import type { StreamRequest } from './stream-request.js';
import type { RequestContext } from '../../http/uws-helpers.js';

export interface DashManifestConfig {
  targetDurationMs: number;
  /** "https://cdn.example" (no trailing slash): the MPD's BaseURL points there */
  cdnBaseUrl: string | null;
}

/**
 * The dynamic MPD of a live stream (static once ended). Rendered per request,
 * never cached: it carries the time of its generation.
 */
export class DashManifest {
  constructor(
    private readonly store: SegmentStore,
    private readonly config: DashManifestConfig,
    private readonly respond: MediaResponder,
    private readonly now: () => number,
  ) {}

  serve(req: StreamRequest): void {
    const { stream, ctx } = req;
    const text = buildMpd(stream, {
      windowSegments: this.store.options.windowSegments,
      targetDurationMs: this.config.targetDurationMs,
      uriSuffix: req.uriSuffix,
      baseUrl: this.config.cdnBaseUrl ? `${this.config.cdnBaseUrl}/dash/${req.streamPath}/` : null,
      utcTimings: this.utcTimings(ctx),
      now: this.now(),
    });
    this.respond.playlist(req.res, ctx, stream, text, 'mpd', 'application/dash+xml');
  }

  /**
   * dash.js syncs its clock with the first UTCTiming it can use: our /time
   * (absolute, so it resolves against this server and not the page), then
   * the MPD's own generation time as a fallback.
   */
  private utcTimings(ctx: RequestContext): { schemeIdUri: string; value: string }[] {
    const timings: { schemeIdUri: string; value: string }[] = [];
    const host = ctx.headers.get('host');
    if (host) {
      const proto = ctx.headers.get('x-forwarded-proto') === 'https' ? 'https' : 'http';
      timings.push({ schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: `${proto}://${host}/time` });
    }
    timings.push({ schemeIdUri: 'urn:mpeg:dash:utc:direct:2014', value: new Date(this.now()).toISOString() });
    return timings;
  }
}
