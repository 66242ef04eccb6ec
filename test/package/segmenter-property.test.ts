import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Segmenter } from '../../src/package/segmenter.js';
import type { PackagedMedia, PackagedPart, PackagedSegment } from '../../src/package/packaged-media.js';
import type { MediaFrame } from '../../src/stream/media-frame.js';
import { AUDIO_CONFIG, VIDEO_CONFIG } from './support/synthetic-frames.js';
import { readFragments } from './support/box-reader.js';

const event = fc.record({
  video: fc.boolean(),
  dtsStep: fc.integer({ min: 0, max: 120 }),
  size: fc.integer({ min: 0, max: 3000 }),
  keyframe: fc.boolean(),
  cts: fc.integer({ min: -20, max: 300 }),
  seed: fc.integer({ min: 0, max: 255 }),
  discontinuityBefore: fc.integer({ min: 0, max: 60 }).map((n) => n === 0),
});

const scenario = fc.record({
  tracks: fc.constantFrom('av', 'video', 'audio'),
  targetDurationMs: fc.integer({ min: 100, max: 3000 }),
  partTargetMs: fc.integer({ min: 30, max: 1000 }),
  events: fc.array(event, { maxLength: 400 }),
});

test('property: any frame sequence packages without throwing, parts are never empty, all bytes come out once', () => {
  fc.assert(
    fc.property(scenario, ({ tracks, targetDurationMs, partTargetMs, events }) => {
      const out: PackagedMedia[] = [];
      const segmenter = new Segmenter({ rendition: 'p', targetDurationMs, partTargetMs, now: () => 0 }, (m) => out.push(m));
      if (tracks !== 'audio') segmenter.videoConfig(VIDEO_CONFIG);
      if (tracks !== 'video') segmenter.audioConfig(AUDIO_CONFIG);
      const dts = { video: 0, audio: 0 };
      let bytesIn = 0;
      for (const e of events) {
        if (e.discontinuityBefore) segmenter.discontinuity();
        const track = e.video ? 'video' : 'audio';
        dts[track] += e.dtsStep;
        const data = new Uint8Array(e.size).fill(e.seed);
        const frame: MediaFrame = { track, dts: dts[track], pts: dts[track] + (e.video ? e.cts : 0), keyframe: e.keyframe, data };
        segmenter.frame(frame);
        data.fill(0xaa); // the caller may reuse buffers after the call
        bytesIn += e.size;
      }
      segmenter.end();

      let bytesOut = 0;
      for (const m of out) {
        if (m.kind !== 'part') continue;
        const fragments = readFragments(m.bytes);
        assert.equal(fragments.length, 1);
        assert.ok(fragments[0].samples.length > 0, 'part with zero samples');
        for (const s of fragments[0].samples) bytesOut += s.size;
      }
      assert.equal(bytesOut, bytesIn - segmenter.stats.bytesDropped, 'sample bytes out == in');
      for (const s of out.filter((m): m is PackagedSegment => m.kind === 'segment' && m.track !== 'ts')) {
        const parts = out.filter((m): m is PackagedPart => m.kind === 'part' && m.track === s.track && m.msn === s.msn);
        assert.equal(s.bytes.byteLength, parts.reduce((sum, p) => sum + p.bytes.byteLength, 0));
      }
      const lastMsn = new Map<string, number>();
      for (const s of out.filter((m): m is PackagedSegment => m.kind === 'segment')) {
        assert.ok(s.msn > (lastMsn.get(s.track) ?? -1), `${s.track} segment msn ${s.msn} after ${lastMsn.get(s.track)}`);
        lastMsn.set(s.track, s.msn);
      }
      for (const s of out.filter((m): m is PackagedSegment => m.kind === 'segment' && m.track === 'ts')) {
        assert.equal(s.bytes.byteLength % 188, 0);
      }
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
  );
});

test('property: sample payloads are copies taken at frame() time (callers may reuse their buffers)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 80 }), (sizes) => {
      const out: PackagedMedia[] = [];
      const segmenter = new Segmenter({ rendition: 'p', now: () => 0 }, (m) => out.push(m));
      segmenter.audioConfig(AUDIO_CONFIG);
      const reused = new Uint8Array(500);
      const expected: number[] = [];
      sizes.forEach((size, i) => {
        reused.fill(i & 0xff, 0, size);
        const dts = Math.round((i * 1024 * 1000) / 48000);
        segmenter.frame({ track: 'audio', dts, pts: dts, keyframe: true, data: reused.subarray(0, size) });
        for (let b = 0; b < size; b++) expected.push(i & 0xff);
      });
      segmenter.end();
      const payload = out
        .filter((m): m is PackagedSegment => m.kind === 'segment' && m.track === 'audio')
        .flatMap((s) => readFragments(s.bytes).flatMap((f) => [...f.mdatPayload]));
      assert.deepEqual(payload, expected);
    }),
    { numRuns: 100 },
  );
});
