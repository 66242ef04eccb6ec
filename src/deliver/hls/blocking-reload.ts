import type { TrackStore } from '../store/segment-store.js';

/**
 * LL-HLS blocking playlist reload (RFC 8216bis 6.2.5.2): the query
 * `_HLS_msn=N[&_HLS_part=M]` asks the server to hold the playlist until it
 * contains segment N (or part M of N) or later.
 */

export type BlockingReload =
  | { kind: 'none' }
  | { kind: 'wait'; msn: number; part: number /* -1: whole segment */ }
  | { kind: 'bad'; reason: string };

const NONE: BlockingReload = { kind: 'none' };
const DECIMAL = /^\d{1,15}$/;

export function parseBlockingReload(params: URLSearchParams): BlockingReload {
  const msnText = params.get('_HLS_msn');
  const partText = params.get('_HLS_part');
  if (msnText === null) {
    return partText === null ? NONE : { kind: 'bad', reason: '_HLS_part requires _HLS_msn' };
  }
  if (!DECIMAL.test(msnText)) return { kind: 'bad', reason: '_HLS_msn must be a decimal integer' };
  if (partText !== null && !DECIMAL.test(partText)) return { kind: 'bad', reason: '_HLS_part must be a decimal integer' };
  return { kind: 'wait', msn: Number(msnText), part: partText === null ? -1 : Number(partText) };
}

/**
 * Spec: a request for msn beyond the last segment + 2 SHOULD get 400 at
 * once (it could only be satisfied after more than a target duration of
 * future media). gohlslib: msn > next segment + 1, the same bound.
 */
export function blockingMsnOutOfRange(track: TrackStore, msn: number): boolean {
  const last = track.lastSegment();
  const lastMsn = last ? last.msn : -1;
  return msn > lastMsn + 2;
}
