import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import { MetricsRepository, type StreamMetricsSample } from '../../src/control/db/metrics-repository.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { StreamMetricsRecorder } from '../../src/control/stream-metrics-recorder.js';
import { BACKENDS, openBackend, silentLog, type TestDatabase } from './database-fixture.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function metricsEvent(streamId: string, instanceId: string, at: number, ingressBitrate = 6_000_000): StreamEvent {
  return { type: 'stream_metrics', streamId, instanceId, at, ingressBitrate, fps: 30, renditions: ['source'] };
}

async function counter(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is exported`);
  return (metric as unknown as { values: { value: number }[] }).values[0]?.value ?? 0;
}

for (const backend of BACKENDS) {
  describe(`StreamMetricsRecorder on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    let streams: StreamRepository;
    let metrics: MetricsRepository;

    before(async () => {
      handle = await openBackend(backend);
      if (handle) {
        streams = new StreamRepository(handle.database.db);
        metrics = new MetricsRepository(handle.database.db);
      }
    });
    after(async () => {
      await handle?.dispose();
    });
    /** instance node-a's recorder, flushed only when a test says so */
    function flushedByHand(bus: LocalEventBus, registry: Registry, viewers: () => number, observe?: (sample: StreamMetricsSample) => void): StreamMetricsRecorder {
      return new StreamMetricsRecorder(metrics, bus, registry, silentLog, { instanceId: 'node-a', viewers, observe, flushIntervalMs: 60_000 });
    }

    beforeEach(async () => {
      if (handle) await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
    });

    it('writes this instance’s per-second samples, with viewers, in one batch per flush', async (t) => {
      if (!handle) return t.skip();
      const bus = new LocalEventBus();
      const registry = new Registry();
      const observed: StreamMetricsSample[] = [];
      const recorder = flushedByHand(bus, registry, () => 12, (sample) => observed.push(sample));
      const { stream } = await streams.create();
      for (let s = 0; s < 5; s++) bus.publish(metricsEvent(stream.id, 'node-a', T0 + s * 1000 + 7, 4_000_000 + s));
      bus.publish(metricsEvent(stream.id, 'node-b', T0 + 9000)); // another instance's stream: its own instance writes it
      bus.publish({ type: 'viewer_count_changed', streamId: stream.id, instanceId: 'node-a', at: T0, viewers: 3, peak: 3 });
      assert.equal(recorder.pendingRows, 5);
      assert.deepEqual(observed.map((o) => [o.at.getTime() - T0, o.viewers]), [0, 1, 2, 3, 4].map((s) => [s * 1000, 12]), 'the health gauge sees each sample taken');
      assert.deepEqual(await metrics.listMetrics(stream.id), [], 'nothing written before the flush');

      await recorder.flush();
      const rows = await metrics.listMetrics(stream.id);
      assert.deepEqual(
        rows.map((r) => [r.at.getTime() - T0, r.viewers, r.ingress_bitrate, r.fps]),
        [0, 1, 2, 3, 4].map((s) => [s * 1000, 12, 4_000_000 + s, 30]),
      );
      assert.equal(recorder.pendingRows, 0);
      assert.equal(await counter(registry, 'nova_streaming_stream_metrics_rows_written_total'), 5);

      bus.publish(metricsEvent(stream.id, 'node-a', T0 + 5000));
      await recorder.close();
      assert.equal((await metrics.listMetrics(stream.id)).length, 6, 'close() writes what is pending');
      bus.publish(metricsEvent(stream.id, 'node-a', T0 + 6000));
      assert.equal(recorder.pendingRows, 0, 'closed: no longer listening');
    });

    it('writes egress (bytes served since the previous sample, per second) and viewers by rendition; null when not measured', async (t) => {
      if (!handle) return t.skip();
      const bus = new LocalEventBus();
      const { stream } = await streams.create();
      const served = [250_000, 500_000, 0, 1_000_000, 300_000, 200_000, 300_000, 400_000];
      const taken: number[] = [];
      const distribution = { '720p': 2, source: 1 };
      const recorder = new StreamMetricsRecorder(metrics, bus, new Registry(), silentLog, {
        instanceId: 'node-a',
        viewers: () => 3,
        bytesServed: (streamId) => {
          assert.equal(streamId, stream.id);
          const bytes = served[taken.length]!;
          taken.push(bytes);
          return bytes;
        },
        viewersByRendition: () => distribution,
        flushIntervalMs: 60_000,
      });
      // samples at 0, 1, 2, 4 s (one missed: its bytes are over 2 s), then the stream ends and goes live again
      for (const at of [0, 1000, 2000, 4000]) bus.publish(metricsEvent(stream.id, 'node-a', T0 + at));
      bus.publish(metricsEvent(stream.id, 'node-b', T0 + 5000)); // another instance's: nothing taken for it
      bus.publish({ type: 'stream_ended', streamId: stream.id, instanceId: 'node-a', at: T0 + 4500, reason: 'unpublished' });
      bus.publish(metricsEvent(stream.id, 'node-a', T0 + 60_000));
      // the 61 s tick 600 ms late takes the next second, whose own tick (on time) replaces it: it carries its bytes on
      for (const at of [61_600, 62_000]) bus.publish(metricsEvent(stream.id, 'node-a', T0 + at));
      // back after a gap with no end seen here (the stream was ingested elsewhere meanwhile): a first sample again
      bus.publish(metricsEvent(stream.id, 'node-a', T0 + 90_000));
      await recorder.close();
      assert.equal(taken.length, 8, 'taken once per sample');
      const rows = await metrics.listMetrics(stream.id);
      assert.deepEqual(
        rows.map((r) => [r.at.getTime() - T0, Number(r.egress_bitrate), r.viewers_by_rendition]),
        [
          [0, 2_000_000, distribution], // the first sample: its bytes over the lifecycle's 1 s
          [1000, 4_000_000, distribution],
          [2000, 0, distribution],
          [4000, 4_000_000, distribution], // 1 MB over the 2 s since the previous sample
          [60_000, 2_400_000, distribution], // live again: a first sample once more, not 56 s
          [62_000, 2_000_000, distribution], // 200 kB + 300 kB over the 2 s since 60 s (61 s has no row)
          [90_000, 3_200_000, distribution], // not over the 28 s since 62 s
        ],
      );

      // without session tracking (VIEWER_SESSIONS=off) neither is measured: null, not 0
      const off = new StreamMetricsRecorder(metrics, bus, new Registry(), silentLog, { instanceId: 'node-a', viewers: () => 3, flushIntervalMs: 60_000 });
      bus.publish(metricsEvent(stream.id, 'node-a', T0 + 100_000));
      await off.close();
      const last = (await metrics.listMetrics(stream.id)).at(-1)!;
      assert.deepEqual([last.at.getTime() - T0, last.egress_bitrate, last.viewers_by_rendition], [100_000, null, null]);
    });

    it("gives each tick its own second: one a millisecond early no longer lands on the previous tick's row", async (t) => {
      if (!handle) return t.skip();
      const bus = new LocalEventBus();
      const recorder = flushedByHand(bus, new Registry(), () => 1);
      const { stream } = await streams.create();
      // the lifecycle's ticks on the whole seconds, as the timer delivers them: late, early, late, on time
      for (const [i, at] of [12, 999, 2011, 3000].entries()) bus.publish(metricsEvent(stream.id, 'node-a', T0 + at, 1000 + i));
      await recorder.close();
      assert.deepEqual(
        (await metrics.listMetrics(stream.id)).map((r) => [r.at.getTime() - T0, r.ingress_bitrate]),
        [[0, 1000], [1000, 1001], [2000, 1002], [3000, 1003]],
      );
    });

    it('keeps samples a failed write could not store and writes them with the next flush', async (t) => {
      if (!handle) return t.skip();
      const bus = new LocalEventBus();
      const registry = new Registry();
      const recorder = flushedByHand(bus, registry, () => 0);
      bus.publish(metricsEvent('no-such-stream', 'node-a', T0)); // the foreign key refuses the batch
      await recorder.flush();
      assert.equal(recorder.pendingRows, 1, 'kept for the next flush');
      assert.equal(await counter(registry, 'nova_streaming_stream_metrics_rows_written_total'), 0);
      // the stream turns up (a row created elsewhere): the retry goes through
      await handle.database.db
        .insertInto('streams')
        .values({ id: 'no-such-stream', title: '', status: 'ACTIVE', private: false, created_at: new Date(T0) })
        .execute();
      await recorder.flush();
      assert.equal(recorder.pendingRows, 0);
      assert.equal((await metrics.listMetrics('no-such-stream')).length, 1);
      await recorder.close();
    });
  });
}
