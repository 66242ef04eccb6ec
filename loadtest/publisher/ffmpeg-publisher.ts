/**
 * Real FFmpeg publishing a lavfi test source over RTMP, as a broadcaster
 * would: libx264 (B-frames on, as x264's defaults) + AAC, in real time (-re).
 * Used by the end-to-end tests and the benchmarks that need a real encoder.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface FfmpegPublishOptions {
  /** rtmp://host:port/app/streamKey */
  url: string;
  /** seconds of media to send; default: until stop() */
  durationSec?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** keyframe interval in frames; default 2 s */
  gop?: number;
  videoBitrate?: string;
  /** false: audio-only */
  video?: boolean;
  /** false: video-only */
  audio?: boolean;
  /** x264 preset; ultrafast keeps 2-core machines real-time, veryfast is what the README shows */
  preset?: string;
  /** extra output options placed before the URL */
  extraOutputArgs?: string[];
}

export interface FfmpegPublisher {
  readonly process: ChildProcess;
  /** resolves with FFmpeg's exit code once it ends (by itself or through stop()) */
  readonly exited: Promise<number | null>;
  /** the last 8 KB FFmpeg wrote to stderr */
  stderr(): string;
  /** a clean stop: 'q' on stdin (FFmpeg sends FCUnpublish/deleteStream), SIGKILL after 5 s */
  stop(): Promise<number | null>;
  /** the encoder vanishing without a goodbye, as a crash or a cut cable would */
  kill(): Promise<number | null>;
}

export function ffmpegPublishArgs(options: FfmpegPublishOptions): string[] {
  const width = options.width ?? 1280;
  const height = options.height ?? 720;
  const fps = options.fps ?? 30;
  const video = options.video ?? true;
  const audio = options.audio ?? true;
  const args = ['-hide_banner', '-loglevel', 'warning', '-nostats', '-re'];
  if (video) args.push('-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`);
  if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  if (options.durationSec !== undefined) args.push('-t', String(options.durationSec));
  if (video) {
    args.push('-c:v', 'libx264', '-preset', options.preset ?? 'ultrafast', '-bf', '2', '-pix_fmt', 'yuv420p');
    args.push('-g', String(options.gop ?? fps * 2), '-keyint_min', String(options.gop ?? fps * 2), '-sc_threshold', '0');
    args.push('-b:v', options.videoBitrate ?? '2M');
  }
  if (audio) args.push('-c:a', 'aac', '-b:a', '128k', '-ar', '48000');
  args.push(...(options.extraOutputArgs ?? []), '-f', 'flv', options.url);
  return args;
}

export function publishWithFfmpeg(options: FfmpegPublishOptions): FfmpegPublisher {
  const child = spawn('ffmpeg', ffmpegPublishArgs(options), { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    process: child,
    exited,
    stderr: () => stderr,
    stop() {
      if (running()) {
        child.stdin?.end('q');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        void exited.then(() => clearTimeout(timer));
      }
      return exited;
    },
    kill() {
      if (running()) child.kill('SIGKILL');
      return exited;
    },
  };
}
