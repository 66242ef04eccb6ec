import type { DiscoverySort, LiveDirectory } from '../discovery/live-directory.js';
import type { ApiRouter } from './api-router.js';

export interface DiscoverRoutesDeps {
  directory: LiveDirectory;
  /** e.g. http://host:8080, read per response (the port is known only after listen) */
  httpBase(): string;
}

/**
 * GET /api/v1/discover/live: public, no credentials. The page is answered from the
 * directory's snapshot (one database read a second per instance) and may be cached
 * by a CDN for the same second.
 */
export function registerDiscoverRoutes(router: ApiRouter, deps: DiscoverRoutesDeps): void {
  router.handle('discoverLive', async (request) => {
    const { sort, limit, cursor } = request.params as { sort: DiscoverySort; limit: number; cursor?: string };
    const page = await deps.directory.page(sort, limit, cursor ?? null);
    const http = deps.httpBase().replace(/\/+$/, '');
    const ws = http.replace(/^http/i, 'ws');
    const body = {
      items: page.items.map((stream) => ({
        id: stream.id,
        title: stream.title,
        viewers: stream.viewers,
        started_at: new Date(stream.startedAtMs).toISOString(),
        // served by delivery from the stream's newest JPEG (thumbnail-file.ts); null until there is one
        thumbnail_url: stream.thumbnail ? `${http}/hls/${encodeURIComponent(stream.id)}/thumbnail.jpg` : null,
        hls_url: `${http}/hls/${stream.id}/master.m3u8`,
        dash_url: `${http}/dash/${stream.id}/manifest.mpd`,
        ws_url: `${ws}/api/v1/streams/${stream.id}/ws`,
      })),
      has_more: page.hasMore,
      next_cursor: page.nextCursor,
    };
    return {
      status: 200,
      raw: { contentType: 'application/json; charset=utf-8', data: JSON.stringify(body), cacheControl: 'public, max-age=1' },
      headers: { 'x-content-type-options': 'nosniff' },
    };
  });
}
