/**
 * The per-stream frame queue feeds consumers that may lag (the transcoder).
 * A consumer that falls behind loses frames, counted; a queue nobody reads
 * (transcoding off, no FFmpeg) is simply left alone, and never shows up as
 * drops on the operator's dashboard.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FrameQueueReader } from '../../src/stream/frame-queue.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { metricValue } from '../support/ingest-observer.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

const DROPPED = 'nova_streaming_frame_queue_dropped_total';

describe('frame queue with and without a consumer', () => {
  let database: TestDatabase;
  let nova: NovaFixture;
  before(async () => {
    database = await openMemoryDatabase();
    // The smallest queue (256 KiB) fills in about a second at 4 Mb/s.
    nova = await startNova({ database: database.database, env: { TRANSCODE: 'off', RTMP_FRAME_QUEUE_BYTES: String(256 * 1024) } });
  });
  after(async () => {
    await nova.stop();
    await database.dispose();
  });

  it('nobody reads it: no drops are counted however long the stream runs', async () => {
    const stream = await nova.createStream();
    const before = await metricValue(nova, DROPPED);
    const result = await publishSynthetic({ url: stream.publish_url, bitrateBps: 4_000_000, durationMs: 3000 });
    assert.ok(result.bytesSent > 4 * 256 * 1024, 'several queues worth of media was sent');
    await waitFor('the stream to end', 5000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    assert.equal(await metricValue(nova, DROPPED), before);
  });

  it('a consumer that attaches and stops reading: what no longer fits is dropped and counted', async () => {
    const stream = await nova.createStream();
    const before = await metricValue(nova, DROPPED);
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 4_000_000, durationMs: 3000 });
    const buffer = await waitFor('the frame queue', 5000, () => nova.server.ingest.frameQueueOf(stream.id) ?? undefined, 5);
    const stalled = new FrameQueueReader(ByteRing.attach(buffer));
    await publishing;
    await waitFor('drops to be counted', 5000, async () => (await metricValue(nova, DROPPED)) > before);
    assert.ok(stalled.ring.bytesUsed > 0);
  });
});
