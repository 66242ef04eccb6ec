import type { TrackKind } from './media-frame.js';

/**
 * Turns FLV/RTMP timestamps (uint32 ms, shared clock for audio and video)
 * into the monotonic per-stream timeline of the media model.
 *
 * Decisions, in order of application for each timestamp:
 * 1. Unwrap: the raw clock wraps at 2^32 ms (~49.7 days). The step from the
 *    previous raw timestamp (of either track) is taken modulo 2^32 as a
 *    signed value, so a wrap continues forward, and interleaved A/V that
 *    straddles the wrap still unwraps correctly in both directions.
 * 2. Jumps: per track, a step larger than `maxForwardGapMs` forward or
 *    `maxBackwardGapMs` backward (publisher restart, encoder clock reset,
 *    a relay splicing sources) re-bases: a new offset makes this timestamp
 *    land at max over tracks of (last output + expected frame duration), so
 *    neither track goes backwards. The offset is shared by both tracks, so
 *    A/V sync survives: the other track's next timestamp moves by the same amount.
 * 3. Repeats: within one track DTS must strictly increase, for audio and
 *    video alike (packagers derive sample durations from the differences,
 *    and a zero duration breaks fMP4 trun and players). A repeat or a small
 *    step backwards (within `maxBackwardGapMs`) is nudged to last + 1 ms and
 *    counted as a repeat; the following timestamps are not shifted.
 * Equal timestamps across the two tracks are normal and untouched.
 */
export interface TimestampRepairOptions {
  /** forward step per track that counts as a discontinuity (default 5000 ms) */
  maxForwardGapMs?: number;
  /** backward step per track beyond which we re-base instead of nudging (default 500 ms) */
  maxBackwardGapMs?: number;
  /** expected frame durations until measured (defaults 33 ms video, 23 ms audio) */
  videoFrameMs?: number;
  audioFrameMs?: number;
}

export interface TimestampRepairCounters {
  wraps: number;
  backwardJumps: number;
  forwardJumps: number;
  repeats: number;
}

const TWO_POW_32 = 2 ** 32;
const TWO_POW_31 = 2 ** 31;
const VIDEO = 0;
const AUDIO = 1;
/** a measured frame duration outside this is not a frame duration (gap, burst) */
const MAX_PLAUSIBLE_FRAME_MS = 1000;

export class TimestampRepair {
  readonly counters: TimestampRepairCounters = { wraps: 0, backwardJumps: 0, forwardJumps: 0, repeats: 0 };
  private readonly maxForwardGapMs: number;
  private readonly maxBackwardGapMs: number;
  private lastRaw = -1;
  private lastUnwrapped = 0;
  private offset = 0;
  /** indexed by VIDEO / AUDIO; NaN until the track's first timestamp */
  private readonly lastOutput = new Float64Array([NaN, NaN]);
  private readonly frameMs = new Float64Array(2);

  constructor(options: TimestampRepairOptions = {}) {
    this.maxForwardGapMs = options.maxForwardGapMs ?? 5000;
    this.maxBackwardGapMs = options.maxBackwardGapMs ?? 500;
    this.frameMs[VIDEO] = options.videoFrameMs ?? 33;
    this.frameMs[AUDIO] = options.audioFrameMs ?? 23;
  }

  /** Expected duration of one frame of the track (from frame rate / sample rate), used when re-basing. */
  setFrameDuration(track: TrackKind, ms: number): void {
    if (ms > 0 && ms <= MAX_PLAUSIBLE_FRAME_MS) this.frameMs[track === 'video' ? VIDEO : AUDIO] = ms;
  }

  /** Last timestamp emitted for the track, NaN before the first. */
  lastTimestamp(track: TrackKind): number {
    return this.lastOutput[track === 'video' ? VIDEO : AUDIO];
  }

  /** Maps one raw FLV timestamp (uint32 ms) of a track to the repaired timeline. */
  repair(track: TrackKind, rawTimestamp: number): number {
    const raw = rawTimestamp >>> 0;
    let wrapped = false;
    if (this.lastRaw < 0) {
      this.lastUnwrapped = raw;
    } else {
      let step = raw - this.lastRaw;
      if (step >= TWO_POW_31) step -= TWO_POW_32;
      else if (step < -TWO_POW_31) step += TWO_POW_32;
      wrapped = raw < this.lastRaw && step > 0;
      this.lastUnwrapped += step;
    }
    this.lastRaw = raw;

    const index = track === 'video' ? VIDEO : AUDIO;
    const candidate = this.lastUnwrapped + this.offset;
    const last = this.lastOutput[index];
    if (last !== last) {
      // first timestamp of this track (NaN check without a call)
      this.lastOutput[index] = candidate;
      if (wrapped) this.counters.wraps++;
      return candidate;
    }
    const gap = candidate - last;
    let output: number;
    if (gap > this.maxForwardGapMs) {
      this.counters.forwardJumps++;
      output = this.rebase(index);
    } else if (gap < -this.maxBackwardGapMs) {
      this.counters.backwardJumps++;
      output = this.rebase(index);
    } else if (gap <= 0) {
      this.counters.repeats++;
      output = last + 1;
      if (wrapped) this.counters.wraps++;
    } else {
      output = candidate;
      this.frameMs[index] = gap <= MAX_PLAUSIBLE_FRAME_MS ? gap : this.frameMs[index];
      if (wrapped) this.counters.wraps++;
    }
    this.lastOutput[index] = output;
    return output;
  }

  private rebase(index: number): number {
    let target = this.lastOutput[index] + this.frameMs[index];
    const other = index === VIDEO ? AUDIO : VIDEO;
    const otherLast = this.lastOutput[other];
    if (otherLast === otherLast && otherLast + this.frameMs[other] > target) {
      target = otherLast + this.frameMs[other];
    }
    target = Math.round(target); // the timeline is integer ms even when a frame is 23.22 ms
    this.offset = target - this.lastUnwrapped;
    return target;
  }
}
