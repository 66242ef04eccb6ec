import type { StreamStore } from '../store/segment-store.js';

/** What a Map entry and its record cost beyond the strings, roughly: keeps many tiny entries from looking free. */
const ENTRY_OVERHEAD_BYTES = 96;

interface Rendered {
  /** StreamStore.changes when rendered: the text stands until the stream changes again */
  readonly changes: number;
  /** null: nothing playable yet (answered 404, and cached like any other answer) */
  readonly text: string | null;
  readonly bytes: number;
}

/**
 * A part releases every parked reload of a track at once: render its playlist
 * once per store change, not once per viewer (and each MPD once per change,
 * not once per request). Keyed by stream (id and
 * generation, so a new life of the same id never reads an old one's text),
 * and by path and token suffix, which is per viewer when URLs are signed:
 * hence a bound in bytes over all streams, evicting the entry written longest
 * ago (a playlist still watched is rewritten at every change, so it stays
 * young; one nobody asks for any more ages out). Entries hold strings only,
 * never the stream, so a removed stream's media is not kept alive by them.
 *
 * Bytes are counted as string lengths: playlists and MPDs are ASCII, which V8
 * keeps at one byte per character.
 */
export class PlaylistRenderCache {
  private readonly entries = new Map<string, Rendered>();
  private held = 0;

  constructor(
    /** the budget (PLAYLIST_CACHE_BYTES); an entry larger than it is rendered and answered, never kept */
    readonly maxBytes: number,
    /** told whether each lookup was a hit (metrics) */
    private readonly onLookup: (hit: boolean) => void = () => {},
  ) {
    if (!(maxBytes >= 0)) throw new RangeError('maxBytes must be 0 or more');
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Takes a text rendered elsewhere for the stream as it is now (a delivery
   * thread's copy is given what the main thread rendered once for all).
   */
  seed(stream: StreamStore, key: string, text: string | null): void {
    const cacheKey = `${stream.generation}/${stream.id}/${key}`;
    const previous = this.entries.get(cacheKey);
    if (previous !== undefined) {
      this.entries.delete(cacheKey);
      this.held -= previous.bytes;
    }
    this.keep(cacheKey, stream.changes, text);
  }

  /**
   * The text of `key` for the stream as it is now: `render` runs only when the
   * stream changed since the last one, given the text it last rendered (an MPD
   * whose text did not change keeps its publishTime).
   */
  get(stream: StreamStore, key: string, render: (previous: string | null) => string | null): string | null {
    const cacheKey = `${stream.generation}/${stream.id}/${key}`;
    const previous = this.entries.get(cacheKey);
    if (previous !== undefined && previous.changes === stream.changes) {
      this.onLookup(true);
      return previous.text;
    }
    this.onLookup(false);
    const text = render(previous === undefined ? null : previous.text);
    if (previous !== undefined) {
      this.entries.delete(cacheKey);
      this.held -= previous.bytes;
    }
    this.keep(cacheKey, stream.changes, text);
    return text;
  }

  private keep(cacheKey: string, changes: number, text: string | null): void {
    const bytes = ENTRY_OVERHEAD_BYTES + cacheKey.length + (text === null ? 0 : text.length);
    if (bytes > this.maxBytes) return;
    this.entries.set(cacheKey, { changes, text, bytes });
    this.held += bytes;
    // a Map iterates in insertion order: the first key is the one written longest ago
    while (this.held > this.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.held -= this.entries.get(oldest)!.bytes;
      this.entries.delete(oldest);
    }
  }
}
