/**
 * EdgeReplicas against real origins in this process: a SegmentStore behind
 * OriginFeeds and the internal uWS listener, reached over real HTTP. The
 * directory (who ingests what) is the test's, so each failure can be staged.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import uWS from 'uWebSockets.js';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { OriginFeeds } from '../../src/deliver/edge/origin-feeds.js';
import { EdgeMetrics } from '../../src/deliver/edge/edge-metrics.js';
import { registerInternalRoutes } from '../../src/deliver/edge/internal-routes.js';
import { DEFAULT_EDGE_OPTIONS, EdgeReplicas, type AcquireOutcome, type OriginLookup } from '../../src/deliver/edge/edge-replicas.js';
import { registerMediaRoutes } from '../../src/deliver/http/media-routes.js';
import { edgeStreamLookup } from '../../src/deliver/edge/edge-access.js';
import type { PlaybackGate } from '../../src/deliver/playback-gate.js';
import { freePort, waitFor } from '../support/tools.js';
import { SOURCE, initOf, segmentMedia } from '../deliver/synthetic-media.js';

const log = createLogger('silent');
const SECRET = 'replica-test-secret-0123456789';

interface Origin {
  url: string;
  store: SegmentStore;
  feeds: OriginFeeds;
  metrics: EdgeMetrics;
  close(): void;
}

const origins: Origin[] = [];
after(() => {
  for (const origin of origins) origin.close();
});

async function startOrigin(streamIds: string[], secret = SECRET, privateIds: string[] = []): Promise<Origin> {
  const store = new SegmentStore();
  const metrics = new EdgeMetrics(new Registry());
  const feeds = new OriginFeeds(store, metrics, log);
  for (const id of streamIds) {
    feeds.beginStream(id, [SOURCE], { private: privateIds.includes(id) });
    for (const track of ['video', 'audio'] as const) feeds.add(id, initOf(track));
    for (let msn = 0; msn < 3; msn++) for (const m of segmentMedia(msn, { segmentBytes: false })) feeds.add(id, m);
  }
  const app = uWS.App();
  registerInternalRoutes(app, { feeds, secret, maxFeedBacklogBytes: 8 * 1024 * 1024, log });
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen')))));
  let open = true;
  const origin: Origin = {
    url: `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`,
    store,
    feeds,
    metrics,
    close: () => {
      if (!open) return; // closing a uWS listen socket twice aborts the process
      open = false;
      feeds.close();
      uWS.us_listen_socket_close(socket);
    },
  };
  origins.push(origin);
  return origin;
}

function edgeWith(directory: (streamId: string) => Promise<OriginLookup> | OriginLookup, options: Partial<typeof DEFAULT_EDGE_OPTIONS> = {}) {
  const store = new SegmentStore();
  const registry = new Registry();
  const metrics = new EdgeMetrics(registry);
  const interruptions: Array<[string, boolean]> = [];
  const edge = new EdgeReplicas({
    store,
    directory: { lookup: async (id) => directory(id) },
    metrics,
    log,
    options: { ...DEFAULT_EDGE_OPTIONS, secret: SECRET, syncTimeoutMs: 1000, lostGraceMs: 300, ...options },
    onInterrupted: (id, interrupted) => interruptions.push([id, interrupted]),
  });
  const acquire = (id: string): Promise<{ outcome: AcquireOutcome; ms: number }> => {
    const started = Date.now();
    return new Promise((resolve) => edge.acquire(id, (outcome) => resolve({ outcome, ms: Date.now() - started })));
  };
  const value = async (name: string): Promise<number> => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    return found ? found.values.reduce((sum, v) => sum + v.value, 0) : 0;
  };
  after(() => edge.close());
  return { edge, store, metrics, interruptions, acquire, value };
}

test('twenty requests at once for a stream: one lookup, one feed, every one served from the replica', async () => {
  const origin = await startOrigin(['s1']);
  let lookups = 0;
  const { acquire, store, value } = edgeWith(() => {
    lookups++;
    return { kind: 'origin', origin: { instanceId: 'o1', url: origin.url } };
  });
  const answers = await Promise.all(Array.from({ length: 20 }, () => acquire('s1')));
  assert.deepEqual(new Set(answers.map((a) => a.outcome)), new Set(['ready']));
  assert.equal(lookups, 1);
  assert.equal(await value('nova_streaming_edge_coalesced_waiters_total'), 19);
  assert.equal(origin.feeds.subscriberCount, 1);
  const video = store.getStream('s1')!.renditions.get('source')!.tracks.get('video')!;
  assert.deepEqual(video.segments.map((s) => s.msn), [0, 1, 2]);
  // live parts follow without another request
  for (const m of segmentMedia(3, { segmentBytes: false })) origin.feeds.add('s1', m);
  await waitFor('the live segment at the edge', 2000, () => video.lastSegment()?.msn === 3);
  assert.equal(await value('nova_streaming_edge_upstream_duplicates_total'), 0);
});

test('a stream live nowhere is not_live; one whose origin is gone or refuses is unavailable, at once', async () => {
  const origin = await startOrigin(['s2'], 'another-secret-0123456789');
  const { acquire } = edgeWith((id) =>
    id === 'nowhere'
      ? { kind: 'not_live' }
      : id === 'dead'
        ? { kind: 'unreachable', instanceId: 'gone' }
        : { kind: 'origin', origin: { instanceId: 'o2', url: origin.url } },
  );
  assert.equal((await acquire('nowhere')).outcome, 'not_live');
  assert.equal((await acquire('dead')).outcome, 'unavailable');
  // the origin does not know our secret: 401, not a hang
  const refused = await acquire('s2');
  assert.equal(refused.outcome, 'unavailable');
  assert.ok(refused.ms < 1000, `${refused.ms} ms`);
});

test('an origin that does not answer: requests get unavailable within the sync timeout; then the circuit opens and they fail fast', async () => {
  // a port that accepts connections and never answers them
  const port = await freePort();
  const net = await import('node:net');
  const sink = net.createServer(() => {}).listen(port, '127.0.0.1');
  after(() => sink.close());
  const { acquire, value } = edgeWith(() => ({ kind: 'origin', origin: { instanceId: 'hung', url: `http://127.0.0.1:${port}` } }), { syncTimeoutMs: 300 });
  for (let i = 0; i < 3; i++) {
    const slow = await acquire(`x${i}`);
    assert.equal(slow.outcome, 'unavailable');
    assert.ok(slow.ms >= 250 && slow.ms < 1500, `${slow.ms} ms`);
  }
  const fast = await acquire('x9');
  assert.equal(fast.outcome, 'unavailable');
  assert.ok(fast.ms < 100, `the open circuit answered in ${fast.ms} ms`);
  assert.equal(await value('nova_streaming_edge_origin_circuit_open'), 1);
});

test('a lost origin: the replica serves on, is marked unavailable after the grace, and follows the stream to its new origin', async () => {
  const first = await startOrigin(['s3']);
  let current: Origin | null = first;
  const { acquire, store, interruptions, value } = edgeWith(() =>
    current === null ? { kind: 'not_live' } : { kind: 'origin', origin: { instanceId: current === first ? 'first' : 'second', url: current.url } },
  );
  assert.equal((await acquire('s3')).outcome, 'ready');
  current = null; // while the publisher reconnects, the stream is not ACTIVE anywhere
  first.close();
  await waitFor('interruption noticed', 2000, () => interruptions.length === 1);
  assert.deepEqual(interruptions[0], ['s3', true]);
  assert.equal(store.getStream('s3')!.unavailable, false, 'served as it was during the grace');
  await waitFor('unavailable past the grace', 2000, () => store.getStream('s3')!.unavailable);
  // the publisher lands on another instance, which continues the numbering
  const second = await startOrigin([]);
  second.store.beginStream('s3', [SOURCE], { discontinuitySequence: 0 });
  for (const track of ['video', 'audio'] as const) second.feeds.add('s3', initOf(track));
  for (const m of segmentMedia(4, { segmentBytes: false, discontinuityAt: 4 })) second.feeds.add('s3', m);
  current = second;
  await waitFor('the replica follows', 3000, () => interruptions.length === 2);
  assert.deepEqual(interruptions[1], ['s3', false]);
  const stream = store.getStream('s3')!;
  assert.equal(stream.unavailable, false);
  assert.deepEqual(stream.renditions.get('source')!.tracks.get('video')!.segments.map((s) => [s.msn, s.discontinuity]), [
    [0, false],
    [1, false],
    [2, false],
    [4, true],
  ]);
  assert.equal(await value('nova_streaming_stream_moves_total'), 1);
});

test('a publisher handed off by a drain: the old origin says dropped, and the replica follows the stream to its new origin at once', async () => {
  const draining = await startOrigin(['s4']);
  let current: Origin = draining;
  const { acquire, store, interruptions } = edgeWith(() => ({ kind: 'origin', origin: { instanceId: current === draining ? 'draining' : 'next', url: current.url } }));
  assert.equal((await acquire('s4')).outcome, 'ready');
  // the publisher is publishing on the next instance already when the draining one lets go of it
  const next = await startOrigin([]);
  next.store.beginStream('s4', [SOURCE]);
  for (const track of ['video', 'audio'] as const) next.feeds.add('s4', initOf(track));
  for (const m of segmentMedia(4, { segmentBytes: false, discontinuityAt: 4 })) next.feeds.add('s4', m);
  current = next;
  const endedAt = Date.now();
  draining.feeds.endStream('s4', 'dropped');
  const video = store.getStream('s4')!.renditions.get('source')!.tracks.get('video')!;
  await waitFor('the replica on the next origin', 2000, () => video.lastSegment()?.msn === 4);
  assert.ok(Date.now() - endedAt < 1000, `followed ${Date.now() - endedAt} ms after the drop`);
  assert.equal(store.getStream('s4')!.reconnectTimer, null, 'the new origin resumed the stream: no ENDLIST coming');
  assert.deepEqual(interruptions, [], 'viewers were never told of an interruption');
});

test('a private stream stays private at the edge: the replica learns it from the feed and its media routes refuse a viewer without its token', async () => {
  const origin = await startOrigin(['open', 'closed'], SECRET, ['closed']);
  const { edge, store } = edgeWith(() => ({ kind: 'origin', origin: { instanceId: 'o5', url: origin.url } }));
  // "viewer.<stream>" is that stream's token here (the real RS256 check is in test/e2e/private-streams.test.ts)
  const gate: PlaybackGate = (streamId, token) =>
    token === null ? { ok: false, reason: 'missing' } : token === `viewer.${streamId}` ? { ok: true } : { ok: false, reason: token.startsWith('viewer.') ? 'wrong_stream' : 'invalid' };
  const app = uWS.App();
  registerMediaRoutes(app, {
    store,
    config: { corsOrigins: '*', cdnBaseUrl: null, partTargetMs: 200, targetDurationMs: 2000, renderCacheBytes: 1024 * 1024 },
    metrics: new Registry(),
    log,
    lookupStream: edgeStreamLookup(store, edge),
    playback: gate,
  });
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen')))));
  after(() => uWS.us_listen_socket_close(socket));
  const base = `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`;

  // the first request makes the replica; privacy comes with the origin's begin
  const tokenless = await fetch(`${base}/hls/closed/source/video.m3u8`);
  assert.equal(tokenless.status, 401, await tokenless.text());
  assert.equal(store.getStream('closed')?.private, true);
  assert.equal((await fetch(`${base}/hls/closed/source/video/seg-1.m4s?token=viewer.open`)).status, 403);
  const own = await fetch(`${base}/hls/closed/source/video.m3u8?token=viewer.closed`);
  assert.equal(own.status, 200);
  assert.match(await own.text(), /\nvideo\/seg-2\.m4s\?token=viewer\.closed\n/);
  assert.equal((await fetch(`${base}/dash/closed/manifest.mpd`)).status, 401);
  // a public stream from the same origin stays open at the edge
  const open = await fetch(`${base}/hls/open/source/video.m3u8`);
  assert.equal(open.status, 200);
  assert.match(open.headers.get('cache-control') ?? '', /^public, /);
  await open.text();
  assert.equal(store.getStream('open')?.private, false);
});
