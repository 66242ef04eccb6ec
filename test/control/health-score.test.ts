import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HEALTH_RULES, healthOf, measuresOf, streamHealth, type HealthMeasures } from '../../src/control/health-score.js';
import type { SeriesStats } from '../../src/control/series-stats.js';

const PERFECT: HealthMeasures = {
  coverage: 1,
  bitrateVariation: 0.02,
  frameRateVariation: 0.01,
  droppedFrameRatio: 0,
  transcodeLagMs: 200,
  rebufferRatio: 0,
};

/** each measure from fine to broken, in order */
const WORSENING: Array<[keyof HealthMeasures, number[]]> = [
  ['coverage', [1, 0.95, 0.8, 0.6, 0.5, 0.1]],
  ['bitrateVariation', [0.1, 0.3, 0.5, 0.8, 1, 3]],
  ['frameRateVariation', [0.01, 0.08, 0.15, 0.25, 0.3, 1]],
  ['droppedFrameRatio', [0, 0.005, 0.02, 0.04, 0.05, 0.5]],
  ['transcodeLagMs', [0, 1500, 3000, 4500, 5000, 60_000]],
  ['rebufferRatio', [0, 0.005, 0.01, 0.03, 0.05, 1]],
];

function stats(overrides: Partial<SeriesStats> = {}): SeriesStats {
  return {
    samples: 60,
    firstAt: 0,
    lastAt: 59_000,
    ingressBitrate: { mean: 3_000_000, stddev: 90_000 },
    fps: { mean: 30, stddev: 0.5 },
    rebufferRatio: null,
    rebufferSamples: 0,
    ...overrides,
  };
}

describe('streamHealth', () => {
  it('is 100 when every measure is fine, with each component at 100', () => {
    const health = streamHealth(PERFECT);
    assert.equal(health.score, 100);
    assert.deepEqual(Object.values(health.components), [100, 100, 100, 100, 100, 100]);
  });

  it('falls as each measure worsens, to that component\'s weight when it is at its worst', () => {
    const component = {
      coverage: 'ingest_continuity',
      bitrateVariation: 'bitrate_steadiness',
      frameRateVariation: 'frame_rate_steadiness',
      droppedFrameRatio: 'dropped_frames',
      transcodeLagMs: 'transcode_lag',
      rebufferRatio: 'rebuffering',
    } as const;
    for (const [measure, values] of WORSENING) {
      const scores = values.map((value) => streamHealth({ ...PERFECT, [measure]: value }));
      for (let i = 1; i < scores.length; i++) {
        assert.ok(scores[i]!.score <= scores[i - 1]!.score, `${measure} ${values[i]}: ${scores[i]!.score} after ${scores[i - 1]!.score}`);
      }
      assert.equal(scores[0]!.score, 100, `${measure} fine`);
      assert.ok(scores[2]!.score < 100 && scores[2]!.score > 100 - HEALTH_RULES[component[measure]].weight, `${measure} half bad: ${scores[2]!.score}`);
      // at and past `bad` the component is 0 and the score loses exactly its weight (weights sum to 100)
      const worst = scores[scores.length - 1]!;
      assert.equal(worst.components[component[measure]], 0, measure);
      assert.equal(worst.score, 100 - HEALTH_RULES[component[measure]].weight, measure);
      assert.equal(scores[4]!.score, worst.score, `${measure} at bad is already the worst`);
    }
  });

  it('stays within 0..100, and is 0 with everything broken', () => {
    assert.equal(Object.values(HEALTH_RULES).reduce((sum, rule) => sum + rule.weight, 0), 100);
    const broken = streamHealth({ coverage: 0, bitrateVariation: Infinity, frameRateVariation: 5, droppedFrameRatio: 1, transcodeLagMs: 1e9, rebufferRatio: 1 });
    assert.equal(broken.score, 0);
    // a seeded walk through measures in and far out of range, negative ones included
    let seed = 7;
    const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648) * 4 - 1;
    for (let i = 0; i < 2000; i++) {
      const health = streamHealth({
        coverage: next(),
        bitrateVariation: next(),
        frameRateVariation: i % 3 === 0 ? null : next(),
        droppedFrameRatio: i % 2 === 0 ? null : next(),
        transcodeLagMs: next() * 10_000,
        rebufferRatio: i % 5 === 0 ? null : next(),
      });
      assert.ok(health.score >= 0 && health.score <= 100, String(health.score));
      for (const value of Object.values(health.components)) assert.ok(value === null || (value >= 0 && value <= 100), String(value));
    }
  });

  it('leaves a measure that is missing out: it neither helps nor hurts', () => {
    const noViewers = streamHealth({ ...PERFECT, rebufferRatio: null, coverage: 0.75 });
    assert.equal(noViewers.components.rebuffering, null);
    // continuity lost half its 20 points out of the 75 the five other components weigh
    assert.equal(noViewers.score, Math.round(1000 * (1 - 10 / 75)) / 10);
    // the same stream with viewers that never stall scores higher only by the weight rebuffering adds at 100
    const stallFree = streamHealth({ ...PERFECT, rebufferRatio: 0, coverage: 0.75 });
    assert.equal(stallFree.score, 90);
    const stalling = streamHealth({ ...PERFECT, rebufferRatio: 0.05, coverage: 0.75 });
    assert.ok(stalling.score < noViewers.score);
  });
});

describe('healthOf per-second stats', () => {
  it('scores a steady stream 100, with dropped frames and transcode lag unrecorded', () => {
    const health = healthOf(stats());
    assert.equal(health.score, 100);
    assert.equal(health.components.dropped_frames, null);
    assert.equal(health.components.transcode_lag, null);
    assert.equal(health.components.rebuffering, null, 'no CMCD viewer reported');
  });

  it('reads gaps between the first and last sample, not before or after them', () => {
    assert.equal(measuresOf(stats({ samples: 45 })).coverage, 0.75);
    // 10 samples 10 s apart: 10 of the 91 seconds they span
    assert.ok(Math.abs(measuresOf(stats({ samples: 10, lastAt: 90_000 })).coverage - 10 / 91) < 1e-12);
    // one sample: nothing to judge
    assert.equal(measuresOf(stats({ samples: 1, lastAt: 0 })).coverage, 1);
    assert.ok(healthOf(stats({ samples: 45 })).score < 100);
  });

  it('moves with the bitrate and frame-rate spread, and the viewers\' rebuffering', () => {
    const steady = healthOf(stats()).score;
    assert.ok(healthOf(stats({ ingressBitrate: { mean: 3_000_000, stddev: 2_000_000 } })).score < steady);
    assert.ok(healthOf(stats({ fps: { mean: 30, stddev: 6 } })).score < steady);
    assert.ok(healthOf(stats({ rebufferRatio: 0.02, rebufferSamples: 60 })).score < steady);
    assert.equal(healthOf(stats({ rebufferRatio: 0, rebufferSamples: 60 })).components.rebuffering, 100);
  });

  it('judges no frame rate for audio only, and no bitrate at all as broken', () => {
    const audioOnly = healthOf(stats({ fps: { mean: 0, stddev: 0 }, ingressBitrate: { mean: 128_000, stddev: 1000 } }));
    assert.equal(audioOnly.components.frame_rate_steadiness, null);
    assert.equal(audioOnly.score, 100);
    assert.equal(healthOf(stats({ ingressBitrate: { mean: 0, stddev: 0 } })).components.bitrate_steadiness, 0);
  });
});
