/**
 * The per-stream frame queue feeds consumers that may lag (the transcoder).
 * A consumer that falls behind loses frames, counted; a queue nobody reads
 * (transcoding off, no FFmpeg) is fed for a short grace only (a reader that
 * attaches at once still sees every frame), then left alone, and never shows
 * up as drops on the operator's dashboard.
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

describe('frame queue nobody reads, default size', () => {
  let database: TestDatabase;
  let nova: NovaFixture;
  before(async () => {
    database = await openMemoryDatabase();
    nova = await startNova({ database: database.database, env: { TRANSCODE: 'off' } });
  });
  after(async () => {
    await nova.stop();
    await database.dispose();
  });

  it('nobody reads it: it is fed for a short grace only, not for the whole stream', async () => {
    const stream = await nova.createStream();
    // 5 s at 2 Mb/s fits the default 16 MiB queue: only the grace can stop it
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 2_000_000, durationMs: 5000 });
    const buffer = await waitFor('the frame queue', 5000, () => nova.server.ingest.frameQueueOf(stream.id) ?? undefined, 5);
    const result = await publishing;
    assert.ok(result.durationMs >= 4900, `published ${result.durationMs} ms`);
    await waitFor('the stream to end', 5000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    const late = new FrameQueueReader(ByteRing.attach(buffer));
    const videoDts: number[] = [];
    late.read({
      videoConfig: () => undefined,
      audioConfig: () => undefined,
      metadata: () => undefined,
      frame: (frame) => void (frame.track === 'video' && videoDts.push(frame.dts)),
      end: () => undefined,
    });
    assert.ok(videoDts.length > 30, `the first frames were queued (${videoDts.length})`);
    const span = videoDts.at(-1)! - videoDts[0]!;
    assert.ok(span >= 2900 && span <= 3100, `queued media spans ${span} ms: the grace (3 s), not the stream (5 s)`);
  });
  it('a queue nobody took is reused by the next publish, empty; one given out is not', async () => {
    const first = await nova.createStream();
    await publishSynthetic({ url: first.publish_url, bitrateBps: 2_000_000, durationMs: 1500 });
    await waitFor('the idle frame queue', 5000, () => nova.server.ingest.idleFrameQueueCount === 1);
    const second = await nova.createStream();
    const publishing = publishSynthetic({ url: second.publish_url, bitrateBps: 2_000_000, durationMs: 1500 });
    // taken at once, as a transcoder does: every frame of the second stream and nothing of the first
    const recording = await recordFrameQueue(nova, second.id);
    assert.equal(nova.server.ingest.idleFrameQueueCount, 0, 'the second stream got the idle queue');
    const result = await publishing;
    assert.equal(await recording.ended, 'unpublished');
    const video = recording.frames.filter((frame) => frame.track === 'video');
    assert.equal(recording.videoConfigs, 1);
    assert.equal(video.length, result.framesSent, `${video.length} of ${result.framesSent} video frames read`);
    assert.ok(video[0]!.keyframe && video.every((frame, i) => i === 0 || frame.dts > video[i - 1]!.dts), 'one stream, in order, from its first keyframe');
    await waitFor('the stream to end', 5000, async () => (await nova.stream(second.id)).status === 'ENDED');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(nova.server.ingest.idleFrameQueueCount, 0, 'a queue given out is never reused');
  });
});
