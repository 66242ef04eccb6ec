/**
 * The relay against real PostgreSQL and a private Redis it may lose: events
 * committed while Redis is away wait in the outbox and leave in order when
 * it returns; a Redis that comes back empty (no persistence) is given again
 * what it lost, and a consumer drops what it had already handled. Exactly one
 * of several relays holds the lead, and another takes it when it goes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { OutboxRepository } from '../../src/control/db/outbox-repository.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import type { DurableEvent } from '../../src/control/events/durable-event.js';
import { EventConsumer } from '../../src/control/events/event-consumer.js';
import { OutboxRelay } from '../../src/control/events/outbox-relay.js';
import { RedisEventLog } from '../../src/control/events/redis-event-log.js';
import { PostgresLeadership, SoleLeadership } from '../../src/control/events/relay-leadership.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';
import { OwnRedis, freePort, uniqueNamespace } from '../ws/support/redis-helpers.js';
import { openTemporaryPostgres, silentLog, TEST_POSTGRES_URL, type TestDatabase } from './database-fixture.js';

const PARTITIONS = 4;
const prefix = uniqueNamespace().prefix;
const ownRedis = toolGate('redis-server', haveTool('redis-server', ['--version']));

describe('outbox relay on PostgreSQL and Redis', ownRedis, () => {
  let handle: TestDatabase;
  let redis: OwnRedis;
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    const opened = await openTemporaryPostgres();
    if (!opened) throw new Error(`PostgreSQL is required at ${TEST_POSTGRES_URL}`);
    handle = opened;
    redis = new OwnRedis(await freePort());
    await redis.start();
  });
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await redis?.stop();
    await handle?.dispose();
  });

  it('holds events while Redis is away, publishes them in order when it returns, and republishes what an empty Redis lost', async () => {
    const registry = new Registry();
    const repo = new StreamRepository(handle.database.db, undefined, { instanceId: 'relay-test', partitions: PARTITIONS, onCommit: () => relay.wake() });
    const log = new RedisEventLog({ url: redis.url, partitions: PARTITIONS, prefix, log: silentLog, maxReconnectDelayMs: 200 });
    await log.waitReady();
    const relay = new OutboxRelay({ outbox: new OutboxRepository(handle.database.db), log, leadership: new SoleLeadership(), registry, logger: silentLog, maxRetryDelayMs: 300 });
    const handled: DurableEvent[] = [];
    const consumer = new EventConsumer({ log, group: 'watcher', consumer: 'w1', position: 'fresh', handle: (e) => void handled.push(e), registry, logger: silentLog, blockMs: 200 });
    closers.push(() => log.close(), () => relay.close(), () => consumer.close());
    await consumer.start();
    relay.start();

    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await repo.create({ title: `before ${i}` })).stream.id);
    await waitFor('the first five events', 5000, () => handled.length === 5);

    await redis.kill();
    for (let i = 0; i < 5; i++) created.push((await repo.create({ title: `during ${i}` })).stream.id);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(handled.length, 5, 'nothing can arrive while Redis is away');
    assert.equal(await new OutboxRepository(handle.database.db).pendingCount(), 5, 'the outbox holds them');

    // Redis returns empty: no entries, no groups.
    await redis.start();
    await waitFor('every event once', 10_000, () => handled.length >= 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(handled.map((e) => e.streamId).sort(), [...created].sort(), 'each event once');
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const seqs = handled.filter((e) => e.partition === partition).map((e) => e.seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `partition ${partition}: in commit order, no gaps`);
    }
    // the relay republishes what the empty Redis lost after it has caught up: under load, a little later
    await waitFor('the first five again, dropped as duplicates', 10_000, () => consumer.stats.duplicates >= 5).catch(() => {});
    assert.ok(consumer.stats.duplicates >= 5, `the first five came again and were dropped (${consumer.stats.duplicates})`);
    assert.deepEqual(handled.map((e) => e.streamId).sort(), [...created].sort(), 'still each event once');
    assert.ok(relay.stats.reconciles >= 1);
    const republished = (await registry.getSingleMetric('nova_streaming_outbox_republished_total')!.get()).values[0]!.value;
    assert.ok(republished >= 5, `republished ${republished}`);
  });

  it('a relay of another database refuses the log this one writes (a REDIS_KEY_PREFIX shared by mistake)', async () => {
    const other = await openTemporaryPostgres();
    assert.ok(other);
    closers.push(() => other.dispose());
    const log = new RedisEventLog({ url: redis.url, partitions: PARTITIONS, prefix, log: silentLog });
    closers.push(() => log.close());
    await log.waitReady();
    const before = await log.tops();
    await new StreamRepository(other.database.db, undefined, { instanceId: 'other', partitions: PARTITIONS }).create({ title: 'elsewhere' });
    const relay = new OutboxRelay({ outbox: new OutboxRepository(other.database.db), log, leadership: new SoleLeadership(), registry: new Registry(), logger: silentLog });
    await assert.rejects(relay.relayAll(), /belongs to another database/);
    assert.deepEqual(await log.tops(), before, 'nothing appended');
    assert.equal(await new OutboxRepository(other.database.db).pendingCount(), 1, 'the event waits in its outbox');
  });

  it('one relay leads; when it goes, another takes the lead within seconds; NOTIFY wakes on commit', async () => {
    const a = new PostgresLeadership({ url: handle.url!, log: silentLog, retryMs: 200 });
    const b = new PostgresLeadership({ url: handle.url!, log: silentLog, retryMs: 200 });
    closers.push(() => a.close(), () => b.close());
    await waitFor('a leader', 5000, () => a.isLeader || b.isLeader);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(Number(a.isLeader) + Number(b.isLeader), 1, 'exactly one');
    const [leader, follower] = a.isLeader ? [a, b] : [b, a];
    let notified = 0;
    follower.onNotify(() => notified++);
    await new StreamRepository(handle.database.db, undefined, { instanceId: 'n', partitions: PARTITIONS }).create({ title: 'notify' });
    await waitFor('NOTIFY from the commit', 3000, () => notified > 0);
    const goneAt = Date.now();
    await leader.close();
    await waitFor('the follower to lead', 5000, () => follower.isLeader);
    assert.ok(Date.now() - goneAt < 2000, `took over after ${Date.now() - goneAt} ms`);
  });
});
