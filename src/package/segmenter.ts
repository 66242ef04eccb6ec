/**
 * Cuts one rendition's frames into CMAF parts and segments (video and audio
 * tracks, one file each) and the muxed MPEG-TS segments of the same msn.
 *
 * Boundaries are led by video: a segment starts at the first keyframe at or
 * after targetDurationMs from the segment start (half a frame of tolerance
 * absorbs ms rounding); audio follows, cut at the first audio frame whose
 * pts >= the keyframe's pts, so both tracks and the TS share msn and time.
 * Audio is held until video has passed it (video dts > audio pts), because
 * only then is it known on which side of a boundary it falls; a stalled
 * video cannot hold audio longer than maxAudioLeadMs. Without video
 * (audio-only), audio cuts by duration.
 *
 * Parts are cut at frame boundaries at ~partTargetMs: a part ends before the
 * frame whose inclusion would overshoot the target by more than half a
 * frame, so parts stay within partTarget ± half a frame.
 */
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../stream/media-frame.js';
import type { PackagedMediaSink, PackagedSegment } from './packaged-media.js';
import { AAC_SAMPLES_PER_FRAME, VIDEO_TIMESCALE, audioCmafTrack, videoCmafTrack } from './fmp4/cmaf-track.js';
import { buildInitSegment } from './fmp4/init-segment.js';
import { CmafTrackWriter } from './cmaf-track-writer.js';
import { TsMuxer } from './mpegts/ts-muxer.js';
import { TsPacketBuffer } from './mpegts/ts-packet-buffer.js';

export interface SegmenterOptions {
  rendition: string;
  /** default 2000 */
  targetDurationMs?: number;
  /** first msn (a worker resuming a stream continues its numbering); default 0 */
  startMsn?: number;
  /** default 200 */
  partTargetMs?: number;
  /** wall clock, epoch ms (injected for tests); default Date.now */
  now?: () => number;
  /** called once per keyframe interval longer than the target, with that interval in ms */
  onLongGop?: (observedMs: number) => void;
  /** how far (ms of queued audio) audio may wait for video before it is placed anyway; default 1000 */
  maxAudioLeadMs?: number;
  /** which outputs to produce; default all. cmafAudio false: audio goes into the TS only (a transcoded rendition shares the source's CMAF audio) */
  outputs?: { cmaf?: boolean; ts?: boolean; cmafAudio?: boolean };
  /**
   * Whether CMAF segments carry their own bytes (default true). A segment is
   * exactly its parts back to back, and every part is emitted before it: a
   * receiver that keeps the parts (the segment store) needs no second copy,
   * so the live pipeline sets false and its segments come with empty bytes.
   * Each part is then written once, straight into its own buffer.
   */
  cmafSegmentBytes?: boolean;
  /**
   * Where a part's bytes are written when segments do not carry their own
   * (cmafSegmentBytes false): a buffer of exactly `size` bytes, which need not
   * be zeroed. Default: a fresh Uint8Array. Live ingest writes into a
   * PartArena shared with the main thread.
   */
  allocatePart?: (size: number) => Uint8Array;
  /**
   * Cut where another rendition cut (the source), with its msn and wall
   * clock, instead of by target duration: what keeps every rendition's
   * segment N at the same presentation time, so players switch cleanly.
   */
  alignTo?: SegmentAlignment;
}

/** The segment starts of the rendition to align with. */
export interface SegmentAlignment {
  /** msn of the segment starting at `pts` (within toleranceMs), or -1 when none starts there */
  msnStartingAt(pts: number, toleranceMs: number): number;
  /** wall clock (epoch ms) of `pts` on that rendition's timeline: EXT-X-PROGRAM-DATE-TIME must agree across renditions */
  wallClockAt(pts: number): number;
}

export interface SegmenterStats {
  framesIn: number;
  bytesIn: number;
  /** frames before a track's config or video before the first keyframe */
  framesDropped: number;
  bytesDropped: number;
  /** keyframe intervals longer than targetDurationMs */
  longGops: number;
  /** audio decode times re-synced to the ms timestamps (drift > 1 frame) */
  audioResyncs: number;
  parts: number;
  segments: number;
  /** TS segments emitted */
  tsSegments: number;
}

/** One TS segment being filled; video and audio may write to it at different times. */
interface TsSegmentInProgress {
  msn: number;
  packets: TsPacketBuffer;
  /** the CMAF segment of this msn that gives the TS its timing (video first) */
  timing: PackagedSegment | null;
  timingFromVideo: boolean;
}

const DEFAULT_TARGET_MS = 2000;
const DEFAULT_PART_TARGET_MS = 200;
const DEFAULT_MAX_AUDIO_LEAD_MS = 1000;
/** With video stalled, audio cuts its own segment after this many targets (memory bound). */
const AUDIO_SELF_CUT_TARGETS = 3;
const NOMINAL_VIDEO_FRAME_TICKS = 3000; // 30 fps, used only when nothing better is known

export class Segmenter implements FrameSink {
  readonly stats: SegmenterStats = {
    framesIn: 0,
    bytesIn: 0,
    framesDropped: 0,
    bytesDropped: 0,
    longGops: 0,
    audioResyncs: 0,
    parts: 0,
    segments: 0,
    tsSegments: 0,
  };

  private readonly sink: PackagedMediaSink;
  private readonly rendition: string;
  private readonly targetMs: number;
  private readonly partTargetMs: number;
  private readonly maxAudioLeadMs: number;
  private readonly now: () => number;
  private readonly onLongGop: ((observedMs: number) => void) | undefined;
  private tsEnabled: boolean;
  /** the first msn muxed into TS (TS turned on mid-stream starts at a segment boundary) */
  private tsFromMsn = 0;
  private readonly alignTo: SegmentAlignment | null;
  /** counts video segments opened; with currentVideoMsn it tells a caller that the frame it just gave opened one */
  videoSegmentsOpened = 0;

  private readonly video: CmafTrackWriter;
  private readonly audio: CmafTrackWriter;
  private videoConfigValue: VideoTrackConfig | null = null;
  private audioConfigValue: AudioTrackConfig | null = null;
  private readonly ts = new TsMuxer();
  private readonly tsSegments: TsSegmentInProgress[] = [];
  private readonly freePacketBuffers: TsPacketBuffer[] = [];
  private lastTsMsn = -1;

  private nextMsn = 0;
  /** video segment starts that audio has not crossed yet: msn and keyframe pts (ms) */
  private readonly boundaryMsn: number[] = [];
  private readonly boundaryPts: number[] = [];
  private videoStarted = false;
  private lastVideoDts = -Infinity;
  private lastKeyframeDts = -1;
  private videoSegmentStartDts = 0;
  private nominalVideoTicks = NOMINAL_VIDEO_FRAME_TICKS;

  private timelineOffsetMs = 0;
  private rebasePending = false;
  private resyncAudio = false;
  private anchored = false;
  private anchorWallClock = 0;
  private anchorPts = 0;

  constructor(options: SegmenterOptions, sink: PackagedMediaSink) {
    this.sink = sink;
    this.nextMsn = options.startMsn ?? 0;
    this.rendition = options.rendition;
    this.targetMs = options.targetDurationMs ?? DEFAULT_TARGET_MS;
    this.partTargetMs = options.partTargetMs ?? DEFAULT_PART_TARGET_MS;
    this.maxAudioLeadMs = options.maxAudioLeadMs ?? DEFAULT_MAX_AUDIO_LEAD_MS;
    this.now = options.now ?? Date.now;
    this.onLongGop = options.onLongGop;
    this.tsEnabled = options.outputs?.ts ?? true;
    this.video = new CmafTrackWriter('video', this.rendition, sink, this.stats);
    this.audio = new CmafTrackWriter('audio', this.rendition, sink, this.stats);
    this.video.emit = options.outputs?.cmaf ?? true;
    this.audio.emit = this.video.emit && (options.outputs?.cmafAudio ?? true);
    this.video.segmentBytes = this.audio.segmentBytes = options.cmafSegmentBytes ?? true;
    if (options.allocatePart) this.video.allocatePart = this.audio.allocatePart = options.allocatePart;
    this.alignTo = options.alignTo ?? null;
  }

  /**
   * Turns the MPEG-TS output on mid-stream (live ingest muxes TS only once a
   * TS client asks: it is a quarter of the packaging work and a second copy
   * of every byte). The first TS segment is the next segment to open: TS
   * segments start with a keyframe like their CMAF ones.
   */
  enableTs(): void {
    if (this.tsEnabled) return;
    this.tsEnabled = true;
    this.tsFromMsn = this.nextMsn;
    if (this.videoConfigValue) this.ts.setVideoConfig(this.videoConfigValue);
    if (this.audioConfigValue) this.ts.setAudioConfig(this.audioConfigValue);
  }

  /** msn of the open video segment, -1 before the first. */
  get currentVideoMsn(): number {
    return this.video.msn;
  }

  /** Wall clock (epoch ms) this segmenter assigns to `pts` (EXT-X-PROGRAM-DATE-TIME); NaN before the first frame. */
  wallClockAt(pts: number): number {
    return this.anchored ? this.anchorWallClock + (pts + this.timelineOffsetMs - this.anchorPts) : Number.NaN;
  }

  videoConfig(config: VideoTrackConfig): void {
    const previous = this.videoConfigValue;
    if (previous && sameBytes(previous.avcC, config.avcC) && previous.width === config.width && previous.height === config.height) return;
    if (previous) this.flush(true);
    const copy: VideoTrackConfig = { ...config, avcC: config.avcC.slice() };
    this.videoConfigValue = copy;
    this.video.track = videoCmafTrack(copy);
    this.nominalVideoTicks = copy.frameRate > 0 ? Math.round(VIDEO_TIMESCALE / copy.frameRate) : NOMINAL_VIDEO_FRAME_TICKS;
    if (this.tsEnabled) this.ts.setVideoConfig(copy);
    if (this.video.emit) {
      this.sink({ kind: 'init', rendition: this.rendition, track: 'video', bytes: buildInitSegment(this.video.track), codecs: copy.codecString, timescale: VIDEO_TIMESCALE });
    }
  }

  audioConfig(config: AudioTrackConfig): void {
    const previous = this.audioConfigValue;
    if (previous && sameBytes(previous.asc, config.asc)) return;
    if (previous) this.flush(true);
    const copy: AudioTrackConfig = { ...config, asc: config.asc.slice() };
    this.audioConfigValue = copy;
    this.audio.track = audioCmafTrack(copy);
    if (this.tsEnabled) this.ts.setAudioConfig(copy);
    if (this.audio.emit) {
      this.sink({ kind: 'init', rendition: this.rendition, track: 'audio', bytes: buildInitSegment(this.audio.track), codecs: copy.codecString, timescale: copy.sampleRate });
    }
  }

  metadata(_meta: StreamMetadata): void {
    // Timing comes from the frames; the frame rate already arrives in VideoTrackConfig.
  }

  frame(frame: MediaFrame): void {
    const stats = this.stats;
    stats.framesIn++;
    stats.bytesIn += frame.data.byteLength;
    const isVideo = frame.track === 'video';
    if (
      (isVideo ? this.video.track : this.audio.track) === null ||
      (isVideo && !this.videoStarted && (!frame.keyframe || (this.alignTo !== null && this.alignTo.msnStartingAt(frame.pts, 1) < 0)))
    ) {
      stats.framesDropped++;
      stats.bytesDropped += frame.data.byteLength;
      return;
    }
    if (this.rebasePending) this.rebase(frame.dts);
    const dts = frame.dts + this.timelineOffsetMs;
    const pts = frame.pts + this.timelineOffsetMs;
    if (!this.anchored) {
      this.anchored = true;
      this.anchorWallClock = this.alignTo !== null ? this.alignTo.wallClockAt(pts) : this.now();
      this.anchorPts = pts;
    }
    if (isVideo) this.videoFrame(dts, pts, frame.keyframe, frame.data);
    else this.audioFrame(dts, pts, frame.data);
  }

  /**
   * The publisher reconnected on the same key: close what is open, flag the
   * next segments, and keep timestamps monotonic downstream by shifting the
   * new publish's timeline to continue where the old one ended (when this
   * instance saw the old one; a fresh instance resuming a stream gets
   * startMsn and an already continued timeline, and only the flag applies).
   */
  discontinuity(): void {
    this.flush(true);
    this.rebasePending = true;
  }

  /** The stream ended: emit the last partial part and segment of every track. */
  end(): void {
    this.flush(false);
  }

  private videoFrame(dts: number, pts: number, keyframe: boolean, data: Uint8Array): void {
    const video = this.video;
    let decodeTime = Math.round(dts * 90);
    if (video.lastDecodeTime >= 0 && decodeTime <= video.lastDecodeTime) decodeTime = video.lastDecodeTime + 1;
    this.lastVideoDts = dts;
    if (this.audio.queue.count > this.audio.committed) this.commitAudio(false);

    if (!this.videoStarted) {
      this.videoStarted = true;
      if (this.alignTo !== null) this.nextMsn = this.alignTo.msnStartingAt(pts, 1);
      this.openVideoSegment(dts, pts);
    } else if (video.queue.count > 0) {
      const frameTicks = decodeTime - video.lastDecodeTime;
      const halfFrameMs = frameTicks / 180;
      let newSegment = false;
      if (keyframe) {
        if (this.lastKeyframeDts >= 0 && dts - this.lastKeyframeDts > this.targetMs + halfFrameMs) {
          const interval = dts - this.lastKeyframeDts;
          this.stats.longGops++;
          if (this.onLongGop) this.onLongGop(interval);
        }
        if (this.alignTo === null) {
          newSegment = dts - this.videoSegmentStartDts + halfFrameMs >= this.targetMs;
        } else {
          const msn = this.alignTo.msnStartingAt(pts, Math.max(1, halfFrameMs));
          newSegment = msn > video.msn;
          if (newSegment) {
            // A skipped msn (frames dropped upstream): say so, since players assume msn are consecutive in time.
            if (msn > video.msn + 1) video.nextDiscontinuity = this.audio.nextDiscontinuity = true;
            this.nextMsn = msn;
          }
        }
      }
      if (newSegment) {
        video.flushPart(video.queue.count, decodeTime);
        this.closeVideoSegment();
        this.openVideoSegment(dts, pts);
      } else if (video.partTicksUntil(decodeTime) + frameTicks / 2 > this.partTargetMs * 90) {
        video.flushPart(video.queue.count, decodeTime);
      }
    }
    if (keyframe) this.lastKeyframeDts = dts;

    const compositionOffset = Math.round(pts * 90) - decodeTime;
    video.push(dts, pts, decodeTime, compositionOffset, keyframe, data);
    video.committed = video.queue.count;
    if (this.tsEnabled) {
      const target = this.tsSegmentFor(video.msn);
      if (target) this.ts.writeVideo(target.packets, data, decodeTime, decodeTime + compositionOffset, keyframe);
    }
  }

  private audioFrame(dts: number, pts: number, data: Uint8Array): void {
    const audio = this.audio;
    const sampleRate = this.audioConfigValue!.sampleRate;
    const fromTimestamp = Math.round((pts * sampleRate) / 1000);
    let decodeTime: number;
    if (audio.lastDecodeTime < 0) {
      decodeTime = fromTimestamp;
    } else {
      // Sample counting is exact where ms timestamps are not; follow the timestamps only on real drift or a reconnect.
      const counted = audio.lastDecodeTime + AAC_SAMPLES_PER_FRAME;
      if (this.resyncAudio || Math.abs(fromTimestamp - counted) > AAC_SAMPLES_PER_FRAME) {
        if (!this.resyncAudio) this.stats.audioResyncs++;
        decodeTime = fromTimestamp > audio.lastDecodeTime ? fromTimestamp : audio.lastDecodeTime + 1;
      } else {
        decodeTime = counted;
      }
    }
    this.resyncAudio = false;
    audio.push(dts, pts, decodeTime, 0, true, data);
    this.commitAudio(false);
  }

  /** Places waiting audio frames into parts/segments once their side of every boundary is known. */
  private commitAudio(force: boolean): void {
    const audio = this.audio;
    const queue = audio.queue;
    const videoLeads = this.video.track !== null;
    const timescale = this.audioTimescale;
    while (audio.committed < queue.count) {
      const index = audio.committed;
      const pts = queue.pts[index];
      if (!force && videoLeads && !(pts < this.lastVideoDts) && queue.pts[queue.count - 1] - pts <= this.maxAudioLeadMs) break;

      let crossedMsn = -1;
      while (this.boundaryPts.length > 0 && this.boundaryPts[0] <= pts) {
        crossedMsn = this.boundaryMsn.shift()!;
        this.boundaryPts.shift();
      }
      const frameTicks = this.audioFrameTicks;
      const halfFrameMs = (frameTicks * 500) / timescale;
      // A boundary behind audio's own msn (audio self-cut past it while video stalled) must not reopen an older msn.
      if (crossedMsn > audio.msn) {
        this.closeAudioSegment(queue.decodeTime[index]);
        this.openAudioSegment(crossedMsn, pts);
      } else if (!audio.hasOpenSegment) {
        this.openAudioSegment(this.boundaryMsn.length > 0 ? this.boundaryMsn[0] : this.nextMsn++, pts);
      } else if (
        videoLeads
          ? pts - audio.segmentFirstPts > AUDIO_SELF_CUT_TARGETS * this.targetMs
          : pts - audio.segmentFirstPts + halfFrameMs >= this.targetMs
      ) {
        this.closeAudioSegment(queue.decodeTime[index]);
        this.openAudioSegment(this.nextMsn++, pts);
      } else if (this.audioPartFull(index, frameTicks, timescale)) {
        audio.flushPart(index, queue.decodeTime[index]);
      }

      const at = audio.committed; // 0 after a flush
      if (this.tsEnabled) {
        const target = this.tsSegmentFor(audio.msn);
        if (target) {
          const offset = queue.offsets[at];
          this.ts.writeAudio(target.packets, queue.payload.subarray(offset, offset + queue.sizes[at]), (queue.decodeTime[at] * 90_000) / timescale);
        }
      }
      audio.committed = at + 1;
    }
  }

  private get audioTimescale(): number {
    return this.audioConfigValue ? this.audioConfigValue.sampleRate : 48_000;
  }

  /** the duration of the audio frame last queued, or an AAC frame's before there is one */
  private get audioFrameTicks(): number {
    return this.audio.lastDuration > 0 ? this.audio.lastDuration : AAC_SAMPLES_PER_FRAME;
  }

  /** Whether the queued audio frame at `index` starts a new part: the open one has reached its target. */
  private audioPartFull(index: number, frameTicks: number, timescale: number): boolean {
    return index > 0 && this.audio.partTicksUntil(this.audio.queue.decodeTime[index]) + frameTicks / 2 > (this.partTargetMs * timescale) / 1000;
  }

  /**
   * Whether the audio track's next part can be out with the next frames to arrive: video has
   * opened a segment that audio has not reached (audio's side of that boundary closes as soon
   * as an audio frame past it and a video frame past that are in), or the next audio frame in
   * line completes a part and waits, as audio does, only on a video frame past it.
   */
  get audioCutPending(): boolean {
    const audio = this.audio;
    if (this.video.track === null) return false;
    if (this.boundaryPts.length > 0) return true;
    return audio.committed < audio.queue.count && this.audioPartFull(audio.committed, this.audioFrameTicks, this.audioTimescale);
  }

  private openVideoSegment(dts: number, pts: number): void {
    const msn = this.nextMsn++;
    this.videoSegmentsOpened++;
    this.video.openSegment(msn, pts);
    this.videoSegmentStartDts = dts;
    if (this.audio.track !== null) {
      this.boundaryMsn.push(msn);
      this.boundaryPts.push(pts);
    }
  }

  private closeVideoSegment(): void {
    const segment = this.video.closeSegment(this.anchorWallClock, this.anchorPts);
    if (segment) this.setTsTiming(segment, true);
    this.emitCompleteTsSegments(false);
  }

  private openAudioSegment(msn: number, pts: number): void {
    this.audio.openSegment(msn, pts);
  }

  private closeAudioSegment(endDecodeTime: number): void {
    const audio = this.audio;
    if (audio.committed > 0) audio.flushPart(audio.committed, endDecodeTime);
    const segment = audio.closeSegment(this.anchorWallClock, this.anchorPts);
    if (segment) this.setTsTiming(segment, false);
    this.emitCompleteTsSegments(false);
  }

  /** Closes everything open (end of stream or a break in it). */
  private flush(discontinuity: boolean): void {
    const video = this.video;
    const audio = this.audio;
    this.commitAudio(true);
    if (video.queue.count > 0) video.flushPart(video.queue.count, video.estimatedEnd(this.nominalVideoTicks));
    if (video.hasOpenSegment) this.closeVideoSegment();
    if (audio.hasOpenSegment) this.closeAudioSegment(audio.estimatedEnd(AAC_SAMPLES_PER_FRAME));
    this.emitCompleteTsSegments(true);
    this.boundaryMsn.length = 0;
    this.boundaryPts.length = 0;
    this.videoStarted = false;
    this.lastVideoDts = -Infinity;
    this.lastKeyframeDts = -1;
    if (discontinuity) {
      video.nextDiscontinuity = true;
      audio.nextDiscontinuity = true;
      this.anchored = false;
      this.resyncAudio = true;
    }
  }

  /** Shifts the new publish so its first frame lands no earlier than where the previous one ended. */
  private rebase(firstDts: number): void {
    this.rebasePending = false;
    let endMs = -Infinity;
    if (this.video.lastDecodeTime >= 0) endMs = this.video.estimatedEnd(this.nominalVideoTicks) / 90;
    if (this.audio.lastDecodeTime >= 0 && this.audioConfigValue) {
      endMs = Math.max(endMs, (this.audio.estimatedEnd(AAC_SAMPLES_PER_FRAME) * 1000) / this.audioConfigValue.sampleRate);
    }
    if (firstDts + this.timelineOffsetMs < endMs) this.timelineOffsetMs = Math.ceil(endMs - firstDts);
  }

  private tsSegmentFor(msn: number): TsSegmentInProgress | null {
    if (msn < this.tsFromMsn) return null;
    const list = this.tsSegments;
    for (let i = 0; i < list.length; i++) if (list[i].msn === msn) return list[i];
    if (msn <= this.lastTsMsn) {
      // Late audio for a TS segment already sent (its video ran two segments ahead): ride in the newest open one.
      return list.length > 0 ? list[list.length - 1] : null;
    }
    const packets = this.freePacketBuffers.pop() ?? new TsPacketBuffer();
    this.ts.writeTables(packets);
    const created: TsSegmentInProgress = { msn, packets, timing: null, timingFromVideo: false };
    let at = list.length;
    while (at > 0 && list[at - 1].msn > msn) at--;
    list.splice(at, 0, created);
    return created;
  }

  private setTsTiming(segment: PackagedSegment, fromVideo: boolean): void {
    if (!this.tsEnabled) return;
    for (const pending of this.tsSegments) {
      if (pending.msn === segment.msn && (fromVideo || !pending.timingFromVideo)) {
        pending.timing = segment;
        pending.timingFromVideo = fromVideo;
      }
    }
  }

  /**
   * A TS segment is complete when no track can still write to it: video has
   * moved past it, and audio has too (or has nothing queued, or video is two
   * segments further, which bounds the wait on a stalled audio track).
   */
  private emitCompleteTsSegments(force: boolean): void {
    const list = this.tsSegments;
    const video = this.video;
    const audio = this.audio;
    while (list.length > 0) {
      const pending = list[0];
      if (!force) {
        if (video.msn === pending.msn) return;
        const audioMayWrite = audio.track !== null && (audio.msn === -1 ? audio.queue.count > 0 : audio.msn <= pending.msn);
        const videoFarAhead = video.msn > pending.msn + 1;
        if (audioMayWrite && !videoFarAhead) return;
      }
      list.shift();
      this.lastTsMsn = Math.max(this.lastTsMsn, pending.msn);
      const timing = pending.timing;
      if (timing !== null) {
        this.stats.tsSegments++;
        this.sink({
          kind: 'segment',
          rendition: this.rendition,
          track: 'ts',
          msn: pending.msn,
          duration: timing.duration,
          baseMediaDecodeTime: pending.timingFromVideo ? timing.baseMediaDecodeTime : Math.round(timing.startPts * 90),
          startPts: timing.startPts,
          programDateTime: timing.programDateTime,
          discontinuity: timing.discontinuity,
          parts: [],
          bytes: pending.packets.take(),
        });
      } else {
        pending.packets.take();
      }
      this.freePacketBuffers.push(pending.packets);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
