/**
 * Stream keys recently found good, by their hash (never the key itself), so
 * that a publisher reconnecting while PostgreSQL is unreachable is still let
 * in. Only consulted when the database cannot answer; an entry lives ttlMs
 * from its last check against the database, and a revoked key or a deleted
 * stream is forgotten at once (its event reaches every instance).
 */
/** what a cached key opens: its stream, and whether viewers need a token for it */
export interface KnownKey {
  streamId: string;
  private: boolean;
}

export class PublishKeyCache {
  readonly #entries = new Map<string, KnownKey & { checkedAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  remember(keyHash: string, streamId: string, isPrivate: boolean): void {
    this.#entries.delete(keyHash);
    this.#entries.set(keyHash, { streamId, private: isPrivate, checkedAt: this.now() });
    // a Map keeps insertion order: the first entry is the one checked longest ago
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  forgetKey(keyHash: string): void {
    this.#entries.delete(keyHash);
  }

  forgetStream(streamId: string): void {
    for (const [hash, entry] of this.#entries) if (entry.streamId === streamId) this.#entries.delete(hash);
  }

  /** the stream of a key found good within ttlMs, or null */
  recall(keyHash: string): KnownKey | null {
    const entry = this.#entries.get(keyHash);
    if (entry === undefined) return null;
    if (this.now() - entry.checkedAt > this.ttlMs) {
      this.#entries.delete(keyHash);
      return null;
    }
    return { streamId: entry.streamId, private: entry.private };
  }
}
