import type { HttpResponse } from 'uWebSockets.js';
import type { StreamStore } from '../store/segment-store.js';
import { parseByteRange } from './byte-range.js';
import type { CorsPolicy } from './cors.js';
import { etagMatches } from '../../http/etag.js';
import { HttpProblem, notFound, sendProblem } from './http-problem.js';
import type { MediaMetrics, ServedKind } from './media-metrics.js';
import { chunksLength, headerBlock, sliceChunks, writePrepared, writeResponse, type BodyChunks, type HeaderBlock, type HeaderList } from './media-response.js';
import { PreparedTexts } from './prepared-texts.js';
import type { HeldKind, HoldTimeouts } from './request-hold.js';
import type { RequestContext } from '../../http/uws-helpers.js';
import type { ViewerContext, ViewerSessions } from '../sessions/viewer-session-tracker.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** ended playlists no longer change except for going away after the grace period */
const ENDED_PLAYLIST_CACHE = 'public, max-age=60';
/**
 * A private stream's answers may be kept by the viewer's browser, never by a
 * shared cache (RFC 9111 5.2.2.7): a CDN that ignored the query string in
 * its cache key would otherwise hand them to viewers without a token.
 */
const PRIVATE_IMMUTABLE = 'private, max-age=31536000, immutable';
const PRIVATE_ENDED_PLAYLIST_CACHE = 'private, max-age=60';
/** playlist and MPD texts kept prepared: every rendition's playlists of the streams watched now, a few hundred KB */
const PREPARED_TEXTS = 256;

/**
 * The answers of the media routes, each with CORS headers, conditional GET
 * and the served metrics: immutable bytes (inits, segments, parts: ranges
 * and ETags), playlist text (a strong ETag of the text, cached for half a
 * target duration while live), and problems. What went out is also added
 * to the request's viewer session, when the routes found one (ViewerContext).
 */
export class MediaResponder implements HoldTimeouts {
  /** texts answered lately, hashed and encoded once (parked reloads released together, every viewer of a public playlist) */
  private readonly prepared: PreparedTexts;
  private readonly livePlaylistCache: string;
  private readonly privateLivePlaylistCache: string;
  /** media header blocks by Content-Type (a handful: video/mp4, audio/mp4, video/mp2t) */
  private readonly mediaBlocks = new Map<string, { public: HeaderBlock; private: HeaderBlock }>();

  constructor(
    private readonly cors: CorsPolicy,
    private readonly metrics: MediaMetrics,
    targetDurationMs: number,
    private readonly sessions: ViewerSessions | null = null,
  ) {
    const targetDurationSec = Math.max(1, Math.ceil(targetDurationMs / 1000));
    // about half a target duration: a player reloading every target duration never sees a stale list twice
    const maxAge = Math.max(1, Math.floor(targetDurationSec / 2));
    this.livePlaylistCache = `public, max-age=${maxAge}`;
    this.privateLivePlaylistCache = `private, max-age=${maxAge}`;
    this.prepared = new PreparedTexts(PREPARED_TEXTS, cors.fixedHeaders ?? []);
  }

  /** A held request's wait ran out (holdRequest answers it 503). */
  heldTooLong(kind: HeldKind): void {
    this.metrics.countHoldTimeout(kind);
  }

  /**
   * The headers every answer with immutable media of this type carries, as one block: Content-Type,
   * Cache-Control, Accept-Ranges and CORS when it is the same for every request. One native call
   * per answer instead of six; the ETag (and CORS for an allow-list) follow it.
   */
  private mediaHeaders(contentType: string, isPrivate: boolean): HeaderBlock {
    let blocks = this.mediaBlocks.get(contentType);
    if (blocks === undefined) {
      const block = (cacheControl: string): HeaderBlock =>
        headerBlock(['content-type', contentType, 'cache-control', cacheControl, 'accept-ranges', 'bytes', ...(this.cors.fixedHeaders ?? [])]);
      blocks = { public: block(IMMUTABLE), private: block(PRIVATE_IMMUTABLE) };
      this.mediaBlocks.set(contentType, blocks);
    }
    return isPrivate ? blocks.private : blocks.public;
  }

  problem(res: HttpResponse, ctx: RequestContext, problem: HttpProblem, extra?: HeaderList): void {
    sendProblem(res, ctx, this.cors, problem, extra);
  }

  /** A playlist or MPD of `stream` (rendered now, or from the cache); null text: 404, nothing playable yet. */
  playlist(res: HttpResponse, ctx: RequestContext, stream: StreamStore, text: string | null, kind: ServedKind, contentType: string): void {
    if (text === null) {
      this.problem(res, ctx, notFound(`stream ${stream.id} has no media yet`));
      return;
    }
    const cacheControl = stream.private
      ? stream.ended
        ? PRIVATE_ENDED_PLAYLIST_CACHE
        : this.privateLivePlaylistCache
      : stream.ended
        ? ENDED_PLAYLIST_CACHE
        : this.livePlaylistCache;
    this.text(res, ctx, kind, contentType, cacheControl, text);
  }

  text(res: HttpResponse, ctx: ViewerContext, kind: ServedKind, contentType: string, cacheControl: string, text: string): void {
    // playlists and MPDs come from the render cache, the same text until the stream changes
    const prepared = this.prepared.get(text, contentType, cacheControl);
    // CORS headers that depend on the request's Origin follow the prepared ones, as they did one by one
    const extra = this.cors.fixedHeaders === null ? this.cors.headers(ctx, []) : null;
    if (etagMatches(ctx.headers.get('if-none-match'), prepared.etag)) {
      writePrepared(res, ctx, 304, prepared.headers, extra, null, true);
      return;
    }
    const head = ctx.method === 'HEAD';
    writePrepared(res, ctx, 200, prepared.headers, extra, prepared.body, head);
    if (ctx.aborted) return;
    const bodyBytes = head ? 0 : prepared.body.byteLength;
    this.metrics.countServed(kind, head ? null : bodyBytes);
    if (ctx.viewer) this.sessions!.served(ctx.viewer, kind, bodyBytes, null);
  }

  /**
   * Immutable media of `stream`: its bytes (or its pieces, a segment served as its parts), with Range and If-None-Match.
   * `media`: the rendition and seconds of media a whole body (200 GET) gives a viewer, for the quality distribution.
   */
  bytes(
    res: HttpResponse,
    ctx: ViewerContext,
    stream: StreamStore,
    kind: ServedKind,
    contentType: string,
    etag: string,
    bytes: Uint8Array | BodyChunks,
    media?: { rendition: string; seconds: number },
  ): void {
    const chunks = bytes instanceof Uint8Array ? [bytes] : bytes;
    const size = chunksLength(chunks);
    const block = this.mediaHeaders(contentType, stream.private);
    const headers: HeaderList = ['etag', etag];
    if (this.cors.fixedHeaders === null) this.cors.headers(ctx, headers);
    if (etagMatches(ctx.headers.get('if-none-match'), etag)) {
      writeResponse(res, ctx, 304, headers, null, true, block);
      return;
    }
    const range = parseByteRange(ctx.headers.get('range'), size);
    const head = ctx.method === 'HEAD';
    if (range.kind === 'unsatisfiable') {
      this.problem(res, ctx, new HttpProblem(416, 'NOVA_ERR_BAD_REQUEST', 'range not satisfiable'), ['content-range', `bytes */${size}`]);
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
    writeResponse(res, ctx, status, headers, body, head, block);
    if (ctx.aborted) return;
    this.metrics.countServed(kind, head ? null : bodyLength);
    const wholeMedia = media !== undefined && status === 200 && !head;
    if (wholeMedia) this.metrics.countMediaSeconds(media.rendition, media.seconds);
    if (ctx.viewer) this.sessions!.served(ctx.viewer, kind, head ? 0 : bodyLength, wholeMedia ? media.rendition : null);
  }
}
