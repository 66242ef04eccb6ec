import { strongEtag } from '../../http/etag.js';
import { headerBlock, type HeaderBlock, type HeaderList } from './media-response.js';

/** A playlist or MPD text made ready to answer: hashed and encoded once, not once per request. */
export interface PreparedText {
  readonly etag: string;
  readonly body: Buffer;
  /** the headers this text was last answered with (content type, Cache-Control, ETag, CORS when they do not depend on the request) */
  contentType: string;
  cacheControl: string;
  headers: HeaderBlock;
}

/**
 * The texts answered lately, by their string: a rendered playlist is one
 * string object until its stream changes (playlist-render-cache.ts), and
 * V8 keeps a string's hash in it, so finding it again costs a pointer
 * comparison. Bounded in entries, the oldest written dropped first: texts
 * signed per viewer (private streams) come and go, the few watched ones are
 * rewritten at every change and stay. Entries hold strings and bytes only.
 */
export class PreparedTexts {
  private readonly entries = new Map<string, PreparedText>();

  constructor(
    private readonly maxEntries: number,
    /** headers after content-type, Cache-Control and ETag that are the same for every request (CORS for any origin), or none */
    private readonly fixedHeaders: HeaderList,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(text: string, contentType: string, cacheControl: string): PreparedText {
    let prepared = this.entries.get(text);
    if (prepared === undefined) {
      const etag = strongEtag(text);
      prepared = { etag, body: Buffer.from(text), contentType, cacheControl, headers: this.block(contentType, cacheControl, etag) };
      this.entries.set(text, prepared);
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    } else if (prepared.contentType !== contentType || prepared.cacheControl !== cacheControl) {
      // the same text under other headers (a stream that ended, an MPD and a playlist alike): rare
      prepared.contentType = contentType;
      prepared.cacheControl = cacheControl;
      prepared.headers = this.block(contentType, cacheControl, prepared.etag);
    }
    return prepared;
  }

  private block(contentType: string, cacheControl: string, etag: string): HeaderBlock {
    return headerBlock(['content-type', contentType, 'cache-control', cacheControl, 'etag', etag, ...this.fixedHeaders]);
  }
}
