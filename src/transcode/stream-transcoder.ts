import type { RenditionInfo } from '../package/rendition-info.js';
import type { Logger } from '../log.js';
import type { PackagedMedia } from '../package/packaged-media.js';
import { Segmenter } from '../package/segmenter.js';
import type { FrameQueueSink } from '../stream/frame-queue.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../stream/media-frame.js';
import type { EncoderName } from './encoder-flags.js';
import type { EncodeOptions, ThumbnailSpec } from './ffmpeg-command.js';
import type { LadderRung, PlannedRendition } from './ladder.js';
import { SegmentBoundaries } from './segment-boundaries.js';
import { DEFAULT_PART_ARENA_LIMITS, PartArenaWriter } from '../stream/part-arena.js';
import { mediaMessageOf, mediaTransferList } from '../package/media-message.js';
import type { TranscodeStats, TranscodeToMain } from './transcode-messages.js';
import { TranscodeSupervisor, type RestartBackoff } from './transcode-supervisor.js';

export interface StreamTranscoderOptions {
  streamId: string;
  ffmpegPath: string;
  encoder: EncoderName;
  ladder: readonly LadderRung[];
  encode?: Partial<EncodeOptions>;
  targetDurationMs: number;
  partTargetMs: number;
  stallTimeoutMs?: number;
  maxLagMs?: number;
  backoff?: Partial<RestartBackoff>;
  /** figures to the main thread this often (1000) */
  statsIntervalMs?: number;
  /** a JPEG every interval from the ladder's FFmpeg, sent as a 'thumbnail' message; absent: none */
  thumbnail?: ThumbnailSpec;
  emit(message: TranscodeToMain, transfer?: ArrayBuffer[]): void;
  logger?: Logger;
}

/** audio frames kept for the renditions to catch up with: ~21 s of 48 kHz AAC, more than any lag the supervisor allows */
const AUDIO_CAPACITY = 1024;
/** audio in a rendition may wait this long for its video (FFmpeg's latency plus the lag bound) before being placed anyway */
const RENDITION_MAX_AUDIO_LEAD_MS = 10_000;
/** what a variant's audio is assumed to add to BANDWIDTH before segments are measured */
const AUDIO_BANDWIDTH_ESTIMATE = 128_000;

/**
 * The source's audio frames, kept until every transcoded rendition has
 * used them. Audio is not transcoded: the renditions' CMAF share the
 * source's audio track, but each rendition's MPEG-TS muxes audio in, and
 * that audio has to reach its Segmenter in step with the rendition's video,
 * which comes out of FFmpeg a little later than the source went in.
 */
class AudioBacklog {
  readonly dts = new Float64Array(AUDIO_CAPACITY);
  readonly pts = new Float64Array(AUDIO_CAPACITY);
  readonly data: Uint8Array[] = new Array<Uint8Array>(AUDIO_CAPACITY);
  /** frames ever pushed; frame i lives at i % AUDIO_CAPACITY while i >= count - AUDIO_CAPACITY */
  count = 0;

  push(frame: MediaFrame): void {
    const at = this.count % AUDIO_CAPACITY;
    this.dts[at] = frame.dts;
    this.pts[at] = frame.pts;
    // The frame's bytes are a view into the shared ring, valid only during the call: this is the one copy.
    this.data[at] = frame.data.slice();
    this.count++;
  }

  get oldest(): number {
    return Math.max(0, this.count - AUDIO_CAPACITY);
  }
}

/**
 * One transcoded rendition's packaging: the frames FFmpeg produced for it
 * go through the same Segmenter as the source (CMAF parts and segments,
 * MPEG-TS), cut where the source cut, with the source's msn and wall clock.
 * Replaced by a fresh one at every FFmpeg start; a retired one emits nothing
 * (its process's last frames may still drain after the rendition was withdrawn).
 */
class RenditionPackager implements FrameSink {
  retired = false;
  codecString = '';
  private readonly segmenter: Segmenter;
  private audioCursor: number;
  /** pts of this rendition's first segment: audio before it is not this rendition's */
  private startPts = Number.NaN;
  private readonly sample: MediaFrame = { track: 'audio', dts: 0, pts: 0, keyframe: true, data: new Uint8Array(0) };

  constructor(
    readonly rendition: PlannedRendition,
    private readonly owner: StreamTranscoder,
    private readonly audio: AudioBacklog,
    audioConfig: AudioTrackConfig | null,
    boundaries: SegmentBoundaries,
    targetDurationMs: number,
    partTargetMs: number,
  ) {
    this.audioCursor = audio.oldest;
    this.segmenter = new Segmenter(
      {
        rendition: rendition.name,
        targetDurationMs,
        partTargetMs,
        alignTo: boundaries,
        maxAudioLeadMs: RENDITION_MAX_AUDIO_LEAD_MS,
        outputs: { cmaf: true, ts: true, cmafAudio: false },
        // as the source: the segment store serves CMAF segments from their parts, kept in the stream's part arena
        cmafSegmentBytes: false,
        // a retired packager's parts are never sent: they must not take arena regions nobody will release
        allocatePart: (size) => (this.retired ? new Uint8Array(size) : owner.parts.allocate(size)),
      },
      (media) => {
        if (!this.retired) owner.forwardMedia(media);
      },
    );
    if (audioConfig !== null) this.segmenter.audioConfig(audioConfig);
  }

  setAudioConfig(config: AudioTrackConfig): void {
    this.segmenter.audioConfig(config);
  }

  videoConfig(config: VideoTrackConfig): void {
    if (this.retired) return;
    this.codecString = config.codecString;
    this.segmenter.videoConfig(config);
  }

  audioConfig(_config: AudioTrackConfig): void {
    // FFmpeg's outputs are video-only; the source's audio arrives through the backlog.
  }

  metadata(_meta: StreamMetadata): void {
    // nothing in FFmpeg's onMetaData matters to packaging
  }

  frame(frame: MediaFrame): void {
    if (this.retired) return;
    const segmenter = this.segmenter;
    segmenter.frame(frame);
    if (Number.isNaN(this.startPts)) {
      if (segmenter.videoSegmentsOpened === 0) return;
      this.startPts = frame.pts;
    }
    // Hand over the audio this video has passed: the Segmenter then places it exactly as it does for the source.
    const audio = this.audio;
    if (this.audioCursor < audio.oldest) this.audioCursor = audio.oldest;
    const sample = this.sample;
    while (this.audioCursor < audio.count) {
      const at = this.audioCursor % AUDIO_CAPACITY;
      if (audio.pts[at] >= frame.dts) break;
      this.audioCursor++;
      if (audio.pts[at] < this.startPts) continue;
      sample.dts = audio.dts[at];
      sample.pts = audio.pts[at];
      sample.data = audio.data[at]!;
      segmenter.frame(sample);
    }
  }
}

/**
 * The transcode stage of one live stream, a plain class (the pool task in
 * workers/transcode-stream.worker.ts is a thin adapter around it, tests run
 * it inline): fed by the stream's frame queue, it keeps one FFmpeg making
 * every ladder rendition (TranscodeSupervisor: restart, backoff, stall and
 * lag handling) and packages each rendition's output like the source.
 */
export class StreamTranscoder implements FrameQueueSink {
  private readonly options: StreamTranscoderOptions;
  private readonly supervisor: TranscodeSupervisor;
  private readonly boundaries = new SegmentBoundaries();
  private readonly audio = new AudioBacklog();
  private readonly packagers = new Map<string, RenditionPackager>();
  /** where every rendition's CMAF parts are written for the main thread */
  readonly parts: PartArenaWriter;
  private audioConfigValue: AudioTrackConfig | null = null;
  private frameRate = 0;
  private readonly statsTimer: NodeJS.Timeout;
  private stopping: Promise<void> | null = null;
  private stopped = false;
  private lastPid: number | null = null;

  constructor(options: StreamTranscoderOptions) {
    this.options = options;
    this.parts = new PartArenaWriter(DEFAULT_PART_ARENA_LIMITS, (buffer) => options.emit({ type: 'part_arena', buffer }));
    this.supervisor = new TranscodeSupervisor({
      streamId: options.streamId,
      ffmpegPath: options.ffmpegPath,
      encoder: options.encoder,
      ladder: options.ladder,
      encode: options.encode,
      stallTimeoutMs: options.stallTimeoutMs,
      maxLagMs: options.maxLagMs,
      backoff: options.backoff,
      logger: options.logger,
      sinkFor: (rendition) => this.packagerFor(rendition),
      thumbnail: options.thumbnail,
      onThumbnail: (jpeg) => {
        if (this.stopped) return;
        // the splitter gave the image an ArrayBuffer of its own: moved, not copied
        const buffer = jpeg.buffer as ArrayBuffer;
        options.emit({ type: 'thumbnail', jpeg: buffer }, [buffer]);
      },
      onRenditionsChanged: (renditions) => this.renditionsChanged(renditions),
    });
    this.supervisor.start();
    this.statsTimer = setInterval(() => this.emitStats(), options.statsIntervalMs ?? 1000);
    this.statsTimer.unref();
  }

  /** FFmpeg's PID now (tests kill it to prove recovery), undefined between processes. */
  get pid(): number | undefined {
    return this.supervisor.pid;
  }

  get stats(): TranscodeStats {
    const s = this.supervisor.stats;
    return {
      pid: this.supervisor.pid ?? null,
      speed: s.speed,
      lagMs: s.lagMs,
      restarts: s.restarts,
      stalls: s.stalls,
      processStarts: s.processStarts,
      droppedLag: s.droppedLag,
      droppedQueueFull: s.droppedQueueFull,
      droppedRestart: s.droppedRestart,
    };
  }

  // FrameQueueSink ------------------------------------------------------------

  segmentStart(msn: number, pts: number, programDateTime: number): void {
    this.boundaries.record(msn, pts, programDateTime);
  }

  videoConfig(config: VideoTrackConfig): void {
    this.frameRate = config.frameRate;
    this.supervisor.videoConfig(config);
  }

  audioConfig(config: AudioTrackConfig): void {
    this.audioConfigValue = { ...config, asc: config.asc.slice() };
    for (const packager of this.packagers.values()) packager.setAudioConfig(this.audioConfigValue);
  }

  metadata(_meta: StreamMetadata): void {
    // the avcC in the video config is what the ladder is planned from
  }

  frame(frame: MediaFrame): void {
    if (frame.track === 'video') this.supervisor.frame(frame);
    else if (this.packagers.size > 0) this.audio.push(frame);
  }

  end(_reason: string): void {
    void this.stop();
  }

  // ---------------------------------------------------------------------------

  /** Ends FFmpeg at once (the stream is over: nobody can be served its last frames) and stops reporting. */
  stop(): Promise<void> {
    if (this.stopping === null) {
      this.stopped = true;
      clearInterval(this.statsTimer);
      for (const packager of this.packagers.values()) packager.retired = true;
      this.stopping = this.supervisor.stop({ drainMs: 0 }).then(() => {
        this.parts.close();
        this.emitStats();
      });
    }
    return this.stopping;
  }

  /** Called by a packager: media of a live rendition to the main thread (a part as its arena region, the rest transferred). */
  forwardMedia(media: PackagedMedia): void {
    const message = mediaMessageOf(this.parts, media);
    this.options.emit({ type: 'media', ...message }, mediaTransferList(message));
  }

  private packagerFor(rendition: PlannedRendition): FrameSink {
    const previous = this.packagers.get(rendition.name);
    if (previous !== undefined) previous.retired = true;
    const packager = new RenditionPackager(
      rendition,
      this,
      this.audio,
      this.audioConfigValue,
      this.boundaries,
      this.options.targetDurationMs,
      this.options.partTargetMs,
    );
    this.packagers.set(rendition.name, packager);
    return packager;
  }

  private renditionsChanged(renditions: readonly PlannedRendition[]): void {
    if (this.stopped) return;
    const live: RenditionInfo[] = [];
    for (const rendition of renditions) {
      if (rendition.passthrough) continue;
      const packager = this.packagers.get(rendition.name);
      live.push({
        name: rendition.name,
        width: rendition.width,
        height: rendition.height,
        bandwidth: rendition.bitrateKbps * 1000 + (this.audioConfigValue !== null ? AUDIO_BANDWIDTH_ESTIMATE : 0),
        codecs: [packager?.codecString, this.audioConfigValue?.codecString].filter((c): c is string => !!c).join(','),
        frameRate: this.frameRate,
      });
    }
    if (live.length === 0) {
      // withdrawn (FFmpeg down): whatever its process still drains must not reach viewers
      for (const packager of this.packagers.values()) packager.retired = true;
    }
    this.options.emit({ type: 'renditions', renditions: live });
    this.emitStats();
  }

  private emitStats(): void {
    const stats = this.stats;
    // Nothing to say for a stream that never had a process (audio-only): keep the port quiet.
    if (stats.processStarts === 0 && this.lastPid === null) return;
    this.lastPid = stats.pid;
    this.options.emit({ type: 'stats', stats });
  }
}
