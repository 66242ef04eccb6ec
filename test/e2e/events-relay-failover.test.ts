/**
 * The relaying instance is killed (SIGKILL) while events pour in through the
 * other: the other takes the relay over within seconds, and a consumer gets
 * every event of the outbox exactly once, in order per partition, with the
 * event log itself holding each seq once (nothing lost or duplicated at the
 * source either). Two server processes share a PostgreSQL database and Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import pg from 'pg';
import { Registry } from 'prom-client';
import type { DurableEvent } from '../../src/control/events/durable-event.js';
import { EventConsumer } from '../../src/control/events/event-consumer.js';
import { RedisEventLog } from '../../src/control/events/redis-event-log.js';
import { createSharedDatabase, prepareInstances, startInstance, type NovaInstance } from '../support/nova-instances.js';
import { waitFor } from '../support/tools.js';
import { silentLog } from '../ws/support/hub-fixture.js';
import { SHARED_REDIS_URL, deleteKeys, redisReachable, uniqueNamespace } from '../ws/support/redis-helpers.js';

const PARTITIONS = 8;
const EVENTS = 400;
const KILL_AFTER = 100;
const adminToken = randomBytes(24).toString('hex');
const prefix = uniqueNamespace().prefix;
let shared: { url: string; drop(): Promise<void> } | null = null;
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
  prepareInstances();
  shared = await createSharedDatabase('nova_failover');
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 200));
  await shared?.drop().catch(() => {});
  await deleteKeys(SHARED_REDIS_URL, prefix).catch(() => {});
});

test('SIGKILL of the relaying instance mid-batch: the other relays within seconds; the consumer gets every event once, in order', async (t) => {
  const env = {
    DATABASE_URL: shared!.url,
    REDIS_URL: SHARED_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    EVENT_PARTITIONS: String(PARTITIONS),
    // small rounds: the relay is always in the middle of one while events pour in
    OUTBOX_BATCH_SIZE: '5',
  };
  const a = await startInstance('relay-a', env, adminToken);
  const b = await startInstance('relay-b', env, adminToken);
  closers.push(() => a.kill(), () => b.kill());
  await waitFor('one instance to relay', 10_000, async () => ((await a.metric('nova_streaming_outbox_relay_leader')) ?? 0) + ((await b.metric('nova_streaming_outbox_relay_leader')) ?? 0) === 1);
  const [leader, follower]: NovaInstance[] = (await a.metric('nova_streaming_outbox_relay_leader')) === 1 ? [a, b] : [b, a];

  const log = new RedisEventLog({ url: SHARED_REDIS_URL, partitions: PARTITIONS, prefix: `${prefix}events`, log: silentLog });
  closers.push(() => log.close());
  await log.waitReady();
  const handled: DurableEvent[] = [];
  const consumer = new EventConsumer({ log, group: 'failover-check', consumer: 'checker', position: 'fresh', registry: new Registry(), logger: silentLog, handle: (e) => void handled.push(e) });
  closers.push(() => consumer.close());
  await consumer.start();

  // Events pour in through the follower, eight at a time; the leader dies a quarter of the way.
  let created = 0;
  let killedAt = 0;
  let pendingAtKill = -1;
  const db = new pg.Pool({ connectionString: shared!.url, max: 2 });
  closers.push(() => db.end());
  const writer = async (): Promise<void> => {
    while (created < EVENTS) {
      created++;
      const response = await follower.api('POST', '/api/v1/streams', { title: `event ${created}` });
      assert.equal(response.status, 201);
      if (created === KILL_AFTER) {
        await leader.kill();
        killedAt = Date.now();
        pendingAtKill = Number((await db.query('SELECT count(*) AS n FROM event_outbox WHERE published_at IS NULL')).rows[0].n);
      }
    }
  };
  const writing = Promise.all(Array.from({ length: 8 }, writer));
  await waitFor('the follower to take the relay over', 10_000, async () => killedAt > 0 && (await follower.metric('nova_streaming_outbox_relay_leader')) === 1);
  const takeoverMs = Date.now() - killedAt;
  await writing;
  assert.ok(takeoverMs < 5000, `the follower relays ${takeoverMs} ms after the kill`);
  assert.ok(pendingAtKill > 0, `events were waiting to be relayed when the relay died (${pendingAtKill})`);
  t.diagnostic(`takeover ${takeoverMs} ms after the kill; ${pendingAtKill} events unpublished at the kill`);

  const outbox = (await db.query<{ event_id: string }>('SELECT event_id FROM event_outbox ORDER BY id')).rows.map((row) => row.event_id);
  assert.equal(outbox.length, EVENTS);
  await waitFor('the consumer to have every event', 15_000, () => handled.length >= EVENTS);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const ids = handled.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'none twice');
  assert.deepEqual([...ids].sort(), [...outbox].sort(), 'every event of the outbox, nothing else');
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const seqs = handled.filter((e) => e.partition === partition).map((e) => e.seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `partition ${partition}: in order, no gaps`);
  }
  assert.equal(Number((await db.query('SELECT count(*) AS n FROM event_outbox WHERE published_at IS NULL')).rows[0].n), 0, 'all marked published');

  // The event log holds each seq once: the relays never appended twice, whoever died when.
  const redis = createClient({ url: SHARED_REDIS_URL });
  await redis.connect();
  try {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const entries = (await redis.sendCommand(['XRANGE', `${prefix}events:p:${partition}`, '-', '+'])) as Array<[string, string[]]>;
      const seqs = entries.map(([id]) => Number(id.split('-')[1]));
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `log partition ${partition}`);
    }
  } finally {
    redis.destroy();
  }
});
