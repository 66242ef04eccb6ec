import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FRAME_RECORD_HEADER_BYTES, FrameQueueReader, FrameQueueWriter } from '../../src/stream/frame-queue.js';
import type { AudioTrackConfig, MediaFrame, VideoTrackConfig } from '../../src/stream/media-frame.js';
import { RecordingSink } from '../demux/support/recording-sink.js';

const videoConfig: VideoTrackConfig = {
  codec: 'h264',
  avcC: Uint8Array.from([1, 0x64, 0, 0x1e, 0xff, 0xe1]),
  width: 1920,
  height: 1080,
  codecString: 'avc1.64001e',
  frameRate: 29.97,
};
const audioConfig: AudioTrackConfig = { codec: 'aac', asc: Uint8Array.from([0x12, 0x10]), sampleRate: 44100, channels: 2, codecString: 'mp4a.40.2' };

test('every record kind round-trips through the ring', () => {
  const ring = ByteRing.create(4096);
  const writer = new FrameQueueWriter(ring);
  const reader = new FrameQueueReader(ByteRing.attach(ring.buffer));
  const sink = new RecordingSink();
  assert.ok(writer.writeMetadata({ encoder: 'obs', framerate: 30, stereo: true, missing: null }));
  assert.ok(writer.writeVideoConfig(videoConfig));
  assert.ok(writer.writeAudioConfig(audioConfig));
  const frames: MediaFrame[] = [
    { track: 'video', dts: 2 ** 32 + 5, pts: 2 ** 32 + 72, keyframe: true, data: Uint8Array.from([0, 0, 0, 1, 0x65]) },
    { track: 'audio', dts: 10, pts: 10, keyframe: true, data: Uint8Array.from([0x21, 0x10]) },
    { track: 'video', dts: 40, pts: 20, keyframe: false, data: new Uint8Array(0) },
  ];
  for (const frame of frames) assert.ok(writer.writeFrame(frame));
  assert.ok(writer.writeEnd('unpublished'));
  assert.equal(reader.done, false);
  assert.equal(reader.read(sink), 7);
  assert.equal(reader.done, true);
  assert.deepEqual(sink.metadatas, [{ encoder: 'obs', framerate: 30, stereo: true, missing: null }]);
  assert.deepEqual(sink.videoConfigs, [videoConfig]);
  assert.deepEqual(sink.audioConfigs, [audioConfig]);
  assert.deepEqual(sink.frames, frames);
  assert.deepEqual(sink.ends, ['unpublished']);
  assert.equal(sink.frameObjects.size, 1, 'the reader reuses one MediaFrame');
});

test('a full queue refuses frames and read() honours maxRecords', () => {
  const ring = ByteRing.create(4 * (4 + FRAME_RECORD_HEADER_BYTES + 8));
  const writer = new FrameQueueWriter(ring);
  const reader = new FrameQueueReader(ring);
  const frame: MediaFrame = { track: 'audio', dts: 0, pts: 0, keyframe: true, data: new Uint8Array(8) };
  let written = 0;
  while (writer.writeFrame(frame)) frame.dts = ++written;
  assert.equal(written, 4);
  const sink = new RecordingSink();
  assert.equal(reader.read(sink, 3), 3);
  assert.equal(reader.read(sink), 1);
  assert.deepEqual(sink.frames.map((f) => f.dts), [0, 1, 2, 3]);
  assert.ok(writer.writeFrame(frame), 'room again after draining');
});

test('property: random frame sequences round-trip exactly', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          track: fc.constantFrom<'video' | 'audio'>('video', 'audio'),
          dts: fc.integer({ min: 0, max: 2 ** 40 }),
          cts: fc.integer({ min: -1000, max: 5000 }),
          keyframe: fc.boolean(),
          data: fc.uint8Array({ maxLength: 300 }),
        }),
        { maxLength: 50 },
      ),
      (specs) => {
        const ring = ByteRing.create(1024);
        const writer = new FrameQueueWriter(ring);
        const reader = new FrameQueueReader(ring);
        const sink = new RecordingSink();
        const expected: MediaFrame[] = [];
        for (const spec of specs) {
          const frame: MediaFrame = { track: spec.track, dts: spec.dts, pts: spec.dts + spec.cts, keyframe: spec.keyframe, data: spec.data };
          if (!writer.writeFrame(frame)) {
            reader.read(sink);
            assert.ok(writer.writeFrame(frame));
          }
          expected.push(frame);
        }
        reader.read(sink);
        assert.deepEqual(sink.frames, expected);
      },
    ),
    { numRuns: 500 },
  );
});
