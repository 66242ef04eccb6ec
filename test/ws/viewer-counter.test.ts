import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import { ViewerCounter, playbackClientKey } from '../../src/control/viewers/viewer-counter.js';
import { metricValue, startHub } from './support/hub-fixture.js';
import { TestViewer, waitUntil } from './support/ws-viewer.js';

function countEvents(bus: LocalEventBus): StreamEvent[] {
  const seen: StreamEvent[] = [];
  bus.subscribe((event) => {
    if (event.type === 'viewer_count_changed') seen.push(event);
  });
  return seen;
}

test('HLS/DASH sessions count once per client key and expire after the idle timeout (injected clock)', () => {
  const bus = new LocalEventBus();
  let now = 1_000_000;
  const counter = new ViewerCounter({ instanceId: 'i1', bus, now: () => now, sessionIdleMs: 30_000, autoStart: false });
  const events = countEvents(bus);
  const alice = playbackClientKey('10.0.0.1', 'Safari');
  const bob = playbackClientKey('10.0.0.2', 'Safari');
  assert.notEqual(alice, bob);
  assert.equal(playbackClientKey('10.0.0.1', 'Safari'), alice);
  assert.equal(playbackClientKey('10.0.0.1', 'Safari', 'abc'), 'sid:abc');
  for (let i = 0; i < 10; i++) counter.touchPlayback('s1', alice); // segment after segment: still one viewer
  counter.touchPlayback('s1', bob);
  counter.touchPlayback('s1', playbackClientKey('10.0.0.1', 'Safari', 'tab-2'));
  assert.equal(counter.count('s1'), 3);
  counter.tick();
  assert.deepEqual(events.map((e) => e.type === 'viewer_count_changed' && [e.viewers, e.peak]), [[3, 3]]);

  now += 20_000;
  counter.touchPlayback('s1', alice); // alice keeps playing; bob and tab-2 go quiet
  now += 15_000;
  counter.tick();
  assert.equal(counter.count('s1'), 1, 'sessions idle 35 s are gone');
  now += 30_001;
  counter.tick();
  assert.equal(counter.count('s1'), 0);
  assert.deepEqual(events.map((e) => e.type === 'viewer_count_changed' && [e.viewers, e.peak]), [[3, 3], [1, 3], [0, 3]]);
  counter.tick();
  assert.equal(events.length, 3, 'no event without a change');
});

test('coalescing: 100 joins and 100 touches within one tick make one event, not 200', () => {
  const bus = new LocalEventBus();
  const counter = new ViewerCounter({ instanceId: 'i1', bus, autoStart: false });
  const events = countEvents(bus);
  for (let i = 0; i < 100; i++) counter.wsJoined('s1');
  for (let i = 0; i < 100; i++) counter.touchPlayback('s1', `k${i}`);
  assert.equal(events.length, 0, 'nothing is published per join');
  counter.tick();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type === 'viewer_count_changed' && events[0]!.viewers, 200);
  for (let i = 0; i < 100; i++) counter.wsLeft('s1');
  counter.tick();
  assert.equal(events.length, 2);
  assert.equal(counter.peak('s1'), 200);
  bus.publish({ type: 'stream_started', streamId: 's1', instanceId: 'i1', at: 0, renditions: [] });
  assert.equal(counter.peak('s1'), 100, 'a new broadcast starts a new peak from the current count');
});

test('real sockets: counts follow WebSocket viewers joining and leaving; 100 joins give a handful of events', async () => {
  const fixture = await startHub({ viewerOptions: { tickMs: 500 } });
  const received: StreamEvent[] = countEvents(fixture.bus as LocalEventBus);
  const viewers: TestViewer[] = [];
  try {
    for (let i = 0; i < 100; i++) viewers.push(new TestViewer(fixture.url('live1')));
    await Promise.all(viewers.map((v) => v.opened));
    assert.equal(fixture.viewers.count('live1'), 100);
    await waitUntil(() => received.some((e) => e.type === 'viewer_count_changed' && e.viewers === 100), 3000, 'count 100 published');
    const duringJoin = received.length;
    assert.ok(duringJoin <= 5, `expected a handful of viewer_count_changed for 100 joins, got ${duringJoin}`);
    // Every viewer is told the final count.
    await Promise.all(viewers.map((v) => v.waitFor((m) => m.type === 'viewer_count_changed' && m.viewers === 100)));
    for (const v of viewers) assert.deepEqual(v.schemaErrors, []);

    for (const v of viewers.slice(0, 60)) v.close();
    await waitUntil(() => fixture.viewers.count('live1') === 40, 3000, 'count to drop to 40');
    await viewers[99]!.waitFor((m) => m.type === 'viewer_count_changed' && m.viewers === 40);
    assert.equal(fixture.viewers.peak('live1'), 100);

    // The viewers histogram and top-N peak gauge are fed once a second for live streams.
    fixture.bus.publish({ type: 'stream_started', streamId: 'live1', instanceId: fixture.viewers.instanceId, at: Date.now(), renditions: [] });
    await waitUntil(async () => (await metricValue(fixture.registry, 'nova_streaming_peak_viewers', { stream: 'live1' })) === 40, 3000, 'peak gauge');
    fixture.bus.publish({ type: 'stream_ended', streamId: 'live1', instanceId: fixture.viewers.instanceId, at: Date.now(), reason: 'unpublished' });
    const peakMetric = await fixture.registry.getSingleMetric('nova_streaming_peak_viewers')!.get();
    assert.equal(peakMetric.values.length, 0, 'label removed when the stream ends');
  } finally {
    for (const v of viewers) v.close();
    await fixture.close();
  }
});
