/**
 * Redis going away between two instances sharing PostgreSQL: each keeps
 * serving its own viewers (snapshots, pings, ephemeral events); lifecycle
 * changes made meanwhile on either instance wait in the outbox and, when
 * Redis returns (empty: it keeps nothing), reach every viewer on both, in
 * order, once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BusStatus } from '../../src/control/events/redis-bus.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { openTemporaryPostgres, TEST_POSTGRES_URL, type TestDatabase } from '../control/database-fixture.js';
import { haveTool, toolGate } from '../support/tools.js';
import { startEventInstance, type EventInstance } from './support/event-instance.js';
import { TestViewer, waitUntil } from './support/ws-viewer.js';
import { OwnRedis, freePort, uniqueNamespace } from './support/redis-helpers.js';

const ladder: RenditionInfo[] = [{ name: 'source', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f', frameRate: 30 }];
const sockets: TestViewer[] = [];
let redis: OwnRedis | null = null;
let database: TestDatabase | null = null;
const instances: EventInstance[] = [];

before(async () => {
  database = await openTemporaryPostgres();
  if (!database) throw new Error(`PostgreSQL is required at ${TEST_POSTGRES_URL}`);
});

after(async () => {
  for (const s of sockets) s.close();
  for (const instance of instances) await instance.close();
  await redis?.stop();
  await database?.dispose();
});

function viewer(url: string): TestViewer {
  const v = new TestViewer(url);
  sockets.push(v);
  return v;
}

/** The lifecycle messages a viewer got, in order. */
const lifecycle = (v: TestViewer): string[] => v.messages.filter((m) => ['stream_started', 'stream_ended', 'quality_changed'].includes(m.type)).map((m) => m.type);

// The outage needs a Redis of our own to kill and restart: a missing redis-server skips locally and fails under CI=true.
const ownRedis = toolGate('redis-server', haveTool('redis-server', ['--version']));

test('Redis going away: local viewers are served; changes made meanwhile on both instances reach every viewer when it returns, in order, once', ownRedis, async () => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  const namespace = uniqueNamespace();
  const common = { redisUrl: redis.url, databaseUrl: database!.url!, database: database!.database, namespace };
  const a = await startEventInstance({ ...common, instanceId: 'out-a' });
  const b = await startEventInstance({ ...common, instanceId: 'out-b' });
  instances.push(a, b);
  const ending = (await a.repo.create({ title: 'ends during the outage' })).stream.id;
  const starting = (await a.repo.create({ title: 'starts during the outage' })).stream.id;
  for (const instance of instances) {
    for (const id of [ending, starting]) instance.streams.set(id, { exists: true, private: false, state: {} });
  }
  const statusesA: BusStatus[] = [];
  a.redisBus.onStatus((status) => statusesA.push(status));

  // Before the outage: B's stream is live and A's viewers know it.
  const aEnding = viewer(a.url(ending));
  const bEnding = viewer(b.url(ending));
  const aStarting = viewer(a.url(starting));
  const bStarting = viewer(b.url(starting));
  await Promise.all([aEnding, bEnding, aStarting, bStarting].map((v) => v.waitFor((m) => m.type === 'snapshot')));
  await b.repo.markActive(ending, 'out-b', undefined, ladder);
  await aEnding.waitFor((m) => m.type === 'stream_started', 3000);
  await bEnding.waitFor((m) => m.type === 'stream_started', 3000);

  await redis.kill();
  await waitUntil(() => statusesA.includes('disconnected') && !b.redisBus.isConnected, 5000, 'both buses to notice');

  // During the outage: each side still serves its viewers.
  await a.repo.markActive(starting, 'out-a', undefined, ladder);
  await b.repo.markEnded(ending, 'unpublished');
  a.bus.publish({ type: 'stream_metrics', streamId: starting, instanceId: 'out-a', at: Date.now(), ingressBitrate: 3e6, fps: 30, renditions: ['source'] });
  await aStarting.waitFor((m) => m.type === 'stream_metrics', 1000);
  const lateJoiner = viewer(a.url(starting));
  await lateJoiner.waitFor((m) => m.type === 'snapshot');
  lateJoiner.ws.send('{"type":"ping"}');
  await lateJoiner.waitFor((m) => m.type === 'pong');
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const v of [aEnding, bEnding]) assert.deepEqual(lifecycle(v), ['stream_started'], 'the end waits in the outbox');
  for (const v of [aStarting, bStarting]) assert.deepEqual(lifecycle(v), [], 'the start waits in the outbox');

  // Redis returns on the same port, empty.
  await redis.start();
  await waitUntil(() => a.redisBus.isConnected && b.redisBus.isConnected, 10_000, 'both buses to reconnect');
  for (const v of [aStarting, bStarting, lateJoiner]) await v.waitFor((m) => m.type === 'stream_started', 10_000);
  for (const v of [aEnding, bEnding]) assert.equal((await v.waitFor((m) => m.type === 'stream_ended', 10_000)).reason, 'unpublished');
  // After the change: events cross again.
  await a.repo.markEnded(starting, 'unpublished');
  await bStarting.waitFor((m) => m.type === 'stream_ended', 3000);
  await aStarting.waitFor((m) => m.type === 'stream_ended', 3000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const v of [aEnding, bEnding, aStarting, bStarting]) assert.deepEqual(lifecycle(v), ['stream_started', 'stream_ended'], 'in order, once');
  for (const v of [aEnding, bEnding, aStarting, bStarting, lateJoiner]) assert.deepEqual(v.schemaErrors, []);
  assert.deepEqual(statusesA.slice(-2), ['disconnected', 'connected']);
});
