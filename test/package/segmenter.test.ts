import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Segmenter, type SegmenterOptions } from '../../src/package/segmenter.js';
import type { PackagedInit, PackagedMedia, PackagedPart, PackagedSegment, PackagedTrack } from '../../src/package/packaged-media.js';
import type { MediaFrame } from '../../src/stream/media-frame.js';
import { AUDIO_CONFIG, VIDEO_CONFIG, syntheticFrames, type SyntheticOptions } from './support/synthetic-frames.js';
import { readFragments } from './support/box-reader.js';

interface Run {
  out: PackagedMedia[];
  segmenter: Segmenter;
  longGops: number[];
}

function runSegmenter(frames: MediaFrame[], options: Partial<SegmenterOptions> = {}, tracks = { video: true, audio: true }): Run {
  const out: PackagedMedia[] = [];
  const longGops: number[] = [];
  const segmenter = new Segmenter({ rendition: '720p', now: () => 1_700_000_000_000, onLongGop: (ms) => longGops.push(ms), ...options }, (m) => out.push(m));
  if (tracks.video) segmenter.videoConfig(VIDEO_CONFIG);
  if (tracks.audio) segmenter.audioConfig(AUDIO_CONFIG);
  for (const f of frames) segmenter.frame(f);
  segmenter.end();
  return { out, segmenter, longGops };
}

const segmentsOf = (out: PackagedMedia[], track: PackagedTrack): PackagedSegment[] =>
  out.filter((m): m is PackagedSegment => m.kind === 'segment' && m.track === track);
const partsOf = (out: PackagedMedia[], track: PackagedTrack, msn?: number): PackagedPart[] =>
  out.filter((m): m is PackagedPart => m.kind === 'part' && m.track === track && (msn === undefined || m.msn === msn));

function concat(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, c) => sum + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

const av = (o: Partial<SyntheticOptions> = {}): MediaFrame[] => syntheticFrames({ seconds: 6.5, ...o });

test('emits one init per CMAF track with codecs and timescale', () => {
  const { out } = runSegmenter(av());
  const inits = out.filter((m): m is PackagedInit => m.kind === 'init');
  assert.deepEqual(inits.map((i) => [i.track, i.codecs, i.timescale]), [['video', 'avc1.64001f', 90000], ['audio', 'mp4a.40.2', 48000]]);
});

test('segments: msn increments from 0, same msn set on video, audio and ts, durations near target', () => {
  const { out } = runSegmenter(av());
  for (const track of ['video', 'audio', 'ts'] as const) {
    const msns = segmentsOf(out, track).map((s) => s.msn);
    assert.deepEqual(msns, [0, 1, 2, 3], `${track} msns`);
  }
  const video = segmentsOf(out, 'video');
  assert.deepEqual(video.slice(0, -1).map((s) => Math.round(s.duration * 1000)), [2000, 2000, 2000]);
  // the last sample's duration is estimated from the one before it (34 ms on a 33.3 ms grid)
  assert.ok(Math.abs(video[3].duration - 0.5) <= 0.002, `last ${video[3].duration}`);
  assert.deepEqual(video.map((s) => s.baseMediaDecodeTime), [0, 180000, 360000, 540000]);
  assert.deepEqual(segmentsOf(out, 'ts').map((s) => s.duration), video.map((s) => s.duration));
});

test('parts: duration <= partTarget + one frame, never empty, indices from 0 per segment', () => {
  for (const partTargetMs of [200, 333, 1000]) {
    const { out } = runSegmenter(av(), { partTargetMs });
    for (const [track, frameSeconds] of [['video', 1 / 30], ['audio', 1024 / 48000]] as const) {
      for (const segment of segmentsOf(out, track)) {
        const parts = partsOf(out, track, segment.msn);
        assert.ok(parts.length > 0);
        assert.deepEqual(parts.map((p) => p.part.index), parts.map((_, i) => i));
        assert.deepEqual(segment.parts, parts.map((p) => p.part), 'segment lists exactly its parts');
        for (const p of parts) {
          assert.ok(p.part.duration <= partTargetMs / 1000 + frameSeconds + 1e-9, `${track} part ${p.part.duration}s > ${partTargetMs}ms + frame`);
          assert.ok(readFragments(p.bytes)[0].samples.length > 0);
        }
        const sum = parts.reduce((s, p) => s + p.part.duration, 0);
        assert.ok(Math.abs(sum - segment.duration) < 1e-9, 'parts add up to the segment');
      }
    }
  }
});

test('independent flag is set exactly on parts whose first sample is a keyframe; every segment starts independent', () => {
  const { out } = runSegmenter(av({ keyint: 30 }));
  for (const p of partsOf(out, 'video')) {
    const [fragment] = readFragments(p.bytes);
    assert.equal(p.part.independent, fragment.samples[0].flags === 0x02000000);
    if (p.part.index === 0) assert.ok(p.part.independent, `segment ${p.msn} starts with a keyframe`);
  }
  assert.ok(partsOf(out, 'video').some((p) => !p.part.independent), 'non-key parts exist');
  assert.ok(partsOf(out, 'audio').every((p) => p.part.independent));
});

test('a CMAF segment is its parts back to back, and every output owns its ArrayBuffer', () => {
  const { out } = runSegmenter(av());
  for (const track of ['video', 'audio'] as const) {
    for (const segment of segmentsOf(out, track)) {
      assert.deepEqual(segment.bytes, concat(partsOf(out, track, segment.msn).map((p) => p.bytes)));
    }
  }
  for (const m of out) {
    assert.equal(m.bytes.byteOffset, 0);
    assert.equal(m.bytes.byteLength, m.bytes.buffer.byteLength);
  }
});

test('every sample byte goes out once per format; end() flushes the last partial segment', () => {
  const frames = av({ seconds: 3.3 });
  const { out } = runSegmenter(frames);
  for (const track of ['video', 'audio'] as const) {
    const input = frames.filter((f) => f.track === track);
    const fragments = segmentsOf(out, track).flatMap((s) => readFragments(s.bytes));
    const samples = fragments.flatMap((f) => f.samples);
    assert.equal(samples.length, input.length, `${track} sample count`);
    assert.deepEqual(concat(fragments.map((f) => f.mdatPayload)), concat(input.map((f) => f.data)));
  }
  const last = segmentsOf(out, 'video').at(-1)!;
  assert.ok(last.duration > 1.2 && last.duration < 1.4, `partial last segment ${last.duration}`);
});

test('audio boundary follows the video keyframe pts, also when audio runs ahead of video', () => {
  for (const audioLeadMs of [0, 150]) {
    const { out } = runSegmenter(av({ audioLeadMs }));
    const video = segmentsOf(out, 'video');
    const audio = segmentsOf(out, 'audio');
    for (let i = 1; i < video.length; i++) {
      const boundary = video[i].startPts;
      const [first] = readFragments(audio[i].bytes);
      const firstAudioPts = first.baseMediaDecodeTime / 48;
      assert.ok(firstAudioPts >= boundary - 0.5 && firstAudioPts < boundary + 1024 / 48, `lead ${audioLeadMs}: audio seg ${i} starts ${firstAudioPts} vs video ${boundary}`);
    }
  }
});

test('audio decode times count samples: contiguous across segments with no ms rounding drift', () => {
  const { out } = runSegmenter(av({ seconds: 10 }));
  const fragments = segmentsOf(out, 'audio').flatMap((s) => readFragments(s.bytes));
  let expected = fragments[0].baseMediaDecodeTime;
  for (const f of fragments) {
    assert.equal(f.baseMediaDecodeTime, expected);
    for (const s of f.samples) { assert.equal(s.duration, 1024); expected += s.duration; }
  }
});

test('long GOP: keyframe interval above target is reported once per occurrence', () => {
  const { out, segmenter, longGops } = runSegmenter(av({ seconds: 12, keyint: 150 }), { targetDurationMs: 2000 });
  assert.deepEqual(longGops, [5000, 5000]);
  assert.equal(segmenter.stats.longGops, 2);
  assert.deepEqual(segmentsOf(out, 'video').slice(0, 2).map((s) => Math.round(s.duration * 1000)), [5000, 5000]);
  assert.equal(segmentsOf(out, 'video').length, 3);
});

test('no long GOP reported when the keyframe interval equals the target', () => {
  const { segmenter } = runSegmenter(av({ keyint: 60 }));
  assert.equal(segmenter.stats.longGops, 0);
});

test('programDateTime = wall clock of the first frame + (startPts - firstPts)', () => {
  let clock = 1_000_000;
  const out: PackagedMedia[] = [];
  const segmenter = new Segmenter({ rendition: 'r', now: () => (clock += 7) }, (m) => out.push(m));
  segmenter.videoConfig(VIDEO_CONFIG);
  segmenter.audioConfig(AUDIO_CONFIG);
  const frames = av({ seconds: 4.5 });
  for (const f of frames) segmenter.frame(f);
  segmenter.end();
  const firstPts = frames[0].pts;
  for (const s of out.filter((m): m is PackagedSegment => m.kind === 'segment')) {
    assert.equal(s.programDateTime, 1_000_007 + (s.startPts - firstPts), `${s.track} ${s.msn}`);
  }
});

test('audio-only: cut by duration, ts segments follow', () => {
  const { out } = runSegmenter(syntheticFrames({ seconds: 5, video: false }), {}, { video: false, audio: true });
  const audio = segmentsOf(out, 'audio');
  assert.deepEqual(audio.map((s) => s.msn), [0, 1, 2]);
  for (const s of audio.slice(0, -1)) assert.ok(Math.abs(s.duration - 2) <= 1024 / 48000 / 2 + 1e-9, `${s.duration}`);
  assert.deepEqual(segmentsOf(out, 'ts').map((s) => s.msn), [0, 1, 2]);
  assert.equal(out.filter((m) => m.kind === 'init').length, 1);
});

test('video before the first keyframe is dropped and counted', () => {
  const frames = syntheticFrames({ seconds: 3, audio: false }).slice(10);
  const { out, segmenter } = runSegmenter(frames, {}, { video: true, audio: false });
  assert.equal(segmenter.stats.framesDropped, 50);
  const [first] = readFragments(partsOf(out, 'video')[0].bytes);
  assert.equal(first.samples[0].flags, 0x02000000);
});

test('discontinuity(): closes the open segment, flags the next, msn and timestamps continue', () => {
  const out: PackagedMedia[] = [];
  const segmenter = new Segmenter({ rendition: 'r', now: () => 5 }, (m) => out.push(m));
  segmenter.videoConfig(VIDEO_CONFIG);
  segmenter.audioConfig(AUDIO_CONFIG);
  for (const f of av({ seconds: 3 })) segmenter.frame(f);
  segmenter.discontinuity();
  const beforeCount = out.length;
  // the republish starts its timestamps from 0 again and resends identical configs
  segmenter.videoConfig(VIDEO_CONFIG);
  segmenter.audioConfig(AUDIO_CONFIG);
  for (const f of av({ seconds: 3 })) segmenter.frame(f);
  segmenter.end();
  assert.equal(out.slice(beforeCount).filter((m) => m.kind === 'init').length, 0, 'identical config: no new init');
  for (const track of ['video', 'audio', 'ts'] as const) {
    const segments = segmentsOf(out, track);
    assert.deepEqual(segments.map((s) => s.msn), [0, 1, 2, 3], track);
    assert.deepEqual(segments.map((s) => s.discontinuity), [false, false, true, false], track);
  }
  for (const track of ['video', 'audio'] as const) {
    const fragments = segmentsOf(out, track).flatMap((s) => readFragments(s.bytes));
    for (let i = 1; i < fragments.length; i++) {
      const previous = fragments[i - 1];
      const end = previous.baseMediaDecodeTime + previous.samples.reduce((sum, s) => sum + s.duration, 0);
      assert.ok(fragments[i].baseMediaDecodeTime >= end, `${track} fragment ${i} goes back in time`);
    }
  }
});

test('a changed video config emits a new init and flags a discontinuity', () => {
  const out: PackagedMedia[] = [];
  const segmenter = new Segmenter({ rendition: 'r' }, (m) => out.push(m));
  segmenter.videoConfig(VIDEO_CONFIG);
  const frames = syntheticFrames({ seconds: 3, audio: false });
  for (const f of frames.slice(0, 45)) segmenter.frame(f);
  segmenter.videoConfig({ ...VIDEO_CONFIG, width: 640, height: 480 });
  for (const f of frames.slice(60)) segmenter.frame(f);
  segmenter.end();
  assert.equal(out.filter((m) => m.kind === 'init').length, 2);
  assert.deepEqual(segmentsOf(out, 'video').map((s) => [s.msn, s.discontinuity]), [[0, false], [1, true]]);
});

test('outputs option: TS only still cuts segments, CMAF only emits no ts', () => {
  const tsOnly = runSegmenter(av({ seconds: 4.5 }), { outputs: { cmaf: false } }).out;
  assert.equal(tsOnly.filter((m) => m.track !== 'ts').length, 0);
  assert.deepEqual(segmentsOf(tsOnly, 'ts').map((s) => s.msn), [0, 1, 2]);
  const cmafOnly = runSegmenter(av({ seconds: 4.5 }), { outputs: { ts: false } }).out;
  assert.equal(segmentsOf(cmafOnly, 'ts').length, 0);
  assert.equal(segmentsOf(cmafOnly, 'video').length, 3);
});

test('enableTs() mid-stream: TS from the next segment to open on, with the timing of its CMAF segment', () => {
  const frames = av({ seconds: 8.5 });
  const out: PackagedMedia[] = [];
  const segmenter = new Segmenter({ rendition: 'source', now: () => 1_700_000_000_000, outputs: { ts: false } }, (m) => out.push(m));
  segmenter.videoConfig(VIDEO_CONFIG);
  segmenter.audioConfig(AUDIO_CONFIG);
  let enabledDuringMsn = -1;
  for (const frame of frames) {
    // a TS client asks a little into the stream's second segment (mid-segment, between two frames)
    if (enabledDuringMsn < 0 && frame.track === 'video' && frame.dts >= 2500) {
      enabledDuringMsn = segmenter.currentVideoMsn;
      segmenter.enableTs();
      segmenter.enableTs(); // idempotent
    }
    segmenter.frame(frame);
  }
  segmenter.end();
  const video = segmentsOf(out, 'video');
  const ts = segmentsOf(out, 'ts');
  assert.equal(enabledDuringMsn, 1);
  assert.deepEqual(ts.map((s) => s.msn), video.filter((s) => s.msn > enabledDuringMsn).map((s) => s.msn), 'TS for every segment after the one open at the request');
  for (const segment of ts) {
    const cmaf = video.find((v) => v.msn === segment.msn)!;
    assert.equal(segment.startPts, cmaf.startPts);
    assert.equal(segment.duration, cmaf.duration);
    // whole 188-byte packets (FFmpeg reading one, keyframe first, is test/e2e/ts-on-demand)
    assert.equal(segment.bytes[0], 0x47);
    assert.equal(segment.bytes.byteLength % 188, 0);
  }
});

test('resume: startMsn continues numbering and discontinuity() on a fresh segmenter flags its first segment', () => {
  const out: PackagedMedia[] = [];
  const segmenter = new Segmenter({ rendition: 'r', startMsn: 17 }, (m) => out.push(m));
  segmenter.videoConfig(VIDEO_CONFIG);
  segmenter.audioConfig(AUDIO_CONFIG);
  segmenter.discontinuity();
  for (const f of av({ seconds: 2.5, startMs: 90_000 })) segmenter.frame(f);
  segmenter.end();
  for (const track of ['video', 'audio', 'ts'] as const) {
    assert.deepEqual(segmentsOf(out, track).map((s) => [s.msn, s.discontinuity]), [[17, true], [18, false]], track);
  }
  assert.equal(segmentsOf(out, 'video')[0].baseMediaDecodeTime, 90_000 * 90, 'timeline untouched');
});

test('fuzz seed -1961282920: audio that self-cut past a pending video boundary never reopens an older msn', () => {
  // Video's first keyframe at 93 ms with pts 302 (cts 209); audio 0…302 ms waits for video, then end() forces it out.
  const frames: MediaFrame[] = [
    { track: 'video', dts: 93, pts: 302, keyframe: true, data: new Uint8Array(0) },
    ...[0, 114, 205, 301, 302].map((dts): MediaFrame => ({ track: 'audio', dts, pts: dts, keyframe: true, data: new Uint8Array(0) })),
  ];
  const { out } = runSegmenter(frames, { targetDurationMs: 100, partTargetMs: 30 });
  const audioMsns = segmentsOf(out, 'audio').map((s) => s.msn);
  assert.deepEqual(audioMsns, [...new Set(audioMsns)].sort((a, b) => a - b), `audio msns ${audioMsns.join(',')}`);
});
