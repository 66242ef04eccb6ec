import type { HttpResponse } from 'uWebSockets.js';
import type { ParkedWait, WaitOutcome } from '../store/segment-store.js';
import type { CorsPolicy } from './cors.js';
import { notFound, originUnavailable, RETRY_AFTER, sendProblem, tooLate } from './http-problem.js';
import type { RequestContext } from '../../http/uws-helpers.js';

/** What a request can be held for: an LL-HLS blocking playlist reload, a part named by a preload hint, the segment in progress, the first MPEG-TS segment. */
export type HeldKind = 'playlist' | 'part' | 'segment' | 'ts';

/** Where a held request whose wait ran out is counted (nova_streaming_held_requests_timed_out_total). */
export interface HoldTimeouts {
  heldTooLong(kind: HeldKind): void;
}

/** What a held request is told when its wait fails, and where a timeout is counted. */
export interface HoldMessages {
  kind: HeldKind;
  timeouts: HoldTimeouts;
  /** the wait timed out: answered 503 + Retry-After */
  late: string;
  /** what it waited for went away (the stream, or its rendition): answered 404 */
  gone: string;
  /** the stream waited on: named in the 503 when its origin is lost (an edge's replica) */
  streamId: string;
}

/** Parks a wait on the store and returns it, or null when nothing needs waiting for (see SegmentStore.waitFor). */
export type ParkOnStore = (onDone: (outcome: WaitOutcome) => void) => ParkedWait | null;

/**
 * Holds a request on a segment-store wait, then runs `respond` (at once when
 * `park` finds nothing to wait for; also when the stream ended meanwhile, so
 * the response says what there is). Late: 503 + Retry-After (RFC 8216bis
 * 6.2.5.2: a server that cannot deliver in time answers 503 rather than an old
 * playlist); gone: 404; an edge's replica whose origin is lost: 503. The request's own onAborted replaces captureRequest's
 * so the wait is cancelled (and the parked gauge kept honest) when the client
 * goes away. Used by LL-HLS blocking reloads, preload-hint parts and the wait
 * for on-demand MPEG-TS.
 */
export function holdRequest(res: HttpResponse, ctx: RequestContext, cors: CorsPolicy, park: ParkOnStore, messages: HoldMessages, respond: () => void): void {
  let wait: ParkedWait | null = null;
  wait = park((outcome) => {
    wait = null;
    if (ctx.aborted) return;
    if (outcome === 'timeout') {
      messages.timeouts.heldTooLong(messages.kind);
      sendProblem(res, ctx, cors, tooLate(messages.late), RETRY_AFTER);
    } else if (outcome === 'gone') sendProblem(res, ctx, cors, notFound(messages.gone));
    else if (outcome === 'unavailable') sendProblem(res, ctx, cors, originUnavailable(messages.streamId), RETRY_AFTER);
    else respond();
  });
  if (wait === null) {
    respond();
    return;
  }
  res.onAborted(() => {
    ctx.aborted = true;
    if (wait) wait.cancel();
  });
}
