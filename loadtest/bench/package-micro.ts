/**
 * Micro-benchmark of the packager: MB/s of input frames packaged to CMAF
 * (fMP4 parts + segments) and to MPEG-TS, median of 5 runs each, and the
 * process's CPU seconds per GB (1e9 bytes) of frames, which does not count
 * time spent waiting for a core on a busy machine as the wall clock does.
 * Run: node --import tsx loadtest/bench/package-micro.ts
 *
 * Input: 60 s of synthetic 30 fps H.264-shaped frames at ~4 Mbit/s (keyframe
 * every 2 s) + 48 kHz AAC at ~128 kbit/s, prebuilt so only packaging is timed.
 */
import { Segmenter } from '../../src/package/segmenter.js';
import type { AudioTrackConfig, MediaFrame, VideoTrackConfig } from '../../src/stream/media-frame.js';
import { median } from './lib/measure.js';

const VIDEO: VideoTrackConfig = {
  codec: 'h264',
  avcC: new Uint8Array([1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x02, 0x68, 0xee]),
  width: 1280,
  height: 720,
  codecString: 'avc1.64001f',
  frameRate: 30,
};
const AUDIO: AudioTrackConfig = { codec: 'aac', asc: new Uint8Array([0x11, 0x90]), sampleRate: 48000, channels: 2, codecString: 'mp4a.40.2' };

function buildFrames(seconds: number): { frames: MediaFrame[]; bytes: number } {
  const frames: MediaFrame[] = [];
  let bytes = 0;
  const videoCount = seconds * 30;
  const audioCount = Math.floor((seconds * 48000) / 1024);
  let a = 0;
  for (let v = 0; v < videoCount; v++) {
    const dts = Math.round((v * 1000) / 30);
    while (a < audioCount && Math.round((a * 1024000) / 48000) <= dts) {
      const adts = Math.round((a * 1024000) / 48000);
      const data = new Uint8Array(340).fill(a & 0xff);
      frames.push({ track: 'audio', dts: adts, pts: adts, keyframe: true, data });
      bytes += data.byteLength;
      a++;
    }
    const keyframe = v % 60 === 0;
    const size = keyframe ? 60_000 : 15_000;
    const data = new Uint8Array(size);
    // one slice NAL per frame, AVCC framed
    new DataView(data.buffer).setUint32(0, size - 4);
    data[4] = keyframe ? 0x65 : 0x41;
    for (let i = 5; i < size; i++) data[i] = (i * 7 + v) & 0xff;
    frames.push({ track: 'video', dts, pts: dts + (keyframe ? 67 : 33), keyframe, data });
    bytes += size;
  }
  return { frames, bytes };
}

function run(frames: MediaFrame[], cmaf: boolean, ts: boolean, cmafSegmentBytes: boolean): { ms: number; cpuSeconds: number; outBytes: number } {
  let outBytes = 0;
  const segmenter = new Segmenter({ rendition: 'bench', outputs: { cmaf, ts }, cmafSegmentBytes, now: () => 0 }, (m) => { outBytes += m.bytes.byteLength; });
  segmenter.videoConfig(VIDEO);
  segmenter.audioConfig(AUDIO);
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (let i = 0; i < frames.length; i++) segmenter.frame(frames[i]);
  segmenter.end();
  const used = process.cpuUsage(cpu);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, cpuSeconds: (used.user + used.system) / 1e6, outBytes };
}

const { frames, bytes } = buildFrames(60);
const megabytes = bytes / (1024 * 1024);
console.log(`input: ${frames.length} frames, ${megabytes.toFixed(1)} MiB (60 s of ~4 Mbit/s A/V)`);
// 'live': CMAF segments without their own bytes (their parts are their body), as ingest runs the packager
const CASES = [
  ['CMAF', true, false, true],
  ['CMAF live', true, false, false],
  ['TS', false, true, true],
  ['CMAF+TS', true, true, true],
] as const;
for (const [label, cmaf, ts, segmentBytes] of CASES) {
  run(frames, cmaf, ts, segmentBytes); // warm-up
  const times: number[] = [];
  const cpuPerGb: number[] = [];
  let outBytes = 0;
  for (let r = 0; r < 5; r++) {
    const result = run(frames, cmaf, ts, segmentBytes);
    times.push(result.ms);
    cpuPerGb.push(result.cpuSeconds / (bytes / 1e9));
    outBytes = result.outBytes;
  }
  const ms = median(times);
  console.log(
    `${label.padEnd(9)} median ${ms.toFixed(1)} ms  ${(megabytes / (ms / 1000)).toFixed(0)} MB/s of frames  ${median(cpuPerGb).toFixed(2)} CPU-s/GB  ` +
      `(${(ms / 60).toFixed(2)} ms per stream-second, out ${(outBytes / 1048576).toFixed(1)} MiB)`,
  );
}
