/**
 * The publish lifecycle end to end on both database backends (PGlite, the
 * embedded default, and PostgreSQL through DATABASE_URL's driver): a stream
 * goes ACTIVE within 1 s of its publish command and ENDED within 2 s of the
 * publisher leaving, with the timestamps and end reason stored, for a clean
 * unpublish and for a dropped connection, and its seconds land in
 * stream_metrics. The repository tests run on both
 * backends too (test/control/stream-repository.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { MetricsRepository } from '../../src/control/db/metrics-repository.js';
import { RtmpClient } from '../../src/ingest/rtmp/rtmp-client.js';
import { BACKENDS, openBackend, type TestDatabase } from '../control/database-fixture.js';
import { LifecycleWatch, publishRequestedAt } from '../support/ingest-observer.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';

const ACTIVE_WITHIN_MS = 1000;
const ENDED_WITHIN_MS = 2000;

for (const backend of BACKENDS) {
  describe(`publish lifecycle on ${backend}`, () => {
    let db: TestDatabase | null;
    let nova: NovaFixture;
    let watch: LifecycleWatch;

    before(async () => {
      db = await openBackend(backend);
      if (db === null) return; // PostgreSQL unreachable outside CI (under CI=true openBackend throws)
      nova = await startNova({ database: db.database, env: { LOG_LEVEL: 'debug', TRANSCODE: 'off' } });
      watch = new LifecycleWatch(nova);
    });
    after(async () => {
      watch?.close();
      await nova?.stop();
      await db?.dispose();
    });

    it('clean unpublish: ACTIVE within 1 s, ENDED "unpublished" within 2 s, times stored', async (t) => {
      if (db === null) return t.skip('PostgreSQL not reachable');
      const stream = await nova.createStream();
      assert.equal((await nova.stream(stream.id)).status, 'PENDING');
      const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 1_000_000, durationMs: 3000 });
      const activeAt = await watch.started(stream.id);
      assert.ok(activeAt - publishRequestedAt(nova, stream.id) <= ACTIVE_WITHIN_MS, `ACTIVE after ${activeAt - publishRequestedAt(nova, stream.id)} ms`);
      const active = await nova.server.repo.get(stream.id);
      assert.equal(active?.status, 'ACTIVE');
      assert.ok(active?.startedAt instanceof Date);
      await publishing;
      const leftAt = Date.now();
      const ended = await watch.ended(stream.id);
      assert.ok(ended.at - leftAt <= ENDED_WITHIN_MS, `ENDED after ${ended.at - leftAt} ms`);
      const row = await nova.server.repo.get(stream.id);
      assert.equal(row?.status, 'ENDED');
      assert.equal(row?.endReason, 'unpublished');
      assert.ok(row?.endedAt instanceof Date && row.startedAt instanceof Date && row.endedAt >= row.startedAt);
      // its seconds of ingest in stream_metrics, once the recorder has flushed
      await nova.server.streamMetrics.flush();
      const seconds = await new MetricsRepository(db.database.db).listMetrics(stream.id);
      assert.ok(seconds.length >= 1, 'a row per second the stream was live');
      assert.ok(seconds.some((s) => s.ingress_bitrate > 0 && s.fps > 0), JSON.stringify(seconds));
    });

    it('dropped connection: ENDED "disconnected" within 2 s', async (t) => {
      if (db === null) return t.skip('PostgreSQL not reachable');
      const stream = await nova.createStream();
      const client = await RtmpClient.connect(stream.publish_url);
      await client.publish();
      await watch.started(stream.id);
      const droppedAt = Date.now();
      client.destroy();
      const ended = await watch.ended(stream.id);
      assert.ok(ended.at - droppedAt <= ENDED_WITHIN_MS, `ENDED after ${ended.at - droppedAt} ms`);
      assert.equal(ended.reason, 'disconnected');
      assert.equal((await nova.server.repo.get(stream.id))?.endReason, 'disconnected');
    });
  });
}
