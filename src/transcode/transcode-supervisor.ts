import type { Logger } from '../log.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../stream/media-frame.js';
import type { EncoderName } from './encoder-flags.js';
import { buildTranscodeCommand, type EncodeOptions, type ThumbnailSpec } from './ffmpeg-command.js';
import { DEFAULT_LADDER_SPEC, parseLadderSpec, planLadder, type LadderPlan, type LadderRung, type PlannedRendition } from './ladder.js';
import type { TranscodeDropReason, TranscodeMetrics, TranscodeRestartReason } from './transcode-metrics.js';
import { TranscodeProcess, type TranscodeExit } from './transcode-process.js';

export interface RestartBackoff {
  /** first delay (1 s), doubled per consecutive failure */
  initialMs: number;
  /** cap (30 s) */
  maxMs: number;
  /** a process that has produced output this long resets the doubling (30 s) */
  resetAfterMs: number;
}

export interface TranscodeSupervisorOptions {
  streamId: string;
  ffmpegPath: string;
  encoder: EncoderName;
  /** default DEFAULT_LADDER_SPEC */
  ladder?: readonly LadderRung[];
  encode?: Partial<EncodeOptions>;
  /** the packager input of one transcoded rendition; called for each rendition at each process start */
  sinkFor(rendition: PlannedRendition): FrameSink;
  /** the renditions viewers can have now ("source" first); called when that set changes */
  onRenditionsChanged?(renditions: readonly PlannedRendition[]): void;
  /** also make a JPEG thumbnail every interval from the same decode (absent: none) */
  thumbnail?: ThumbnailSpec;
  /** each thumbnail JPEG (its own buffer) */
  onThumbnail?(jpeg: Uint8Array): void;
  /** no output for this long while input is written → kill and restart (5000) */
  stallTimeoutMs?: number;
  /** encoder backlog (written DTS − output DTS) beyond which input is dropped up to the next keyframe (3000) */
  maxLagMs?: number;
  /** bound on bytes queued for FFmpeg's stdin (8 MiB ≈ 8 s at 8 Mb/s) */
  maxQueuedBytes?: number;
  backoff?: Partial<RestartBackoff>;
  /** supervision tick: stall check, speed and lag gauges (500) */
  tickMs?: number;
  metrics?: TranscodeMetrics;
  logger?: Logger;
}

export interface TranscodeSupervisorStats {
  inputFrames: number;
  writtenFrames: number;
  droppedLag: number;
  droppedQueueFull: number;
  /** frames that arrived while no process was up or before the new process's first keyframe */
  droppedRestart: number;
  restarts: number;
  stalls: number;
  processStarts: number;
  /** written DTS − slowest output DTS, ms, at the last frame */
  lagMs: number;
  /** output media ms per wall ms over the last tick */
  speed: number;
}

const DEFAULT_BACKOFF: RestartBackoff = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 30_000 };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The transcoder of one stream: a FrameSink fed with the source's frames
 * (directly, or by a FrameQueueReader: it also has `end(reason)`), which
 * keeps one FFmpeg producing every ladder rendition and delivers each
 * rendition's frames to `sinkFor(rendition)`.
 *
 * - The process starts at the first video config; a different avcC
 *   (resolution change) replaces it. Audio is not transcoded (shared).
 * - Never blocks the caller: frames go into a byte-bounded stdin queue.
 * - Encoder behind (backlog > maxLagMs) or queue full: input is dropped up
 *   to the next keyframe where the backlog is back under the limit.
 * - Exit or stall (no output for stallTimeoutMs while input is written):
 *   the renditions are withdrawn (onRenditionsChanged with "source" only),
 *   the process killed and restarted after 1 s, 2 s, 4 s … (capped); the
 *   renditions come back once every one of them has produced its config.
 */
export class TranscodeSupervisor implements FrameSink {
  readonly stats: TranscodeSupervisorStats = {
    inputFrames: 0,
    writtenFrames: 0,
    droppedLag: 0,
    droppedQueueFull: 0,
    droppedRestart: 0,
    restarts: 0,
    stalls: 0,
    processStarts: 0,
    lagMs: 0,
    speed: 0,
  };
  private readonly options: TranscodeSupervisorOptions;
  private readonly rungs: readonly LadderRung[];
  private readonly stallTimeoutMs: number;
  private readonly maxLagMs: number;
  private readonly maxQueuedBytes: number;
  private readonly backoff: RestartBackoff;
  private readonly tickMs: number;
  private readonly onOutputBound = (): void => this.onOutput();

  private started = false;
  private stopped = false;
  private video: VideoTrackConfig | null = null;
  private plan: LadderPlan = { renditions: [], transcoded: [] };
  private process: TranscodeProcess | null = null;
  private processStartedAt = 0;
  private announcedLive = false;
  private lastAnnounced: readonly PlannedRendition[] | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private consecutiveFailures = 0;
  /** the next frame written must be a keyframe (new process, or resuming after a drop) */
  private needKeyframe = true;
  private dropReason: TranscodeDropReason | null = null;
  private lastWrittenDts = Number.NaN;
  private lastWriteAt = 0;
  private lastOutputAt = 0;
  private speedMarkDts = Number.NaN;
  private speedMarkAt = 0;

  constructor(options: TranscodeSupervisorOptions) {
    this.options = options;
    this.rungs = options.ladder ?? parseLadderSpec(DEFAULT_LADDER_SPEC);
    this.stallTimeoutMs = options.stallTimeoutMs ?? 5000;
    this.maxLagMs = options.maxLagMs ?? 3000;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.tickMs = options.tickMs ?? 500;
  }

  /** PID of the FFmpeg running now (undefined between processes). */
  get pid(): number | undefined {
    return this.process?.running === true ? this.process.pid : undefined;
  }

  /** What viewers can have now: "source" plus the transcoded renditions while they are live. */
  get renditions(): readonly PlannedRendition[] {
    return this.lastAnnounced ?? [];
  }

  get plannedLadder(): LadderPlan {
    return this.plan;
  }

  /** Arms supervision; the process itself starts with the first video config. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.tickTimer = setInterval(() => this.tick(), this.tickMs);
    this.tickTimer.unref();
    if (this.video !== null) this.replan(this.video);
  }

  videoConfig(config: VideoTrackConfig): void {
    if (this.stopped) return;
    if (this.video !== null && sameBytes(this.video.avcC, config.avcC)) {
      this.video = { ...this.video, frameRate: config.frameRate };
      return;
    }
    this.video = { ...config, avcC: config.avcC.slice() };
    if (this.started) this.replan(this.video);
  }

  audioConfig(_config: AudioTrackConfig): void {
    // Audio is the source's AAC, packaged once and shared by every rendition.
  }

  metadata(_meta: StreamMetadata): void {
    // Nothing in onMetaData changes the ladder; the avcC is authoritative.
  }

  frame(frame: MediaFrame): void {
    if (frame.track !== 'video' || !this.started || this.stopped || this.plan.transcoded.length === 0) return;
    this.stats.inputFrames++;
    const process = this.process;
    if (process === null || !process.running) {
      this.drop('restart');
      this.needKeyframe = true;
      return;
    }
    if (this.needKeyframe) {
      if (!frame.keyframe) {
        this.drop(this.dropReason ?? 'restart');
        return;
      }
      // Resume only where the encoder has caught up; otherwise skip this whole GOP too.
      if (this.dropReason !== null && this.backlogMs() > this.maxLagMs) {
        this.drop(this.dropReason);
        return;
      }
    } else if (this.backlogMs() > this.maxLagMs) {
      this.startDropping('lag');
      return;
    }
    if (!process.writeFrame(frame)) {
      this.startDropping('queue_full');
      return;
    }
    this.needKeyframe = false;
    this.dropReason = null;
    this.stats.writtenFrames++;
    this.lastWrittenDts = frame.dts;
    this.lastWriteAt = performance.now();
    this.stats.lagMs = this.backlogMs();
  }

  /** FrameQueueReader's end-of-stream call. */
  end(_reason: string): void {
    void this.stop();
  }

  /**
   * Stops for good: closes FFmpeg's input and gives it `drainMs` to flush
   * the frames it holds (they are delivered), then kills it.
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.tickTimer = null;
    this.restartTimer = null;
    const process = this.process;
    if (process !== null && process.running) {
      const drainMs = options.drainMs ?? 2000;
      if (drainMs > 0) process.endInput();
      else process.kill();
      const timer = setTimeout(() => process.kill(), drainMs);
      await process.waitForExit();
      clearTimeout(timer);
    }
    this.process = null;
    if (this.announcedLive) this.announce(this.plan.renditions.filter((r) => r.passthrough));
    this.options.metrics?.removeStream(this.options.streamId);
  }

  private replan(video: VideoTrackConfig): void {
    this.plan = planLadder(video, this.rungs);
    const previous = this.process;
    this.process = null;
    if (previous !== null) previous.kill();
    this.announcedLive = false;
    if (this.plan.transcoded.length === 0) {
      this.announce(this.plan.renditions);
      return;
    }
    this.consecutiveFailures = 0;
    this.launch();
  }

  private launch(): void {
    if (this.stopped || this.video === null) return;
    const video = this.video;
    const renditions = this.plan.transcoded;
    const command = buildTranscodeCommand({
      ffmpegPath: this.options.ffmpegPath,
      encoder: this.options.encoder,
      renditions,
      frameRate: video.frameRate,
      encode: this.options.encode,
      thumbnail: this.options.thumbnail,
    });
    const process: TranscodeProcess = new TranscodeProcess({
      command,
      renditions,
      sinks: renditions.map((rendition) => this.options.sinkFor(rendition)),
      maxQueuedBytes: this.maxQueuedBytes,
      onOutput: this.onOutputBound,
      onThumbnail: this.options.onThumbnail,
      onExit: (exit) => this.onExit(process, exit),
    });
    this.process = process;
    this.stats.processStarts++;
    this.processStartedAt = performance.now();
    this.lastOutputAt = 0;
    this.lastWriteAt = 0;
    this.lastWrittenDts = Number.NaN;
    this.speedMarkDts = Number.NaN;
    this.needKeyframe = true;
    this.dropReason = null;
    process.writeHeader(video);
    this.options.logger?.info({ stream: this.options.streamId, pid: process.pid, renditions: renditions.map((r) => r.name) }, 'transcoder started');
  }

  private onOutput(): void {
    this.lastOutputAt = performance.now();
    if (this.announcedLive) return;
    const process = this.process;
    if (process === null) return;
    for (const output of process.outputs) if (!output.configured || output.frames === 0) return;
    this.announcedLive = true;
    this.announce(this.plan.renditions);
  }

  private onExit(process: TranscodeProcess, exit: TranscodeExit): void {
    if (this.process !== process) return; // replaced on purpose (new config) or stopped
    this.process = null;
    if (this.stopped) return;
    const reason: TranscodeRestartReason = exit.outputError !== null ? 'output_error' : 'exit';
    this.restartAfterFailure(reason, exit);
  }

  private restartAfterFailure(reason: TranscodeRestartReason, exit: TranscodeExit | null): void {
    if (this.announcedLive) {
      this.announcedLive = false;
      this.announce(this.plan.renditions.filter((r) => r.passthrough));
    }
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.consecutiveFailures);
    this.consecutiveFailures++;
    this.stats.restarts++;
    this.options.metrics?.restarts.inc({ reason });
    this.options.logger?.warn(
      { stream: this.options.streamId, reason, code: exit?.code, signal: exit?.signal, stderr: exit?.stderrTail.slice(-500), retryInMs: delay },
      'transcoder failed; restarting',
    );
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.launch();
    }, delay);
  }

  private tick(): void {
    const process = this.process;
    const metrics = this.options.metrics;
    const stream = this.options.streamId;
    if (process === null || !process.running) {
      metrics?.speed.set({ stream }, 0);
      return;
    }
    const now = performance.now();
    // Stall: input has been written recently, yet nothing came out for stallTimeoutMs.
    const inputFlowing = this.lastWriteAt > 0 && now - this.lastWriteAt < this.stallTimeoutMs;
    const lastProgress = Math.max(this.lastOutputAt, this.processStartedAt);
    if (inputFlowing && this.lastWriteAt > this.lastOutputAt && now - lastProgress > this.stallTimeoutMs) {
      this.stats.stalls++;
      this.process = null;
      process.kill();
      this.restartAfterFailure('stall', null);
      return;
    }
    if (this.lastOutputAt > 0 && now - this.processStartedAt > this.backoff.resetAfterMs) this.consecutiveFailures = 0;

    const outputDts = this.slowestOutputDts();
    if (!Number.isNaN(outputDts)) {
      if (!Number.isNaN(this.speedMarkDts) && now > this.speedMarkAt) {
        this.stats.speed = (outputDts - this.speedMarkDts) / (now - this.speedMarkAt);
      }
      this.speedMarkDts = outputDts;
      this.speedMarkAt = now;
    }
    this.stats.lagMs = this.backlogMs();
    metrics?.speed.set({ stream }, this.stats.speed);
    metrics?.lagSeconds.set({ stream }, this.stats.lagMs / 1000);
  }

  private slowestOutputDts(): number {
    const process = this.process;
    if (process === null) return Number.NaN;
    let slowest = Number.POSITIVE_INFINITY;
    for (const output of process.outputs) {
      if (Number.isNaN(output.lastDts)) return Number.NaN;
      if (output.lastDts < slowest) slowest = output.lastDts;
    }
    return slowest;
  }

  /**
   * What the encoder still holds: newest DTS written minus the slowest
   * rendition's newest DTS out. (Newest input minus newest output would
   * count a dropped GOP as lag forever and never let writing resume.)
   * Before the first output the whole written span counts.
   */
  private backlogMs(): number {
    if (Number.isNaN(this.lastWrittenDts)) return 0;
    const outputDts = this.slowestOutputDts();
    if (Number.isNaN(outputDts)) {
      // No output yet: measure by wall time since the first write, the same scale once real time.
      return this.lastWriteAt > 0 ? performance.now() - this.processStartedAt : 0;
    }
    return Math.max(0, this.lastWrittenDts - outputDts);
  }

  private startDropping(reason: TranscodeDropReason): void {
    this.needKeyframe = true;
    this.dropReason = reason;
    this.drop(reason);
  }

  private drop(reason: TranscodeDropReason): void {
    if (reason === 'lag') this.stats.droppedLag++;
    else if (reason === 'queue_full') this.stats.droppedQueueFull++;
    else this.stats.droppedRestart++;
    this.options.metrics?.droppedFrames.inc({ reason });
  }

  private announce(renditions: readonly PlannedRendition[]): void {
    this.lastAnnounced = renditions;
    this.options.onRenditionsChanged?.(renditions);
  }
}
