/**
 * PostgreSQL stopped for 10 s and started again while three streams are live
 * and hls.js plays one in Chromium (a private cluster: the shared one on
 * :5432 is never touched): playback does not stall, /health answers at once
 * and says the database is down, /ready says not ready within its timeout.
 * During the outage one stream ends, another's publisher reconnects (its key
 * is let in from the cache) and a never-published key is refused with a
 * clear RTMP error; after recovery the queued writes land (the end with the
 * moment it happened), the rows are right, and every lifecycle event reached
 * this instance's consumer once, in each stream's order.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import { DURABLE_EVENT_TYPES } from '../../src/control/events/stream-events.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser } from '../support/browser.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { OwnPostgres, havePostgresBinaries } from '../support/own-postgres.js';
import { freePort, toolGate, waitFor } from '../support/tools.js';

const OUTAGE_MS = 10_000;
let postgres: OwnPostgres | null = null;
let nova: NovaFixture | null = null;
let browser: PlayerBrowser | null = null;
const publishers: Array<{ abort: AbortController; done: Promise<unknown> }> = [];

const gate = { ...toolGate('PostgreSQL server binaries', havePostgresBinaries()), ...toolGate('chromium', chromiumInstalled()) };

function publish(stream: CreatedStream): { abort: AbortController; done: Promise<unknown> } {
  const abort = new AbortController();
  const done = publishSynthetic({ url: stream.publish_url, bitrateBps: 300_000, durationMs: 120_000, signal: abort.signal });
  done.catch(() => {});
  const publisher = { abort, done };
  publishers.push(publisher);
  return publisher;
}

before(async () => {
  if (!havePostgresBinaries()) return;
  postgres = new OwnPostgres(await freePort());
  await postgres.init();
});

after(async () => {
  for (const p of publishers) p.abort.abort();
  await Promise.all(publishers.map((p) => p.done.catch(() => {})));
  await browser?.close();
  await nova?.stop().catch(() => {});
  await postgres?.dispose();
});

/** the media sequence number of the last segment the stream's first media playlist lists */
async function lastSegment(stream: CreatedStream): Promise<number> {
  const master = await (await fetch(stream.hls_url)).text();
  const variant = master.split('\n').find((line) => line !== '' && !line.startsWith('#'));
  if (!variant) return -1;
  const media = await (await fetch(new URL(variant, stream.hls_url))).text();
  const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)?.[1] ?? -1);
  const segments = media.split('\n').filter((line) => line.startsWith('#EXTINF')).length;
  return sequence + segments - 1;
}

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}

test('PostgreSQL stopped for 10 s under three live streams: playback goes on, writes queue and land, known keys publish, rows and events are right', gate, async (t) => {
  // DELIVERY_THREADS=0: this test is about the database. With delivery threads on, hls.js stood still 4.6–5.0 s here in
  // 2 of 5 clean-clone suite runs while the playlist kept growing (never in 9 runs of this file alone, loaded or not);
  // that is an open delivery-thread bug (docs/operations.md, "Delivery threads: known problems"), not a database one.
  nova = await startNova({ env: { DATABASE_URL: postgres!.url, LOG_LEVEL: 'silent', TRANSCODE: 'off', DELIVERY_THREADS: '0' } });
  const seen = new Map<string, StreamEvent[]>();
  nova.server.bus.subscribe((event) => {
    if (!DURABLE_EVENT_TYPES.has(event.type)) return;
    seen.set(event.streamId, [...(seen.get(event.streamId) ?? []), event]);
  });
  const [one, two, three, never] = [
    await nova.createStream({ title: 'one' }),
    await nova.createStream({ title: 'two' }),
    await nova.createStream({ title: 'three' }),
    await nova.createStream({ title: 'never published' }),
  ] as [CreatedStream, CreatedStream, CreatedStream, CreatedStream];
  publish(one);
  const firstOfTwo = publish(two);
  const onlyOfThree = publish(three);
  for (const stream of [one, two, three]) await waitFor(`${stream.id} started`, 15_000, () => seen.get(stream.id)?.some((e) => e.type === 'stream_started'));
  await waitFor('segments of the first stream', 15_000, async () => (await lastSegment(one)) >= 1);
  browser = await launchPlayerBrowser();
  const player = await browser.openPlayer({ engine: 'hls.js', url: one.hls_url });
  await player.waitForPlayback(3, 40_000);
  const atStop = await player.state();

  await postgres!.stop();
  const stoppedAt = Date.now();
  const before = await lastSegment(one);
  // three ends, two's publisher drops and comes back, a key never seen asks to publish
  onlyOfThree.abort.abort();
  firstOfTwo.abort.abort();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const twoBefore = await lastSegment(two);
  publish(two);
  const refused = await publishSynthetic({ url: never.publish_url, bitrateBps: 300_000, durationMs: 5_000 }).then(
    () => null,
    (err: Error) => err.message,
  );
  assert.match(refused ?? 'published', /NOVA_ERR_DATABASE_UNAVAILABLE/, 'a key not checked lately is refused, saying why');
  await waitFor('two publishing again from the cached key', 8000, async () => (await lastSegment(two)) >= twoBefore + 2);

  let healthWorst = 0;
  let sawDown = false;
  while (Date.now() - stoppedAt < OUTAGE_MS) {
    const health = await timed(async () => {
      const response = await fetch(`${nova!.http}/health`);
      return { status: response.status, body: (await response.json()) as { components: Array<{ name: string; ok: boolean }> } };
    });
    healthWorst = Math.max(healthWorst, health.ms);
    assert.equal(health.value.status, 200, 'liveness holds');
    if (health.value.body.components.find((c) => c.name === 'database')?.ok === false) sawDown = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const ready = await timed(async () => (await fetch(`${nova!.http}/ready`)).status);
  const after = await lastSegment(one);
  const played = await player.state();
  const queued = /nova_streaming_db_writes_queued (\d+)/.exec(await (await fetch(`${nova.http}/metrics`)).text())?.[1];
  t.diagnostic(`/health at worst ${healthWorst.toFixed(0)} ms; /ready ${ready.value} in ${ready.ms.toFixed(0)} ms; segments ${before} -> ${after} during the outage; ${queued} writes queued; hls.js played ${(played.currentTime - atStop.currentTime).toFixed(1)} s, stood still ${played.stalledMs - atStop.stalledMs} ms`);
  assert.ok(healthWorst < 500, `/health took ${healthWorst} ms with the database down`);
  assert.ok(sawDown, '/health said the database is down');
  assert.equal(ready.value, 503);
  assert.ok(ready.ms < 3000, `/ready answered in ${ready.ms} ms`);
  assert.ok(after >= before + 3, `the playlist kept growing (${before} -> ${after})`);
  assert.ok(Number(queued) >= 1, `the end of three (at least) waits for the database: ${queued} queued`);
  assert.equal(played.fatal, null);
  // what the player saw, for whoever reads a failure: its stalls (playhead, buffer ahead, level) and non-fatal errors since the stop
  const playerSaw = `stalls ${JSON.stringify(played.stalls.slice(atStop.stalls.length))}, errors ${JSON.stringify(played.errors.slice(atStop.errors.length))}`;
  assert.ok(played.currentTime - atStop.currentTime >= 6, `hls.js played on through the outage: ${atStop.currentTime} -> ${played.currentTime}; ${playerSaw}`);
  assert.ok(played.stalledMs - atStop.stalledMs <= 2000, `hls.js stood still ${played.stalledMs - atStop.stalledMs} ms; ${playerSaw}`);

  await postgres!.start();
  const restartedAt = Date.now();
  await waitFor('/ready again', 20_000, async () => (await fetch(`${nova!.http}/ready`)).status === 200);
  const ended = await waitFor('three ENDED in the database', 20_000, async () => {
    const record = await nova!.stream(three.id);
    return record.status === 'ENDED' ? record : false;
  });
  const endedAt = Date.parse(String(ended.ended_at));
  assert.ok(endedAt >= stoppedAt - 1000 && endedAt < restartedAt, `three's end carries when it happened (${String(ended.ended_at)}), not when it landed`);
  for (const p of publishers) p.abort.abort();
  let rowOfTwo: unknown = null;
  for (const stream of [one, two, three]) {
    await waitFor(`${stream.id} ENDED in the database`, 20_000, async () => (await nova!.stream(stream.id)).status === 'ENDED');
    if (stream === two) rowOfTwo = await nova.stream(two.id);
    await waitFor(`${stream.id}'s stream_ended`, 20_000, () => seen.get(stream.id)?.some((e) => e.type === 'stream_ended'));
  }
  await waitFor("two's second stream_ended", 20_000, () => seen.get(two.id)!.filter((e) => e.type === 'stream_ended').length === 2).catch((err: Error) => {
    throw new Error(`${err.message}: ${seen.get(two.id)!.map((e) => e.type).join(', ')}; row ${JSON.stringify(rowOfTwo)}`);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const expected = new Map([
    [one.id, ['stream_created', 'stream_started', 'stream_ended']],
    [two.id, ['stream_created', 'stream_started', 'stream_ended', 'stream_started', 'stream_ended']],
    [three.id, ['stream_created', 'stream_started', 'stream_ended']],
    [never.id, ['stream_created']],
  ]);
  for (const [id, types] of expected) {
    const record = await nova.stream(id);
    if (id !== never.id) {
      assert.equal(record.status, 'ENDED');
      assert.ok(record.started_at !== null && record.ended_at !== null);
    }
    const got = (seen.get(id) ?? []).map((e) => e.type);
    assert.deepEqual(got.filter((type) => type !== 'quality_changed'), types, `${id}: once each, in order`);
  }
  const metrics = await (await fetch(`${nova.http}/metrics`)).text();
  assert.match(metrics, /nova_streaming_db_write_retries_total [1-9]/);
  assert.match(metrics, /nova_streaming_db_writes_queued 0/);
});
