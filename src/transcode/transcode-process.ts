import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { FlvDemuxer } from '../demux/flv/flv-demuxer.js';
import { NovaError } from '../errors.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../stream/media-frame.js';
import type { TranscodeCommand } from './ffmpeg-command.js';
import { FLV_TAG_VIDEO, flvAvcTag, flvFileHeader } from './flv-writer.js';
import { FlvReader, type FlvTagHandler } from './flv-reader.js';
import { JpegSplitter } from './jpeg-splitter.js';
import type { PlannedRendition } from './ladder.js';

/** Every FFmpeg we started and that has not exited: killed if this Node process exits, so none outlives us. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' runs synchronously at the very end: kill() is a synchronous syscall, so this works there.
    process.on('exit', killAllChildren);
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** PIDs of the FFmpeg children alive now (tests assert no orphans). */
export function liveTranscodePids(): number[] {
  const pids: number[] = [];
  for (const child of liveChildren) if (child.pid !== undefined) pids.push(child.pid);
  return pids;
}

export interface TranscodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** last lines FFmpeg wrote on stderr (diagnostics for logs) */
  stderrTail: string;
  /** an output failed to parse (we killed it) */
  outputError: NovaError | null;
}

/** Per-rendition output progress, read by the supervisor for lag, speed and stall checks. */
export interface RenditionProgress {
  readonly rendition: PlannedRendition;
  configured: boolean;
  frames: number;
  keyframes: number;
  bytes: number;
  /** DTS of the last frame out, ms; NaN before the first */
  lastDts: number;
}

/** Forwards a rendition's frames to its sink and keeps the progress figures (no allocation per frame). */
class RenditionOutput implements FrameSink, RenditionProgress {
  readonly rendition: PlannedRendition;
  configured = false;
  frames = 0;
  keyframes = 0;
  bytes = 0;
  lastDts = Number.NaN;
  private readonly sink: FrameSink;
  private readonly onFrame: () => void;

  constructor(rendition: PlannedRendition, sink: FrameSink, onFrame: () => void) {
    this.rendition = rendition;
    this.sink = sink;
    this.onFrame = onFrame;
  }

  videoConfig(config: VideoTrackConfig): void {
    this.configured = true;
    this.sink.videoConfig(config);
  }

  audioConfig(config: AudioTrackConfig): void {
    this.sink.audioConfig(config);
  }

  metadata(meta: StreamMetadata): void {
    this.sink.metadata(meta);
  }

  frame(frame: MediaFrame): void {
    this.frames++;
    if (frame.keyframe) this.keyframes++;
    this.bytes += frame.data.length;
    this.lastDts = frame.dts;
    this.sink.frame(frame);
    this.onFrame();
  }
}

/** FLV tags of one output → the rendition's FrameSink calls (via the ingest FLV demuxer: same model, same checks). */
class OutputTagRouter implements FlvTagHandler {
  private readonly demuxer: FlvDemuxer;

  constructor(output: RenditionOutput) {
    // Our own input is monotonic and FFmpeg keeps its timestamps (-copyts); a lag drop skips whole GOPs,
    // which must not look like a discontinuity to re-base.
    this.demuxer = new FlvDemuxer(output, { timestampRepair: { maxForwardGapMs: 3_600_000 } });
  }

  tag(type: number, timestamp: number, body: Uint8Array): void {
    // FFmpeg's onMetaData script tag (duration 0, our encode settings) says nothing the avcC does not.
    if (type === FLV_TAG_VIDEO) this.demuxer.video(timestamp, body);
  }
}

export interface TranscodeProcessOptions {
  command: TranscodeCommand;
  /** transcoded renditions in output-fd order */
  renditions: readonly PlannedRendition[];
  /** one sink per rendition, same order */
  sinks: readonly FrameSink[];
  /** bound on bytes waiting in the stdin pipe buffer; a write beyond it is refused, never waited for */
  maxQueuedBytes: number;
  /** called after each output frame of any rendition (cheap: the supervisor reads the progress figures) */
  onOutput(): void;
  /** each whole JPEG of the command's thumbnail output (its own buffer) */
  onThumbnail?(jpeg: Uint8Array): void;
  onExit(exit: TranscodeExit): void;
}

const STDERR_TAIL_BYTES = 4096;

/**
 * One running FFmpeg: FLV in on stdin, one FLV out per rendition on fds 3+.
 * Writes never block: stdin buffers in Node up to `maxQueuedBytes`, beyond
 * which writeFrame returns false and the caller decides what to drop.
 */
export class TranscodeProcess {
  readonly outputs: readonly RenditionProgress[];
  private readonly child: ChildProcess;
  private readonly stdin: Writable;
  private readonly maxQueuedBytes: number;
  private stderrTail = '';
  private outputError: NovaError | null = null;
  private exited = false;
  private readonly exitPromise: Promise<TranscodeExit>;
  private headerWritten = false;

  constructor(options: TranscodeProcessOptions) {
    const { command } = options;
    this.maxQueuedBytes = options.maxQueuedBytes;
    const stdio: Array<'pipe' | 'ignore'> = ['pipe', 'ignore', 'pipe'];
    for (let i = 0; i < command.outputFds.length; i++) stdio.push('pipe');
    if (command.thumbnailFd !== null) stdio.push('pipe');
    this.child = spawn(command.ffmpegPath, command.args, { stdio });
    track(this.child);
    const stdin = this.child.stdin;
    if (stdin === null) throw new NovaError('NOVA_ERR_INTERNAL', 'ffmpeg stdin pipe missing');
    this.stdin = stdin;
    // EPIPE when FFmpeg dies: its exit is reported through onExit; the write error adds nothing.
    stdin.on('error', () => undefined);

    const outputs: RenditionOutput[] = [];
    options.renditions.forEach((rendition, index) => {
      const output = new RenditionOutput(rendition, options.sinks[index], options.onOutput);
      outputs.push(output);
      const reader = new FlvReader(new OutputTagRouter(output));
      const pipe = this.child.stdio[command.outputFds[index]] as Readable | null;
      if (pipe === null || pipe === undefined) throw new NovaError('NOVA_ERR_INTERNAL', `ffmpeg output fd ${command.outputFds[index]} missing`);
      pipe.on('data', (chunk: Buffer) => {
        if (this.outputError !== null) return;
        try {
          reader.push(chunk);
        } catch (err) {
          this.outputError = err instanceof NovaError ? err : new NovaError('NOVA_ERR_INTERNAL', String(err));
          this.kill();
        }
      });
      pipe.on('error', () => undefined);
    });
    this.outputs = outputs;
    if (command.thumbnailFd !== null) this.readThumbnails(command.thumbnailFd, options.onThumbnail);

    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
    });

    this.exitPromise = new Promise((resolve) => {
      let settled = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (settled) return;
        settled = true;
        this.exited = true;
        const exit: TranscodeExit = { code, signal, stderrTail: this.stderrTail.trim(), outputError: this.outputError };
        resolve(exit);
        options.onExit(exit);
      };
      // 'close' waits for the output pipes to drain, so every frame FFmpeg wrote has been delivered first.
      this.child.once('close', finish);
      this.child.once('error', (err) => {
        this.stderrTail += `\nspawn failed: ${err.message}`;
        finish(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The JPEG pipe is read whether or not anyone wants the images: FFmpeg must never block writing it. */
  private readThumbnails(fd: number, onThumbnail: ((jpeg: Uint8Array) => void) | undefined): void {
    const pipe = this.child.stdio[fd] as Readable | null;
    if (pipe === null || pipe === undefined) throw new NovaError('NOVA_ERR_INTERNAL', `ffmpeg thumbnail fd ${fd} missing`);
    const splitter = new JpegSplitter((jpeg) => onThumbnail?.(jpeg));
    pipe.on('data', (chunk: Buffer) => {
      if (this.outputError !== null) return;
      try {
        splitter.push(chunk);
      } catch (err) {
        this.outputError = err instanceof NovaError ? err : new NovaError('NOVA_ERR_INTERNAL', String(err));
        this.kill();
      }
    });
    pipe.on('error', () => undefined);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** bytes written but not yet taken by FFmpeg */
  get queuedBytes(): number {
    return this.stdin.writableLength;
  }

  /** The FLV header and AVC sequence header: first thing written, and again never (a new avcC means a new process). */
  writeHeader(config: VideoTrackConfig): void {
    if (this.headerWritten) throw new NovaError('NOVA_ERR_INTERNAL', 'FLV header written twice');
    this.headerWritten = true;
    this.stdin.write(flvFileHeader(true, false));
    this.stdin.write(flvAvcTag(0, true, 0, 0, config.avcC));
  }

  /** Writes one video frame as an FLV tag; false (nothing written) when the stdin queue is full or FFmpeg is gone. */
  writeFrame(frame: MediaFrame): boolean {
    if (this.exited || !this.stdin.writable) return false;
    const tagBytes = frame.data.length + 20;
    if (this.stdin.writableLength + tagBytes > this.maxQueuedBytes) return false;
    this.stdin.write(flvAvcTag(1, frame.keyframe, frame.dts, frame.pts - frame.dts, frame.data));
    return true;
  }

  /** Closes stdin: FFmpeg encodes what it has, flushes the outputs and exits. */
  endInput(): void {
    if (this.stdin.writable) this.stdin.end();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** Resolves when the process has exited and its outputs are drained. */
  waitForExit(): Promise<TranscodeExit> {
    return this.exitPromise;
  }
}
