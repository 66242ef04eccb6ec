import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TimestampRepair } from '../../src/stream/timestamp-repair.js';
import type { TrackKind } from '../../src/stream/media-frame.js';

type Step = [TrackKind, number];

function run(steps: Step[], repair = new TimestampRepair()): number[] {
  return steps.map(([track, raw]) => repair.repair(track, raw));
}

test('clean interleaved A/V passes through untouched', () => {
  const repair = new TimestampRepair();
  const steps: Step[] = [['video', 0], ['audio', 0], ['audio', 23], ['video', 33], ['audio', 46], ['video', 67]];
  assert.deepEqual(run(steps, repair), [0, 0, 23, 33, 46, 67]);
  assert.deepEqual(repair.counters, { wraps: 0, backwardJumps: 0, forwardJumps: 0, repeats: 0 });
});

test('32-bit wrap continues forward, also with A/V straddling the wrap', () => {
  const repair = new TimestampRepair();
  const w = 2 ** 32;
  const steps: Step[] = [['video', w - 50], ['audio', w - 30], ['video', w - 17], ['audio', 10], ['video', 16], ['audio', 33], ['video', 49]];
  assert.deepEqual(run(steps, repair), [w - 50, w - 30, w - 17, w + 10, w + 16, w + 33, w + 49]);
  assert.equal(repair.counters.wraps, 1);
  // a late video frame from before the wrap arrives after audio wrapped: it unwraps backwards, not forwards
  const late = new TimestampRepair();
  assert.deepEqual(run([['video', w - 20], ['audio', 3], ['video', w - 10]], late), [w - 20, w + 3, w - 10]);
});

test('a backward jump (publisher restart) re-bases both tracks with one offset', () => {
  const repair = new TimestampRepair();
  const before: Step[] = [['video', 10000], ['audio', 10010], ['video', 10033], ['audio', 10033], ['video', 10067], ['audio', 10056]];
  run(before, repair);
  // the encoder restarts its clock at 0
  const after = run([['video', 0], ['audio', 5], ['video', 33], ['audio', 28]], repair);
  assert.equal(repair.counters.backwardJumps, 1);
  assert.equal(after[0], 10067 + 34, 'video continues at last + its measured frame duration');
  assert.equal(after[1] - after[0], 5, 'audio keeps its distance to video (A/V sync)');
  assert.equal(after[2] - after[0], 33);
  assert.equal(after[3] - after[1], 23);
  assert.equal(repair.counters.forwardJumps, 0);
});

test('a forward jump beyond the threshold re-bases; below it passes', () => {
  const repair = new TimestampRepair({ maxForwardGapMs: 5000 });
  const out = run([['video', 0], ['video', 33], ['video', 4033], ['video', 60000], ['video', 60033]], repair);
  assert.deepEqual(out, [0, 33, 4033, 4033 + 33, 4033 + 66]);
  assert.equal(repair.counters.forwardJumps, 0 + 1);
});

test('the re-base target never puts the other track backwards', () => {
  const repair = new TimestampRepair();
  run([['video', 1000], ['audio', 1100], ['video', 1033], ['audio', 1123]], repair);
  const [video, audio] = run([['video', 90000], ['audio', 90000]], repair);
  assert.ok(video > 1123, `video re-based past audio's last (${video})`);
  assert.ok(audio > 1123);
  assert.equal(audio, video, 'same raw time → same output time');
});

test('repeated and slightly backward DTS are nudged to strictly increasing, per track', () => {
  const repair = new TimestampRepair();
  const out = run([['video', 100], ['audio', 100], ['video', 100], ['video', 90], ['video', 133], ['audio', 100], ['audio', 123]], repair);
  assert.deepEqual(out, [100, 100, 101, 102, 133, 101, 123]);
  assert.equal(repair.counters.repeats, 3);
});

test('B-frame composition offsets do not disturb DTS repair', () => {
  // FLV timestamps are DTS; pts = dts + cts is computed by the demuxer after repair.
  const repair = new TimestampRepair();
  const dts = [0, 33, 67, 100, 133].map((t) => repair.repair('video', t));
  const cts = [67, 133, 0, 33, 67];
  assert.deepEqual(dts.map((d, i) => d + cts[i]), [67, 166, 67, 133, 200]);
  assert.equal(repair.counters.repeats, 0);
});

test('property: output DTS strictly increases per track for any input sequence', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom<TrackKind>('video', 'audio'), fc.oneof(fc.nat(0xffffffff), fc.integer({ min: 0, max: 200 }))), {
        maxLength: 300,
      }),
      (steps) => {
        const repair = new TimestampRepair();
        const last: Record<TrackKind, number> = { video: -Infinity, audio: -Infinity };
        for (const [track, raw] of steps) {
          const out = repair.repair(track, raw);
          assert.ok(Number.isInteger(out), `integer ms (${out})`);
          assert.ok(out > last[track], `${track} ${out} after ${last[track]}`);
          last[track] = out;
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('property: a stream advancing in small steps across wraps maps to raw + k·2^32 exactly', () => {
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 500 }), (start, deltas) => {
      const repair = new TimestampRepair();
      let t = start;
      assert.equal(repair.repair('video', t), t);
      for (const d of deltas) {
        t += d;
        assert.equal(repair.repair('video', t % 2 ** 32), t);
      }
      assert.equal(repair.counters.wraps, Math.floor(t / 2 ** 32) - Math.floor(start / 2 ** 32));
    }),
    { numRuns: 1000 },
  );
});
