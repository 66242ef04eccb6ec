import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import uWS from 'uWebSockets.js';
import { registerMediaRoutes, type MediaRoutesConfig } from '../../src/deliver/http/media-routes.js';
import type { PlaybackGate } from '../../src/deliver/playback-gate.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { PartArena } from '../../src/stream/part-arena.js';
import { metricSum } from '../support/metrics-text.js';
import { SOURCE, T0, feed, feedParts, fill, inPartArena, initOf, segmentMedia } from './synthetic-media.js';

interface Server {
  base: string;
  store: SegmentStore;
  metrics: Registry;
  playback: { streamId: string; kind: string; clientKey: string }[];
  close(): void;
}

const NOW = T0 + 20_000;

/**
 * The viewer-token check as the router sees it, with tokens written by hand:
 * "viewer:<stream>" is good for that stream only, "expired" is expired,
 * anything else invalid. The real RS256 check runs in test/e2e/private-streams.test.ts.
 */
const GATE: PlaybackGate = (streamId, token) => {
  if (token === null || token === '') return { ok: false, reason: 'missing' };
  if (token === 'expired') return { ok: false, reason: 'expired' };
  if (!token.startsWith('viewer:')) return { ok: false, reason: 'invalid' };
  return token === `viewer:${streamId}` ? { ok: true } : { ok: false, reason: 'wrong_stream' };
};

async function startServer(config: Partial<MediaRoutesConfig> = {}, storeOptions = {}, playback: PlaybackGate | null = GATE): Promise<Server> {
  const app = uWS.App();
  const store = new SegmentStore({ now: () => NOW, ...storeOptions });
  const metrics = new Registry();
  const playbackRequests: Server['playback'] = [];
  registerMediaRoutes(app, {
    store,
    config: { corsOrigins: '*', cdnBaseUrl: null, partTargetMs: 200, targetDurationMs: 2000, renderCacheBytes: 1024 * 1024, ...config },
    metrics,
    log: pino({ level: 'silent' }),
    onPlaybackRequest: (streamId, kind, clientKey) => playbackRequests.push({ streamId, kind, clientKey }),
    playback: playback ?? undefined,
    now: () => NOW,
  });
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
  );
  const port = uWS.us_socket_local_port(socket);
  return {
    base: `http://127.0.0.1:${port}`,
    store,
    metrics,
    playback: playbackRequests,
    close: () => {
      store.clear();
      uWS.us_listen_socket_close(socket);
    },
  };
}

/** One request on a raw socket: the response as it came off the wire (its head and Content-Length bytes of body, none for HEAD and 304), its Date line left out. */
async function rawExchange(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`${method} ${path} HTTP/1.1\r\nHost: test\r\n${lines.join('')}\r\n`);
  let received = '';
  try {
    for await (const chunk of socket) {
      received += (chunk as Buffer).toString('latin1');
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd === -1) continue;
      const length = method === 'HEAD' || received.startsWith('HTTP/1.1 304') ? 0 : Number(/\r\nContent-Length: (\d+)/.exec(received)?.[1] ?? 0);
      if (received.length >= headEnd + 4 + length) break;
    }
  } finally {
    socket.destroy();
  }
  return received.replace(/\r\nDate: [^\r]*/, '');
}

describe('media routes over HTTP', () => {
  let server: Server;
  before(async () => {
    // window 6 + 1 late: segment 0 has been evicted
    server = await startServer({}, { keepAfterWindow: 1 });
    feed(server.store, 'live1', 0, 8);
    feedParts(server.store, 'live1', 8, 3);
  });
  after(() => server.close());

  it('serves playlists, MPD and media with their MIME types and cache policies', async () => {
    const cases: [string, string, string][] = [
      ['/hls/live1/master.m3u8', 'application/vnd.apple.mpegurl', 'public, max-age=1'],
      ['/hls/live1/source/video.m3u8', 'application/vnd.apple.mpegurl', 'public, max-age=1'],
      ['/hls/live1/source/audio.m3u8', 'application/vnd.apple.mpegurl', 'public, max-age=1'],
      ['/hls/live1/ts/master.m3u8', 'application/vnd.apple.mpegurl', 'public, max-age=1'],
      ['/hls/live1/source/ts.m3u8', 'application/vnd.apple.mpegurl', 'public, max-age=1'],
      ['/dash/live1/manifest.mpd', 'application/dash+xml', 'public, max-age=1'],
      ['/hls/live1/source/video/init.mp4', 'video/mp4', 'public, max-age=31536000, immutable'],
      ['/hls/live1/source/audio/init.mp4', 'audio/mp4', 'public, max-age=31536000, immutable'],
      ['/hls/live1/source/video/seg-5.m4s', 'video/mp4', 'public, max-age=31536000, immutable'],
      ['/hls/live1/source/audio/part-8-1.m4s', 'audio/mp4', 'public, max-age=31536000, immutable'],
      ['/hls/live1/source/ts/seg-7.ts', 'video/mp2t', 'public, max-age=31536000, immutable'],
      ['/dash/live1/source/video/seg-7.m4s', 'video/mp4', 'public, max-age=31536000, immutable'],
    ];
    for (const [path, type, cache] of cases) {
      const response = await fetch(server.base + path);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), type, path);
      assert.equal(response.headers.get('cache-control'), cache, path);
      assert.equal(response.headers.get('access-control-allow-origin'), '*', path);
      assert.match(response.headers.get('etag') ?? '', /^"[^"]+"$/, path);
      await response.arrayBuffer();
    }
    const segment = new Uint8Array(await (await fetch(`${server.base}/hls/live1/source/video/seg-5.m4s`)).arrayBuffer());
    assert.deepEqual(segment, fill(1000, 'video', 5, 99));
    const part = new Uint8Array(await (await fetch(`${server.base}/hls/live1/source/video/part-8-2.m4s`)).arrayBuffer());
    assert.deepEqual(part, fill(100, 'video', 8, 2));
    const mpd = await (await fetch(`${server.base}/dash/live1/manifest.mpd`)).text();
    assert.match(mpd, /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http:\/\/127\.0\.0\.1:\d+\/time"\/>/);
    assert.doesNotMatch(mpd, /utc:direct/, 'no time of its own: a cached MPD would carry a stale one');
    const time = await fetch(`${server.base}/time`);
    assert.equal(await time.text(), new Date(NOW).toISOString());
    assert.equal(time.headers.get('cache-control'), 'no-store');
  });

  it('calls the playback hook for playlists and MPDs only', async () => {
    server.playback.length = 0;
    await (await fetch(`${server.base}/hls/live1/master.m3u8`, { headers: { 'user-agent': 'a' } })).text();
    await (await fetch(`${server.base}/dash/live1/manifest.mpd`, { headers: { 'user-agent': 'a' } })).text();
    await (await fetch(`${server.base}/hls/live1/source/video/seg-5.m4s`)).arrayBuffer();
    assert.deepEqual(server.playback.map((p) => `${p.streamId}:${p.kind}`), ['live1:hls', 'live1:dash']);
    assert.equal(server.playback[0]!.clientKey, server.playback[1]!.clientKey);
  });

  it('ETag + If-None-Match gives 304 for segments and playlists', async () => {
    for (const path of ['/hls/live1/source/video/seg-5.m4s', '/hls/live1/source/video.m3u8']) {
      const first = await fetch(server.base + path);
      await first.arrayBuffer();
      const etag = first.headers.get('etag')!;
      const second = await fetch(server.base + path, { headers: { 'if-none-match': etag } });
      assert.equal(second.status, 304, path);
      assert.equal(second.headers.get('etag'), etag);
      const other = await fetch(server.base + path, { headers: { 'if-none-match': '"nope"' } });
      assert.equal(other.status, 200);
      await other.arrayBuffer();
    }
  });

  it('Range: 206 with Content-Range for a-b, a- and -n; 416 when unsatisfiable', async () => {
    const full = fill(1000, 'video', 5, 99);
    const url = `${server.base}/hls/live1/source/video/seg-5.m4s`;
    const cases: [string, number, number][] = [
      ['bytes=0-9', 0, 9],
      ['bytes=990-', 990, 999],
      ['bytes=-4', 996, 999],
      ['bytes=500-5000', 500, 999],
    ];
    for (const [range, start, end] of cases) {
      const response = await fetch(url, { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/1000`, range);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), full.subarray(start, end + 1), range);
    }
    for (const range of ['bytes=1000-', 'bytes=5-2', 'bytes=-0', 'pages=1-2']) {
      const response = await fetch(url, { headers: { range } });
      assert.equal(response.status, 416, range);
      assert.equal(response.headers.get('content-range'), 'bytes */1000', range);
      await response.arrayBuffer();
    }
  });

  it('HEAD answers headers and length without a body', async () => {
    const response = await fetch(`${server.base}/hls/live1/source/video/seg-5.m4s`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '1000');
    assert.equal(response.headers.get('content-type'), 'video/mp4');
    assert.equal((await response.arrayBuffer()).byteLength, 0);
    const playlist = await fetch(`${server.base}/hls/live1/source/video.m3u8`, { method: 'HEAD' });
    assert.equal(playlist.status, 200);
    assert.ok(Number(playlist.headers.get('content-length')) > 100);
    // the connection is still usable afterwards (no stray body bytes)
    assert.equal((await fetch(`${server.base}/hls/live1/master.m3u8`)).status, 200);
    // on one raw keep-alive connection (fetch would quietly retry on a new one): HEAD, then a GET that is answered in full
    const socket = net.connect(Number(new URL(server.base).port), '127.0.0.1');
    socket.write('HEAD /hls/live1/source/video/seg-5.m4s HTTP/1.1\r\nHost: test\r\n\r\nGET /hls/live1/source/video/seg-5.m4s HTTP/1.1\r\nHost: test\r\n\r\n');
    let received = Buffer.alloc(0);
    for await (const chunk of socket) {
      received = Buffer.concat([received, chunk as Buffer]);
      if (received.toString('latin1').split('HTTP/1.1 200').length === 3 && received.byteLength > 2000) break;
    }
    socket.destroy();
    const text = received.toString('latin1');
    assert.equal(text.split('HTTP/1.1 200').length, 3, 'both answers on the one connection');
    assert.ok(text.endsWith('\r\n\r\n') === false && received.byteLength - text.lastIndexOf('\r\n\r\n') - 4 === 1000, 'the GET got its 1000 bytes');
  });

  it('CORS preflight', async () => {
    const response = await fetch(`${server.base}/hls/live1/source/video.m3u8`, {
      method: 'OPTIONS',
      headers: { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.match(response.headers.get('access-control-allow-methods')!, /GET/);
    assert.equal(response.headers.get('access-control-allow-headers'), 'range');
    assert.match(response.headers.get('access-control-expose-headers')!, /Content-Range/);
  });

  it('404 JSON for an unknown stream, an evicted segment and an unknown file', async () => {
    for (const path of ['/hls/nope/master.m3u8', '/hls/live1/source/video/seg-0.m4s', '/hls/live1/source/video/what.txt', '/dash/nope/manifest.mpd', '/hls/live1/720p/video.m3u8']) {
      const response = await fetch(server.base + path);
      assert.equal(response.status, 404, path);
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'NOVA_ERR_NOT_FOUND', path);
      assert.ok(body.error.message.length > 0);
    }
  });

  it('blocking reload: parked until the part arrives, then served (cacheable by its URL)', async () => {
    const pending = fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_msn=8&_HLS_part=4`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.store.parkedCount, 1);
    const gauge = await server.metrics.getSingleMetricAsString('nova_streaming_blocking_reloads_parked');
    assert.match(gauge, /nova_streaming_blocking_reloads_parked 1/);
    feedParts(server.store, 'live1', 8, 5, { tracks: ['video'] });
    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=1');
    const text = await response.text();
    assert.match(text, /part-8-4\.m4s/);
    assert.match(text, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="video\/part-8-5\.m4s"/);
    assert.equal(server.store.parkedCount, 0);
  });

  it('blocking reload: 400 out of range or malformed, immediate 200 when already there', async () => {
    const far = await fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_msn=10`);
    assert.equal(far.status, 400);
    assert.equal(((await far.json()) as { error: { code: string } }).error.code, 'NOVA_ERR_BAD_REQUEST');
    const onlyPart = await fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_part=1`);
    assert.equal(onlyPart.status, 400);
    await onlyPart.arrayBuffer();
    const ready = await fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_msn=7`);
    assert.equal(ready.status, 200);
    await ready.text();
  });

  it('preload hint part: the request is held until the part exists', async () => {
    const video = server.store.getStream('live1')!.renditions.get('source')!.tracks.get('video')!;
    const next = video.pendingParts[video.pendingParts.length - 1]!.index + 1;
    const pending = fetch(`${server.base}/hls/live1/source/video/part-8-${next}.m4s`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    feedParts(server.store, 'live1', 8, next + 1, { tracks: ['video'] });
    const response = await pending;
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), fill(100, 'video', 8, next));
  });

  it('the part after the hint and the segment in progress are held too (a delivery thread a batch behind another); further ahead is a 404', async () => {
    const video = server.store.getStream('live1')!.renditions.get('source')!.tracks.get('video')!;
    const newest = video.pendingParts[video.pendingParts.length - 1]!.index;
    const msn = video.pendingMsn;
    const afterHint = fetch(`${server.base}/hls/live1/source/video/part-${msn}-${newest + 2}.m4s`);
    const segment = fetch(`${server.base}/hls/live1/source/video/seg-${msn}.m4s`);
    const tooFar = await fetch(`${server.base}/hls/live1/source/video/part-${msn}-${newest + 3}.m4s`);
    assert.equal(tooFar.status, 404);
    await tooFar.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 30));
    feedParts(server.store, 'live1', msn, newest + 3, { tracks: ['video'] });
    const part = await afterHint;
    assert.equal(part.status, 200);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), fill(100, 'video', msn, newest + 2));
    // the segment completes with its last part
    for (const media of segmentMedia(msn, { tracks: ['video'] })) if (media.kind === 'segment') server.store.add('live1', media);
    const whole = await segment;
    assert.equal(whole.status, 200);
    assert.ok((await whole.arrayBuffer()).byteLength > 0);
  });

  it('counts served media in metrics', async () => {
    const text = await server.metrics.getSingleMetricAsString('nova_streaming_segments_served_total');
    assert.match(text, /kind="segment"} [1-9]/);
    assert.match(text, /kind="playlist"} [1-9]/);
    assert.match(text, /kind="mpd"} [1-9]/);
    const store = await server.metrics.getSingleMetricAsString('nova_streaming_segment_store_bytes');
    assert.match(store, new RegExp(`nova_streaming_segment_store_bytes ${server.store.memoryBytes}`));
  });
});

describe('media routes: the MPD is rendered once per change', () => {
  it('within one change: the same bytes, rendered once; a part keeps the MPD and its publishTime; a segment gives it the time of that change', async () => {
    let clock = T0 + 10_000;
    const server = await startServer({}, { now: () => clock });
    const url = `${server.base}/dash/live1/manifest.mpd`;
    const renders = async (): Promise<{ hit: number; miss: number }> => {
      const text = await server.metrics.metrics();
      return { hit: metricSum(text, 'nova_streaming_playlist_renders_total', 'result="hit"'), miss: metricSum(text, 'nova_streaming_playlist_renders_total', 'result="miss"') };
    };
    try {
      feed(server.store, 'live1', 0, 4);
      const first = await fetch(url);
      const text = await first.text();
      assert.equal(await (await fetch(url)).text(), text, 'byte-identical');
      assert.deepEqual(await renders(), { hit: 1, miss: 1 });
      assert.match(text, new RegExp(`publishTime="${new Date(clock).toISOString()}"`));
      const revalidated = await fetch(url, { headers: { 'if-none-match': first.headers.get('etag')! } });
      assert.equal(revalidated.status, 304);

      clock += 200;
      feedParts(server.store, 'live1', 4, 1);
      assert.equal(await (await fetch(url)).text(), text, 'a part is not in the MPD: its text and publishTime stay');
      assert.equal((await renders()).miss, 2, 'rendered again to find that out');

      clock += 1800;
      feed(server.store, 'live1', 4, 5);
      const next = await (await fetch(url)).text();
      assert.match(next, new RegExp(`publishTime="${new Date(clock).toISOString()}"`));
      assert.match(next, /<S t="0" d="180000" r="4"\/>/, 'the new segment is listed');

      // another /time URL (here the scheme a proxy says it terminated) is another text, rendered for it
      const https = await (await fetch(url, { headers: { 'x-forwarded-proto': 'https' } })).text();
      assert.equal(https, next.replace(/value="http:/, 'value="https:'));
      assert.deepEqual(await renders(), { hit: 2, miss: 4 });
    } finally {
      server.close();
    }
  });
});

describe('media routes: timeouts and endings', () => {
  it('503 when the part does not come within 3 target durations; ended answers parked requests', async () => {
    const server = await startServer({ targetDurationMs: 1000 });
    try {
      feed(server.store, 'live1', 0, 2, { partsPerSegment: 4, partDuration: 0.25 });
      const started = Date.now();
      const timedOut = await fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_msn=2&_HLS_part=0`);
      assert.equal(timedOut.status, 503);
      assert.ok(Date.now() - started >= 2900, 'waited about 3 target durations');
      await timedOut.arrayBuffer();

      const parked = fetch(`${server.base}/hls/live1/source/audio.m3u8?_HLS_msn=2`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      server.store.endStream('live1');
      const ended = await parked;
      assert.equal(ended.status, 200);
      assert.equal(ended.headers.get('cache-control'), 'public, max-age=60');
      assert.match(await ended.text(), /#EXT-X-ENDLIST\n$/);
      const mpd = await (await fetch(`${server.base}/dash/live1/manifest.mpd`)).text();
      assert.match(mpd, /type="static"/);
    } finally {
      server.close();
    }
  });

  it('an aborted parked request is forgotten', async () => {
    const server = await startServer();
    try {
      feed(server.store, 'live1', 0, 2);
      const controller = new AbortController();
      const parked = fetch(`${server.base}/hls/live1/source/video.m3u8?_HLS_msn=2&_HLS_part=3`, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(server.store.parkedCount, 1);
      controller.abort();
      await assert.rejects(parked);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(server.store.parkedCount, 0);
      feed(server.store, 'live1', 2, 3); // releasing nobody must not write to the dead response
    } finally {
      server.close();
    }
  });
});

describe('media routes: private streams, CDN, CORS allow-list', () => {
  const token = 'viewer:priv1';
  const suffix = `?token=${encodeURIComponent(token)}`;
  const escaped = suffix.replace(/[?.]/g, '\\$&');
  const PATHS = [
    '/hls/priv1/master.m3u8',
    '/hls/priv1/source/video.m3u8',
    '/hls/priv1/source/video.m3u8?_HLS_msn=2&_HLS_part=1',
    '/hls/priv1/ts/master.m3u8',
    '/hls/priv1/source/ts.m3u8',
    '/hls/priv1/source/video/init.mp4',
    '/hls/priv1/source/video/seg-2.m4s',
    '/hls/priv1/source/video/part-2-1.m4s',
    '/hls/priv1/source/ts/seg-2.ts',
    '/dash/priv1/manifest.mpd',
    '/dash/priv1/source/video/seg-2.m4s',
  ];
  const withToken = (path: string, value: string): string => `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(value)}`;

  it('a private stream: 401 without or with a bad token, 403 with another stream\'s, 200 with its own (carried into every URI, never publicly cacheable)', async () => {
    const server = await startServer({ cdnBaseUrl: 'https://cdn.example.com' });
    try {
      server.store.beginStream('priv1', [SOURCE], { private: true });
      feed(server.store, 'priv1', 0, 3);
      feed(server.store, 'open1', 0, 3);
      const refusals: Array<[string, (path: string) => string, number, string, RegExp]> = [
        ['none', (path) => path, 401, 'NOVA_ERR_UNAUTHORIZED', /required/],
        ['empty', (path) => withToken(path, ''), 401, 'NOVA_ERR_UNAUTHORIZED', /required/],
        ['garbage', (path) => withToken(path, 'garbage'), 401, 'NOVA_ERR_UNAUTHORIZED', /invalid/],
        ['expired', (path) => withToken(path, 'expired'), 401, 'NOVA_ERR_UNAUTHORIZED', /expired/],
        ['another stream\'s', (path) => withToken(path, 'viewer:open1'), 403, 'NOVA_ERR_FORBIDDEN', /another stream/],
      ];
      for (const [name, url, status, code, message] of refusals) {
        for (const path of PATHS) {
          for (const method of ['GET', 'HEAD']) {
            const response = await fetch(server.base + url(path), { method });
            assert.equal(response.status, status, `${method} ${path}: ${name}`);
            assert.equal(response.headers.get('cache-control'), 'no-store', `${path}: ${name}`);
            if (status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm="nova-playback"/, `${path}: ${name}`);
            if (method === 'HEAD') continue;
            const body = (await response.json()) as { error: { code: string; message: string } };
            assert.equal(body.error.code, code, `${path}: ${name}`);
            assert.match(body.error.message, message, `${path}: ${name}`);
          }
        }
      }
      const refused = await server.metrics.getSingleMetric('nova_streaming_playback_refused_total')!.get();
      const count = (reason: string): number => refused.values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
      assert.equal(count('missing'), PATHS.length * 4);
      assert.equal(count('wrong_stream'), PATHS.length * 2);

      for (const path of PATHS) {
        const response = await fetch(server.base + withToken(path, token));
        assert.equal(response.status, 200, path);
        assert.match(response.headers.get('cache-control') ?? '', /^private, /, path);
        const text = await response.text();
        if (!/\.(m3u8|mpd)(\?|$)/.test(path)) continue;
        // every URI the playlist or MPD lists carries the token
        const uris = path.endsWith('.mpd') || path.includes('.mpd?')
          ? [...text.matchAll(/(?:initialization|media)="([^"]+)"/g)].map((m) => m[1]!)
          : text.split('\n').flatMap((line) => (line.startsWith('#') ? [...line.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!) : line === '' ? [] : [line]));
        assert.ok(uris.length > 0, `${path}: lists URIs`);
        for (const uri of uris) assert.ok(uri.endsWith(suffix), `${path}: ${uri} carries the token`);
      }
      const media = await (await fetch(server.base + withToken('/hls/priv1/source/video.m3u8', token))).text();
      assert.match(media, new RegExp(`\nhttps://cdn\\.example\\.com/hls/priv1/source/video/seg-2\\.m4s${escaped}\n`));

      // a public stream on the same server: no token needed, one sent changes nothing, cacheable by anyone
      for (const path of ['/hls/open1/source/video.m3u8', '/hls/open1/source/video/seg-2.m4s', '/dash/open1/manifest.mpd']) {
        for (const query of ['', `?token=${encodeURIComponent(token)}`]) {
          const response = await fetch(server.base + path + query);
          assert.equal(response.status, 200, path + query);
          assert.match(response.headers.get('cache-control') ?? '', /^public, /, path);
          assert.doesNotMatch(await response.text(), /token=/, `${path}${query}: the same bytes for everyone`);
        }
      }
    } finally {
      server.close();
    }
  });

  it('without a gate, a private stream refuses everyone and a public one still plays', async () => {
    const server = await startServer({}, {}, null);
    try {
      server.store.beginStream('priv1', [SOURCE], { private: true });
      feed(server.store, 'priv1', 0, 2);
      feed(server.store, 'open1', 0, 2);
      assert.equal((await fetch(`${server.base}/hls/priv1/master.m3u8`)).status, 401);
      assert.equal((await fetch(`${server.base}${withToken('/hls/priv1/master.m3u8', token)}`)).status, 401);
      assert.equal((await fetch(`${server.base}/hls/open1/master.m3u8`)).status, 200);
    } finally {
      server.close();
    }
  });

  it("a playlist's answer is header for header, byte for byte, the one written a header at a time (any origin and allow-list; GET, HEAD, 304)", async () => {
    const exposed = 'access-control-expose-headers: Content-Length, Content-Range, ETag, Accept-Ranges, Date\r\n';
    for (const corsOrigins of ['*', ['https://ok.example']] as const) {
      const server = await startServer({ corsOrigins: corsOrigins === '*' ? '*' : [...corsOrigins] });
      try {
        feed(server.store, 'live1', 0, 3);
        const path = '/hls/live1/source/video.m3u8';
        const body = await (await fetch(server.base + path)).text();
        const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
        const cors =
          corsOrigins === '*' ? `access-control-allow-origin: *\r\n${exposed}` : `access-control-allow-origin: https://ok.example\r\nvary: Origin\r\n${exposed}`;
        const head = (status: string, length: number): string =>
          `HTTP/1.1 ${status}\r\ncontent-type: application/vnd.apple.mpegurl\r\ncache-control: public, max-age=1\r\netag: ${etag}\r\n${cors}` +
          `uWebSockets: 20\r\nContent-Length: ${length}\r\n\r\n`;
        // a HEAD's length goes before uWS's own header (endHead in uws-helpers.ts: uWS's own way breaks keep-alive)
        const headOnly = (length: number): string =>
          `HTTP/1.1 200 OK\r\ncontent-type: application/vnd.apple.mpegurl\r\ncache-control: public, max-age=1\r\netag: ${etag}\r\n${cors}` +
          `content-length: ${length}\r\nuWebSockets: 20\r\n\r\n`;
        const origin = { origin: 'https://ok.example' };
        // twice: the first answer prepares the text, the second is answered from what was prepared
        for (let round = 0; round < 2; round++) {
          assert.equal(await rawExchange(server.base, 'GET', path, origin), head('200 OK', Buffer.byteLength(body)) + body, `GET ${round}`);
          assert.equal(await rawExchange(server.base, 'HEAD', path, origin), headOnly(Buffer.byteLength(body)), `HEAD ${round}`);
        }
        const notModified = await rawExchange(server.base, 'GET', path, { ...origin, 'if-none-match': etag });
        assert.match(notModified, /^HTTP\/1\.1 304 Not Modified\r\ncontent-type: application\/vnd\.apple\.mpegurl\r\ncache-control: public, max-age=1\r\n/);
        assert.ok(notModified.includes(`etag: ${etag}\r\n${cors}`), notModified);
        // once the stream ended: the ended Cache-Control, not the live one prepared before
        server.store.endStream('live1');
        const ended = await fetch(server.base + path);
        assert.equal(ended.headers.get('cache-control'), 'public, max-age=60');
        await ended.text();
      } finally {
        server.close();
      }
    }
  });

  it('CORS allow-list echoes only listed origins', async () => {
    const server = await startServer({ corsOrigins: ['https://ok.example'] });
    try {
      feed(server.store, 'live1', 0, 1);
      const ok = await fetch(`${server.base}/hls/live1/master.m3u8`, { headers: { origin: 'https://ok.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://ok.example');
      assert.equal(ok.headers.get('vary'), 'Origin');
      await ok.text();
      const other = await fetch(`${server.base}/hls/live1/master.m3u8`, { headers: { origin: 'https://evil.example' } });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      await other.text();
    } finally {
      server.close();
    }
  });

  it('a segment sent as its parts (the live packager) is served from them: whole, streamed when large, ranges across parts, HEAD', async () => {
    const server = await startServer();
    try {
      const partsOf = (msn: number, partBytes: number): Uint8Array =>
        new Uint8Array(Buffer.concat(Array.from({ length: 10 }, (_, index) => fill(partBytes, 'video', msn, index))));
      feed(server.store, 'small', 0, 2, { partBytes: 1000, segmentBytes: false });
      feed(server.store, 'large', 0, 2, { partBytes: 150_000, segmentBytes: false }); // 1.5 MB: streamed piece by piece
      const small = new Uint8Array(await (await fetch(`${server.base}/hls/small/source/video/seg-1.m4s`)).arrayBuffer());
      assert.deepEqual(small, partsOf(1, 1000));
      const large = await fetch(`${server.base}/hls/large/source/video/seg-1.m4s`);
      assert.equal(large.headers.get('content-length'), '1500000');
      assert.deepEqual(new Uint8Array(await large.arrayBuffer()), partsOf(1, 150_000));
      // a range from inside part 2 to inside part 5
      const ranged = await fetch(`${server.base}/hls/large/source/video/seg-1.m4s`, { headers: { range: 'bytes=299990-750009' } });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers.get('content-range'), 'bytes 299990-750009/1500000');
      assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), partsOf(1, 150_000).subarray(299_990, 750_010));
      // asked for again: from the segment's joined copy (joined-segments.ts), the same bytes
      const again = await fetch(`${server.base}/hls/large/source/video/seg-1.m4s`);
      assert.equal(again.headers.get('etag'), large.headers.get('etag'));
      assert.deepEqual(new Uint8Array(await again.arrayBuffer()), partsOf(1, 150_000));
      const head = await fetch(`${server.base}/dash/large/source/video/seg-1.m4s`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), '1500000');
      // the TS variant always carries its own bytes
      const ts = new Uint8Array(await (await fetch(`${server.base}/hls/small/source/ts/seg-1.ts`)).arrayBuffer());
      assert.deepEqual(ts, fill(10_050, 'ts', 1, 99));
    } finally {
      server.close();
    }
  });

  it('large segments stream out intact (tryEnd path)', async () => {
    const server = await startServer();
    try {
      feed(server.store, 'live1', 0, 2, { partBytes: 200_000 }); // 2 MB segments
      const bytes = new Uint8Array(await (await fetch(`${server.base}/hls/live1/source/video/seg-1.m4s`)).arrayBuffer());
      assert.deepEqual(bytes, fill(2_000_000, 'video', 1, 99));
    } finally {
      server.close();
    }
  });

  it('parts in shared memory: a reader that stalls keeps its bytes after the store drops them and the arena reuses them', async () => {
    const server = await startServer();
    // 8 MB parts, 32 MB segments: more than loopback's socket buffers hold, so both responses stall
    const producer = PartArena.create(80 << 20);
    const consumer = PartArena.attach(producer.buffer);
    try {
      server.store.beginStream('s', [SOURCE]);
      server.store.add('s', initOf('video'));
      for (const media of segmentMedia(0, { partBytes: 8 << 20, partsPerSegment: 4, tracks: ['video'], segmentBytes: false })) {
        server.store.add('s', inPartArena(producer, consumer, media));
      }
      const expectedPart = fill(8 << 20, 'video', 0, 1);
      const expectedSegment = Buffer.concat([0, 1, 2, 3].map((index) => fill(8 << 20, 'video', 0, index)));
      /** GET on a raw socket that does not read until told to: the server's writes back up. */
      const stalledGet = (path: string): { resume(): Promise<Buffer> } => {
        const socket = net.connect(Number(new URL(server.base).port), '127.0.0.1');
        socket.pause();
        socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
        return {
          resume: () =>
            new Promise((resolve, reject) => {
              const chunks: Buffer[] = [];
              socket.on('data', (chunk: Buffer) => chunks.push(chunk));
              socket.on('end', () => resolve(Buffer.concat(chunks)));
              socket.on('error', reject);
              socket.resume();
            }),
        };
      };
      const body = (response: Buffer): Buffer => response.subarray(response.indexOf('\r\n\r\n') + 4);
      const part = stalledGet('/hls/s/source/video/part-0-1.m4s');
      const segment = stalledGet('/hls/s/source/video/seg-0.m4s');
      await sleep(500); // both requests answered as far as the sockets take
      server.store.removeStream('s');
      assert.equal(consumer.heldRegions, 0, 'the store released every part');
      new Uint8Array(producer.buffer).fill(0); // the packager writes new parts over them
      const [partResponse, segmentResponse] = await Promise.all([part.resume(), segment.resume()]);
      assert.match(partResponse.subarray(0, 20).toString(), /^HTTP\/1\.1 200/);
      assert.ok(body(partResponse).equals(expectedPart), 'the part as it was when asked for');
      assert.ok(body(segmentResponse).equals(expectedSegment), 'the segment as it was when asked for');
    } finally {
      server.close();
    }
  });
});
