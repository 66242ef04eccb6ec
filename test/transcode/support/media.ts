import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FlvDemuxer } from '../../../src/demux/flv/flv-demuxer.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../../../src/stream/media-frame.js';
import { FLV_TAG_VIDEO } from '../../../src/transcode/flv-writer.js';
import { FlvReader } from '../../../src/transcode/flv-reader.js';

const execFileAsync = promisify(execFile);

export interface SourceClipOptions {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  keyintFrames: number;
  bitrateKbps: number;
  /** x264 B-frames in the source (exercises composition times) */
  bFrames: number;
}

/**
 * A synthetic H.264 FLV made by real FFmpeg. Temporal noise on testsrc2
 * keeps the picture expensive to code, so rate control works near its target
 * the way it does on camera footage (a static pattern undershoots any target).
 */
export async function makeSourceClip(path: string, o: SourceClipOptions): Promise<void> {
  await execFileAsync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
    '-vf', 'noise=alls=10:allf=t',
    '-t', String(o.seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-g', String(o.keyintFrames), '-keyint_min', String(o.keyintFrames), '-sc_threshold', '0',
    '-bf', String(o.bFrames),
    '-b:v', `${o.bitrateKbps}k`, '-maxrate', `${o.bitrateKbps}k`, '-bufsize', `${o.bitrateKbps * 2}k`,
    '-f', 'flv', path,
  ]);
}

/** Keeps copies of everything a FrameSink receives. */
export class CollectingSink implements FrameSink {
  readonly configs: VideoTrackConfig[] = [];
  readonly frames: MediaFrame[] = [];

  videoConfig(config: VideoTrackConfig): void {
    this.configs.push({ ...config, avcC: config.avcC.slice() });
  }

  audioConfig(_config: AudioTrackConfig): void {}

  metadata(_meta: StreamMetadata): void {}

  frame(frame: MediaFrame): void {
    this.frames.push({ ...frame, data: frame.data.slice() });
  }

  get bytes(): number {
    let total = 0;
    for (const frame of this.frames) total += frame.data.length;
    return total;
  }
}

/** An FLV file's video track through our reader and the ingest demuxer, as ingest would deliver it. */
export function readFlvVideo(file: Uint8Array): CollectingSink {
  const sink = new CollectingSink();
  const demuxer = new FlvDemuxer(sink);
  const reader = new FlvReader({
    tag(type, timestamp, body) {
      if (type === FLV_TAG_VIDEO) demuxer.video(timestamp, body);
    },
  });
  reader.push(file);
  return sink;
}

/**
 * A shell script standing in for FFmpeg where the real one cannot show the
 * case: a hardware encoder this machine lacks, a process that hangs or never
 * answers. Written into `dir` as an executable named `name`.
 */
export function scriptedFfmpeg(dir: string, name: string, script: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}
