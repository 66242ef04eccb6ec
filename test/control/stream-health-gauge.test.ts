import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { StreamHealthGauge } from '../../src/control/stream-health-gauge.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

async function scores(registry: Registry): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'nova_streaming_stream_health_score');
  assert.ok(metric, 'exported');
  const values = (metric as unknown as { values: Array<{ value: number; labels: { stream: string } }> }).values;
  return Object.fromEntries(values.map((v) => [v.labels.stream, v.value]));
}

describe('nova_streaming_stream_health_score', () => {
  it('scores each stream ingested here over its last minute, and drops it once its samples stop', async () => {
    let now = T0;
    const registry = new Registry();
    const gauge = new StreamHealthGauge(registry, () => now);
    // "steady": 90 s of 3 Mb/s at 30 fps; "stalling": the same, but its viewers stall 5 % of the time in the last minute
    for (let s = 0; s < 90; s++) {
      now = T0 + s * 1000;
      gauge.observe({ streamId: 'steady', at: new Date(now), viewers: 3, ingressBitrate: 3_000_000, fps: 30 });
      gauge.observe({ streamId: 'stalling', at: new Date(now), viewers: 3, ingressBitrate: 3_000_000, fps: 30, rebufferRatio: s >= 30 ? 0.05 : 0 });
    }
    const live = await scores(registry);
    assert.equal(live.steady, 100);
    // only the last minute counts, all of it at 5 %: rebuffering's whole weight gone, 25 of the 75 that
    // the measured components weigh (dropped frames and transcode lag are not recorded)
    assert.equal(live.stalling, 66.7);

    now += 10_000; // no sample for 10 s: the streams ended here
    assert.deepEqual(await scores(registry), {});
    assert.equal(gauge.streams, 0);
  });
});
