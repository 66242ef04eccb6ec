import type { HttpResponse } from 'uWebSockets.js';
import type { RequestContext } from '../http/uws-helpers.js';
import type { AcquireOutcome } from './edge-replicas.js';

/** What the media routes need of origin–edge delivery (EdgeReplicas implements it). */
export interface EdgeAccess {
  acquire(streamId: string, done: (outcome: AcquireOutcome) => void): { cancel(): void };
  /** a request for a stream in the store: 'unavailable' when it is a replica whose origin has been lost too long */
  touch(streamId: string): 'local' | 'hit' | 'unavailable';
}

/**
 * A media request for a stream this instance does not hold: waits for its
 * replica (one feed for every request waiting on it), then `serve` runs; a
 * stream live nowhere gets `notLive` (404), one whose origin cannot be
 * reached `unavailable` (503 + Retry-After). The wait is cancelled with the
 * request.
 */
export function awaitReplica(
  res: HttpResponse,
  ctx: RequestContext,
  edge: EdgeAccess,
  streamId: string,
  serve: () => void,
  notLive: () => void,
  unavailable: () => void,
): void {
  let pending: { cancel(): void } | null = null;
  let answered = false;
  res.onAborted(() => {
    ctx.aborted = true;
    pending?.cancel();
  });
  pending = edge.acquire(streamId, (outcome) => {
    answered = true;
    pending = null;
    if (ctx.aborted) return;
    if (outcome === 'ready') serve();
    else if (outcome === 'not_live') notLive();
    else unavailable();
  });
  if (answered) pending = null;
}
