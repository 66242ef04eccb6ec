import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NovaError } from '../../src/errors.js';
import type { VideoTrackConfig } from '../../src/stream/media-frame.js';
import { DEFAULT_LADDER_SPEC, parseLadderSpec, planLadder, scaledWidth } from '../../src/transcode/ladder.js';

function video(width: number, height: number): VideoTrackConfig {
  return { codec: 'h264', avcC: new Uint8Array([1]), width, height, codecString: 'avc1.64002a', frameRate: 30 };
}

const DEFAULT = parseLadderSpec(DEFAULT_LADDER_SPEC);

function summary(plan: ReturnType<typeof planLadder>): string[] {
  return plan.renditions.map((r) => `${r.name}:${r.width}x${r.height}@${r.bitrateKbps}${r.passthrough ? ':passthrough' : ''}`);
}

test('the default spec is 1080p/720p/480p at 8/5/2 Mb/s', () => {
  assert.deepEqual(DEFAULT, [
    { name: '1080p', height: 1080, bitrateKbps: 8000 },
    { name: '720p', height: 720, bitrateKbps: 5000 },
    { name: '480p', height: 480, bitrateKbps: 2000 },
  ]);
});

test('1080p source: source passthrough + 720p + 480p (no 1080p re-encode)', () => {
  const plan = planLadder(video(1920, 1080), DEFAULT);
  assert.deepEqual(summary(plan), ['source:1920x1080@0:passthrough', '720p:1280x720@5000', '480p:854x480@2000']);
  assert.deepEqual(plan.transcoded.map((r) => r.name), ['720p', '480p']);
});

test('720p source: source + 480p; 480p source: source only; never upscaled', () => {
  assert.deepEqual(summary(planLadder(video(1280, 720), DEFAULT)), ['source:1280x720@0:passthrough', '480p:854x480@2000']);
  const small = planLadder(video(854, 480), DEFAULT);
  assert.deepEqual(summary(small), ['source:854x480@0:passthrough']);
  assert.deepEqual(small.transcoded, []);
  assert.deepEqual(summary(planLadder(video(2560, 1440), DEFAULT)).slice(1, 2), ['1080p:1920x1080@8000']);
});

test('audio-only stream (no video config): no ladder at all', () => {
  assert.deepEqual(planLadder(null, DEFAULT), { renditions: [], transcoded: [] });
});

test('widths are even and keep the aspect ratio', () => {
  assert.equal(scaledWidth(1920, 1080, 480), 854);
  assert.equal(scaledWidth(1440, 1080, 720), 960);
  assert.equal(scaledWidth(1920, 800, 480), 1152);
  for (let w = 160; w <= 4096; w += 37) {
    for (const h of [240, 360, 480, 720]) {
      const width = scaledWidth(w, 1081, h);
      assert.equal(width % 2, 0);
      assert.ok(Math.abs(width - (w * h) / 1081) <= 1, `${w}→${width}`);
    }
  }
});

test('spec parsing: units, order, and refusals', () => {
  assert.deepEqual(parseLadderSpec('360p:0.8M, 720p:3000'), [
    { name: '720p', height: 720, bitrateKbps: 3000 },
    { name: '360p', height: 360, bitrateKbps: 800 },
  ]);
  assert.deepEqual(parseLadderSpec(''), []);
  for (const bad of ['720:5000k', '720p', '721p:5000k', '720p:5000k,720p:1000k', '720p:10k', 'abc']) {
    assert.throws(() => parseLadderSpec(bad), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CONFIG', bad);
  }
});
