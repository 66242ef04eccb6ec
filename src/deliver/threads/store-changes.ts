import type { FeedMessage } from '../edge/feed-frames.js';
import { applyFeedFrame } from '../edge/feed-apply.js';
import type { SegmentStore } from '../store/segment-store.js';
import type { PlaylistRenderCache } from '../http/playlist-render-cache.js';

/**
 * What changed in the main thread's segment store, as a delivery thread's
 * copy of it applies it: the origin → edge feed's messages (the same calls a
 * replica is built from, see edge/feed-apply.ts) plus the store calls an
 * edge never needs (they come from the edge or a timer on the main thread).
 */
export type StoreChange =
  | FeedMessage
  | { t: 'seal' }
  | { t: 'interrupt' }
  | { t: 'resume' }
  | { t: 'removeStream' }
  | { t: 'generation'; g: string }
  /** a public playlist rendered once for every thread, for the stream as the changes before it left it (shared-playlists.ts) */
  | { t: 'rendered'; key: string; text: string | null };

/**
 * One change of one stream, with its media bytes (a view of shared memory:
 * posted to a thread, the bytes are shared, not copied).
 */
export type StoreChangeEntry = [streamId: string, change: StoreChange, body: Uint8Array | null];

const EMPTY = new Uint8Array(0);

/** Applies one change to a delivery thread's copy of the store. */
export function applyStoreChange(store: SegmentStore, [streamId, change, body]: StoreChangeEntry, playlists?: PlaylistRenderCache): void {
  switch (change.t) {
    case 'seal':
      store.sealPendingParts(streamId);
      return;
    case 'interrupt':
      store.interruptStream(streamId);
      return;
    case 'resume':
      store.resumeStream(streamId);
      return;
    case 'removeStream':
      store.removeStream(streamId);
      return;
    case 'rendered': {
      const stream = store.getStream(streamId);
      if (stream !== undefined) playlists?.seed(stream, change.key, change.text);
      return;
    }
    case 'generation': {
      const stream = store.getStream(streamId);
      if (stream) stream.generation = change.g;
      return;
    }
    default:
      // bytes posted from the main thread are this thread's to keep (shared memory, or a copy made for it)
      applyFeedFrame(store, streamId, { message: change, body: body ?? EMPTY, owned: true });
  }
}
