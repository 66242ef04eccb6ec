import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sql } from 'kysely';
import { NovaError } from '../../src/errors.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { hashStreamKey } from '../../src/control/auth/stream-key.js';
import { MetricsRepository } from '../../src/control/db/metrics-repository.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { BACKENDS, openBackend, type TestDatabase } from './database-fixture.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

for (const backend of BACKENDS) {
  describe(`StreamRepository on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    let clockMs = T0;
    const clock = () => new Date((clockMs += 1000));
    let repo: StreamRepository;
    let metrics: MetricsRepository;

    before(async () => {
      handle = await openBackend(backend);
      if (handle) {
        repo = new StreamRepository(handle.database.db, clock);
        metrics = new MetricsRepository(handle.database.db, clock);
      }
    });
    after(async () => {
      await handle?.dispose();
    });
    // Without PostgreSQL (outside CI only: the fixture throws under CI=true) each test skips itself.
    beforeEach(async () => {
      if (handle) await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
    });

    it('reports its backend kind and answers ping', async (t) => {
      if (!handle) return t.skip();
      assert.equal(handle.database.kind, backend);
      await handle.database.ping();
    });

    it('creates a PENDING stream with a key stored only as a hash', async (t) => {
      if (!handle) return t.skip();
      const created = await repo.create({ title: 'Launch', private: true });
      assert.match(created.streamKey, /^nsk_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.stream.status, 'PENDING');
      assert.equal(created.stream.title, 'Launch');
      assert.equal(created.stream.private, true);
      assert.equal(created.stream.startedAt, null);
      assert.deepEqual(created.stream.renditions, []);
      const keys = await handle.database.db.selectFrom('stream_keys').selectAll().execute();
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.key_hash, hashStreamKey(created.streamKey));
      assert.equal(keys[0]!.key_prefix, created.streamKey.slice(0, 12));
      assert.ok(!JSON.stringify(keys).includes(created.streamKey), 'plaintext key must not be stored');
      assert.deepEqual(await repo.get(created.stream.id), created.stream);
    });

    it('walks PENDING → ACTIVE → ENDED with timestamps', async (t) => {
      if (!handle) return t.skip();
      const { stream } = await repo.create({ title: 'life' });
      const startedAt = new Date(T0 + 123_456);
      const active = await repo.markActive(stream.id, 'node-a', startedAt);
      assert.ok(active);
      assert.equal(active.status, 'ACTIVE');
      assert.equal(active.instanceId, 'node-a');
      assert.equal(active.startedAt?.getTime(), startedAt.getTime());
      assert.equal(active.endedAt, null);

      // A takeover on another instance keeps the session's start.
      const taken = await repo.markActive(stream.id, 'node-b', new Date(T0 + 200_000));
      assert.equal(taken?.instanceId, 'node-b');
      assert.equal(taken?.startedAt?.getTime(), startedAt.getTime());
      // The loser of the takeover cannot end the stream.
      assert.equal(await repo.markEnded(stream.id, 'disconnected', new Date(T0 + 300_000), 'node-a'), null);

      const endedAt = new Date(T0 + 400_000);
      const ended = await repo.markEnded(stream.id, 'unpublished', endedAt, 'node-b');
      assert.ok(ended);
      assert.equal(ended.status, 'ENDED');
      assert.equal(ended.endReason, 'unpublished');
      assert.equal(ended.endedAt?.getTime(), endedAt.getTime());
      assert.equal(ended.startedAt?.getTime(), startedAt.getTime());
      // No second transition.
      assert.equal(await repo.markEnded(stream.id, 'shutdown'), null);
      assert.equal(await repo.markError(stream.id, 'boom'), null);

      // Reconnecting with a still-valid key starts a new session.
      const again = await repo.markActive(stream.id, 'node-a', new Date(T0 + 500_000));
      assert.equal(again?.status, 'ACTIVE');
      assert.equal(again?.startedAt?.getTime(), T0 + 500_000);
      assert.equal(again?.endedAt, null);
      assert.equal(again?.endReason, null);
    });

    it('marks errors and refuses to activate a stream whose keys are revoked', async (t) => {
      if (!handle) return t.skip();
      const { stream } = await repo.create();
      const errored = await repo.markError(stream.id, 'transcoder crashed');
      assert.equal(errored?.status, 'ERROR');
      assert.equal(errored?.endReason, 'transcoder crashed');
      assert.equal(await repo.revokeKeys(stream.id), 1);
      assert.equal(await repo.revokeKeys(stream.id), 0);
      assert.equal(await repo.markActive(stream.id, 'node-a'), null);
      assert.equal(await repo.markActive('00000000-0000-0000-0000-000000000000', 'node-a'), null);
      assert.equal(await repo.get('00000000-0000-0000-0000-000000000000'), null);
    });

    it('finds a stream by a valid key, not by a revoked, unknown or malformed one', async (t) => {
      if (!handle) return t.skip();
      const first = await repo.create({ title: 'one' });
      const second = await repo.create({ title: 'two' });
      assert.equal((await repo.findStreamByKey(first.streamKey))?.id, first.stream.id);
      assert.equal((await repo.findStreamByKey(second.streamKey))?.id, second.stream.id);
      // Same shape, different key.
      const forged = first.streamKey.slice(0, -1) + (first.streamKey.endsWith('A') ? 'B' : 'A');
      assert.equal(await repo.findStreamByKey(forged), null);
      assert.equal(await repo.findStreamByKey(''), null);
      assert.equal(await repo.findStreamByKey("nsk_' OR 1=1 --"), null);
      assert.equal(await repo.findStreamByKey(first.streamKey + 'x'), null);
      await repo.revokeKeys(first.stream.id);
      assert.equal(await repo.findStreamByKey(first.streamKey), null);
      assert.equal((await repo.findStreamByKey(second.streamKey))?.id, second.stream.id);
    });

    it('finds the streams of several key hashes in one statement, not a revoked, unknown or malformed one', async (t) => {
      if (!handle) return t.skip();
      const first = await repo.create({ title: 'one' });
      const second = await repo.create({ title: 'two' });
      const third = await repo.create({ title: 'three' });
      await repo.revokeKeys(third.stream.id);
      const forged = hashStreamKey(first.streamKey.slice(0, -1) + (first.streamKey.endsWith('A') ? 'B' : 'A'));
      const hashes = [hashStreamKey(first.streamKey), hashStreamKey(second.streamKey), hashStreamKey(third.streamKey), forged, "' OR 1=1 --"];
      const found = await repo.findStreamsByKeyHashes(hashes);
      assert.deepEqual(
        [...found].map(([hash, stream]) => [hash, stream.id]),
        [
          [hashes[0], first.stream.id],
          [hashes[1], second.stream.id],
        ],
      );
      assert.equal((await repo.findStreamsByKeyHashes([])).size, 0);
    });

    it('lists newest first with a status filter and cursor pagination', async (t) => {
      if (!handle) return t.skip();
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await repo.create({ title: `s${i}` })).stream.id);
      await repo.markActive(ids[1]!, 'node-a');
      await repo.markActive(ids[4]!, 'node-a');
      await repo.markActive(ids[6]!, 'node-b');

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await repo.list({ limit: 3, cursor });
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...ids].reverse());

      const active = await repo.list({ status: 'ACTIVE', limit: 2 });
      assert.deepEqual(active.items.map((s) => s.id), [ids[6], ids[4]]);
      assert.ok(active.nextCursor);
      const rest = await repo.list({ status: 'ACTIVE', limit: 2, cursor: active.nextCursor });
      assert.deepEqual(rest.items.map((s) => s.id), [ids[1]]);
      assert.equal(rest.nextCursor, null);
      assert.deepEqual((await repo.list({ status: 'ERROR' })).items, []);

      await assert.rejects(repo.list({ cursor: 'not a cursor!' }), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_BAD_REQUEST');
      await assert.rejects(repo.list({ cursor: Buffer.from('{"a":1}').toString('base64url') }), NovaError);
      await assert.rejects(repo.list({ limit: 0 }), NovaError);
      await assert.rejects(repo.list({ limit: 101 }), NovaError);
    });

    it('stores renditions as JSON and as quality levels, replacing the previous ladder', async (t) => {
      if (!handle) return t.skip();
      const { stream } = await repo.create();
      const ladder: RenditionInfo[] = [
        { name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30 },
        { name: 'audio', width: 0, height: 0, bandwidth: 128_000, codecs: 'mp4a.40.2', frameRate: 0 },
      ];
      await repo.setRenditions(stream.id, ladder);
      assert.deepEqual((await repo.get(stream.id))?.renditions, ladder);
      const levels = await handle.database.db.selectFrom('quality_levels').selectAll().orderBy('name').execute();
      assert.deepEqual(
        levels.map((l) => [l.name, l.width, l.height, l.bandwidth, l.codecs, l.frame_rate]),
        [
          ['720p', 1280, 720, 3_000_000, 'avc1.64001f,mp4a.40.2', 30],
          ['audio', null, null, 128_000, 'mp4a.40.2', null],
        ],
      );
      await repo.setRenditions(stream.id, ladder.slice(1));
      assert.equal((await handle.database.db.selectFrom('quality_levels').selectAll().execute()).length, 1);
      // a level that stays takes the new values; an empty ladder leaves no rows
      const louder: RenditionInfo = { ...ladder[1]!, bandwidth: 192_000, codecs: 'mp4a.40.5' };
      await repo.setRenditions(stream.id, [louder]);
      const kept = await handle.database.db.selectFrom('quality_levels').selectAll().where('stream_id', '=', stream.id).execute();
      assert.deepEqual(kept.map((l) => [l.name, l.bandwidth, l.codecs]), [['audio', 192_000, 'mp4a.40.5']]);
      assert.deepEqual((await repo.get(stream.id))?.renditions, [louder]);
      await repo.setRenditions(stream.id, []);
      assert.equal((await handle.database.db.selectFrom('quality_levels').selectAll().where('stream_id', '=', stream.id).execute()).length, 0);
      assert.deepEqual((await repo.get(stream.id))?.renditions, []);
    });

    it('ENDED keeps the broadcast peak in the same write, never lowering a stored one', async (t) => {
      if (!handle) return t.skip();
      const first = (await repo.create()).stream;
      assert.equal((await repo.markEnded(first.id, 'unpublished', undefined, undefined, 9))?.peakViewers, 9);
      const second = (await repo.create()).stream;
      await handle.database.db.updateTable('streams').set({ peak_viewers: 12 }).where('id', '=', second.id).execute();
      assert.equal((await repo.markEnded(second.id, 'unpublished', undefined, undefined, 5))?.peakViewers, 12);
      assert.equal((await repo.get(second.id))?.peakViewers, 12);
    });

    it('ends all active streams of one instance only', async (t) => {
      if (!handle) return t.skip();
      const a1 = (await repo.create()).stream.id;
      const a2 = (await repo.create()).stream.id;
      const b1 = (await repo.create()).stream.id;
      const pending = (await repo.create()).stream.id;
      await repo.markActive(a1, 'node-a');
      await repo.markActive(a2, 'node-a');
      await repo.markActive(b1, 'node-b');
      const ended = await repo.endAllActiveForInstance('node-a', 'shutdown');
      assert.deepEqual([...ended].sort(), [a1, a2].sort());
      assert.equal((await repo.get(a1))?.status, 'ENDED');
      assert.equal((await repo.get(a1))?.endReason, 'shutdown');
      assert.equal((await repo.get(b1))?.status, 'ACTIVE');
      assert.equal((await repo.get(pending))?.status, 'PENDING');
      assert.deepEqual(await repo.endAllActiveForInstance('node-a'), []);
    });

    it('rejects a status outside the CHECK constraint at the database', async (t) => {
      if (!handle) return t.skip();
      const { stream } = await repo.create();
      await assert.rejects(
        sql`UPDATE streams SET status = 'PAUSED' WHERE id = ${stream.id}`.execute(handle.database.db),
      );
    });

    it('does not let concurrent queries run inside another transaction', async (t) => {
      if (!handle) return t.skip();
      const db = handle.database.db;
      const { stream } = await repo.create({ title: 'before' });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const rolledBack = db
        .transaction()
        .execute(async (trx) => {
          await trx.updateTable('streams').set({ title: 'inside' }).where('id', '=', stream.id).execute();
          await gate;
          throw new Error('roll back');
        })
        .catch(() => 'rolled back');
      // Issued while the transaction is open; must not be swallowed by its rollback.
      const outside = repo.markEnded(stream.id, 'unpublished', undefined, undefined, 42);
      setTimeout(release, 20);
      assert.equal(await rolledBack, 'rolled back');
      assert.equal((await outside)?.peakViewers, 42);
      const after = await repo.get(stream.id);
      assert.equal(after?.title, 'before');
      assert.equal(after?.peakViewers, 42);
    });

    it('inserts metrics in batches, one row per stream and second', async (t) => {
      if (!handle) return t.skip();
      const s1 = (await repo.create()).stream.id;
      const s2 = (await repo.create()).stream.id;
      const samples = [];
      for (let i = 0; i < 2500; i++) {
        samples.push({ streamId: i % 2 === 0 ? s1 : s2, at: new Date(T0 + Math.floor(i / 2) * 1000 + 250), viewers: i, ingressBitrate: 2_500_000.4, fps: 29.97 });
      }
      // A later sample in the same second replaces the earlier.
      samples.push({ streamId: s1, at: new Date(T0 + 999), viewers: 77, ingressBitrate: 1, fps: 30 });
      await metrics.insertMetrics(samples);
      await metrics.insertMetrics([]);
      const rows1 = await metrics.listMetrics(s1);
      const rows2 = await metrics.listMetrics(s2);
      assert.equal(rows1.length, 1250);
      assert.equal(rows2.length, 1250);
      assert.equal(rows1[0]!.at.getTime(), T0);
      assert.equal(rows1[0]!.viewers, 77);
      assert.equal(rows1[1]!.ingress_bitrate, 2_500_000);
      assert.equal(rows1[1]!.fps, 29.97);
      const window = await metrics.listMetrics(s2, { from: new Date(T0 + 10_000), to: new Date(T0 + 20_000) });
      assert.equal(window.length, 10);
      // Upsert on re-send.
      await metrics.insertMetrics([{ streamId: s2, at: new Date(T0), viewers: 5, ingressBitrate: Number.NaN, fps: -1 }]);
      const first = (await metrics.listMetrics(s2))[0]!;
      assert.deepEqual([first.viewers, first.ingress_bitrate, first.fps], [5, 0, 0]);
    });

    it('starts and ends viewer sessions', async (t) => {
      if (!handle) return t.skip();
      const { stream } = await repo.create();
      const ws = await metrics.startViewerSession({ streamId: stream.id, kind: 'ws', clientId: 'c1' });
      const hls = await metrics.startViewerSession({ streamId: stream.id, kind: 'hls' });
      await metrics.startViewerSession({ streamId: stream.id, kind: 'dash' });
      assert.equal(await metrics.endViewerSession(ws), true);
      assert.equal(await metrics.endViewerSession(ws), false);
      assert.equal(await metrics.endOpenViewerSessions(stream.id), 2);
      const sessions = await metrics.listViewerSessions(stream.id);
      assert.equal(sessions.length, 3);
      assert.ok(sessions.every((s) => s.ended_at instanceof Date));
      assert.equal(sessions.find((s) => s.id === hls)?.client_id, null);
      await assert.rejects(
        metrics.startViewerSession({ streamId: stream.id, kind: 'rtsp' as 'ws' }),
      );
    });
  });
}
