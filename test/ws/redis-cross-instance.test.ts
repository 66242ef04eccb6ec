import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { RedisEventBus } from '../../src/control/events/redis-bus.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { TestViewer, waitUntil } from './support/ws-viewer.js';
import { silentLog } from './support/hub-fixture.js';
import { SHARED_REDIS_URL, redisReachable, spawnChildHub, startRedisHub, uniqueNamespace, type ChildHub, type RedisHub } from './support/redis-helpers.js';

const ladder: RenditionInfo[] = [{ name: 'source', width: 1920, height: 1080, bandwidth: 6_000_000, codecs: 'avc1.640028', frameRate: 30 }];
const namespace = uniqueNamespace();
const TTL_MS = 3000;
const SYNC_MS = 300;
let hubA: RedisHub;
let hubB: RedisHub;
const sockets: TestViewer[] = [];
let child: ChildHub | null = null;

before(async () => {
  if (!(await redisReachable(6379))) throw new Error('Redis is required at 127.0.0.1:6379 for the cross-instance tests');
  hubA = await startRedisHub(SHARED_REDIS_URL, namespace, 'inst-a', { ttlMs: TTL_MS, syncIntervalMs: SYNC_MS });
  hubB = await startRedisHub(SHARED_REDIS_URL, namespace, 'inst-b', { ttlMs: TTL_MS, syncIntervalMs: SYNC_MS });
});

after(async () => {
  for (const s of sockets) s.close();
  child?.child.kill('SIGKILL');
  await hubA?.close();
  await hubB?.close();
  const cleanup = createClient({ url: SHARED_REDIS_URL });
  await cleanup.connect();
  const keys = await cleanup.keys(`${namespace.prefix}*`);
  if (keys.length > 0) await cleanup.del(keys);
  cleanup.destroy();
});

function viewer(url: string): TestViewer {
  const v = new TestViewer(url);
  sockets.push(v);
  return v;
}

test('an event published on instance A reaches viewers on instance B within 1 s, in order, and A\'s own viewers at once', async () => {
  const onA = viewer(hubA.url('live1'));
  const onB = viewer(hubB.url('live1'));
  await Promise.all([onA, onB].map((v) => v.waitFor((m) => m.type === 'snapshot')));
  const sentAt = Date.now();
  hubA.bus.publish({ type: 'stream_started', streamId: 'live1', instanceId: 'inst-a', at: sentAt, renditions: ladder });
  hubA.bus.publish({ type: 'stream_metrics', streamId: 'live1', instanceId: 'inst-a', at: sentAt, ingressBitrate: 6e6, fps: 30, renditions: ['source'] });
  hubA.bus.publish({ type: 'stream_ended', streamId: 'live1', instanceId: 'inst-a', at: sentAt, reason: 'unpublished' });
  await onB.waitFor((m) => m.type === 'stream_ended', 1000);
  assert.ok(Date.now() - sentAt < 1000);
  for (const v of [onA, onB]) {
    assert.deepEqual(
      v.messages.filter((m) => m.type !== 'snapshot' && m.type !== 'viewer_count_changed').map((m) => m.type),
      ['stream_started', 'stream_metrics', 'stream_ended'],
    );
    assert.deepEqual(v.schemaErrors, []);
  }
  // A's bus did not deliver its own Redis echo a second time.
  assert.equal(onA.ofType('stream_started').length, 1);
  onA.close();
  onB.close();
  await waitUntil(() => hubA.viewers.count('live1') === 0, 3000, 'test viewers gone');
});

test('global viewer counts add up across instances and each instance tells its viewers the global figure', async () => {
  hubA.streams.set('shared', { exists: true, private: false, state: {} });
  hubB.streams.set('shared', { exists: true, private: false, state: {} });
  const onA = Array.from({ length: 3 }, () => viewer(hubA.url('shared')));
  const onB = Array.from({ length: 5 }, () => viewer(hubB.url('shared')));
  await Promise.all([...onA, ...onB].map((v) => v.waitFor((m) => m.type === 'snapshot')));
  await waitUntil(() => hubA.viewers.count('shared') === 8 && hubB.viewers.count('shared') === 8, 3000, 'global count 8 on both');
  await onA[0]!.waitFor((m) => m.type === 'viewer_count_changed' && m.viewers === 8, 3000);
  await onB[0]!.waitFor((m) => m.type === 'viewer_count_changed' && m.viewers === 8, 3000);
  // HLS sessions on B count too.
  hubB.viewers.touchPlayback('shared', 'hls-client-1');
  hubB.viewers.touchPlayback('shared', 'hls-client-2');
  await waitUntil(() => hubA.viewers.count('shared') === 10, 3000, 'A to see B\'s HLS sessions');
  for (const v of onB) v.close();
  await waitUntil(() => hubA.viewers.count('shared') === 5, 3000, 'A to see B\'s viewers leave');
  for (const v of onA) v.close();
});

test('an instance killed with SIGKILL stops counting within the heartbeat TTL', async () => {
  child = await spawnChildHub(SHARED_REDIS_URL, namespace, 'inst-doomed', TTL_MS, SYNC_MS);
  const onChild = Array.from({ length: 4 }, () => viewer(child!.url('live1')));
  await Promise.all(onChild.map((v) => v.waitFor((m) => m.type === 'snapshot')));
  await waitUntil(() => hubA.viewers.count('live1') === 4, 3000, 'A to count the child\'s 4 viewers');
  // Events cross to the child process too.
  hubA.bus.publish({ type: 'quality_changed', streamId: 'live1', instanceId: 'inst-a', at: Date.now(), renditions: ladder });
  await onChild[0]!.waitFor((m) => m.type === 'quality_changed', 1000);
  const killedAt = Date.now();
  child.child.kill('SIGKILL');
  await waitUntil(() => hubA.viewers.count('live1') === 0, TTL_MS + 2000, 'the dead instance\'s viewers to disappear');
  const elapsed = Date.now() - killedAt;
  assert.ok(elapsed <= TTL_MS + 2 * SYNC_MS + 500, `gone after ${elapsed} ms`);
  child = null;
});

test('a peer that goes silent (died without a goodbye) has its streams ended here after the peer timeout; heartbeats keep a live one', async () => {
  const watcherHub = await startRedisHub(SHARED_REDIS_URL, namespace, 'inst-watcher', { ttlMs: TTL_MS, syncIntervalMs: SYNC_MS, heartbeatMs: 200, peerTimeoutMs: 1000 });
  const ingestBus = new RedisEventBus({ url: SHARED_REDIS_URL, instanceId: 'inst-ingest', channel: namespace.channel, log: silentLog, heartbeatMs: 200 });
  try {
    await ingestBus.waitConnected();
    watcherHub.streams.set('orphan', { exists: true, private: false, state: {} });
    const v = viewer(watcherHub.url('orphan'));
    await v.waitFor((m) => m.type === 'snapshot');
    ingestBus.publish({ type: 'stream_started', streamId: 'orphan', instanceId: 'inst-ingest', at: Date.now(), renditions: ladder });
    await v.waitFor((m) => m.type === 'stream_started', 1000);
    // Three peer timeouts of an alive peer: its heartbeats keep the stream.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(v.ofType('stream_ended').length, 0, 'a heartbeating peer keeps its streams');
    // close() says nothing on the channel: to the others it is a SIGKILL.
    const silentAt = Date.now();
    await ingestBus.close();
    const ended = await v.waitFor((m) => m.type === 'stream_ended', 3000);
    assert.equal(ended.reason, 'disconnected');
    const elapsed = Date.now() - silentAt;
    assert.ok(elapsed >= 800 && elapsed <= 1000 + 2 * 200 + 500, `ended ${elapsed} ms after the peer went silent`);
    assert.deepEqual(v.schemaErrors, []);
  } finally {
    await ingestBus.close();
    await watcherHub.close();
  }
});
