/**
 * The order of lifecycle events on the bus, whatever the timing between the
 * database and the demux worker: a viewer must never see quality_changed or
 * stream_metrics before stream_started, nor stream_started after stream_ended.
 * The interleavings are forced by calling the lifecycle the way the ingest
 * server does while markActive (real PGlite) is still in flight. Lifecycle
 * events reach the bus the way the server's do: outbox, relay, in-process
 * event log, this instance's consumer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { startEventPipeline, type EventPipeline } from '../../src/control/events/event-pipeline.js';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { StreamLifecycle, type StreamShapeSink } from '../../src/control/stream-lifecycle.js';
import type { AudioTrackConfig, VideoTrackConfig } from '../../src/stream/media-frame.js';
import { openMemoryDatabase, silentLog, type TestDatabase } from '../control/database-fixture.js';
import { waitFor } from '../support/tools.js';

const video: VideoTrackConfig = { codec: 'h264', avcC: new Uint8Array([1, 0x64, 0, 0x1f]), width: 1280, height: 720, codecString: 'avc1.64001f', frameRate: 30 };
const audio: AudioTrackConfig = { codec: 'aac', asc: new Uint8Array([0x11, 0x90]), sampleRate: 48_000, channels: 2, codecString: 'mp4a.40.2' };

let db: TestDatabase;
let repo: StreamRepository;
/** the bus every test listens on; the pipeline hands it what the lifecycle writes */
let bus: LocalEventBus;
let events: EventPipeline;

before(async () => {
  db = await openMemoryDatabase();
  bus = new LocalEventBus();
  events = await startEventPipeline(
    {
      instanceId: 'lifecycle-test',
      redisUrl: null,
      databaseUrl: null,
      events: { partitions: 4, maxAttempts: 3, streamMaxLength: 1000, outboxRetentionMs: 60_000, outboxBatchSize: 100 },
    },
    db.database,
    bus,
    new Registry(),
    silentLog,
  );
  repo = new StreamRepository(db.database.db, undefined, events.outboxSettings);
});

after(async () => {
  await events.close();
  await db.dispose();
});

/** Delivery is not what these tests look at: a sink that takes everything and keeps nothing. */
const discardDelivery: StreamShapeSink = { beginStream() {}, updateRenditions() {}, removeRendition() {}, endStream() {} };

function lifecycleOn(bus: LocalEventBus): StreamLifecycle {
  return new StreamLifecycle(repo, bus, discardDelivery, 'lifecycle-test', silentLog);
}

/** The bus's events of one stream from now on; `until` waits for its stream_ended (and a little more: nothing may follow it). */
function record(streamId: () => string): { events: StreamEvent[]; ended(): Promise<StreamEvent[]> } {
  const seen: StreamEvent[] = [];
  const off = bus.subscribe((event) => {
    if (event.streamId === streamId() && event.type !== 'stream_created') seen.push(event);
  });
  return {
    events: seen,
    async ended() {
      await waitFor('stream_ended on the bus', 5000, () => seen.some((e) => e.type === 'stream_ended'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      off();
      return seen;
    },
  };
}

test('tracks known while the start is being written: stream_started comes first, then one quality_changed with them, then no stale one', async () => {
  let id = '';
  const recorded = record(() => id);
  const lifecycle = lifecycleOn(bus);
  try {
    const { stream } = await repo.create({ title: 'race' });
    id = stream.id;
    const starting = lifecycle.started(stream.id);
    // The worker's tracks message lands while markActive is awaited.
    await Promise.resolve();
    lifecycle.tracksChanged(stream.id, video, null);
    lifecycle.tracksChanged(stream.id, video, audio);
    await starting;
    lifecycle.tracksChanged(stream.id, video, audio);
    await lifecycle.ended(stream.id, 'unpublished');
    const events = await recorded.ended();
    assert.deepEqual(
      events.map((e) => e.type),
      ['stream_started', 'quality_changed', 'stream_ended'],
    );
    const changed = events[1]!;
    assert.ok(changed.type === 'quality_changed');
    assert.deepEqual(changed.renditions.map((r) => [r.name, r.codecs, r.width]), [['source', 'avc1.64001f,mp4a.40.2', 1280]]);
  } finally {
    lifecycle.close();
  }
});

test('tracks after the start: stream_started (no renditions yet) then quality_changed; a repeat of the same tracks is not re-announced', async () => {
  let id = '';
  const recorded = record(() => id);
  const lifecycle = lifecycleOn(bus);
  try {
    const { stream } = await repo.create({ title: 'ordered' });
    id = stream.id;
    await lifecycle.started(stream.id);
    lifecycle.tracksChanged(stream.id, video, audio);
    await new Promise((resolve) => setTimeout(resolve, 20));
    lifecycle.tracksChanged(stream.id, video, audio);
    lifecycle.tracksChanged(stream.id, { ...video, width: 1920, height: 1080 }, audio);
    await lifecycle.ended(stream.id, 'unpublished');
    const events = await recorded.ended();
    assert.deepEqual(
      events.map((e) => e.type),
      ['stream_started', 'quality_changed', 'quality_changed', 'stream_ended'],
    );
  } finally {
    lifecycle.close();
  }
});

test('a publisher gone before the database confirmed the start: no stream_started after stream_ended', async () => {
  let id = '';
  const recorded = record(() => id);
  const lifecycle = lifecycleOn(bus);
  try {
    const { stream } = await repo.create({ title: 'short' });
    id = stream.id;
    const starting = lifecycle.started(stream.id);
    const ending = lifecycle.ended(stream.id, 'disconnected');
    await Promise.all([starting, ending]);
    const types = (await recorded.ended()).map((e) => e.type);
    assert.ok(!(types.indexOf('stream_ended') >= 0 && types.lastIndexOf('stream_started') > types.indexOf('stream_ended')), JSON.stringify(types));
    assert.equal((await repo.get(stream.id))?.status, 'ENDED', 'the database ends ENDED, not ACTIVE');
  } finally {
    lifecycle.close();
  }
});

test('stream_metrics carries the rate over the worker’s own stats interval: none before its first stats, no zero in a second its report missed', async () => {
  const metrics: { bitrate: number; fps: number }[] = [];
  bus.subscribe((e) => {
    if (e.type === 'stream_metrics') metrics.push({ bitrate: e.ingressBitrate, fps: e.fps });
  });
  let clock = 0;
  // the lifecycle's clock is ours; its once-a-second metrics timer is real
  const lifecycle = new StreamLifecycle(repo, bus, discardDelivery, 'lifecycle-test', silentLog, () => clock);
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1100));
  try {
    const { stream } = await repo.create({ title: 'rates' });
    await lifecycle.started(stream.id);
    await tick();
    assert.deepEqual(metrics, [], 'no report from the worker yet: nothing to say (not a 0)');
    clock = 1040;
    lifecycle.stats(stream.id, 780_000, 31); // 1.04 s of 6 Mb/s, 29.8 fps
    await tick();
    assert.deepEqual(metrics.at(-1), { bitrate: 6_000_000, fps: 29.81 });
    const reported = metrics.length;
    await tick(); // a second in which the worker's report did not land
    assert.ok(metrics.length > reported);
    assert.deepEqual(metrics.at(-1), { bitrate: 6_000_000, fps: 29.81 }, 'the last rate, not 0');
    clock = 2040;
    lifecycle.stats(stream.id, 375_000, 15); // then 1.0 s at 3 Mb/s
    await tick();
    assert.deepEqual(metrics.at(-1), { bitrate: 3_000_000, fps: 15 });
    await lifecycle.ended(stream.id, 'unpublished');
  } finally {
    lifecycle.close();
  }
});

test('track changes of one turn are one database write, of the renditions they end at; a later change is written again', async () => {
  // the real repository underneath: only the writes are counted
  const writes: string[][] = [];
  const counting = new (class extends StreamRepository {
    override setRenditions(id: string, renditions: readonly RenditionInfo[], announce?: boolean): Promise<void> {
      writes.push(renditions.map((r) => r.codecs));
      return super.setRenditions(id, renditions, announce);
    }
  })(db.database.db, undefined, events.outboxSettings);
  const lifecycle = new StreamLifecycle(counting, new LocalEventBus(), discardDelivery, 'lifecycle-test', silentLog);
  const settled = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    const { stream } = await repo.create({ title: 'one write' });
    await lifecycle.started(stream.id);
    // the worker's look brings the video config, then the audio config, in one message
    lifecycle.tracksChanged(stream.id, video, null);
    lifecycle.tracksChanged(stream.id, video, audio);
    await settled();
    assert.deepEqual(writes, [['avc1.64001f,mp4a.40.2']]);
    assert.deepEqual((await repo.get(stream.id))?.renditions.map((r) => r.codecs), ['avc1.64001f,mp4a.40.2']);
    lifecycle.tracksChanged(stream.id, { ...video, width: 1920, height: 1080 }, audio);
    await settled();
    assert.equal(writes.length, 2);
    assert.deepEqual((await repo.get(stream.id))?.renditions.map((r) => r.width), [1920]);
    await lifecycle.ended(stream.id, 'unpublished');
  } finally {
    lifecycle.close();
  }
});
