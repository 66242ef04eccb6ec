import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { MediaFrame } from '../../src/stream/media-frame.js';
import { parseLadderSpec, type PlannedRendition } from '../../src/transcode/ladder.js';
import { TranscodeMetrics } from '../../src/transcode/transcode-metrics.js';
import { liveTranscodePids } from '../../src/transcode/transcode-process.js';
import { TranscodeSupervisor, type TranscodeSupervisorOptions } from '../../src/transcode/transcode-supervisor.js';
import { CollectingSink, makeSourceClip, readFlvVideo, scriptedFfmpeg } from './support/media.js';

const dir = mkdtempSync(join(tmpdir(), 'nova-transcode-'));
let hd: CollectingSink;
let small: CollectingSink;

before(async () => {
  await makeSourceClip(join(dir, 'hd.flv'), { width: 1920, height: 1080, fps: 30, seconds: 6, keyintFrames: 60, bitrateKbps: 6000, bFrames: 2 });
  await makeSourceClip(join(dir, 'small.flv'), { width: 640, height: 360, fps: 30, seconds: 4, keyintFrames: 30, bitrateKbps: 800, bFrames: 0 });
  hd = readFlvVideo(readFileSync(join(dir, 'hd.flv')));
  small = readFlvVideo(readFileSync(join(dir, 'small.flv')));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(liveTranscodePids(), [], 'no FFmpeg left running');
});

interface Harness {
  supervisor: TranscodeSupervisor;
  sinks: Map<string, CollectingSink>;
  changes: string[][];
}

function harness(overrides: Partial<TranscodeSupervisorOptions> = {}): Harness {
  const sinks = new Map<string, CollectingSink>();
  const changes: string[][] = [];
  const supervisor = new TranscodeSupervisor({
    streamId: 'test',
    ffmpegPath: 'ffmpeg',
    encoder: 'libx264',
    sinkFor: (rendition: PlannedRendition) => {
      // One collector per rendition for the whole test, across restarts (as a packager would be).
      let sink = sinks.get(rendition.name);
      if (sink === undefined) sinks.set(rendition.name, (sink = new CollectingSink()));
      return sink;
    },
    onRenditionsChanged: (list) => changes.push(list.map((r) => r.name)),
    ...overrides,
  });
  return { supervisor, sinks, changes };
}

/** Feeds frames at their DTS pace (speed 1 = real time), `loops` times with continuing timestamps. */
async function feed(supervisor: TranscodeSupervisor, frames: MediaFrame[], speed: number, loops = 1, during?: (mediaMs: number) => void): Promise<void> {
  const first = frames[0].dts;
  const span = frames[frames.length - 1].dts - first + (frames[1].dts - first);
  const started = performance.now();
  for (let loop = 0; loop < loops; loop++) {
    for (const frame of frames) {
      const mediaMs = frame.dts - first + loop * span;
      const due = mediaMs / speed;
      const wait = due - (performance.now() - started);
      if (wait > 2) await sleep(wait);
      supervisor.frame({ ...frame, dts: frame.dts + loop * span, pts: frame.pts + loop * span });
      during?.(mediaMs);
    }
  }
}

function nearest(values: number[], target: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (const v of values) if (Math.abs(v - target) < Math.abs(best - target)) best = v;
  return best;
}

test('1080p30 source in real time → 720p and 480p, keyframes on the source keyframes, bitrates on target', async () => {
  const registry = new Registry();
  const metrics = new TranscodeMetrics(registry);
  const { supervisor, sinks, changes } = harness({ metrics });
  supervisor.start();
  supervisor.videoConfig(hd.configs[0]);
  await feed(supervisor, hd.frames, 1);
  await supervisor.stop({ drainMs: 10_000 });

  assert.deepEqual(changes, [['source', '720p', '480p'], ['source']]);
  assert.equal(supervisor.stats.droppedLag + supervisor.stats.droppedQueueFull + supervisor.stats.droppedRestart, 0);
  const sourceKeyPts = hd.frames.filter((f) => f.keyframe).map((f) => f.pts);
  assert.equal(sourceKeyPts.length, 3);
  const frameMs = 1000 / 30;
  const durationS = hd.frames.length / 30;
  const expected = { '720p': [1280, 720, 5000], '480p': [854, 480, 2000] } as const;
  for (const [name, [width, height, kbps]] of Object.entries(expected)) {
    const sink = sinks.get(name);
    assert.ok(sink !== undefined, name);
    assert.equal(sink.configs[0].width, width, `${name} width`);
    assert.equal(sink.configs[0].height, height, `${name} height`);
    assert.match(sink.configs[0].codecString, /^avc1\.64/);
    assert.ok(Math.abs(sink.frames.length - hd.frames.length) <= 2, `${name}: ${sink.frames.length} frames vs ${hd.frames.length}`);
    const keyPts = sink.frames.filter((f) => f.keyframe).map((f) => f.pts);
    assert.equal(keyPts.length, sourceKeyPts.length, `${name} keyframes ${keyPts} vs source ${sourceKeyPts}`);
    for (const pts of sourceKeyPts) {
      assert.ok(Math.abs(nearest(keyPts, pts) - pts) <= frameMs, `${name}: no keyframe within a frame of source keyframe ${pts} (${keyPts})`);
    }
    const measuredKbps = (sink.bytes * 8) / durationS / 1000;
    assert.ok(Math.abs(measuredKbps - kbps) <= kbps * 0.25, `${name}: ${measuredKbps.toFixed(0)} kb/s vs target ${kbps}`);
  }
  const text = await registry.metrics();
  assert.match(text, /nova_streaming_transcode_restarts_total/);
  assert.doesNotMatch(text, /nova_streaming_transcode_speed\{stream="test"\}/, 'gauges removed with the stream');
});

test('killing FFmpeg by PID: renditions withdrawn, restarted within seconds, restored; metrics count it', async () => {
  const registry = new Registry();
  const metrics = new TranscodeMetrics(registry);
  const changedAt: number[] = [];
  const changes: string[][] = [];
  const { supervisor, sinks } = harness({
    ladder: parseLadderSpec('240p:400k'),
    metrics,
    backoff: { initialMs: 1000 },
    onRenditionsChanged: (list) => {
      changes.push(list.map((r) => r.name));
      changedAt.push(performance.now());
    },
  });
  supervisor.start();
  supervisor.videoConfig(small.configs[0]);
  let killedPid: number | undefined;
  let killedAt = 0;
  await feed(supervisor, small.frames, 1, 3, (mediaMs) => {
    if (killedPid === undefined && mediaMs >= 2500 && changes.length === 1) {
      killedPid = supervisor.pid;
      assert.ok(killedPid !== undefined);
      killedAt = performance.now();
      process.kill(killedPid, 'SIGKILL');
    }
  });
  const restartedPid = supervisor.pid;
  await supervisor.stop({ drainMs: 5000 });

  assert.ok(killedPid !== undefined, 'the kill happened');
  assert.deepEqual(changes.slice(0, 3), [['source', '240p'], ['source'], ['source', '240p']]);
  assert.ok(restartedPid !== undefined && restartedPid !== killedPid);
  assert.equal(supervisor.stats.restarts, 1);
  assert.equal(supervisor.stats.processStarts, 2);
  assert.ok(supervisor.stats.droppedRestart > 0);
  assert.ok(killedAt > 0);
  assert.ok(changedAt[2] - killedAt < 4000, `restored ${(changedAt[2] - killedAt).toFixed(0)} ms after the kill`);
  assert.throws(() => process.kill(killedPid as number, 0), /ESRCH/);
  assert.throws(() => process.kill(restartedPid, 0), /ESRCH/, 'stopped process is gone');
  // Output resumed at a keyframe after the restart, with timestamps still on the source timeline.
  const frames = sinks.get('240p')?.frames ?? [];
  const gapIndex = frames.findIndex((f, i) => i > 0 && f.dts - frames[i - 1].dts > 200);
  assert.ok(gapIndex > 0, 'a gap where the process was down');
  assert.equal(frames[gapIndex].keyframe, true);
  assert.match(await registry.metrics(), /nova_streaming_transcode_restarts_total\{reason="exit"\} 1/);
});

test('stall: an FFmpeg that takes input but never outputs is killed and restarted with backoff', async () => {
  const { supervisor, changes } = harness({
    ffmpegPath: scriptedFfmpeg(dir, 'silent-ffmpeg', 'exec cat > /dev/null'),
    ladder: parseLadderSpec('240p:400k'),
    stallTimeoutMs: 600,
    tickMs: 100,
    backoff: { initialMs: 100, maxMs: 400 },
  });
  supervisor.start();
  supervisor.videoConfig(small.configs[0]);
  await feed(supervisor, small.frames, 1, 1);
  const stats = { ...supervisor.stats };
  await supervisor.stop({ drainMs: 0 });
  assert.ok(stats.stalls >= 2, `stalls ${stats.stalls}`);
  assert.ok(stats.processStarts >= 3);
  assert.deepEqual(changes, [], 'never live, so never announced');
});

test('writes never block: an FFmpeg that reads nothing fills the bounded queue, then frames are dropped to the next keyframe', async () => {
  const { supervisor } = harness({
    ffmpegPath: scriptedFfmpeg(dir, 'deaf-ffmpeg', 'exec sleep 30'),
    ladder: parseLadderSpec('240p:400k'),
    maxQueuedBytes: 256 * 1024,
    maxLagMs: 3_600_000,
  });
  supervisor.start();
  supervisor.videoConfig(hd.configs[0]);
  let slowest = 0;
  for (const frame of hd.frames) {
    const started = performance.now();
    supervisor.frame(frame);
    slowest = Math.max(slowest, performance.now() - started);
  }
  const stats = { ...supervisor.stats };
  await supervisor.stop({ drainMs: 0 });
  assert.ok(stats.droppedQueueFull > 0);
  assert.equal(stats.writtenFrames + stats.droppedQueueFull, hd.frames.length);
  assert.ok(slowest < 50, `slowest frame() ${slowest.toFixed(1)} ms`);
});

test('encoder behind real time: input dropped up to keyframes, output still decodable and on the source timeline', async () => {
  const { supervisor, sinks } = harness({ ladder: parseLadderSpec('240p:400k'), maxLagMs: 150 });
  supervisor.start();
  supervisor.videoConfig(small.configs[0]);
  await feed(supervisor, small.frames, 20, 3);
  await supervisor.stop({ drainMs: 5000 });
  const { stats } = supervisor;
  assert.ok(stats.droppedLag > 0, `dropped ${stats.droppedLag}`);
  assert.equal(stats.writtenFrames + stats.droppedLag + stats.droppedRestart, stats.inputFrames);
  const frames = sinks.get('240p')?.frames ?? [];
  assert.equal(frames.length, stats.writtenFrames, 'FFmpeg encoded every frame written');
  for (let i = 1; i < frames.length; i++) {
    if (frames[i].dts - frames[i - 1].dts > 40) assert.equal(frames[i].keyframe, true, `resumed on a keyframe at ${frames[i].dts}`);
  }
});
