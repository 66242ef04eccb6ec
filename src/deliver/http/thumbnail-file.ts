import { Gauge, type Registry } from 'prom-client';
import type { HttpResponse } from 'uWebSockets.js';
import type { RequestContext } from '../../http/uws-helpers.js';
import type { SegmentStore, StreamStore } from '../store/segment-store.js';
import type { CorsPolicy } from './cors.js';
import { etagMatches } from '../../http/etag.js';
import { notFound } from './http-problem.js';
import { writeResponse } from './media-response.js';

/**
 * GET /hls/:stream/thumbnail.jpg: the stream's newest thumbnail from memory
 * (one JPEG per live stream, replaced every interval by its transcoder or
 * its origin's feed). Cacheable for one interval, a strong ETag from the
 * bytes (the same on every instance), 404 before the first image and once
 * the stream has ended. Not a viewer: no session, no playback count.
 */
export class ThumbnailFile {
  constructor(
    store: SegmentStore,
    registry: Registry,
    private readonly cors: CorsPolicy,
    /** how long a thumbnail is fresh: the refresh interval */
    private readonly maxAgeSec: number,
  ) {
    new Gauge({
      name: 'nova_streaming_thumbnail_bytes',
      help: 'Bytes of thumbnail JPEGs held in memory (one per live stream)',
      registers: [registry],
      // the same stream's thumbnail in every delivery thread's copy of the store: not added up
      aggregator: 'max',
      collect() {
        this.set(store.thumbnailBytes);
      },
    });
  }

  /** Throws an HttpProblem (404) when there is no image to serve. */
  serve(res: HttpResponse, ctx: RequestContext, stream: StreamStore): void {
    const thumbnail = stream.thumbnail;
    if (thumbnail === null) throw notFound(stream.ended ? `stream ${stream.id} has ended` : `stream ${stream.id} has no thumbnail yet`);
    // a private stream's image is for its token holder only: never in a shared cache
    const cacheControl = `${stream.private ? 'private' : 'public'}, max-age=${this.maxAgeSec}`;
    const headers = this.cors.headers(ctx, ['content-type', 'image/jpeg', 'cache-control', cacheControl, 'etag', thumbnail.etag, 'last-modified', new Date(thumbnail.at).toUTCString()]);
    if (etagMatches(ctx.headers.get('if-none-match'), thumbnail.etag)) {
      writeResponse(res, ctx, 304, headers, null, true);
      return;
    }
    writeResponse(res, ctx, 200, headers, thumbnail.bytes, ctx.method === 'HEAD');
  }
}
