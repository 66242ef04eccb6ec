import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { BusStatus } from '../../src/control/events/redis-bus.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { haveTool, toolGate } from '../support/tools.js';
import { TestViewer, waitUntil } from './support/ws-viewer.js';
import { OwnRedis, freePort, startRedisHub, uniqueNamespace, type RedisHub } from './support/redis-helpers.js';

const ladder: RenditionInfo[] = [{ name: 'source', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f', frameRate: 30 }];
const sockets: TestViewer[] = [];
let redis: OwnRedis | null = null;
const hubs: RedisHub[] = [];

after(async () => {
  for (const s of sockets) s.close();
  for (const hub of hubs) await hub.close();
  await redis?.stop();
});

function viewer(url: string): TestViewer {
  const v = new TestViewer(url);
  sockets.push(v);
  return v;
}

// The outage needs a Redis of our own to kill and restart: a missing redis-server skips locally and fails under CI=true.
const ownRedis = toolGate('redis-server', haveTool('redis-server', ['--version']));

test('Redis going away: hubs keep serving local viewers; when it returns they resynchronise missed starts and ends', ownRedis, async () => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  const namespace = uniqueNamespace();
  const timing = { ttlMs: 3000, syncIntervalMs: 300 };
  const hubA = await startRedisHub(redis.url, namespace, 'out-a', timing);
  const hubB = await startRedisHub(redis.url, namespace, 'out-b', timing);
  hubs.push(hubA, hubB);
  for (const hub of hubs) hub.streams.set('ending', { exists: true, private: false, state: {} });
  const statusesA: BusStatus[] = [];
  hubA.redisBus.onStatus((status) => statusesA.push(status));

  // Before the outage: B's stream "ending" is live and A's viewers know it.
  const aEnding = viewer(hubA.url('ending'));
  const aLive = viewer(hubA.url('live1'));
  const bLive = viewer(hubB.url('live1'));
  await Promise.all([aEnding, aLive, bLive].map((v) => v.waitFor((m) => m.type === 'snapshot')));
  hubB.bus.publish({ type: 'stream_started', streamId: 'ending', instanceId: 'out-b', at: Date.now(), renditions: ladder });
  await aEnding.waitFor((m) => m.type === 'stream_started', 1000);
  await waitUntil(() => hubA.viewers.count('live1') === 2, 3000, 'global count 2 before the outage');

  await redis.kill();
  await waitUntil(() => statusesA.includes('disconnected') && !hubB.redisBus.isConnected, 5000, 'both buses to notice');

  // During the outage: local service continues on both sides.
  hubA.bus.publish({ type: 'stream_started', streamId: 'live1', instanceId: 'out-a', at: Date.now(), renditions: ladder });
  await aLive.waitFor((m) => m.type === 'stream_started', 500);
  const lateJoiner = viewer(hubA.url('live1'));
  const snapshot = await lateJoiner.waitFor((m) => m.type === 'snapshot');
  assert.equal(snapshot.live, true);
  lateJoiner.ws.send('{"type":"ping"}');
  await lateJoiner.waitFor((m) => m.type === 'pong');
  await waitUntil(() => hubA.viewers.count('live1') === 2, 3000, 'A counting its own 2 viewers locally');
  await aLive.waitFor((m) => m.type === 'viewer_count_changed' && m.viewers === 2, 3000);
  hubB.bus.publish({ type: 'stream_ended', streamId: 'ending', instanceId: 'out-b', at: Date.now(), reason: 'unpublished' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(bLive.ofType('stream_started').length, 0, 'B cannot know of A\'s start yet');
  assert.equal(aEnding.ofType('stream_ended').length, 0, 'A cannot know of B\'s end yet');

  // Redis returns on the same port.
  await redis.start();
  await waitUntil(() => hubA.redisBus.isConnected && hubB.redisBus.isConnected, 10_000, 'both buses to reconnect');
  assert.deepEqual(statusesA.slice(-2), ['disconnected', 'connected']);
  await bLive.waitFor((m) => m.type === 'stream_started', 3000);
  const ended = await aEnding.waitFor((m) => m.type === 'stream_ended', 3000);
  assert.equal(ended.reason, 'disconnected');
  await waitUntil(() => hubA.viewers.count('live1') === 3 && hubB.viewers.count('live1') === 3, 5000, 'global counts to add up again');
  for (const v of [aEnding, aLive, bLive, lateJoiner]) assert.deepEqual(v.schemaErrors, []);
  // After the resync, events cross again.
  hubA.bus.publish({ type: 'stream_ended', streamId: 'live1', instanceId: 'out-a', at: Date.now(), reason: 'unpublished' });
  await bLive.waitFor((m) => m.type === 'stream_ended', 1000);
});
