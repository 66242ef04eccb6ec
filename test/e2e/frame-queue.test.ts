/**
 * The per-stream frame queue feeds consumers that may lag (the transcoder).
 * Only a stream someone reads frame by frame gets one: with transcoding off
 * no queue is allocated at all. A consumer that falls behind loses frames,
 * counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FrameQueueReader } from '../../src/stream/frame-queue.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { metricValue, recordFrameQueue } from '../support/ingest-observer.js';
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

  it('transcoding off and nobody watching: the stream has no frame queue, and no drops are counted', async () => {
    const stream = await nova.createStream();
    const before = await metricValue(nova, DROPPED);
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 4_000_000, durationMs: 3000 });
    await waitFor('the stream to go live', 5000, () => nova.server.ingest.liveStreamIds.includes(stream.id));
    assert.equal(nova.server.ingest.frameQueueOf(stream.id), null, 'no queue allocated');
    const result = await publishing;
    assert.ok(result.bytesSent > 4 * 256 * 1024, 'several queues worth of media was sent');
    await waitFor('the stream to end', 5000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    assert.equal(await metricValue(nova, DROPPED), before);
  });

  it('a watched stream gets one from its first frame; a consumer that stops reading: what no longer fits is dropped and counted', async () => {
    const stream = await nova.createStream();
    const before = await metricValue(nova, DROPPED);
    nova.server.ingest.watchFrameQueue(stream.id);
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 4_000_000, durationMs: 3000 });
    const buffer = await waitFor('the frame queue', 5000, () => nova.server.ingest.frameQueueOf(stream.id) ?? undefined, 5);
    const stalled = new FrameQueueReader(ByteRing.attach(buffer));
    await publishing;
    await waitFor('drops to be counted', 5000, async () => (await metricValue(nova, DROPPED)) > before);
    assert.ok(stalled.ring.bytesUsed > 0);
  });

  it('a recording attached once the stream is live reads every frame of it, in order', async () => {
    const stream = await nova.createStream();
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 1_000_000, durationMs: 1500 });
    const recording = await recordFrameQueue(nova, stream.id);
    const result = await publishing;
    assert.equal(await recording.ended, 'unpublished');
    const video = recording.frames.filter((frame) => frame.track === 'video');
    assert.equal(recording.videoConfigs, 1);
    assert.equal(video.length, result.framesSent, `${video.length} of ${result.framesSent} video frames read`);
    assert.ok(video[0]!.keyframe && video.every((frame, i) => i === 0 || frame.dts > video[i - 1]!.dts), 'one stream, in order, from its first keyframe');
  });
});
