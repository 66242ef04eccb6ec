/**
 * The outbox on both databases: each state change writes its event in the
 * same transaction (or none when nothing changed, or when the transaction
 * rolls back), seq numbers a partition's events 1, 2, 3… in commit order, the
 * relay publishes them in that order, marks them and prunes them.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { OutboxRepository } from '../../src/control/db/outbox-repository.js';
import type { OutboxSettings } from '../../src/control/db/outbox-append.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { partitionOf } from '../../src/control/events/durable-event.js';
import { MemoryEventLog } from '../../src/control/events/memory-event-log.js';
import { OutboxRelay } from '../../src/control/events/outbox-relay.js';
import { SoleLeadership } from '../../src/control/events/relay-leadership.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { BACKENDS, openBackend, silentLog, type TestDatabase } from './database-fixture.js';

const PARTITIONS = 4;
const rendition = (name: string): RenditionInfo => ({ name, width: 640, height: 360, bandwidth: 800_000, codecs: 'avc1.64001e', frameRate: 30 });

for (const backend of BACKENDS) {
  describe(`outbox on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    let commits = 0;
    const settings: OutboxSettings = { instanceId: 'outbox-test', partitions: PARTITIONS, onCommit: () => commits++ };
    let repo: StreamRepository;
    let outbox: OutboxRepository;

    before(async () => {
      handle = await openBackend(backend);
      if (handle) {
        repo = new StreamRepository(handle.database.db, undefined, settings);
        outbox = new OutboxRepository(handle.database.db);
      }
    });
    after(async () => {
      await handle?.dispose();
    });
    beforeEach(async () => {
      if (handle) await sql`TRUNCATE streams, event_outbox, event_partitions CASCADE`.execute(handle.database.db);
    });

    const rows = async () =>
      (await handle!.database.db.selectFrom('event_outbox').selectAll().orderBy('id').execute()).map((row) => ({
        type: row.type,
        streamId: row.stream_id,
        partition: row.partition,
        seq: Number(row.seq),
        payload: row.payload as Record<string, unknown>,
      }));

    it('writes each change\'s event with it, and none when nothing changed', async (t) => {
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      commits = 0;
      const { stream } = await repo.create({ title: 'news' });
      await repo.markActive(stream.id, 'node-a', undefined, [rendition('source')]);
      await repo.markActive(stream.id, 'node-a', undefined, null); // a takeover here: no news
      await repo.setRenditions(stream.id, [rendition('source'), rendition('360p')], true);
      await repo.setRenditions(stream.id, [rendition('source')]); // written, not announced
      await repo.markEnded(stream.id, 'unpublished');
      assert.equal(await repo.markEnded(stream.id, 'unpublished'), null);
      assert.equal(await repo.markError(stream.id, 'late'), null);
      assert.equal(await repo.revokeKeys(stream.id), 1);
      assert.equal(await repo.revokeKeys(stream.id), 0);
      assert.equal(await repo.markActive(stream.id, 'node-a'), null, 'no key left');
      const events = await rows();
      assert.deepEqual(
        events.map((e) => e.type),
        ['stream_created', 'stream_started', 'quality_changed', 'stream_ended', 'key_revoked'],
      );
      const partition = partitionOf(stream.id, PARTITIONS);
      assert.deepEqual(events.map((e) => [e.partition, e.seq]), [1, 2, 3, 4, 5].map((seq) => [partition, seq]));
      assert.deepEqual((events[1]!.payload.renditions as RenditionInfo[]).map((r) => r.name), ['source']);
      assert.deepEqual((events[2]!.payload.renditions as RenditionInfo[]).map((r) => r.name), ['source', '360p']);
      assert.equal(events[3]!.payload.reason, 'unpublished');
      assert.equal(commits, 5, 'the relay is woken once per committed event');
    });

    it('a change rolled back takes its event with it', async (t) => {
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      const { stream } = await repo.create({ title: 'undone' });
      await assert.rejects(
        handle.database.db.transaction().execute(async (trx) => {
          const inTransaction = new StreamRepository(trx, undefined, settings);
          assert.ok(await inTransaction.markActive(stream.id, 'node-a'));
          assert.equal((await trx.selectFrom('event_outbox').select('type').execute()).length, 2);
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal((await repo.get(stream.id))?.status, 'PENDING');
      assert.deepEqual((await rows()).map((e) => e.type), ['stream_created']);
      // the rolled-back seq is not a gap: the next event takes it
      await repo.markActive(stream.id, 'node-a');
      assert.deepEqual((await rows()).map((e) => e.seq), [1, 2]);
    });

    it('ending every stream of an instance writes one stream_ended each', async (t) => {
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { stream } = await repo.create({ title: `crashed ${i}` });
        await repo.markActive(stream.id, 'node-dead');
        ids.push(stream.id);
      }
      const ended = await repo.endAllActiveForInstance('node-dead', 'error');
      assert.deepEqual(ended.sort(), [...ids].sort());
      const endings = (await rows()).filter((e) => e.type === 'stream_ended');
      assert.deepEqual(endings.map((e) => e.streamId).sort(), [...ids].sort());
      for (const e of endings) assert.equal(e.payload.reason, 'error');
    });

    it('the relay publishes every event in seq order per partition, marks it, and prunes it after the retention', async (t) => {
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      const streams = await Promise.all(Array.from({ length: 6 }, (_, i) => repo.create({ title: `s${i}` })));
      await Promise.all(streams.map(({ stream }) => repo.markActive(stream.id, 'node-a')));
      await Promise.all(streams.map(({ stream }) => repo.markEnded(stream.id, 'unpublished')));
      const log = new MemoryEventLog({ partitions: PARTITIONS });
      let clock = Date.now();
      const relay = new OutboxRelay({
        outbox,
        log,
        leadership: new SoleLeadership(),
        registry: new Registry(),
        logger: silentLog,
        batchSize: 5, // several rounds
        retentionMs: 60_000,
        pruneEveryMs: 1,
        now: () => clock,
      });
      assert.equal(await relay.relayAll(), 18);
      assert.equal(await outbox.pendingCount(), 0);
      assert.equal(await relay.relayAll(), 0, 'nothing twice');
      const tops = await log.tops();
      await log.openGroup('check', 'start');
      const read = await log.read('check', 'c', 1000, 0);
      const byPartition = new Map<number, number[]>();
      for (const entry of read) byPartition.set(entry.partition, [...(byPartition.get(entry.partition) ?? []), entry.event!.seq]);
      for (const [partition, seqs] of byPartition) {
        assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `partition ${partition} in order, no gaps`);
        assert.equal(tops[partition], seqs.length);
      }
      for (const { stream } of streams) {
        const types = read.filter((e) => e.event!.streamId === stream.id).map((e) => e.event!.type);
        assert.deepEqual(types, ['stream_created', 'stream_started', 'stream_ended']);
      }
      // pruning keeps rows younger than the retention, then deletes them
      relay.start();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await rows()).length, 18, 'still within the retention');
      clock += 120_000;
      relay.wake();
      const deadline = Date.now() + 5000;
      while ((await rows()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal((await rows()).length, 0, 'pruned');
      await relay.close();
    });
  });
}
