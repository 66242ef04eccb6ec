/**
 * Publish decisions against the whole server: unknown and revoked keys are
 * refused with NetStream.Publish.BadName (as our RtmpClient sees it), an
 * encoder reconnecting on a live key takes the stream over within a second
 * (the old connection is closed, the stream never leaves ACTIVE), and with
 * RTMP_ON_DUPLICATE=refuse the second publisher is refused instead while
 * the first keeps publishing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic, type SyntheticPublishResult } from '../../loadtest/publisher/synthetic-publisher.js';
import { RtmpClient } from '../../src/ingest/rtmp/rtmp-client.js';
import { RtmpStatusError } from '../../src/ingest/rtmp/rtmp-client-session.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { LifecycleWatch, metricValue } from '../support/ingest-observer.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

const TAKEOVER_WITHIN_MS = 1000;

/** Publishes and expects an error status; returns its code. */
async function refusedStatus(url: string): Promise<string> {
  const client = await RtmpClient.connect(url);
  try {
    await client.publish();
  } catch (err) {
    if (err instanceof RtmpStatusError) return err.statusCode;
    throw err;
  } finally {
    client.destroy();
  }
  throw new Error(`publish to ${url} was accepted`);
}

/** A long-running synthetic publisher that the test stops (or the server cuts off). */
function longPublisher(url: string): { result: Promise<SyntheticPublishResult>; settledAt: Promise<number>; stop(): void } {
  const controller = new AbortController();
  const result = publishSynthetic({ url, bitrateBps: 1_000_000, durationMs: 60_000, signal: controller.signal });
  const settledAt = result.then(
    () => Date.now(),
    () => Date.now(),
  );
  return { result, settledAt, stop: () => controller.abort() };
}

const framesIngested = (nova: NovaFixture): Promise<number> => metricValue(nova, 'nova_streaming_rtmp_ingested_frames_total', { track: 'video' });

/** Waits until the video frame counter has grown by `frames` (stats arrive once a second per connection). */
async function framesKeepComing(nova: NovaFixture, frames = 30): Promise<void> {
  const start = await framesIngested(nova);
  await waitFor(`${frames} more video frames ingested`, 10_000, async () => (await framesIngested(nova)) >= start + frames, 200);
}

let db: TestDatabase;
before(async () => {
  db = await openMemoryDatabase();
});
after(async () => {
  await db?.dispose();
});

describe('publish keys and duplicate publishers (RTMP_ON_DUPLICATE=takeover, the default)', () => {
  let nova: NovaFixture;
  let watch: LifecycleWatch;
  before(async () => {
    nova = await startNova({ database: db.database, env: { LOG_LEVEL: 'debug', TRANSCODE: 'off' } });
    watch = new LifecycleWatch(nova);
  });
  after(async () => {
    watch?.close();
    await nova?.stop();
  });

  it('an unknown key is refused with NetStream.Publish.BadName, logged without the key, and counted', async () => {
    const before = await metricValue(nova, 'nova_streaming_rtmp_publish_rejected_total', { reason: 'bad_key' });
    assert.equal(await refusedStatus(`${nova.rtmp}/nsk_not-a-key-of-ours`), 'NetStream.Publish.BadName');
    assert.equal(await metricValue(nova, 'nova_streaming_rtmp_publish_rejected_total', { reason: 'bad_key' }), before + 1);
    const refusal = nova.logs().find((l) => l.msg === 'publish refused' && l.reason === 'bad_key');
    assert.ok(refusal, 'a publish refused line');
    assert.equal(refusal.level, 'warn');
    assert.ok(!JSON.stringify(nova.logs()).includes('nsk_not-a-key-of-ours'), 'the key is never logged');
  });

  it('DELETE ends a live stream (publisher cut off, ENDED "deleted") and its key is refused from then on', async () => {
    const stream = await nova.createStream();
    const publisher = longPublisher(stream.publish_url);
    await watch.started(stream.id);
    const deleted = await nova.api('DELETE', `/api/v1/streams/${stream.id}`);
    assert.ok(deleted.status >= 200 && deleted.status < 300, `DELETE: ${deleted.status}`);
    const ended = await watch.ended(stream.id);
    assert.equal(ended.reason, 'deleted');
    await assert.rejects(publisher.result, 'the server closed the publisher');
    assert.equal((await nova.stream(stream.id)).status, 'ENDED');
    assert.equal(await refusedStatus(stream.publish_url), 'NetStream.Publish.BadName');
    assert.equal((await nova.stream(stream.id)).status, 'ENDED', 'a refused key does not revive the stream');
  });

  it('a reconnect on a live key takes over within 1 s: the old connection is closed, the stream stays ACTIVE', async () => {
    const stream = await nova.createStream();
    const first = longPublisher(stream.publish_url);
    await watch.started(stream.id);
    await framesKeepComing(nova);
    const takeoversBefore = await metricValue(nova, 'nova_streaming_rtmp_takeovers_total');

    // Poll the database through the takeover: it must read ACTIVE every time.
    const statuses = new Set<unknown>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        statuses.add((await nova.server.repo.get(stream.id))?.status);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const second = longPublisher(stream.publish_url);
    const firstClosedAt = await first.settledAt;
    await assert.rejects(first.result, 'the old publisher was cut off');
    // Measured from the new publisher's publish command as the server logged it.
    const publishing = await waitFor('the new publisher live', 10_000, () =>
      nova.logs().filter((l) => l.msg === 'stream publishing' && l.stream === stream.id).at(1),
    );
    const requested = nova.logs().find((l) => l.msg === 'publish requested' && l.connection === publishing.connection);
    assert.ok(requested, "the new connection's publish request was logged");
    const requestedAt = Date.parse(String(requested.time));
    const liveAfter = Date.parse(String(publishing.time)) - requestedAt;
    assert.ok(liveAfter <= TAKEOVER_WITHIN_MS, `new publisher live ${liveAfter} ms after its publish`);
    assert.ok(firstClosedAt - requestedAt <= TAKEOVER_WITHIN_MS, `old publisher closed ${firstClosedAt - requestedAt} ms after the new publish`);

    // The new publisher's media flows into the same stream, which never left ACTIVE.
    await framesKeepComing(nova);
    polling = false;
    await poller;
    assert.deepEqual([...statuses], ['ACTIVE']);
    assert.deepEqual(
      watch.of(stream.id).map((e) => e.event.type),
      ['stream_started'],
      'no stream_ended (and no second stream_started) across the takeover',
    );
    assert.equal(await metricValue(nova, 'nova_streaming_rtmp_takeovers_total'), takeoversBefore + 1);
    assert.ok(nova.logs().some((l) => l.msg === 'publisher takeover' && l.stream === stream.id));
    assert.deepEqual(nova.server.ingest.liveStreamIds.filter((id) => id === stream.id), [stream.id]);

    second.stop();
    await second.result;
    const ended = await watch.ended(stream.id);
    assert.equal(ended.reason, 'unpublished');
  });
});

describe('duplicate publishers with RTMP_ON_DUPLICATE=refuse', () => {
  let nova: NovaFixture;
  let watch: LifecycleWatch;
  before(async () => {
    nova = await startNova({ database: db.database, env: { RTMP_ON_DUPLICATE: 'refuse', TRANSCODE: 'off' } });
    watch = new LifecycleWatch(nova);
  });
  after(async () => {
    watch?.close();
    await nova?.stop();
  });

  it('the second publisher is refused with BadName; the first keeps publishing', async () => {
    const stream = await nova.createStream();
    const first = longPublisher(stream.publish_url);
    await watch.started(stream.id);
    const refusedBefore = await metricValue(nova, 'nova_streaming_rtmp_publish_rejected_total', { reason: 'duplicate' });
    assert.equal(await refusedStatus(stream.publish_url), 'NetStream.Publish.BadName');
    assert.equal(await metricValue(nova, 'nova_streaming_rtmp_publish_rejected_total', { reason: 'duplicate' }), refusedBefore + 1);
    await framesKeepComing(nova);
    assert.equal((await nova.stream(stream.id)).status, 'ACTIVE');
    assert.deepEqual(watch.of(stream.id).map((e) => e.event.type), ['stream_started']);
    first.stop();
    await first.result;
    assert.equal((await watch.ended(stream.id)).reason, 'unpublished');
  });
});
