import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Registry } from 'prom-client';
import type { RenditionInfo } from '../package/rendition-info.js';
import type { Logger } from '../log.js';
import type { MediaSink } from '../package/media-sink.js';
import type { EncoderName, RenditionEncodeSettings } from './encoder-flags.js';
import type { LadderRung } from './ladder.js';
import { probeEncoders } from './encoder-probe.js';
import type { MainToTranscode, TranscodeStats, TranscodeTask, TranscodeToMain } from './transcode-messages.js';
import { PartArenaReader } from '../package/media-message.js';
import { TranscodeMetrics } from './transcode-metrics.js';
import { workerFile } from '../worker-file.js';

/**
 * Who hears which transcoded renditions are live now (replaces the previous
 * set; [] withdraws them): the lifecycle, which lists them after the source.
 * Their media goes to the MediaSink, the same path as the source's.
 */
export type TranscodedRenditionsListener = (streamId: string, renditions: RenditionInfo[]) => void;

export interface TranscodeStatus {
  encoder: EncoderName;
  /** FFmpeg's PID, null while it is restarting */
  pid: number | null;
  speed: number;
  lagMs: number;
  restarts: number;
  processStarts: number;
  renditions: RenditionInfo[];
}

interface StreamTask {
  streamId: string;
  port: MessagePort;
  /** the arenas the task writes the ladder's parts into */
  parts: PartArenaReader;
  stats: TranscodeStats | null;
  renditions: RenditionInfo[];
  done: Promise<void>;
}

/** What the service runs with: config.ts's transcode block (TRANSCODE_*, FFMPEG_PATH) and the segment targets. */
export interface TranscodeSettings {
  /** off: the source rendition only, FFmpeg never runs */
  enabled: boolean;
  ffmpegPath: string;
  /** an encoder to try first, or 'none' (no ladder, no warning); '' probes in order */
  encoderOverride: string;
  ladder: LadderRung[];
  preset: RenditionEncodeSettings['preset'];
  stallTimeoutMs: number;
  maxLagMs: number;
  /** size of the transcode task pool */
  threads: number;
  targetDurationMs: number;
  partTargetMs: number;
  logLevel: string;
  /** a thumbnail at the first keyframe this long after the last (0: none) */
  thumbnailIntervalSec: number;
  /** thumbnail width in pixels (even) */
  thumbnailWidth: number;
}

/** How long shutdown waits for tasks to stop their FFmpeg before killing what is left. */
const STOP_WAIT_MS = 3000;

/**
 * The ABR ladder on the main thread: probes the encoder once at start-up,
 * starts one pool task per live stream (attached to the stream's frame
 * queue; the task feeds FFmpeg and packages its output), and turns what the
 * tasks report into delivery calls and metrics. Everything per frame
 * happens in the task; here arrive finished parts and segments
 * (transferred buffers), rendition changes and one stats message a second.
 */
export class TranscodeService {
  /** the encoder in use, null when transcoding is off or unavailable */
  readonly encoder: EncoderName | null;
  /** why there is no ladder (FFmpeg missing, no working encoder), null when there is one or when switched off on purpose */
  readonly warning: string | null;
  private readonly pool: Piscina | null;
  private readonly tasks = new Map<string, StreamTask>();
  private readonly running = new Set<StreamTask>();
  private readonly metrics: TranscodeMetrics;
  private readonly killLeftovers = (): void => this.killReportedProcesses();
  private closing = false;

  private constructor(
    private readonly settings: TranscodeSettings,
    encoder: EncoderName | null,
    warning: string | null,
    registry: Registry,
    /** where the ladder's packaged media goes (the segment store, or what stands in front of it) */
    private readonly media: Pick<MediaSink, 'add' | 'thumbnail'>,
    private readonly onRenditions: TranscodedRenditionsListener,
    private readonly log: Logger,
  ) {
    this.encoder = encoder;
    this.warning = warning;
    this.metrics = new TranscodeMetrics(registry);
    if (encoder !== null) this.metrics.setEncoder(encoder);
    this.pool =
      encoder === null
        ? null
        : new Piscina({
            filename: workerFile('transcode-stream.worker'),
            minThreads: 0, // started with the first transcoded stream
            maxThreads: settings.threads,
            // A task is a whole stream that mostly waits on pipes and Atomics.waitAsync: many share a thread.
            concurrentTasksPerWorker: 64,
            idleTimeout: 60_000,
          });
    // A crash of this process must not leave FFmpeg behind (tasks' own exit hooks cannot run when the process dies).
    process.on('exit', this.killLeftovers);
  }

  /** Probes FFmpeg's encoders (seconds at most) unless transcoding is off. Never throws for a missing FFmpeg. */
  static async start(
    settings: TranscodeSettings,
    registry: Registry,
    media: Pick<MediaSink, 'add' | 'thumbnail'>,
    onRenditions: TranscodedRenditionsListener,
    log: Logger,
  ): Promise<TranscodeService> {
    if (!settings.enabled) {
      log.info('transcoding off (TRANSCODE=off): the source rendition only');
      return new TranscodeService(settings, null, null, registry, media, onRenditions, log);
    }
    const probe = await probeEncoders({ ffmpegPath: settings.ffmpegPath, override: settings.encoderOverride, logger: log });
    if (!probe.available) {
      const switchedOff = settings.encoderOverride === 'none';
      const warning = switchedOff ? null : `no ABR ladder: ${probe.reason}; streams are served at their source rendition only`;
      // probeEncoders logged the details; this is the one line an operator needs
      if (warning !== null) log.warn({ reason: probe.reason }, warning);
      return new TranscodeService(settings, null, warning, registry, media, onRenditions, log);
    }
    log.info({ encoder: probe.encoder, ladder: settings.ladder.map((r) => `${r.name}@${r.bitrateKbps}k`), preset: settings.preset }, 'ABR ladder on');
    return new TranscodeService(settings, probe.encoder, null, registry, media, onRenditions, log);
  }

  /** A stream began publishing: its transcode task attaches to the frame queue (no-op without an encoder). */
  startStream(streamId: string, frameQueue: SharedArrayBuffer): void {
    if (this.pool === null || this.encoder === null || this.closing) return;
    const { port1, port2 } = new MessageChannel();
    const settings = this.settings;
    const taskArgument: TranscodeTask = {
      streamId,
      frameQueue,
      port: port2,
      ffmpegPath: settings.ffmpegPath,
      encoder: this.encoder,
      ladder: settings.ladder,
      encode: { preset: settings.preset },
      targetDurationMs: settings.targetDurationMs,
      partTargetMs: settings.partTargetMs,
      stallTimeoutMs: settings.stallTimeoutMs,
      maxLagMs: settings.maxLagMs,
      restartBackoffMs: 1000,
      logLevel: settings.logLevel,
      thumbnail: settings.thumbnailIntervalSec > 0 ? { intervalSec: settings.thumbnailIntervalSec, width: settings.thumbnailWidth } : undefined,
    };
    const previous = this.tasks.get(streamId);
    // A takeover: the old publisher's ladder goes (its task ends with its frame queue); the new one announces its own.
    if (previous !== undefined && previous.renditions.length > 0) this.onRenditions(streamId, []);
    const task: StreamTask = {
      streamId,
      port: port1,
      parts: new PartArenaReader((reason) => this.log.error({ code: 'NOVA_ERR_INTERNAL', stream: streamId }, reason)),
      stats: null,
      renditions: [],
      done: Promise.resolve(),
    };
    port1.on('message', (message: TranscodeToMain) => this.onMessage(task, message));
    task.done = this.pool
      .run(taskArgument, { transferList: [port2] })
      .catch((err: unknown) => {
        this.log.error({ stream: streamId, err: err instanceof Error ? err.message : String(err) }, 'transcode task failed');
      })
      .then(() => this.finished(task));
    this.tasks.set(streamId, task);
    this.running.add(task);
  }

  /** The live facts of a stream's ladder, null when it has no transcode task. */
  status(streamId: string): TranscodeStatus | null {
    const task = this.tasks.get(streamId);
    if (task === undefined || this.encoder === null) return null;
    const stats = task.stats;
    return {
      encoder: this.encoder,
      pid: stats?.pid ?? null,
      speed: stats?.speed ?? 0,
      lagMs: stats?.lagMs ?? 0,
      restarts: stats?.restarts ?? 0,
      processStarts: stats?.processStarts ?? 0,
      renditions: task.renditions,
    };
  }

  /** Stops every task (their FFmpeg with them); anything still running after a few seconds is killed. */
  async close(): Promise<void> {
    this.closing = true;
    for (const task of this.running) this.send(task, { type: 'stop' });
    const all = Promise.all([...this.running].map((task) => task.done));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
    this.killReportedProcesses();
    await this.pool?.destroy();
    process.off('exit', this.killLeftovers);
  }

  private onMessage(task: StreamTask, message: TranscodeToMain): void {
    const current = this.tasks.get(task.streamId) === task;
    switch (message.type) {
      case 'part_arena':
        task.parts.attach(message.buffer);
        break;
      case 'media': {
        // the store releases what it drops; media of a replaced task, the reader
        const media = task.parts.received(message, current);
        if (media !== null) this.media.add(task.streamId, media);
        break;
      }
      case 'renditions':
        task.renditions = message.renditions;
        if (current) this.onRenditions(task.streamId, message.renditions);
        break;
      case 'stats':
        this.recordStats(task, message.stats);
        break;
      case 'thumbnail':
        this.metrics.thumbnails.inc();
        if (current) this.media.thumbnail(task.streamId, new Uint8Array(message.jpeg));
        break;
      case 'log':
        this.relog(message.line);
        break;
    }
  }

  private recordStats(task: StreamTask, stats: TranscodeStats): void {
    const previous = task.stats;
    task.stats = stats;
    const metrics = this.metrics;
    const stream = task.streamId;
    metrics.speed.set({ stream }, stats.speed);
    metrics.lagSeconds.set({ stream }, stats.lagMs / 1000);
    const stalls = stats.stalls - (previous?.stalls ?? 0);
    const exits = stats.restarts - stats.stalls - ((previous?.restarts ?? 0) - (previous?.stalls ?? 0));
    if (stalls > 0) metrics.restarts.inc({ reason: 'stall' }, stalls);
    if (exits > 0) metrics.restarts.inc({ reason: 'exit' }, exits);
    const lag = stats.droppedLag - (previous?.droppedLag ?? 0);
    const queueFull = stats.droppedQueueFull - (previous?.droppedQueueFull ?? 0);
    const restart = stats.droppedRestart - (previous?.droppedRestart ?? 0);
    if (lag > 0) metrics.droppedFrames.inc({ reason: 'lag' }, lag);
    if (queueFull > 0) metrics.droppedFrames.inc({ reason: 'queue_full' }, queueFull);
    if (restart > 0) metrics.droppedFrames.inc({ reason: 'restart' }, restart);
  }

  private finished(task: StreamTask): void {
    this.running.delete(task);
    if (this.tasks.get(task.streamId) === task) {
      this.tasks.delete(task.streamId);
      this.metrics.removeStream(task.streamId);
    }
    task.port.close();
    task.parts.close(); // the arenas' memory goes back as the store lets go of the ladder's parts
  }

  private send(task: StreamTask, message: MainToTranscode): void {
    try {
      task.port.postMessage(message);
    } catch {
      // the task is gone
    }
  }

  /** The last line of defence: FFmpeg PIDs that tasks reported running and never reported stopped. */
  private killReportedProcesses(): void {
    for (const task of this.running) {
      const pid = task.stats?.pid;
      if (pid === null || pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private relog(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, time: _time, service: _service, ...fields } = entry;
    const text = typeof msg === 'string' ? msg : '';
    const child = this.log;
    switch (level) {
      case 'fatal':
      case 'error':
        child.error(fields, text);
        break;
      case 'warn':
        child.warn(fields, text);
        break;
      case 'debug':
      case 'trace':
        child.debug(fields, text);
        break;
      default:
        child.info(fields, text);
    }
  }
}
