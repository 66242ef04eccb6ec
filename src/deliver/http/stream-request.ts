import type { HttpResponse } from 'uWebSockets.js';
import type { StreamStore } from '../store/segment-store.js';
import type { RequestContext } from '../../http/uws-helpers.js';

/** A media request once the router has found its stream and checked its viewer token (private streams): what the HLS, DASH and file routes work on. */
export interface StreamRequest {
  readonly res: HttpResponse;
  readonly ctx: RequestContext;
  readonly stream: StreamStore;
  /** the stream's path segment as requested (still URL-encoded): written back into URIs */
  readonly streamPath: string;
  readonly params: URLSearchParams;
  /** "?token=…" to carry into every URI a playlist writes (a private stream's viewer token), or "" */
  readonly uriSuffix: string;
}
