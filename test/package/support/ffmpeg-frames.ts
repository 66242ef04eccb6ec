/**
 * Real input for packager tests: FFmpeg encodes testsrc2 + sine to FLV, and
 * a minimal FLV reader (independent of src/demux) turns it into MediaFrames.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AudioTrackConfig, MediaFrame, VideoTrackConfig } from '../../../src/stream/media-frame.js';

const run = promisify(execFile);

export interface FlvVariant {
  video: boolean;
  audio: boolean;
  width: number;
  height: number;
  fps: number;
  keyint: number;
  bframes: number;
  seconds: number;
  sampleRate: number;
}

export const VARIANTS = {
  av: { video: true, audio: true, width: 320, height: 240, fps: 30, keyint: 60, bframes: 2, seconds: 5, sampleRate: 48000 },
  videoOnly: { video: true, audio: false, width: 320, height: 240, fps: 30, keyint: 60, bframes: 2, seconds: 5, sampleRate: 48000 },
  audioOnly: { video: false, audio: true, width: 0, height: 0, fps: 30, keyint: 60, bframes: 0, seconds: 5, sampleRate: 48000 },
  hd1080: { video: true, audio: true, width: 1920, height: 1080, fps: 30, keyint: 60, bframes: 2, seconds: 3, sampleRate: 48000 },
  longGop: { video: true, audio: true, width: 320, height: 240, fps: 30, keyint: 150, bframes: 2, seconds: 11, sampleRate: 48000 },
} satisfies Record<string, FlvVariant>;

export interface FlvFrames {
  flvPath: string;
  videoConfig: VideoTrackConfig | null;
  audioConfig: AudioTrackConfig | null;
  /** in file order (interleaved by dts as FFmpeg wrote them) */
  frames: MediaFrame[];
}

export async function makeFlv(variant: FlvVariant, directory: string, name: string): Promise<string> {
  const path = join(directory, `${name}.flv`);
  const args = ['-v', 'error', '-y'];
  if (variant.video) {
    args.push('-f', 'lavfi', '-i', `testsrc2=size=${variant.width}x${variant.height}:rate=${variant.fps}`);
  }
  if (variant.audio) {
    args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${variant.sampleRate}`);
  }
  args.push('-t', String(variant.seconds));
  if (variant.video) {
    args.push(
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-bf', String(variant.bframes), '-g', String(variant.keyint), '-keyint_min', String(variant.keyint), '-sc_threshold', '0',
    );
  }
  if (variant.audio) args.push('-c:a', 'aac', '-ar', String(variant.sampleRate), '-ac', '2', '-b:a', '128k');
  args.push('-f', 'flv', path);
  await run('ffmpeg', args);
  return path;
}

export async function readFlv(path: string, variant: FlvVariant): Promise<FlvFrames> {
  const bytes = new Uint8Array(await readFile(path));
  if (bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x56) throw new Error('not an FLV file');
  const headerSize = (bytes[5] << 24) | (bytes[6] << 16) | (bytes[7] << 8) | bytes[8];
  let offset = headerSize + 4; // PreviousTagSize0
  let videoConfig: VideoTrackConfig | null = null;
  let audioConfig: AudioTrackConfig | null = null;
  const frames: MediaFrame[] = [];
  while (offset + 11 <= bytes.byteLength) {
    const type = bytes[offset] & 0x1f;
    const size = (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3];
    const timestamp = ((bytes[offset + 7] << 24) | (bytes[offset + 4] << 16) | (bytes[offset + 5] << 8) | bytes[offset + 6]) >>> 0;
    const body = bytes.subarray(offset + 11, offset + 11 + size);
    offset += 11 + size + 4;
    if (type === 9) {
      const frameType = body[0] >> 4;
      if ((body[0] & 0x0f) !== 7) throw new Error('FLV video is not AVC');
      const packetType = body[1];
      let cts = (body[2] << 16) | (body[3] << 8) | body[4];
      if (cts & 0x80_0000) cts -= 0x100_0000;
      const payload = body.slice(5);
      if (packetType === 0) {
        videoConfig = {
          codec: 'h264',
          avcC: payload,
          width: variant.width,
          height: variant.height,
          codecString: `avc1.${hex(payload[1])}${hex(payload[2])}${hex(payload[3])}`,
          frameRate: variant.fps,
        };
      } else if (packetType === 1) {
        frames.push({ track: 'video', dts: timestamp, pts: timestamp + cts, keyframe: frameType === 1, data: payload });
      }
    } else if (type === 8) {
      if (body[0] >> 4 !== 10) throw new Error('FLV audio is not AAC');
      const payload = body.slice(2);
      if (body[1] === 0) {
        audioConfig = { codec: 'aac', asc: payload, sampleRate: variant.sampleRate, channels: 2, codecString: `mp4a.40.${payload[0] >> 3}` };
      } else {
        frames.push({ track: 'audio', dts: timestamp, pts: timestamp, keyframe: true, data: payload });
      }
    }
  }
  return { flvPath: path, videoConfig, audioConfig, frames };
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}

export interface FfprobePacket {
  codec_type: 'video' | 'audio';
  stream_index: number;
  pts: number;
  dts: number;
  pts_time: string;
  dts_time: string;
  duration?: number;
  duration_time?: string;
  size: string;
  pos?: string;
  flags: string;
}

export interface FfprobeStream {
  index: number;
  codec_name: string;
  codec_type: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  time_base: string;
}

export interface FfprobeResult {
  packets: FfprobePacket[];
  streams: FfprobeStream[];
  stderr: string;
}

export async function ffprobe(path: string): Promise<FfprobeResult> {
  const { stdout, stderr } = await run('ffprobe', ['-v', 'warning', '-show_packets', '-show_streams', '-of', 'json', path], { maxBuffer: 256 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as { packets?: FfprobePacket[]; streams?: FfprobeStream[] };
  return { packets: parsed.packets ?? [], streams: parsed.streams ?? [], stderr };
}

/** Decodes the whole file; returns FFmpeg's stderr (empty when clean). */
export async function ffmpegDecode(path: string): Promise<string> {
  const { stderr } = await run('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-']);
  return stderr;
}

export async function withTempDir<T>(body: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'nova-package-'));
  try {
    return await body(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
