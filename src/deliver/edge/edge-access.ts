import type { SegmentStore } from '../store/segment-store.js';
import { originUnavailable } from '../http/http-problem.js';
import type { StreamLookup } from '../http/media-routes.js';
import type { EdgeReplicas } from './edge-replicas.js';

/**
 * How the media routes find a stream on an instance that is an edge too: a
 * stream in the local store is served (unless it is a replica whose origin
 * has been lost past its grace: 503); any other waits for its replica, set up
 * once for every request waiting on it (EdgeReplicas.acquire), then is served,
 * or answered 404 (live nowhere) or 503 + Retry-After (its origin cannot be
 * reached in time). A request aborted meanwhile is dropped when the wait
 * answers (within EDGE_SYNC_TIMEOUT_MS).
 */
export function edgeStreamLookup(store: SegmentStore, edge: Pick<EdgeReplicas, 'acquire' | 'touch'>): StreamLookup {
  return (streamId, found) => {
    const stream = store.getStream(streamId);
    if (stream !== undefined) {
      found(stream.unavailable || edge.touch(streamId) === 'unavailable' ? originUnavailable(streamId) : stream);
      return;
    }
    edge.acquire(streamId, (outcome) => {
      const replica = outcome === 'ready' ? store.getStream(streamId) : undefined;
      found(replica ?? (outcome === 'unavailable' ? originUnavailable(streamId) : null));
    });
  };
}
