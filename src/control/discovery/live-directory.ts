import { badCursor, decodeCursor, encodeCursor } from '../db/opaque-cursor.js';
import type { Logger } from '../../log.js';
import type { LiveListing } from '../db/stream-repository.js';

export type DiscoverySort = 'viewers' | 'recent';

/** A live public stream with its viewer count when the snapshot was taken. */
export interface DiscoveredStream {
  id: string;
  title: string;
  startedAtMs: number;
  viewers: number;
  /** a thumbnail can be fetched for it (when the snapshot was taken) */
  thumbnail: boolean;
}

export interface DiscoveryPage {
  items: DiscoveredStream[];
  hasMore: boolean;
  nextCursor: string | null;
}

export interface LiveDirectoryOptions {
  /** the live public streams, newest first (StreamRepository.listLivePublic) */
  load: (max: number) => Promise<LiveListing[]>;
  /** viewers of a stream now, across instances */
  viewers: (streamId: string) => number;
  /** whether the stream has a thumbnail to serve; absent: none has */
  thumbnail?: (streamId: string) => boolean;
  log: Logger;
  /** how long a snapshot serves (default 1000 ms): at most one load per this, per instance */
  ttlMs?: number;
  /** streams a snapshot holds at most (default 5000, the most recently started) */
  maxStreams?: number;
  now?: () => number;
}

interface Snapshot {
  byViewers: DiscoveredStream[];
  byRecent: DiscoveredStream[];
}

/** Position in an ordering: what a cursor carries (the last item of the page before). */
interface CursorKey {
  sort: DiscoverySort;
  viewers: number;
  startedAtMs: number;
  id: string;
}

/** viewers desc, then newest, then id: a total order, so keyset cursors never skip or repeat within a snapshot */
function byViewers(a: Pick<DiscoveredStream, 'viewers' | 'startedAtMs' | 'id'>, b: Pick<DiscoveredStream, 'viewers' | 'startedAtMs' | 'id'>): number {
  return b.viewers - a.viewers || b.startedAtMs - a.startedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function byRecent(a: Pick<DiscoveredStream, 'startedAtMs' | 'id'>, b: Pick<DiscoveredStream, 'startedAtMs' | 'id'>): number {
  return b.startedAtMs - a.startedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Public discovery's list of live streams. One database read serves every request
 * for a second (whatever the load, sort or page: requests in that second share the
 * snapshot, and those arriving while it loads wait for the same read), with viewer
 * counts taken when it was read, sorted both ways once. A failed read serves the
 * last snapshot; without one it fails the request.
 */
export class LiveDirectory {
  private readonly ttlMs: number;
  private readonly maxStreams: number;
  private readonly now: () => number;
  private current: Snapshot | null = null;
  private loading: Promise<Snapshot> | null = null;
  private attemptAt = Number.NEGATIVE_INFINITY;
  private lastError: unknown = null;
  /** database reads so far (tests check the one-a-second bound) */
  loads = 0;

  constructor(private readonly options: LiveDirectoryOptions) {
    this.ttlMs = options.ttlMs ?? 1000;
    this.maxStreams = options.maxStreams ?? 5000;
    this.now = options.now ?? Date.now;
  }

  async page(sort: DiscoverySort, limit: number, cursor: string | null): Promise<DiscoveryPage> {
    const after = cursor === null ? null : cursorKey(cursor, sort);
    const snapshot = await this.snapshot();
    const list = sort === 'viewers' ? snapshot.byViewers : snapshot.byRecent;
    const compare = sort === 'viewers' ? byViewers : byRecent;
    // first index whose item comes after the cursor's key (binary search: the list is sorted by compare)
    let start = 0;
    if (after !== null) {
      let high = list.length;
      while (start < high) {
        const mid = (start + high) >>> 1;
        if (compare(list[mid]!, after) <= 0) start = mid + 1;
        else high = mid;
      }
    }
    const items = list.slice(start, start + limit);
    const hasMore = start + limit < list.length;
    const last = items[items.length - 1];
    return { items, hasMore, nextCursor: hasMore && last !== undefined ? cursorOf({ sort, viewers: last.viewers, startedAtMs: last.startedAtMs, id: last.id }) : null };
  }

  private snapshot(): Promise<Snapshot> {
    const now = this.now();
    const fresh = now - this.attemptAt < this.ttlMs;
    if (this.current !== null && (fresh || this.loading !== null)) return Promise.resolve(this.current);
    if (this.loading !== null) return this.loading;
    if (fresh && this.lastError !== null) return Promise.reject(this.lastError);
    this.attemptAt = now;
    this.loads++;
    const loading = this.options.load(this.maxStreams).then(
      (rows) => {
        const thumbnail = this.options.thumbnail ?? (() => false);
        const streams = rows.map((row) => ({
          id: row.id,
          title: row.title,
          startedAtMs: row.startedAt.getTime(),
          viewers: this.options.viewers(row.id),
          thumbnail: thumbnail(row.id),
        }));
        const snapshot = { byViewers: [...streams].sort(byViewers), byRecent: streams.sort(byRecent) };
        this.current = snapshot;
        this.lastError = null;
        return snapshot;
      },
      (err: unknown) => {
        this.lastError = err;
        this.options.log.warn({ err }, this.current === null ? 'reading live streams for discovery failed' : 'reading live streams for discovery failed: serving the last list');
        if (this.current !== null) return this.current;
        throw err;
      },
    );
    this.loading = loading;
    void loading.finally(() => {
      if (this.loading === loading) this.loading = null;
    }).catch(() => {});
    return loading;
  }
}

function cursorOf(key: CursorKey): string {
  return encodeCursor(key.sort === 'viewers' ? ['v', key.viewers, key.startedAtMs, key.id] : ['r', key.startedAtMs, key.id]);
}

/** The cursor's key; 400 for anything this API did not return, or a cursor of the other sort. */
function cursorKey(cursor: string, sort: DiscoverySort): CursorKey {
  const invalid = badCursor(`cursor is not one this API returned for sort=${sort}`);
  const value = decodeCursor(cursor, invalid);
  const id = value[value.length - 1];
  if (typeof id !== 'string' || id.length > 64) throw invalid;
  if (sort === 'viewers' && value.length === 4 && value[0] === 'v' && Number.isSafeInteger(value[1]) && (value[1] as number) >= 0 && Number.isSafeInteger(value[2])) {
    return { sort, viewers: value[1] as number, startedAtMs: value[2] as number, id };
  }
  if (sort === 'recent' && value.length === 3 && value[0] === 'r' && Number.isSafeInteger(value[1])) {
    return { sort, viewers: 0, startedAtMs: value[1] as number, id };
  }
  throw invalid;
}
