import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { openDatabase } from '../../src/control/db/database.js';
import { MetricsRepository, type StreamMetricsSample } from '../../src/control/db/metrics-repository.js';
import { MetricsRollupRepository } from '../../src/control/db/metrics-rollup-repository.js';
import type { StreamMetrics1mRow } from '../../src/control/db/schema.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { StreamMetricsRollups, type StreamMetricsRollupsOptions } from '../../src/control/stream-metrics-rollups.js';
import { BACKENDS, openBackend, silentLog, type TestDatabase } from './database-fixture.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** a minute's start */
const M0 = Date.parse('2030-01-01T00:00:00.000Z');
/** rolled up once it has been over 30 s (the default delay): at M(n) + 45 s, every minute before M(n) */
const pastMinute = (minuteStart: number) => minuteStart + 45_000;

function sample(streamId: string, at: number, fields: Partial<StreamMetricsSample> = {}): StreamMetricsSample {
  return { streamId, at: new Date(at), viewers: 1, ingressBitrate: 1000, fps: 30, ...fields };
}

/** what a test checks of a roll-up row: its minute as an offset from M0, and the figures */
function figures(row: StreamMetrics1mRow) {
  return {
    minute: row.minute.getTime() - M0,
    samples: row.samples,
    first: row.first_at.getTime() - M0,
    last: row.last_at.getTime() - M0,
    viewers: [row.viewers_avg, row.viewers_max],
    bitrate: [row.ingress_bitrate_avg, row.ingress_bitrate_min, row.ingress_bitrate_max, round(row.ingress_bitrate_stddev)],
    fps: [row.fps_avg, row.fps_min, round(row.fps_stddev)],
    rebuffer: [row.rebuffer_ratio_avg === null ? null : round(row.rebuffer_ratio_avg), row.rebuffer_samples],
  };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is exported`);
  const values = (metric as unknown as { values: Array<{ value: number; labels: Record<string, string> }> }).values;
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

for (const backend of BACKENDS) {
  describe(`stream metrics roll-ups on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    let streams: StreamRepository;
    let metrics: MetricsRepository;
    let rollups: MetricsRollupRepository;
    const scheduled: StreamMetricsRollups[] = [];

    before(async () => {
      handle = await openBackend(backend);
      if (handle) {
        streams = new StreamRepository(handle.database.db);
        metrics = new MetricsRepository(handle.database.db);
        rollups = new MetricsRollupRepository(handle.database.db);
      }
    });
    after(async () => {
      for (const s of scheduled) await s.close();
      await handle?.dispose();
    });
    beforeEach(async () => {
      if (!handle) return;
      await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
      await sql`UPDATE stream_metrics_rollup_state SET rolled_to = NULL`.execute(handle.database.db);
    });

    /** an instance's roll-ups at a clock the test moves; its timers are far off (rounds run when a test says) */
    function instance(clock: { now: number }, registry = new Registry(), options: Partial<StreamMetricsRollupsOptions> = {}, repo = rollups): StreamMetricsRollups {
      const s = new StreamMetricsRollups(repo, registry, silentLog, {
        retentionMs: 0,
        rollupRetentionMs: 0,
        intervalMs: DAY,
        pruneIntervalMs: DAY,
        now: () => clock.now,
        ...options,
      });
      scheduled.push(s);
      return s;
    }

    it('rolls each completed minute up from its seconds, once', async (t) => {
      if (!handle) return t.skip();
      const a = (await streams.create({ title: 'a' })).stream.id;
      const b = (await streams.create({ title: 'b' })).stream.id;
      await metrics.insertMetrics([
        // M0: 60 s; viewers 0..59, bitrate 1000..60000, fps 30/28 alternating, viewers rebuffering 10 % in the last 10 s
        ...Array.from({ length: 60 }, (_, i) =>
          sample(a, M0 + i * 1000, { viewers: i, ingressBitrate: 1000 * (i + 1), fps: i % 2 === 0 ? 30 : 28, rebufferRatio: i >= 50 ? 0.1 : null }),
        ),
        // M1: 30 s, second 10 missing
        ...Array.from({ length: 31 }, (_, i) => i)
          .filter((i) => i !== 10)
          .map((i) => sample(a, M0 + MINUTE + i * 1000, { viewers: 100, ingressBitrate: 2000, fps: 25, rebufferRatio: 0.2 })),
        // M2: still going
        ...Array.from({ length: 5 }, (_, i) => sample(a, M0 + 2 * MINUTE + i * 1000)),
        ...[3, 4, 5].map((i) => sample(b, M0 + i * 1000, { viewers: 7 })),
      ]);
      const clock = { now: pastMinute(M0 + 2 * MINUTE) };
      const registry = new Registry();
      const roller = instance(clock, registry);
      await roller.rollUp();

      const rowsOfA = await rollups.listRollups(a);
      assert.deepEqual(rowsOfA.map(figures), [
        {
          minute: 0,
          samples: 60,
          first: 0,
          last: 59_000,
          viewers: [29.5, 59],
          bitrate: [30_500, 1000, 60_000, round(1000 * Math.sqrt((60 * 60 - 1) / 12))],
          fps: [29, 28, 1],
          rebuffer: [0.1, 10],
        },
        { minute: MINUTE, samples: 30, first: 0 + MINUTE, last: MINUTE + 30_000, viewers: [100, 100], bitrate: [2000, 2000, 2000, 0], fps: [25, 25, 0], rebuffer: [0.2, 30] },
      ]);
      assert.deepEqual((await rollups.listRollups(b)).map((r) => [r.minute.getTime() - M0, r.samples, r.viewers_max]), [[0, 3, 7]]);
      assert.equal((await rollups.rolledTo())?.getTime(), M0 + 2 * MINUTE, 'M2 is not over: not rolled up');
      assert.equal(await counter(registry, 'nova_streaming_stream_metrics_rollup_rows_written_total'), 3);

      // again at the same time (a restart): nothing new, nothing counted twice
      await instance(clock).rollUp();
      assert.deepEqual((await rollups.listRollups(a)).map(figures), rowsOfA.map(figures));

      // a minute later M2 is rolled up, and M0 and M1 (in the look-back) recomputed to the same rows
      clock.now = pastMinute(M0 + 3 * MINUTE);
      await roller.rollUp();
      const later = await rollups.listRollups(a);
      assert.deepEqual(later.slice(0, 2).map(figures), rowsOfA.map(figures));
      assert.deepEqual(later.slice(2).map((r) => [r.minute.getTime() - M0, r.samples]), [[2 * MINUTE, 5]]);
    });

    it('rolls up egress (mean and peak) and each rendition’s mean viewers over the seconds that measured them', async (t) => {
      if (!handle) return t.skip();
      const a = (await streams.create()).stream.id;
      await metrics.insertMetrics([
        // M0: 4 measured seconds; 480p joins in the third, source leaves in the fourth; 2 seconds unmeasured (tracking off)
        sample(a, M0, { egressBitrate: 1_000_000, viewersByRendition: { source: 2 } }),
        sample(a, M0 + 1000, { egressBitrate: 3_000_000, viewersByRendition: { source: 4 } }),
        sample(a, M0 + 2000, { egressBitrate: 3_500_000_000, viewersByRendition: { source: 3, '480p': 1 } }),
        sample(a, M0 + 3000, { egressBitrate: 0, viewersByRendition: { '480p': 5 } }),
        sample(a, M0 + 4000),
        sample(a, M0 + 5000, { egressBitrate: null, viewersByRendition: null }),
        // M1: nothing measured
        sample(a, M0 + MINUTE),
        // M2: measured, nobody watching
        sample(a, M0 + 2 * MINUTE, { egressBitrate: 0, viewersByRendition: {} }),
      ]);
      await instance({ now: pastMinute(M0 + 3 * MINUTE) }).rollUp();
      const rows = await rollups.listRollups(a);
      assert.deepEqual(
        rows.map((r) => ({
          minute: r.minute.getTime() - M0,
          samples: r.samples,
          egress: [r.egress_bitrate_avg, r.egress_bitrate_max === null ? null : Number(r.egress_bitrate_max), r.egress_samples],
          renditions: [r.viewers_by_rendition_avg, r.rendition_samples],
        })),
        [
          // over 3.5 Gb/s: past what an integer column holds
          { minute: 0, samples: 6, egress: [3_504_000_000 / 4, 3_500_000_000, 4], renditions: [{ source: 9 / 4, '480p': 6 / 4 }, 4] },
          { minute: MINUTE, samples: 1, egress: [null, null, 0], renditions: [null, 0] },
          { minute: 2 * MINUTE, samples: 1, egress: [0, 0, 1], renditions: [{}, 1] },
        ],
      );
      // the per-second rows as the recorder wrote them: whole counts, bigint bits per second
      const stored = await metrics.listMetrics(a);
      assert.deepEqual(
        stored.slice(0, 3).map((r) => [r.egress_bitrate === null ? null : Number(r.egress_bitrate), r.viewers_by_rendition]),
        [[1_000_000, { source: 2 }], [3_000_000, { source: 4 }], [3_500_000_000, { source: 3, '480p': 1 }]],
      );
    });

    it('takes in a second written late, and two instances at once count each second once', async (t) => {
      if (!handle) return t.skip();
      const a = (await streams.create()).stream.id;
      await metrics.insertMetrics(Array.from({ length: 20 }, (_, i) => sample(a, M0 + i * 1000, { viewers: i })));
      const clock = { now: pastMinute(M0 + MINUTE) };
      await instance(clock).rollUp();
      assert.deepEqual((await rollups.listRollups(a)).map((r) => [r.samples, r.viewers_max]), [[20, 19]]);

      // a recorder whose writes failed for a while gets through: its seconds are in the look-back
      await metrics.insertMetrics([sample(a, M0 + 40_000, { viewers: 40 }), ...Array.from({ length: 10 }, (_, i) => sample(a, M0 + MINUTE + i * 1000, { viewers: 3 }))]);
      clock.now = pastMinute(M0 + 2 * MINUTE);
      // a second instance: on PostgreSQL its own pool, as another process would have
      const second = backend === 'postgres' ? await openDatabase({ databaseUrl: handle.url!, dataDir: '/nonexistent' }, silentLog, { migrate: false }) : null;
      try {
        const other = instance(clock, new Registry(), {}, second === null ? rollups : new MetricsRollupRepository(second.db));
        await Promise.all([instance(clock).rollUp(), other.rollUp(), instance(clock).rollUp()]);
      } finally {
        await second?.close();
      }
      const rows = await rollups.listRollups(a);
      assert.deepEqual(rows.map((r) => [r.minute.getTime() - M0, r.samples, r.viewers_max]), [[0, 21, 40], [MINUTE, 10, 3]]);
      // each row is what the per-second rows give for its minute
      const perSecond = await metrics.series(a, new Date(M0), new Date(M0 + 2 * MINUTE), 60);
      assert.deepEqual(
        rows.map((r) => [r.samples, round(r.viewers_avg), round(r.ingress_bitrate_avg)]),
        perSecond.map((p) => [p.samples, round(p.viewers), round(p.ingressBitrate)]),
      );
    });

    it('works through a backlog in bounded rounds, skipping the empty stretches', async (t) => {
      if (!handle) return t.skip();
      const a = (await streams.create()).stream.id;
      const minutes = [M0 - 3 * DAY, M0 - 3 * DAY + MINUTE, M0 - DAY, M0];
      await metrics.insertMetrics(minutes.map((m) => sample(a, m + 5000)));
      const clock = { now: pastMinute(M0 + MINUTE) };
      const roller = instance(clock, new Registry(), { maxRoundsPerRun: 2, rollUp: { maxMinutes: 1 } });
      await roller.rollUp();
      assert.deepEqual((await rollups.listRollups(a)).map((r) => r.minute.getTime()), minutes.slice(0, 2), 'two rounds of one minute');
      assert.equal((await rollups.rolledTo())?.getTime(), M0 - 3 * DAY + 2 * MINUTE);
      await roller.rollUp();
      assert.deepEqual((await rollups.listRollups(a)).map((r) => r.minute.getTime()), minutes, 'the two days between in a step each');
      assert.equal((await rollups.rolledTo())?.getTime(), M0 + MINUTE);
    });

    it('prunes each table past its retention, in batches, never a second not rolled up', async (t) => {
      if (!handle) return t.skip();
      const a = (await streams.create()).stream.id;
      const now = M0;
      const ages = [9 * DAY, 8 * DAY, 6 * DAY, 2 * DAY, 3_600_000];
      // three seconds a minute at each age
      await metrics.insertMetrics(ages.flatMap((age) => [0, 1, 2].map((s) => sample(a, now - age + s * 1000))));
      const clock = { now };
      const registry = new Registry();
      const roller = instance(clock, registry, { retentionMs: 7 * DAY, rollupRetentionMs: 5 * DAY, pruneBatchRows: 2 });

      // nothing rolled up yet: no per-second row goes, however old
      await roller.prune();
      assert.equal((await metrics.listMetrics(a)).length, 15);

      await roller.rollUp();
      assert.equal((await rollups.listRollups(a)).length, 5);
      await roller.prune();
      const ageOf = (at: Date) => now - at.getTime();
      assert.deepEqual(
        [...new Set((await metrics.listMetrics(a)).map((r) => Math.ceil(ageOf(r.at) / MINUTE) * MINUTE))],
        [6 * DAY, 2 * DAY, 3_600_000],
        'per-second rows past 7 days gone',
      );
      assert.deepEqual(
        (await rollups.listRollups(a)).map((r) => ageOf(r.minute)),
        [2 * DAY, 3_600_000],
        'roll-ups past 5 days gone',
      );
      assert.equal(await counter(registry, 'nova_streaming_stream_metrics_rows_pruned_total', { table: 'stream_metrics' }), 6);
      assert.equal(await counter(registry, 'nova_streaming_stream_metrics_rows_pruned_total', { table: 'stream_metrics_1m' }), 3);
    });
  });
}
