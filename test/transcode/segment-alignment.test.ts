/**
 * How transcoded renditions line up with the source: the source's segment
 * starts travel through the frame queue (SegmentStart records), are kept by
 * SegmentBoundaries, and a Segmenter with alignTo cuts exactly there, with
 * the source's msn and wall clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PackagedMedia, PackagedSegment } from '../../src/package/packaged-media.js';
import { Segmenter } from '../../src/package/segmenter.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FrameQueueReader, FrameQueueWriter, type FrameQueueSink } from '../../src/stream/frame-queue.js';
import type { MediaFrame } from '../../src/stream/media-frame.js';
import { SegmentBoundaries } from '../../src/transcode/segment-boundaries.js';
import { AUDIO_CONFIG, VIDEO_CONFIG, syntheticFrames } from '../package/support/synthetic-frames.js';

function videoSegments(media: PackagedMedia[]): PackagedSegment[] {
  return media.filter((m): m is PackagedSegment => m.kind === 'segment' && m.track === 'video');
}

describe('segment alignment', () => {
  it('SegmentBoundaries finds a boundary within tolerance and maps pts to the source wall clock', () => {
    const boundaries = new SegmentBoundaries();
    boundaries.record(7, 2000, 1_700_000_002_000);
    boundaries.record(8, 4000, 1_700_000_004_000);
    assert.equal(boundaries.msnStartingAt(4000, 1), 8);
    assert.equal(boundaries.msnStartingAt(2001, 1), 7);
    assert.equal(boundaries.msnStartingAt(3000, 16), -1);
    assert.equal(boundaries.msnStartingAt(6000, 16), -1);
    assert.equal(boundaries.wallClockAt(4500), 1_700_000_004_500);
    assert.equal(boundaries.wallClockAt(2100), 1_700_000_002_100);
    for (let msn = 9; msn < 200; msn++) boundaries.record(msn, msn * 2000 - 14_000, 0);
    assert.equal(boundaries.size, 64, 'a bounded ring');
    assert.equal(boundaries.msnStartingAt(199 * 2000 - 14_000, 1), 199);
  });

  it('a SegmentStart record crosses the frame queue before its keyframe', () => {
    const ring = ByteRing.create(64 * 1024);
    const writer = new FrameQueueWriter(ring);
    const frame: MediaFrame = { track: 'video', dts: 1966, pts: 2000, keyframe: true, data: new Uint8Array([0, 0, 0, 1, 0x65]) };
    assert.ok(writer.writeSegmentStart(12, 2000, 1_700_000_000_123.5));
    assert.ok(writer.writeFrame(frame));
    const seen: string[] = [];
    const sink: FrameQueueSink = {
      videoConfig: () => undefined,
      audioConfig: () => undefined,
      metadata: () => undefined,
      end: () => undefined,
      segmentStart: (msn, pts, programDateTime) => seen.push(`start ${msn} ${pts} ${programDateTime}`),
      frame: (f) => seen.push(`frame ${f.pts} ${f.keyframe}`),
    };
    new FrameQueueReader(ring).read(sink);
    assert.deepEqual(seen, ['start 12 2000 1700000000123.5', 'frame 2000 true']);
  });

  it('an aligned Segmenter cuts where the source cut, with its msn and wall clock, even with extra keyframes and a late start', () => {
    // The source: 1 s GOPs, 2 s segments, starting at msn 40.
    const frames = syntheticFrames({ seconds: 9, fps: 30, keyint: 30, audio: true });
    const boundaries = new SegmentBoundaries();
    const sourceMedia: PackagedMedia[] = [];
    const source = new Segmenter({ rendition: 'source', startMsn: 40, now: () => 1_700_000_000_000 }, (m) => sourceMedia.push(m));
    source.videoConfig(VIDEO_CONFIG);
    source.audioConfig(AUDIO_CONFIG);
    const rendition: PackagedMedia[] = [];
    const aligned = new Segmenter(
      { rendition: '480p', alignTo: boundaries, outputs: { cmafAudio: false }, now: () => 0 },
      (m) => rendition.push(m),
    );
    aligned.videoConfig({ ...VIDEO_CONFIG, width: 160, height: 120 });
    aligned.audioConfig(AUDIO_CONFIG);
    for (const frame of frames) {
      const before = source.videoSegmentsOpened;
      source.frame(frame);
      if (source.videoSegmentsOpened !== before) boundaries.record(source.currentVideoMsn, frame.pts, source.wallClockAt(frame.pts));
      // The transcoder starts late: its output begins at the keyframe at 1 s (not a segment start).
      if (frame.track === 'video' && frame.pts >= 1000) aligned.frame(frame);
    }
    source.end();
    aligned.end();
    const sourceSegments = new Map(videoSegments(sourceMedia).map((s) => [s.msn, s]));
    const alignedSegments = videoSegments(rendition);
    assert.deepEqual(alignedSegments.map((s) => s.msn), [41, 42, 43, 44]);
    for (const segment of alignedSegments.slice(0, -1)) {
      const twin = sourceSegments.get(segment.msn)!;
      assert.equal(segment.startPts, twin.startPts, `msn ${segment.msn} starts where the source's does`);
      assert.equal(segment.programDateTime, twin.programDateTime, `msn ${segment.msn} has the source's wall clock`);
      assert.equal(segment.duration, twin.duration);
    }
    assert.ok(!rendition.some((m) => m.track === 'audio'), 'no CMAF audio: the source audio track is shared');
  });

  it('a boundary the rendition never saw (frames dropped) marks a discontinuity instead of mislabelling msn', () => {
    const boundaries = new SegmentBoundaries();
    const media: PackagedMedia[] = [];
    const aligned = new Segmenter({ rendition: '720p', alignTo: boundaries }, (m) => media.push(m));
    aligned.videoConfig(VIDEO_CONFIG);
    for (const frame of syntheticFrames({ seconds: 8, fps: 30, keyint: 60, audio: false })) {
      if (frame.keyframe) boundaries.record(Math.round(frame.dts / 2000), frame.pts, 1_700_000_000_000 + frame.pts);
      // the GOP of msn 2 (4–6 s) never reaches this rendition
      if (frame.dts >= 4000 && frame.dts < 6000) continue;
      aligned.frame(frame);
    }
    aligned.end();
    const segments = videoSegments(media);
    assert.deepEqual(segments.map((s) => [s.msn, s.discontinuity]), [[0, false], [1, false], [3, true]]);
  });
});
