/**
 * PostgreSQL stopped for 10 s and started again while three streams are live
 * (a private cluster: the shared one on :5432 is never touched): live media
 * keeps flowing (the playlist of one keeps growing), /health answers at once
 * and says the database is down, /ready says not ready within its timeout;
 * after recovery the streams end with the right rows, and every lifecycle
 * event reached this instance's consumer once, in each stream's order.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import { DURABLE_EVENT_TYPES } from '../../src/control/events/stream-events.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { OwnPostgres, havePostgresBinaries } from '../support/own-postgres.js';
import { freePort, toolGate, waitFor } from '../support/tools.js';

const OUTAGE_MS = 10_000;
let postgres: OwnPostgres | null = null;
let nova: NovaFixture | null = null;
const publishers: Array<{ abort: AbortController; done: Promise<unknown> }> = [];

const binaries = toolGate('PostgreSQL server binaries', havePostgresBinaries());

before(async () => {
  if (!havePostgresBinaries()) return;
  postgres = new OwnPostgres(await freePort());
  await postgres.init();
});

after(async () => {
  for (const p of publishers) p.abort.abort();
  await Promise.all(publishers.map((p) => p.done.catch(() => {})));
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

test('PostgreSQL stopped for 10 s under three live streams: media flows, /health answers at once, rows and events are right afterwards', binaries, async (t) => {
  nova = await startNova({ env: { DATABASE_URL: postgres!.url, LOG_LEVEL: 'silent', TRANSCODE: 'off' } });
  const seen = new Map<string, StreamEvent[]>();
  nova.server.bus.subscribe((event) => {
    if (!DURABLE_EVENT_TYPES.has(event.type)) return;
    seen.set(event.streamId, [...(seen.get(event.streamId) ?? []), event]);
  });
  const streams = [await nova.createStream({ title: 'one' }), await nova.createStream({ title: 'two' }), await nova.createStream({ title: 'three' })];
  for (const stream of streams) {
    const abort = new AbortController();
    const done = publishSynthetic({ url: stream.publish_url, bitrateBps: 300_000, durationMs: 120_000, signal: abort.signal });
    done.catch(() => {});
    publishers.push({ abort, done });
  }
  for (const stream of streams) await waitFor(`${stream.id} started`, 15_000, () => seen.get(stream.id)?.some((e) => e.type === 'stream_started'));
  await waitFor('segments of the first stream', 15_000, async () => (await lastSegment(streams[0]!)) >= 1);

  await postgres!.stop();
  const stoppedAt = Date.now();
  const before = await lastSegment(streams[0]!);
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
  const after = await lastSegment(streams[0]!);
  t.diagnostic(`/health at worst ${healthWorst.toFixed(0)} ms; /ready ${ready.value} in ${ready.ms.toFixed(0)} ms; segments ${before} -> ${after} during the outage`);
  assert.ok(healthWorst < 500, `/health took ${healthWorst} ms with the database down`);
  assert.ok(sawDown, '/health said the database is down');
  assert.equal(ready.value, 503);
  assert.ok(ready.ms < 3000, `/ready answered in ${ready.ms} ms`);
  assert.ok(after >= before + 3, `the playlist kept growing (${before} -> ${after})`);

  await postgres!.start();
  await waitFor('/ready again', 20_000, async () => (await fetch(`${nova!.http}/ready`)).status === 200);
  for (const p of publishers) p.abort.abort();
  for (const stream of streams) {
    await waitFor(`${stream.id} ENDED in the database`, 20_000, async () => (await nova!.stream(stream.id)).status === 'ENDED');
    await waitFor(`${stream.id}'s stream_ended`, 20_000, () => seen.get(stream.id)?.some((e) => e.type === 'stream_ended'));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const stream of streams) {
    const record = await nova.stream(stream.id);
    assert.equal(record.status, 'ENDED');
    assert.ok(record.started_at !== null && record.ended_at !== null);
    const types = seen.get(stream.id)!.map((e) => e.type);
    assert.deepEqual(types.filter((type) => type !== 'quality_changed'), ['stream_created', 'stream_started', 'stream_ended'], `${stream.id}: once each, in order`);
    assert.ok(types.indexOf('quality_changed') === -1 || (types.indexOf('quality_changed') > types.indexOf('stream_started') && types.lastIndexOf('quality_changed') < types.indexOf('stream_ended')));
  }
});
