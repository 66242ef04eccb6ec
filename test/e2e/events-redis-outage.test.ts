/**
 * Redis killed for 30 s while streams start and end on two server processes
 * sharing PostgreSQL: when it returns (empty: a private redis-server without
 * persistence), every viewer on both instances gets every lifecycle event of
 * its stream, in the database's order, none twice. The shared Redis is never
 * touched: the instances use one of their own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { createSharedDatabase, prepareInstances, startInstance, type NovaInstance } from '../support/nova-instances.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';
import { OwnRedis, freePort } from '../ws/support/redis-helpers.js';
import { TestViewer } from '../ws/support/ws-viewer.js';

const OUTAGE_MS = 30_000;
const LIFECYCLE = new Set(['stream_started', 'quality_changed', 'stream_ended']);
const adminToken = randomBytes(24).toString('hex');
let shared: { url: string; drop(): Promise<void> } | null = null;
let redis: OwnRedis | null = null;
const viewers: TestViewer[] = [];
const publishers: Array<{ abort: AbortController; done: Promise<unknown> }> = [];
const instances: NovaInstance[] = [];

const ownRedis = toolGate('redis-server', haveTool('redis-server', ['--version']));

before(async () => {
  prepareInstances();
  shared = await createSharedDatabase('nova_redis_outage');
});

after(async () => {
  for (const p of publishers) p.abort.abort();
  await Promise.all(publishers.map((p) => p.done.catch(() => {})));
  for (const v of viewers) v.close();
  for (const instance of instances) await instance.kill();
  await redis?.stop();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await shared?.drop().catch(() => {});
});

interface Stream {
  id: string;
  stream_key: string;
}

function publish(instance: NovaInstance, stream: Stream): () => Promise<void> {
  const abort = new AbortController();
  const done = publishSynthetic({ url: `${instance.rtmp}/${stream.stream_key}`, bitrateBps: 300_000, durationMs: 120_000, signal: abort.signal });
  done.catch(() => {});
  const entry = { abort, done };
  publishers.push(entry);
  return async () => {
    abort.abort();
    await done.catch(() => {});
  };
}

const lifecycle = (v: TestViewer): string[] => v.messages.filter((m) => LIFECYCLE.has(m.type)).map((m) => `${m.type}${m.type === 'stream_ended' ? `:${String(m.reason)}` : ''}`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('Redis killed for 30 s while streams start and end on two instances: afterwards every viewer on both has every event, in order, once', ownRedis, async (t) => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  const env = { DATABASE_URL: shared!.url, REDIS_URL: redis.url };
  const a = await startInstance('outage-a', env, adminToken);
  const b = await startInstance('outage-b', env, adminToken);
  instances.push(a, b);
  const streams: Stream[] = [];
  for (let i = 1; i <= 4; i++) {
    const created = await a.api('POST', '/api/v1/streams', { title: `outage ${i}` });
    assert.equal(created.status, 201);
    streams.push(created.body as Stream);
  }
  const [s1, s2, s3, s4] = streams as [Stream, Stream, Stream, Stream];
  const watching = new Map<string, TestViewer[]>();
  for (const stream of streams) {
    const pair = [new TestViewer(a.ws(stream.id)), new TestViewer(b.ws(stream.id))];
    viewers.push(...pair);
    watching.set(stream.id, pair);
  }
  await Promise.all(viewers.map((v) => v.waitFor((m) => m.type === 'snapshot', 5000)));

  // Before: s1 is live on A, and both instances' viewers know it.
  const endS1 = publish(a, s1);
  for (const v of watching.get(s1.id)!) await v.waitFor((m) => m.type === 'stream_started', 15_000);

  await redis.kill();
  const killedAt = Date.now();
  await sleep(2000);
  // During: starts and ends on both instances.
  const endS2 = publish(a, s2);
  const endS3 = publish(b, s3);
  await sleep(6000);
  await endS1();
  await endS3();
  await sleep(2000);
  const endS4 = publish(b, s4);
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - killedAt)));
  await redis.start();
  const returnedAt = Date.now();

  // After: the streams still live end, and every viewer catches up.
  for (const v of [...watching.get(s2.id)!, ...watching.get(s4.id)!]) await v.waitFor((m) => m.type === 'stream_started', 20_000);
  t.diagnostic(`held events reached viewers ${Date.now() - returnedAt} ms after Redis returned`);
  await endS2();
  await endS4();

  const db = new pg.Client({ connectionString: shared!.url });
  await db.connect();
  try {
    const expected = async (streamId: string): Promise<string[]> =>
      (
        await db.query<{ type: string; reason: string | null }>(
          `SELECT type, payload->>'reason' AS reason FROM event_outbox WHERE stream_id = $1 ORDER BY seq`,
          [streamId],
        )
      ).rows
        .filter((row) => LIFECYCLE.has(row.type))
        .map((row) => `${row.type}${row.type === 'stream_ended' ? `:${row.reason}` : ''}`);
    for (const stream of streams) {
      await waitFor(`the stream_ended of ${stream.id} in the database`, 10_000, async () => (await expected(stream.id)).some((e) => e.startsWith('stream_ended')));
      const want = await expected(stream.id);
      assert.equal(want[0], 'stream_started');
      for (const v of watching.get(stream.id)!) {
        await waitFor(`viewer of ${stream.id} to catch up`, 15_000, () => lifecycle(v).length >= want.length);
      }
      await sleep(200);
      for (const v of watching.get(stream.id)!) {
        assert.deepEqual(lifecycle(v), want, `${stream.id} on ${v === watching.get(stream.id)![0] ? 'A' : 'B'}: every event, in order, once`);
        assert.deepEqual(v.schemaErrors, []);
      }
    }
  } finally {
    await db.end();
  }
});
