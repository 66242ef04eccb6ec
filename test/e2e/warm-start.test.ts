/**
 * WARM_START: the start-up warm-up runs the ingest path over many connections and leaves no
 * trace (no stream in the store, the database or the ingest metrics, no viewer, /ready ok),
 * the first real stream after it packages; WARM_START=off skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { metricValue } from '../support/ingest-observer.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

describe('warm start', () => {
  let db: TestDatabase;
  let nova: NovaFixture;

  before(async () => {
    db = await openMemoryDatabase();
    nova = await startNova({ database: db.database, env: { WARM_START: 'on' } });
  });
  after(async () => {
    await nova?.stop();
    await db?.dispose();
  });

  it('ran the warm-up and left no trace of it', async () => {
    const warm = nova.server.warmStart;
    assert.ok(warm !== null, 'the warm-up ran');
    assert.equal(warm.connections, 40);
    assert.ok(warm.bytes > 50e6, `replayed ${warm.bytes} bytes`);
    assert.ok(nova.logs().some((line) => line.msg === 'warm start done'));
    assert.deepEqual([...nova.server.store.streamIds()], []);
    assert.deepEqual(nova.server.ingest.liveStreamIds, []);
    const listed = await nova.api('GET', '/api/v1/streams');
    assert.equal(listed.status, 200);
    assert.deepEqual((listed.body as { items: unknown[] }).items, []);
    for (const name of ['nova_streaming_rtmp_ingested_bytes_total', 'nova_streaming_rtmp_ingested_frames_total', 'nova_streaming_active_streams', 'nova_streaming_rtmp_connections']) {
      assert.equal(await metricValue(nova, name), 0, name);
    }
    assert.ok((await metricValue(nova, 'nova_streaming_warm_start_seconds')) > 0);
    assert.equal(nova.server.viewers.count('warm-up-0'), 0);
    assert.equal(nova.logs().filter((line) => line.msg === 'stream publishing').length, 0);
    assert.equal((await fetch(`${nova.http}/ready`)).status, 200);
  });

  it('packages the first stream after it', async () => {
    const stream = await nova.createStream();
    await publishSynthetic({ url: stream.publish_url, bitrateBps: 3_000_000, durationMs: 4500 });
    await waitFor('two segments', 5000, async () => {
      const master = await (await fetch(stream.hls_url)).text();
      const variant = master.split('\n').find((line) => line !== '' && !line.startsWith('#'));
      if (variant === undefined) return false;
      const media = await (await fetch(new URL(variant, stream.hls_url))).text();
      return (media.match(/#EXTINF/g) ?? []).length >= 2;
    });
    assert.deepEqual([...nova.server.store.streamIds()], [stream.id]);
    assert.ok((await metricValue(nova, 'nova_streaming_rtmp_ingested_bytes_total')) > 1e6);
  });

  it('is skipped with WARM_START=off', async () => {
    const cold = await startNova({ database: db.database, env: { WARM_START: 'off' } });
    try {
      assert.equal(cold.server.warmStart, null);
      assert.equal(cold.logs().some((line) => line.msg === 'warm start done'), false);
      assert.equal((await (await fetch(`${cold.http}/metrics`)).text()).includes('nova_streaming_warm_start_seconds'), false);
      assert.equal((await fetch(`${cold.http}/ready`)).status, 200);
    } finally {
      await cold.stop();
    }
  });
});
