import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { EventLoopDelayMonitor } from '../../src/ops/event-loop-delay.js';
import { createMetricsRegistry } from '../../src/ops/metrics.js';

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is exported`);
  return (metric as unknown as { values: Sample[] }).values;
}

async function delayCounts(registry: Registry): Promise<{ count: number; atMost: (bound: number) => number }> {
  const values = await samples(registry, 'nova_streaming_event_loop_delay_seconds');
  const count = values.find((v) => v.metricName === 'nova_streaming_event_loop_delay_seconds_count')!.value;
  return {
    count,
    atMost: (bound) => values.find((v) => v.metricName?.endsWith('_bucket') && Number(v.labels.le) === bound)!.value,
  };
}

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a synchronous stall of the event loop, as a slow handler would cause
  }
}

test('timer lateness is observed: an idle loop reads small, a blocked one reads the stall', async () => {
  const registry = new Registry();
  const monitor = new EventLoopDelayMonitor(registry, 20);
  try {
    await sleep(250);
    const idle = await delayCounts(registry);
    assert.ok(idle.count >= 5, `samples every 20 ms: ${idle.count} in 250 ms`);
    assert.equal(idle.atMost(0.1), idle.count, 'an idle loop is never 100 ms late');

    blockFor(300);
    await sleep(60);
    const blocked = await delayCounts(registry);
    assert.ok(blocked.count > idle.count);
    // The sample due during the stall fired ~300 ms late, minus at most one interval.
    assert.equal(blocked.count - blocked.atMost(0.25), 1, 'one sample lands above 250 ms');
    assert.equal(blocked.atMost(0.5), blocked.count, 'and none past the stall itself');
  } finally {
    monitor.close();
  }
});

test('close() stops sampling', async () => {
  const registry = new Registry();
  const monitor = new EventLoopDelayMonitor(registry, 10);
  await sleep(60);
  monitor.close();
  const { count } = await delayCounts(registry);
  await sleep(60);
  assert.equal((await delayCounts(registry)).count, count);
});

test('busy time grows by the time the loop ran callbacks, not by wall time', async () => {
  const registry = new Registry();
  const monitor = new EventLoopDelayMonitor(registry);
  try {
    const busy = async (): Promise<number> => (await samples(registry, 'nova_streaming_event_loop_busy_seconds_total'))[0]!.value;
    const start = await busy();
    await sleep(300);
    const idle = (await busy()) - start;
    assert.ok(idle < 0.1, `an idle 300 ms adds little busy time: ${idle}`);
    blockFor(200);
    await sleep(10);
    const afterBlock = (await busy()) - start - idle;
    assert.ok(afterBlock >= 0.19 && afterBlock < 0.5, `a 200 ms stall adds ~0.2 s: ${afterBlock}`);
  } finally {
    monitor.close();
  }
});

test("the default registry leaves out prom-client's timer-based delay gauges and keeps the rest", async () => {
  const names = (await createMetricsRegistry().getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.includes('nova_streaming_process_process_cpu_seconds_total'));
  assert.ok(names.includes('nova_streaming_process_nodejs_eventloop_lag_seconds'));
  assert.deepEqual(names.filter((n) => /eventloop_lag_(min|max|mean|stddev|p\d+)_seconds$/.test(n)), []);
});
