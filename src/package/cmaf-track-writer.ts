/**
 * Turns the queued samples of one CMAF track into parts (moof+mdat) and
 * segments; a segment is exactly its parts back to back. With segment bytes
 * on, each part is written once into the segment's buffer and the part and,
 * at the end, the segment are copied out into their own ArrayBuffers
 * (transferable); with them off, each part is written straight into its own
 * buffer (allocatePart's) and the segment goes out with empty bytes (its
 * parts are its body).
 */
import type { PackagedMediaSink, PackagedSegment, PartInfo } from './packaged-media.js';
import type { CmafTrack } from './fmp4/cmaf-track.js';
import { fragmentSize, writeFragment, type FragmentSamples } from './fmp4/fragment.js';
import { SampleQueue } from './sample-queue.js';
import type { TrackKind } from '../stream/media-frame.js';

function allocateFreshPart(size: number): Uint8Array {
  return new Uint8Array(size);
}

export interface CmafTrackCounters {
  parts: number;
  segments: number;
}

export class CmafTrackWriter {
  readonly kind: TrackKind;
  track: CmafTrack | null = null;
  readonly queue = new SampleQueue();
  /** samples [0, committed) of the queue are placed in the open part (audio waits; video commits at once) */
  committed = 0;
  /** decode time of the newest queued sample, -1 before the first */
  lastDecodeTime = -1;
  /** duration of the sample before the newest one: the estimate for a last sample */
  lastDuration = 0;
  /** msn of the open segment, -1 when none is open */
  msn = -1;
  /** pts (ms) of the sample the open segment started with */
  segmentFirstPts = 0;
  /** flag the next opened segment as following a discontinuity */
  nextDiscontinuity = false;
  /** write parts and segments (false: only keep time, for a TS-only rendition) */
  emit = true;
  /** segments carry their own copy of their parts' bytes (see SegmenterOptions.cmafSegmentBytes) */
  segmentBytes = true;
  /** where a part is written when segments do not carry their own bytes (see SegmenterOptions.allocatePart) */
  allocatePart: (size: number) => Uint8Array = allocateFreshPart;

  private readonly rendition: string;
  private readonly sink: PackagedMediaSink;
  private readonly counters: CmafTrackCounters;
  private readonly view: FragmentSamples;
  private segmentDiscontinuity = false;
  private segmentStartPts = Infinity;
  private segmentBaseDecodeTime = -1;
  private segmentTicks = 0;
  private parts: PartInfo[] = [];
  /** where parts are written back to back when segments carry their own bytes; grows, never shrinks */
  private segmentBuffer = new Uint8Array(0);
  private segmentLength = 0;
  private fragmentSequence = 0;

  constructor(kind: TrackKind, rendition: string, sink: PackagedMediaSink, counters: CmafTrackCounters) {
    this.kind = kind;
    this.rendition = rendition;
    this.sink = sink;
    this.counters = counters;
    const queue = this.queue;
    this.view = {
      count: 0,
      baseMediaDecodeTime: 0,
      durations: queue.durations,
      sizes: queue.sizes,
      compositionOffsets: queue.compositionOffsets,
      keyframes: queue.keyframes,
      payload: queue.payload,
    };
  }

  /** Copies one frame into the queue; decode time and composition offset are in the track timescale. */
  push(dtsMs: number, ptsMs: number, decodeTime: number, compositionOffset: number, keyframe: boolean, data: Uint8Array): void {
    if (this.lastDecodeTime >= 0) this.lastDuration = decodeTime - this.lastDecodeTime;
    this.lastDecodeTime = decodeTime;
    this.queue.push(dtsMs, ptsMs, decodeTime, compositionOffset, keyframe, data);
  }

  /** Where the newest sample would end, estimating its duration from the one before. */
  estimatedEnd(nominalDuration: number): number {
    return this.lastDecodeTime + (this.lastDuration > 0 ? this.lastDuration : nominalDuration);
  }

  /** Ticks since the start of the open part up to `decodeTime`. */
  partTicksUntil(decodeTime: number): number {
    return this.queue.count > 0 ? decodeTime - this.queue.decodeTime[0] : 0;
  }

  get hasOpenSegment(): boolean {
    return this.msn >= 0;
  }

  openSegment(msn: number, firstPtsMs: number): void {
    this.msn = msn;
    this.segmentFirstPts = firstPtsMs;
    this.segmentDiscontinuity = this.nextDiscontinuity;
    this.nextDiscontinuity = false;
  }

  /** Writes the first `n` queued samples as one part; the last one ends at `endDecodeTime`. */
  flushPart(n: number, endDecodeTime: number): void {
    const queue = this.queue;
    const track = this.track;
    if (n <= 0 || track === null) return;
    const decodeTime = queue.decodeTime;
    const durations = queue.durations;
    for (let i = 0; i < n - 1; i++) durations[i] = decodeTime[i + 1] - decodeTime[i];
    const lastDuration = endDecodeTime - decodeTime[n - 1];
    durations[n - 1] = lastDuration > 0 ? lastDuration : 0;
    const partTicks = decodeTime[n - 1] + durations[n - 1] - decodeTime[0];

    let startPts = this.segmentStartPts;
    for (let i = 0; i < n; i++) if (queue.pts[i] < startPts) startPts = queue.pts[i];
    this.segmentStartPts = startPts;
    if (this.segmentBaseDecodeTime < 0) this.segmentBaseDecodeTime = decodeTime[0];
    this.segmentTicks += partTicks;

    const part: PartInfo = {
      index: this.parts.length,
      duration: partTicks / track.timescale,
      independent: this.kind === 'audio' || queue.keyframes[0] === 1,
    };
    this.parts.push(part);
    this.counters.parts++;

    if (this.emit) {
      const view = this.view;
      view.count = n;
      view.baseMediaDecodeTime = decodeTime[0];
      // the queue may have grown (reallocated) since the last part
      view.durations = durations;
      view.sizes = queue.sizes;
      view.compositionOffsets = queue.compositionOffsets;
      view.keyframes = queue.keyframes;
      view.payload = queue.payload;
      const size = fragmentSize(track, view);
      let bytes: Uint8Array;
      if (this.segmentBytes) {
        this.ensureSegmentCapacity(this.segmentLength + size);
        const start = this.segmentLength;
        this.segmentLength = writeFragment(this.segmentBuffer, start, ++this.fragmentSequence, track, view);
        bytes = this.segmentBuffer.slice(start, this.segmentLength);
      } else {
        bytes = this.allocatePart(size);
        writeFragment(bytes, 0, ++this.fragmentSequence, track, view);
      }
      this.sink({
        kind: 'part',
        rendition: this.rendition,
        track: this.kind,
        msn: this.msn,
        part,
        bytes,
        ...(this.segmentDiscontinuity ? { discontinuity: true } : {}),
      });
    }

    queue.dropFront(n);
    this.committed = this.committed > n ? this.committed - n : 0;
  }

  /**
   * Ends the open segment (its parts must already be flushed) and emits it.
   * Returns it, or null when it held no samples (nothing is emitted then).
   */
  closeSegment(anchorWallClock: number, anchorPts: number): PackagedSegment | null {
    const track = this.track;
    let segment: PackagedSegment | null = null;
    if (this.parts.length > 0 && track !== null) {
      segment = {
        kind: 'segment',
        rendition: this.rendition,
        track: this.kind,
        msn: this.msn,
        duration: this.segmentTicks / track.timescale,
        baseMediaDecodeTime: this.segmentBaseDecodeTime,
        startPts: this.segmentStartPts,
        programDateTime: anchorWallClock + (this.segmentStartPts - anchorPts),
        discontinuity: this.segmentDiscontinuity,
        parts: this.parts,
        bytes: this.emit && this.segmentBytes ? this.segmentBuffer.slice(0, this.segmentLength) : new Uint8Array(0),
      };
      this.counters.segments++;
      if (this.emit) this.sink(segment);
    } else if (this.segmentDiscontinuity) {
      // nothing went out: the flag still belongs to the next segment
      this.nextDiscontinuity = true;
    }
    this.msn = -1;
    this.parts = [];
    this.segmentLength = 0;
    this.segmentTicks = 0;
    this.segmentBaseDecodeTime = -1;
    this.segmentStartPts = Infinity;
    this.segmentDiscontinuity = false;
    return segment;
  }

  private ensureSegmentCapacity(size: number): void {
    if (size <= this.segmentBuffer.byteLength) return;
    const grown = new Uint8Array(Math.max(size, this.segmentBuffer.byteLength * 2));
    grown.set(this.segmentBuffer.subarray(0, this.segmentLength));
    this.segmentBuffer = grown;
  }
}
