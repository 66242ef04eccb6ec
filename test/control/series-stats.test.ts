import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poolSeriesStats, seriesStats, type SeriesSample, type SeriesStats } from '../../src/control/series-stats.js';

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);
}

function assertStatsClose(actual: SeriesStats | null, expected: SeriesStats | null): void {
  assert.ok(actual !== null && expected !== null);
  assert.deepEqual([actual.samples, actual.firstAt, actual.lastAt, actual.rebufferSamples], [expected.samples, expected.firstAt, expected.lastAt, expected.rebufferSamples]);
  close(actual.ingressBitrate.mean, expected.ingressBitrate.mean, 'bitrate mean');
  close(actual.ingressBitrate.stddev, expected.ingressBitrate.stddev, 'bitrate stddev');
  close(actual.fps.mean, expected.fps.mean, 'fps mean');
  close(actual.fps.stddev, expected.fps.stddev, 'fps stddev');
  close(actual.rebufferRatio ?? -1, expected.rebufferRatio ?? -1, 'rebuffer ratio');
}

describe('series stats', () => {
  const samples: SeriesSample[] = Array.from({ length: 150 }, (_, i) => ({
    at: 1_000_000 + i * 1000,
    ingressBitrate: 3_000_000 + ((i * 7919) % 400_000),
    fps: 30 - (i % 4 === 0 ? 2 : 0),
    rebufferRatio: i % 3 === 0 ? (i % 10) / 100 : null,
  }));

  it('gives the mean and population standard deviation of raw samples', () => {
    const stats = seriesStats([
      { at: 0, ingressBitrate: 2, fps: 30, rebufferRatio: null },
      { at: 1000, ingressBitrate: 4, fps: 30, rebufferRatio: 0.1 },
      { at: 3000, ingressBitrate: 6, fps: 24, rebufferRatio: 0.3 },
    ])!;
    assert.equal(stats.samples, 3);
    assert.deepEqual([stats.firstAt, stats.lastAt], [0, 3000]);
    close(stats.ingressBitrate.mean, 4, 'mean');
    close(stats.ingressBitrate.stddev, Math.sqrt(8 / 3), 'stddev');
    close(stats.fps.mean, 28, 'fps');
    close(stats.rebufferRatio!, 0.2, 'rebuffer over the samples that have one');
    assert.equal(stats.rebufferSamples, 2);
    assert.equal(seriesStats([]), null);
  });

  it('pools stretches into exactly the stats of all their samples', () => {
    const whole = seriesStats(samples);
    // minutes (as the roll-ups hold them), then minutes pooled again
    const minutes = [0, 60, 120].map((start) => seriesStats(samples.slice(start, start + 60))!);
    assertStatsClose(poolSeriesStats(minutes), whole);
    assertStatsClose(poolSeriesStats([poolSeriesStats(minutes.slice(0, 2))!, minutes[2]!]), whole);
    assert.equal(poolSeriesStats([]), null);
  });
});
