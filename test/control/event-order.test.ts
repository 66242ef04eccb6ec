/**
 * One hundred events for one stream, raised concurrently from two instances
 * sharing PostgreSQL (each change with its event, ten connections each), reach
 * every consumer in one order: the order of the database. Consumers here are
 * both instances' buses, a WebSocket viewer on each, and a group of its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import type { DurableEvent } from '../../src/control/events/durable-event.js';
import { EventConsumer } from '../../src/control/events/event-consumer.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { waitFor } from '../support/tools.js';
import { startEventInstance, type EventInstance } from '../ws/support/event-instance.js';
import { silentLog } from '../ws/support/hub-fixture.js';
import { SHARED_REDIS_URL, deleteKeys, redisReachable, uniqueNamespace } from '../ws/support/redis-helpers.js';
import { TestViewer } from '../ws/support/ws-viewer.js';
import { openTemporaryPostgres, TEST_POSTGRES_URL, type TestDatabase } from './database-fixture.js';

const EVENTS = 100;
const namespace = uniqueNamespace();
let database: TestDatabase | null = null;
const instances: EventInstance[] = [];
const viewers: TestViewer[] = [];

before(async () => {
  if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
  database = await openTemporaryPostgres();
  if (!database) throw new Error(`PostgreSQL is required at ${TEST_POSTGRES_URL}`);
});

after(async () => {
  for (const v of viewers) v.close();
  for (const instance of instances) await instance.close();
  await database?.dispose();
  await deleteKeys(SHARED_REDIS_URL, namespace.prefix);
});

const rendition = (name: string): RenditionInfo => ({ name, width: 640, height: 360, bandwidth: 800_000, codecs: 'avc1.64001e', frameRate: 30 });

test(`${EVENTS} events for one stream raised concurrently reach every consumer in one order, the order of the database`, async () => {
  const common = { redisUrl: SHARED_REDIS_URL, databaseUrl: database!.url!, database: database!.database, namespace };
  const a = await startEventInstance({ ...common, instanceId: 'order-a' });
  const b = await startEventInstance({ ...common, instanceId: 'order-b' });
  instances.push(a, b);
  const { stream } = await a.repo.create({ title: 'a hundred changes' });
  for (const instance of instances) instance.streams.set(stream.id, { exists: true, private: false, state: {} });

  const orders = new Map<string, string[]>();
  const record = (consumer: string, name: string): void => {
    let order = orders.get(consumer);
    if (!order) orders.set(consumer, (order = []));
    order.push(name);
  };
  for (const instance of instances) {
    instance.bus.subscribe((event) => {
      if (event.streamId === stream.id && event.type === 'quality_changed') record(`bus ${instance.viewers.instanceId}`, event.renditions[0]!.name);
    });
  }
  const ownGroup = new EventConsumer({
    log: a.events.log,
    group: 'order-check',
    consumer: 'checker',
    position: 'fresh',
    registry: new Registry(),
    logger: silentLog,
    handle: (event: DurableEvent) => {
      if (event.event.streamId === stream.id && event.event.type === 'quality_changed') record('group order-check', event.event.renditions[0]!.name);
    },
  });
  await ownGroup.start();
  const onA = new TestViewer(a.url(stream.id));
  const onB = new TestViewer(b.url(stream.id));
  viewers.push(onA, onB);
  await Promise.all([onA, onB].map((v) => v.waitFor((m) => m.type === 'snapshot')));

  // Concurrently, half through each instance's pool of connections.
  await Promise.all(
    Array.from({ length: EVENTS }, (_, i) => (i % 2 === 0 ? a : b).repo.setRenditions(stream.id, [rendition(`r${i}`)], true)),
  );

  const viewerOrder = (v: TestViewer): string[] =>
    v.ofType('quality_changed').map((m) => (m.renditions as RenditionInfo[])[0]!.name);
  await waitFor('every consumer to have every event', 15_000, () =>
    orders.size === 3 && [...orders.values()].every((o) => o.length >= EVENTS) && viewerOrder(onA).length >= EVENTS && viewerOrder(onB).length >= EVENTS,
  );
  await new Promise((resolve) => setTimeout(resolve, 300));

  const rows = await sql<{ name: string; seq: string | number }>`
    SELECT payload->'renditions'->0->>'name' AS name, seq FROM event_outbox
    WHERE stream_id = ${stream.id} AND type = 'quality_changed' ORDER BY seq`.execute(database!.database.db);
  const databaseOrder = rows.rows.map((row) => row.name);
  assert.equal(databaseOrder.length, EVENTS);
  assert.equal(new Set(databaseOrder).size, EVENTS);
  assert.notDeepEqual(databaseOrder, Array.from({ length: EVENTS }, (_, i) => `r${i}`), 'concurrent: the commits did not simply follow the calls (else nothing was tested)');
  const seqs = rows.rows.map((row) => Number(row.seq));
  assert.deepEqual(seqs, Array.from({ length: EVENTS }, (_, i) => seqs[0]! + i), 'seq without gaps');
  // the state the database ended in is the last event's: events are in the order of the changes
  assert.equal((await a.repo.get(stream.id))!.renditions[0]!.name, databaseOrder.at(-1));

  const all = new Map([...orders, ['viewer on order-a', viewerOrder(onA)], ['viewer on order-b', viewerOrder(onB)]]);
  for (const [consumer, order] of all) assert.deepEqual(order, databaseOrder, `${consumer}: every event once, in the database's order`);
  await ownGroup.close();
});
