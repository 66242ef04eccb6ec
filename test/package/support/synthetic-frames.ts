/** Deterministic synthetic streams for segmenter tests (structure only; payloads are AVCC-framed filler). */
import type { AudioTrackConfig, MediaFrame, VideoTrackConfig } from '../../../src/stream/media-frame.js';

/** A real-shaped avcC (High@3.1, one SPS, one PPS); the bytes of the sets are filler. */
export const VIDEO_CONFIG: VideoTrackConfig = {
  codec: 'h264',
  avcC: new Uint8Array([1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x02, 0x68, 0xee]),
  width: 320,
  height: 240,
  codecString: 'avc1.64001f',
  frameRate: 30,
};

/** AAC-LC, 48 kHz, stereo */
export const AUDIO_CONFIG: AudioTrackConfig = {
  codec: 'aac',
  asc: new Uint8Array([0x11, 0x90]),
  sampleRate: 48000,
  channels: 2,
  codecString: 'mp4a.40.2',
};

export interface SyntheticOptions {
  seconds: number;
  video?: boolean;
  audio?: boolean;
  fps?: number;
  keyint?: number;
  /** ms added to every timestamp */
  startMs?: number;
  /** deliver audio this many ms earlier than its dts order (publisher skew) */
  audioLeadMs?: number;
}

function avccFrame(size: number, seed: number, keyframe: boolean): Uint8Array {
  const data = new Uint8Array(Math.max(size, 6));
  const nal = data.byteLength - 4;
  data[0] = nal >>> 24;
  data[1] = (nal >>> 16) & 0xff;
  data[2] = (nal >>> 8) & 0xff;
  data[3] = nal & 0xff;
  data[4] = keyframe ? 0x65 : 0x41;
  for (let i = 5; i < data.byteLength; i++) data[i] = (seed * 31 + i) & 0xff;
  return data;
}

export function syntheticFrames(options: SyntheticOptions): MediaFrame[] {
  const fps = options.fps ?? 30;
  const keyint = options.keyint ?? 60;
  const start = options.startMs ?? 0;
  const lead = options.audioLeadMs ?? 0;
  const tagged: { order: number; frame: MediaFrame }[] = [];
  if (options.video !== false) {
    const count = Math.round(options.seconds * fps);
    for (let i = 0; i < count; i++) {
      const dts = start + Math.round((i * 1000) / fps);
      const keyframe = i % keyint === 0;
      // I/P frames are shown later than decoded (B-frames in between)
      const cts = keyframe || i % 3 === 0 ? Math.round(2000 / fps) : Math.round(1000 / fps);
      tagged.push({ order: dts, frame: { track: 'video', dts, pts: dts + cts, keyframe, data: avccFrame(keyframe ? 4000 : 600 + (i % 7) * 50, i, keyframe) } });
    }
  }
  if (options.audio !== false) {
    const count = Math.floor((options.seconds * 48000) / 1024);
    for (let i = 0; i < count; i++) {
      const dts = start + Math.round((i * 1024 * 1000) / 48000);
      const data = new Uint8Array(200 + (i % 5) * 10).fill(i & 0xff);
      tagged.push({ order: dts - lead, frame: { track: 'audio', dts, pts: dts, keyframe: true, data } });
    }
  }
  tagged.sort((a, b) => a.order - b.order || (a.frame.track === 'video' ? -1 : 1));
  return tagged.map((t) => t.frame);
}
