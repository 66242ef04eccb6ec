import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { MetricsRepository, type StreamMetricsPoint, type StreamMetricsSample } from '../../src/control/db/metrics-repository.js';
import { MetricsRollupRepository } from '../../src/control/db/metrics-rollup-repository.js';
import { healthOf } from '../../src/control/health-score.js';
import { poolSeriesStats } from '../../src/control/series-stats.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { BACKENDS, openBackend, openMemoryDatabase, type TestDatabase } from './database-fixture.js';

// A whole minute (epoch multiple of 60 s and of 10 s) so that rolled-up steps start at T0.
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/**
 * 30 seconds of samples from T0 (viewers = the second's index, bitrate 1000 × it, fps 30), second 12 missing;
 * egress 10 kb/s × the index, and the viewers split between two renditions (720p: the odd indexes' share,
 * none before second 1) except in seconds 20…24, which have no egress or distribution (not measured).
 */
function samples(streamId: string): StreamMetricsSample[] {
  return Array.from({ length: 30 }, (_, i) => i)
    .filter((i) => i !== 12)
    .map((i): StreamMetricsSample => {
      const measured = i < 20 || i >= 25;
      const high = Math.ceil(i / 2);
      return {
        streamId,
        at: new Date(T0 + i * 1000),
        viewers: i,
        ingressBitrate: 1000 * i,
        fps: 30,
        egressBitrate: measured ? 10_000 * i : null,
        viewersByRendition: measured ? (i === 0 ? {} : { '720p': high, '360p': i - high }) : null,
      };
    });
}

/**
 * `minutes` whole minutes of samples from T0 with some spread: bitrate and frame rate moving
 * with the second, the 7th second of each minute missing, viewers' rebuffering in some seconds.
 */
function minutesOfSamples(streamId: string, minutes: number): StreamMetricsSample[] {
  return Array.from({ length: minutes * 60 }, (_, i) => i)
    .filter((i) => i % 60 !== 7)
    .map((i): StreamMetricsSample => ({
      streamId,
      at: new Date(T0 + i * 1000),
      viewers: (i * 13) % 50,
      ingressBitrate: 3_000_000 + ((i * 7919) % 900_000),
      fps: i % 10 === 0 ? 24 : 30,
      rebufferRatio: i % 4 === 0 ? ((i % 9) / 100) : null,
      // egress and the distribution unmeasured in some seconds (tracking off a while), a rendition coming and going
      egressBitrate: i % 11 === 3 ? null : 2_000_000 + ((i * 104_729) % 5_000_000),
      viewersByRendition: i % 11 === 3 ? null : i % 5 === 0 ? { source: (i * 3) % 7 } : { source: (i * 3) % 7, '480p': i % 4 },
    }));
}

/** a point's figures, rounded past float noise (the two paths sum in different orders) */
function comparable(p: StreamMetricsPoint) {
  const r = (v: number | null) => (v === null ? null : Math.round(v * 1e6) / 1e6);
  const byRendition = p.viewersByRendition === null ? null : Object.fromEntries(Object.entries(p.viewersByRendition).map(([k, v]) => [k, r(v)]).sort());
  return [p.at.getTime(), p.samples, r(p.viewers), p.peakViewers, r(p.ingressBitrate), r(p.fps), r(p.rebufferRatio), r(p.stats.ingressBitrate.stddev), r(p.stats.fps.stddev), p.stats.firstAt, p.stats.lastAt, p.stats.rebufferSamples, r(p.egressBitrate), r(p.peakEgressBitrate), byRendition];
}

for (const backend of BACKENDS) {
  describe(`MetricsRepository.series on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    before(async () => {
      handle = await openBackend(backend);
    });
    after(async () => {
      await handle?.dispose();
    });

    it('returns the window at 1 s, and rolled up by step in SQL', async (t) => {
      if (!handle) return t.skip();
      await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
      const stream = (await new StreamRepository(handle.database.db).create({ title: 'm' })).stream.id;
      const other = (await new StreamRepository(handle.database.db).create({ title: 'other' })).stream.id;
      const metrics = new MetricsRepository(handle.database.db);
      await metrics.insertMetrics([...samples(stream), { streamId: other, at: new Date(T0 + 5000), viewers: 999, ingressBitrate: 1, fps: 1 }]);

      // the viewers' rebuffering ratio rolls up as the mean of the seconds that have one (null: no CMCD viewer)
      await metrics.insertMetrics([0.2, 0.1].map((ratio, i) => ({ streamId: other, at: new Date(T0 + 6000 + i * 1000), viewers: 1, ingressBitrate: 1, fps: 1, rebufferRatio: ratio })));
      const otherRolled = await metrics.series(other, new Date(T0), new Date(T0 + 10_000), 10);
      assert.equal(otherRolled.length, 1);
      assert.ok(Math.abs(otherRolled[0]!.rebufferRatio! - 0.15) < 1e-9, String(otherRolled[0]!.rebufferRatio));

      const perSecond = await metrics.series(stream, new Date(T0 + 5000), new Date(T0 + 15_000), 1);
      assert.deepEqual(perSecond.map((p) => (p.at.getTime() - T0) / 1000), [5, 6, 7, 8, 9, 10, 11, 13, 14]);
      const { stats, ...first } = perSecond[0]!;
      assert.deepEqual(first, {
        at: new Date(T0 + 5000),
        viewers: 5,
        peakViewers: 5,
        ingressBitrate: 5000,
        fps: 30,
        rebufferRatio: null,
        egressBitrate: 50_000,
        peakEgressBitrate: 50_000,
        viewersByRendition: { '720p': 3, '360p': 2 },
        samples: 1,
      });
      assert.deepEqual(stats, { samples: 1, firstAt: T0 + 5000, lastAt: T0 + 5000, ingressBitrate: { mean: 5000, stddev: 0 }, fps: { mean: 30, stddev: 0 }, rebufferRatio: null, rebufferSamples: 0 });

      const rolled = await metrics.series(stream, new Date(T0), new Date(T0 + 60_000), 10);
      assert.deepEqual(
        rolled.map((p) => ({ at: p.at.getTime() - T0, viewers: p.viewers, peak: p.peakViewers, bitrate: p.ingressBitrate, samples: p.samples })),
        [
          { at: 0, viewers: 4.5, peak: 9, bitrate: 4500, samples: 10 },
          // 10…19 without 12: (145 - 12) / 9
          { at: 10_000, viewers: 133 / 9, peak: 19, bitrate: 133_000 / 9, samples: 9 },
          { at: 20_000, viewers: 24.5, peak: 29, bitrate: 24_500, samples: 10 },
        ].map((p) => ({ ...p, viewers: p.viewers, bitrate: p.bitrate })),
      );
      assert.deepEqual(await metrics.series(stream, new Date(T0 + 30_000), new Date(T0 + 60_000), 1), []);
      // egress and the distribution: means over the seconds that have one; a rendition absent from a second counts 0 there
      const at20 = rolled[2]!;
      assert.deepEqual([at20.egressBitrate, at20.peakEgressBitrate], [270_000, 290_000], 'seconds 25…29 only');
      assert.deepEqual(at20.viewersByRendition, { '720p': (13 + 13 + 14 + 14 + 15) / 5, '360p': (12 + 13 + 13 + 14 + 14) / 5 });
      assert.deepEqual(rolled[0]!.viewersByRendition, { '720p': 25 / 10, '360p': 20 / 10 }, 'second 0 has a distribution, empty: it counts');
      const empty = await metrics.series(stream, new Date(T0), new Date(T0 + 1000), 1);
      assert.deepEqual([empty[0]!.egressBitrate, empty[0]!.viewersByRendition], [0, {}], 'measured, nobody watching: 0 and {}, not null');
      const unmeasured = await metrics.series(stream, new Date(T0 + 20_000), new Date(T0 + 25_000), 5);
      assert.deepEqual([unmeasured[0]!.egressBitrate, unmeasured[0]!.peakEgressBitrate, unmeasured[0]!.viewersByRendition], [null, null, null]);
    });

    it('gives the same series from the roll-ups as from the per-second rows, the newest minutes from the latter', async (t) => {
      if (!handle) return t.skip();
      await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
      await sql`UPDATE stream_metrics_rollup_state SET rolled_to = NULL`.execute(handle.database.db);
      const stream = (await new StreamRepository(handle.database.db).create({ title: 'r' })).stream.id;
      const metrics = new MetricsRepository(handle.database.db);
      const rollups = new MetricsRollupRepository(handle.database.db);
      await metrics.insertMetrics(minutesOfSamples(stream, 5));
      // minutes 0..2 rolled up; 3 and 4 only in the per-second rows
      assert.equal((await rollups.rollUp(new Date(T0 + 3 * 60_000)))?.rolledTo.getTime(), T0 + 3 * 60_000);
      assert.equal((await rollups.listRollups(stream)).length, 3);
      const window = [new Date(T0), new Date(T0 + 5 * 60_000)] as const;
      for (const step of [60, 120, 300]) {
        const rolled = await rollups.series(stream, ...window, step);
        const perSecond = await metrics.series(stream, ...window, step);
        assert.equal(rolled.length, Math.ceil(300 / step), `step ${step}`);
        assert.deepEqual(rolled.map(comparable), perSecond.map(comparable), `step ${step}`);
        const health = (points: StreamMetricsPoint[]) => healthOf(poolSeriesStats(points.map((p) => p.stats))!).score;
        assert.equal(health(rolled), health(perSecond), `window health at step ${step}`);
      }
    });
  });
}

describe('GET /api/v1/streams/{id}/metrics', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let owner: { clientId: string; accessToken: string };
  let stranger: string;
  let noScope: string;
  let streamId: string;

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    owner = await f.client(['streams:write', 'analytics:read'], 'owner');
    stranger = (await f.client(['analytics:read'], 'stranger')).accessToken;
    noScope = (await f.client(['streams:read', 'streams:write'], 'no analytics')).accessToken;
    const created = await f.call<{ id: string }>('POST', '/api/v1/streams', { token: owner.accessToken, body: { title: 'owned' } });
    streamId = created.body.id;
    await new MetricsRepository(handle.database.db).insertMetrics(samples(streamId));
  });
  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  interface Series {
    stream_id: string;
    step: number;
    from: string;
    to: string;
    resolution: number;
    health: { score: number; components: Record<string, number | null> } | null;
    points: Array<{
      at: string;
      viewers: number;
      peak_viewers: number;
      ingress_bitrate: number;
      samples: number;
      rebuffer_ratio: number | null;
      egress_bitrate: number | null;
      peak_egress_bitrate: number | null;
      viewers_by_rendition: Record<string, number> | null;
      health_score: number;
    }>;
  }
  const window = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 30_000).toISOString()}`;

  it('gives the owner the series at 1 s and rolled up', async () => {
    const perSecond = await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: owner.accessToken });
    assert.equal(perSecond.status, 200, JSON.stringify(perSecond.body));
    assert.equal(perSecond.body.step, 1);
    assert.equal(perSecond.body.resolution, 1);
    assert.equal(perSecond.body.points.length, 29);
    assert.deepEqual(perSecond.body.points[12], {
      at: new Date(T0 + 13_000).toISOString(),
      viewers: 13,
      peak_viewers: 13,
      ingress_bitrate: 13_000,
      fps: 30,
      rebuffer_ratio: null,
      egress_bitrate: 130_000,
      peak_egress_bitrate: 130_000,
      viewers_by_rendition: { '720p': 7, '360p': 6 },
      samples: 1,
      health_score: 100,
    });
    assert.deepEqual(
      perSecond.body.points.filter((p) => p.egress_bitrate === null).map((p) => [p.at, p.viewers_by_rendition]),
      [20, 21, 22, 23, 24].map((i) => [new Date(T0 + i * 1000).toISOString(), null]),
      'seconds that did not measure them: null, not 0',
    );
    // the window: second 12 missing of the 30, and a bitrate climbing from 0 to 29 kb/s (very unsteady); no CMCD viewer
    assert.ok(perSecond.body.health !== null && perSecond.body.health.score < 100 && perSecond.body.health.score > 0, JSON.stringify(perSecond.body.health));
    assert.equal(perSecond.body.health.components.rebuffering, null);
    assert.equal(perSecond.body.health.components.dropped_frames, null);
    assert.ok(perSecond.body.health.components.ingest_continuity! < 100);
    const bitrate = perSecond.body.health.components.bitrate_steadiness!;
    assert.ok(bitrate < 100 && bitrate > 0, String(bitrate));
    const rolled = await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}&step=15`, { token: owner.accessToken });
    assert.equal(rolled.status, 200);
    assert.deepEqual(rolled.body.points.map((p) => [p.at, p.peak_viewers, p.samples]), [
      [new Date(T0).toISOString(), 14, 14],
      [new Date(T0 + 15_000).toISOString(), 29, 15],
    ]);
    // egress and the distribution over the seconds that measured them (15…19 and 25…29 in the second step)
    const rounded = (v: number) => Math.round(v * 1e6) / 1e6;
    assert.deepEqual(
      rolled.body.points.map((p) => [rounded(p.egress_bitrate!), p.peak_egress_bitrate, Object.fromEntries(Object.entries(p.viewers_by_rendition!).map(([k, v]) => [k, rounded(v)]))]),
      [
        [rounded(930_000 / 14), 140_000, { '720p': rounded(50 / 14), '360p': rounded(43 / 14) }],
        [220_000, 290_000, { '720p': 11.3, '360p': 10.7 }],
      ],
    );
    // the admin token sees every stream
    assert.equal((await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}&step=30`)).body.points.length, 1);
  });

  it('answers whole-minute steps from the roll-ups, which outlive the per-second rows', async () => {
    const db = handle.database.db;
    const created = await f.call<{ id: string }>('POST', '/api/v1/streams', { token: owner.accessToken, body: { title: 'rolled' } });
    const id = created.body.id;
    // 10 minutes a day before T0: rolled up, then the per-second rows pruned as their retention would
    const day = T0 - 86_400_000;
    await new MetricsRepository(db).insertMetrics(
      Array.from({ length: 600 }, (_, i) => {
        const m = Math.floor(i / 60);
        // egress and the distribution measured in the first five minutes only (viewer sessions turned off after)
        const measured = i < 300;
        return {
          streamId: id,
          at: new Date(day + i * 1000),
          viewers: m,
          ingressBitrate: 2_000_000,
          fps: 30,
          rebufferRatio: i < 300 ? 0 : 0.01,
          egressBitrate: measured ? (m + 1) * 1_000_000 : null,
          viewersByRendition: measured ? { source: m, '480p': 1 } : null,
        };
      }),
    );
    const rollups = new MetricsRollupRepository(db);
    await rollups.rollUp(new Date(day + 10 * 60_000));
    await sql`DELETE FROM stream_metrics WHERE stream_id = ${id}`.execute(db);

    // from and to inside minutes: the window covers the minutes they touch
    const window = `from=${new Date(day + 30_000).toISOString()}&to=${new Date(day + 10 * 60_000 - 30_000).toISOString()}`;
    const perMinute = await f.call<Series>('GET', `/api/v1/streams/${id}/metrics?${window}&step=60`, { token: owner.accessToken });
    assert.equal(perMinute.status, 200, JSON.stringify(perMinute.body));
    assert.equal(perMinute.body.resolution, 60);
    assert.deepEqual([perMinute.body.from, perMinute.body.to], [new Date(day).toISOString(), new Date(day + 10 * 60_000).toISOString()]);
    assert.deepEqual(perMinute.body.points.map((p) => [p.at, p.viewers, p.peak_viewers, p.samples]), Array.from({ length: 10 }, (_, m) => [new Date(day + m * 60_000).toISOString(), m, m, 60]));
    assert.deepEqual(perMinute.body.points.map((p) => Math.round(p.rebuffer_ratio! * 1e9) / 1e9), [0, 0, 0, 0, 0, 0.01, 0.01, 0.01, 0.01, 0.01]);
    assert.deepEqual(
      perMinute.body.points.map((p) => [p.egress_bitrate, p.peak_egress_bitrate, p.viewers_by_rendition]),
      [
        // a rendition with no viewer is not stored: source is absent from the first minute
        [1_000_000, 1_000_000, { '480p': 1 }],
        ...[1, 2, 3, 4].map((m) => [(m + 1) * 1_000_000, (m + 1) * 1_000_000, { source: m, '480p': 1 }]),
        ...Array.from({ length: 5 }, () => [null, null, null]),
      ],
    );
    // steady ingest: only the viewers' rebuffering costs anything: 1 % is a fifth of the way to its worst,
    // a fifth of its 25 points of the 75 the recorded components weigh; over the window 0.5 %, a tenth
    assert.deepEqual(perMinute.body.points.map((p) => p.health_score), [100, 100, 100, 100, 100, 93.3, 93.3, 93.3, 93.3, 93.3]);
    assert.equal(perMinute.body.health?.score, 96.7);
    assert.equal(perMinute.body.health?.components.rebuffering, 90);

    const fiveMinutes = await f.call<Series>('GET', `/api/v1/streams/${id}/metrics?${window}&step=300`, { token: owner.accessToken });
    assert.deepEqual(fiveMinutes.body.points.map((p) => [p.viewers, p.peak_viewers, p.samples]), [[2, 4, 300], [7, 9, 300]]);
    // pooled from the minutes: (0 + 1 + 2 + 3 + 4) × 60 source viewer-seconds over 300 seconds
    assert.deepEqual(
      fiveMinutes.body.points.map((p) => [p.egress_bitrate, p.peak_egress_bitrate, p.viewers_by_rendition]),
      [
        [3_000_000, 5_000_000, { source: 2, '480p': 1 }],
        [null, null, null],
      ],
    );
    assert.equal(fiveMinutes.body.health?.score, 96.7, 'the window scores the same at any step');

    // a step that is not whole minutes reads the per-second rows, which are gone
    const perSecond = await f.call<Series>('GET', `/api/v1/streams/${id}/metrics?${window}&step=30`, { token: owner.accessToken });
    assert.equal(perSecond.body.resolution, 1);
    assert.deepEqual([perSecond.body.points, perSecond.body.health], [[], null]);
  });

  it('is 404 for another client, 403 without analytics:read, 401 without a token', async () => {
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: stranger })).status, 404);
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: noScope })).status, 403);
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: null })).status, 401);
    assert.equal((await f.call('GET', `/api/v1/streams/00000000-0000-4000-8000-000000000000/metrics`, { token: owner.accessToken })).status, 404);
  });

  it('answers 400 for a window backwards, too many steps, or bad values', async () => {
    const later = new Date(T0 + 60_000).toISOString();
    for (const query of [`from=${later}&to=${new Date(T0).toISOString()}`, `from=${new Date(T0 - 86_400_000).toISOString()}&to=${later}&step=1`, 'step=0', 'step=x', 'from=yesterday']) {
      const answer = await f.call<{ error: { code: string } }>('GET', `/api/v1/streams/${streamId}/metrics?${query}`, { token: owner.accessToken });
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'NOVA_ERR_BAD_REQUEST');
    }
    // the same day at step 60 is 1,441 steps: fine
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?from=${new Date(T0 - 86_400_000).toISOString()}&to=${later}&step=60`, { token: owner.accessToken })).status, 200);
  });
});
