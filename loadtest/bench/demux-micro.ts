/**
 * Micro-benchmark of the ingest hot path: FLV tags → FlvDemuxer → FrameSink,
 * and the same bytes through ByteRing (tryWrite + read) and the frame queue.
 * Input is a real FFmpeg FLV (1080p30 x264 with B-frames + AAC, 10 s).
 * Prints MB/s (tag body bytes per second), median of 5 runs.
 *
 *   node --import tsx loadtest/bench/demux-micro.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlvDemuxer } from '../../src/demux/flv/flv-demuxer.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FrameQueueReader, FrameQueueWriter } from '../../src/stream/frame-queue.js';
import type { FrameSink, MediaFrame } from '../../src/stream/media-frame.js';
import { readFlvFile, type FlvFileTag } from '../../test/demux/support/flv-file.js';
import { median } from './lib/measure.js';

const RUNS = 5;
const REPEAT = 20;

/** The demuxer never copies payload bytes, so MB/s mostly reflects tags/s; both are printed. */
function measure(name: string, bytesPerRun: number, body: () => void): void {
  body(); // warm-up
  const seconds: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    body();
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  const rates = seconds.map((s) => bytesPerRun / s / 1e6);
  const tagsPerSecond = (tags.length * REPEAT) / median(seconds);
  console.log(
    `${name.padEnd(42)} ${median(rates).toFixed(0).padStart(7)} MB/s ${(tagsPerSecond / 1e6).toFixed(2).padStart(6)} M tags/s  (MB/s runs: ${rates.map((r) => r.toFixed(0)).join(', ')})`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'nova-bench-'));
let tags: FlvFileTag[];
try {
  const file = join(dir, 'bench.flv');
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
    '-t', '10', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-b:v', '6M', '-c:a', 'aac', '-f', 'flv', file,
  ]);
  tags = readFlvFile(readFileSync(file)).filter((t) => t.type === 8 || t.type === 9);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const bytesPerPass = tags.reduce((n, t) => n + t.body.length, 0);
console.log(`input: ${tags.length} tags, ${(bytesPerPass / 1e6).toFixed(1)} MB per pass, ${REPEAT} passes per run, node ${process.version}`);

let checksum = 0;
const countingSink: FrameSink = {
  videoConfig() {},
  audioConfig() {},
  metadata() {},
  frame(frame: MediaFrame) {
    checksum += frame.data.length;
  },
};

measure('FlvDemuxer (tags → MediaFrame)', bytesPerPass * REPEAT, () => {
  for (let pass = 0; pass < REPEAT; pass++) {
    const demuxer = new FlvDemuxer(countingSink);
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i];
      if (tag.type === 9) demuxer.video(tag.timestamp, tag.body);
      else demuxer.audio(tag.timestamp, tag.body);
    }
  }
});

const ring = ByteRing.create(8 << 20);
const target = new Uint8Array(4 << 20);
measure('ByteRing tryWrite + read (view)', bytesPerPass * REPEAT, () => {
  for (let pass = 0; pass < REPEAT; pass++) {
    for (let i = 0; i < tags.length; i++) {
      if (!ring.tryWrite(tags[i].body)) throw new Error('ring full');
      const record = ring.read();
      checksum += record === null ? 0 : record.length;
    }
  }
});
measure('ByteRing tryWrite + read (copy to target)', bytesPerPass * REPEAT, () => {
  for (let pass = 0; pass < REPEAT; pass++) {
    for (let i = 0; i < tags.length; i++) {
      if (!ring.tryWrite(tags[i].body)) throw new Error('ring full');
      const record = ring.read(target);
      checksum += record === null ? 0 : record.length;
    }
  }
});
ring.release();

const queueRing = ByteRing.create(8 << 20);
const writer = new FrameQueueWriter(queueRing);
const reader = new FrameQueueReader(queueRing);
const queueSink = { ...countingSink, end() {} };
measure('FlvDemuxer → FrameQueue write + read', bytesPerPass * REPEAT, () => {
  const intoQueue: FrameSink = { ...countingSink, frame: (frame) => void writer.writeFrame(frame) };
  for (let pass = 0; pass < REPEAT; pass++) {
    const demuxer = new FlvDemuxer(intoQueue);
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i];
      if (tag.type === 9) demuxer.video(tag.timestamp, tag.body);
      else demuxer.audio(tag.timestamp, tag.body);
      reader.read(queueSink);
    }
  }
});
if (checksum === 0) console.log('(checksum 0: nothing was measured)');
