import type { SegmentAlignment } from '../package/segmenter.js';

/** boundaries remembered: at 2 s segments, over two minutes, far more than any encoder latency or restart gap */
const CAPACITY = 64;

/**
 * The source rendition's recent segment starts (msn, keyframe pts, wall
 * clock), as the frame queue announces them. Transcoded renditions come
 * back from FFmpeg later than the source frames went in, so by the time an
 * output keyframe arrives its boundary has been recorded here: each
 * rendition's Segmenter asks whether to cut there and under which msn.
 *
 * A fixed ring of typed arrays: no allocation per boundary.
 */
export class SegmentBoundaries implements SegmentAlignment {
  private readonly msn = new Float64Array(CAPACITY);
  private readonly pts = new Float64Array(CAPACITY);
  private readonly wallClock = new Float64Array(CAPACITY);
  /** number of boundaries ever recorded; the newest is at (count - 1) % CAPACITY */
  private count = 0;

  record(msn: number, pts: number, programDateTime: number): void {
    const at = this.count % CAPACITY;
    this.msn[at] = msn;
    this.pts[at] = pts;
    this.wallClock[at] = programDateTime;
    this.count++;
  }

  get size(): number {
    return Math.min(this.count, CAPACITY);
  }

  msnStartingAt(pts: number, toleranceMs: number): number {
    // newest first: the output asks about recent keyframes
    for (let i = 1; i <= this.size; i++) {
      const at = (this.count - i) % CAPACITY;
      if (Math.abs(this.pts[at] - pts) <= toleranceMs) return this.msn[at];
      if (this.pts[at] < pts - toleranceMs) return -1;
    }
    return -1;
  }

  wallClockAt(pts: number): number {
    // the newest boundary at or before pts; the oldest kept one if pts is older still
    let at = -1;
    for (let i = 1; i <= this.size; i++) {
      at = (this.count - i) % CAPACITY;
      if (this.pts[at] <= pts) break;
    }
    if (at < 0) return Date.now();
    return this.wallClock[at] + (pts - this.pts[at]);
  }
}
