/**
 * Delivery on every core: a server with two delivery threads sharing its
 * public port (DELIVERY_THREADS=2), a synthetic publisher, real sockets.
 * The kernel spreads connections over the threads at random, so each test
 * opens enough of them that both threads get some (checked through the
 * per-thread gauges; all on one thread has odds of 2^-15 or less).
 *
 * One server and one publisher for the file.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { fetchText, parseMediaPlaylist, streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../support/live-media.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { TestViewer, stuckViewer } from '../ws/support/ws-viewer.js';
import { metricSum } from '../support/metrics-text.js';
import { waitFor } from '../support/tools.js';

const VIEWERS = 16;


/** GET over a connection of its own (the kernel picks a thread per connection). */
function getOnNewConnection(url: string): Promise<{ status: number; body: string; at: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, at: Date.now() }));
      })
      .on('error', reject);
  });
}

describe('delivery threads: two uWebSockets.js apps on one port', () => {
  let nova: NovaFixture;
  let stream: CreatedStream;
  let urls: StreamMediaUrls;
  const publishing = new AbortController();
  const viewers: TestViewer[] = [];

  const metrics = (): Promise<string> => fetchText(`${nova.http}/metrics`);
  const wsUrl = (): string => stream.ws_url;

  before(async () => {
    nova = await startNova({ env: { DELIVERY_THREADS: '2', WS_MAX_BACKPRESSURE_BYTES: '1024' } });
    assert.equal(nova.server.deliveryThreads?.size, 2);
    stream = await nova.createStream();
    void publishSynthetic({ url: `${nova.rtmp}/${stream.stream_key}`, bitrateBps: 1_000_000, durationMs: 600_000, signal: publishing.signal }).catch(() => {});
    urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 2, 20_000);
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    publishing.abort();
    await nova?.stop();
  });

  it('serves the media and forwards the API: the same playlist from either thread, REST answered by the main thread', async () => {
    const answers = await Promise.all(Array.from({ length: VIEWERS }, () => getOnNewConnection(urls.hlsMaster)));
    for (const answer of answers) assert.equal(answer.status, 200);
    const api = await nova.api('GET', `/api/v1/streams/${stream.id}`);
    assert.equal(api.status, 200);
    const text = await metrics();
    assert.equal(metricSum(text, 'nova_streaming_delivery_threads'), 2);
    assert.ok(metricSum(text, 'nova_streaming_forwarded_requests_total', 'result="ok"') >= 1, 'the API request was forwarded');
  });

  const renders = async (): Promise<{ shared: number; miss: number; hit: number }> => {
    const text = await metrics();
    return {
      shared: metricSum(text, 'nova_streaming_playlist_renders_total', 'result="shared"'),
      miss: metricSum(text, 'nova_streaming_playlist_renders_total', 'result="miss"'),
      hit: metricSum(text, 'nova_streaming_playlist_renders_total', 'result="hit"'),
    };
  };
  /** GETs `url` for `ms`, 8 at a time on new connections (both threads get some); the bodies */
  const pollUrl = async (url: string, ms: number): Promise<string[]> => {
    const bodies: string[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const answers = await Promise.all(Array.from({ length: 8 }, () => getOnNewConnection(url)));
      for (const answer of answers) assert.equal(answer.status, 200);
      bodies.push(...answers.map((answer) => answer.body));
    }
    return bodies;
  };

  it('a public playlist is rendered once per change for both threads, by the main thread', async () => {
    const poll = (ms: number): Promise<string[]> => pollUrl(urls.video, ms);
    // the threads report what their viewers watch once a second: from then on the main thread renders it
    await poll(2500);
    const before = await renders();
    await poll(3000);
    const after = await renders();
    assert.ok(after.shared - before.shared >= 10, `the main thread rendered the playlist at its changes (${after.shared - before.shared})`);
    assert.ok(after.hit - before.hit > 50, 'requests answered from the cache');
    // a thread renders only when a request comes between a change and its shared text (same loop turn): rare
    assert.ok(after.miss - before.miss <= (after.shared - before.shared) / 4, `threads rendered ${after.miss - before.miss} times against ${after.shared - before.shared} shared renders`);
  });

  it('a public MPD is rendered once per change for both threads, by the main thread; its publishTime moves only with its text', async () => {
    // 6.5 s: the main thread stops rendering the playlists of the tests before (5 s after a thread last reported them), so what it renders now is the MPD
    await pollUrl(urls.dash, 6500);
    const before = await renders();
    const bodies = await pollUrl(urls.dash, 3000);
    const after = await renders();
    assert.ok(after.shared - before.shared >= 10, `the main thread rendered the MPD at the stream's changes (${after.shared - before.shared})`);
    assert.ok(after.hit - before.hit > 50, 'requests answered from the cache');
    assert.ok(after.miss - before.miss <= (after.shared - before.shared) / 4, `threads rendered ${after.miss - before.miss} times against ${after.shared - before.shared} shared renders`);
    // parts change the stream ~5 times a segment, the MPD's text only with a segment: one publishTime per text
    const publishTimes = new Map<string, string>();
    for (const body of bodies) {
      const publishTime = /publishTime="([^"]+)"/.exec(body)![1]!;
      const known = publishTimes.get(publishTime);
      assert.ok(known === undefined || known === body, `two texts with publishTime ${publishTime}`);
      publishTimes.set(publishTime, body);
    }
    // a new text per segment (a thread may render a change just before the main thread's text for it arrives: one more)
    const segmentSeconds = Number(/minimumUpdatePeriod="PT([\d.]+)S"/.exec(bodies[0]!)![1]);
    assert.ok(publishTimes.size <= Math.ceil(3 / segmentSeconds) + 2, `${publishTimes.size} texts in 3 s of ${segmentSeconds} s segments`);
  });

  it('LL-HLS blocking reloads parked on both threads are all released by one new part', async () => {
    const playlist = parseMediaPlaylist(await fetchText(urls.video));
    // the next segment's first part: a couple of seconds away, so every request parks first
    const next = playlist.segments.at(-1)!.msn + 2;
    const url = `${urls.video}?_HLS_msn=${next}&_HLS_part=0`;
    const asked = Date.now();
    const answers = Promise.all(Array.from({ length: VIEWERS }, () => getOnNewConnection(url)));
    await waitFor('reloads parked on both threads', 8000, async () => {
      const text = await metrics();
      return metricSum(text, 'nova_streaming_delivery_thread_parked_reloads', 'thread="0"') > 0 && metricSum(text, 'nova_streaming_delivery_thread_parked_reloads', 'thread="1"') > 0;
    });
    const done = await answers;
    for (const answer of done) {
      assert.equal(answer.status, 200);
      assert.ok(answer.body.includes(`part-${next}-0.m4s`) || answer.body.includes(`seg-${next}.m4s`), 'the awaited part is listed');
    }
    const times = done.map((answer) => answer.at);
    assert.ok(Math.max(...times) - Math.min(...times) < 1000, `released together (spread ${Math.max(...times) - Math.min(...times)} ms)`);
    assert.ok(Math.min(...times) - asked > 200, 'they waited for the part');
  });

  it('WebSocket viewers on both threads get the same events in the same order, no gaps, and counts add up', async () => {
    for (let i = 0; i < VIEWERS; i++) viewers.push(new TestViewer(wsUrl()));
    await Promise.all(viewers.map((viewer) => viewer.opened));
    await waitFor('viewers on both threads', 15_000, async () => {
      const text = await metrics();
      return metricSum(text, 'nova_streaming_delivery_thread_websockets', 'thread="0"') > 0 && metricSum(text, 'nova_streaming_delivery_thread_websockets', 'thread="1"') > 0;
    });
    // the count is the stream's, whichever thread a viewer is on
    // (HLS clients of the tests before count too, for their session's idle time)
    await Promise.all(viewers.map((viewer) => viewer.waitFor((m) => (m.type === 'viewer_count_changed' || m.type === 'snapshot') && (m.viewers as number) >= VIEWERS, 15_000)));
    const renditions = [{ name: 'source', width: 640, height: 360, bandwidth: 1_000_000, codecs: 'avc1.64001f', frameRate: 30 }];
    for (let i = 0; i < 5; i++) {
      nova.server.bus.publish({ type: 'quality_changed', streamId: stream.id, instanceId: nova.server.config.instanceId, at: Date.now(), renditions: renditions.map((r) => ({ ...r, bandwidth: r.bandwidth + i })) });
    }
    await Promise.all(viewers.map((viewer) => waitFor('five quality_changed', 15_000, () => viewer.ofType('quality_changed').length >= 5)));
    const expected = viewers[0]!.ofType('quality_changed').map((m) => JSON.stringify(m.renditions));
    for (const viewer of viewers) {
      assert.deepEqual(viewer.ofType('quality_changed').map((m) => JSON.stringify(m.renditions)), expected, 'same events, same order');
      const seqs = viewer.messages.slice(1).map((m) => m.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => viewer.messages[0]!.seq + 1 + i), 'no gap');
      assert.deepEqual(viewer.schemaErrors, []);
    }
  });

  it('a slow consumer on one thread is dropped at its limit and slows no viewer on either thread', async () => {
    const stuck = await stuckViewer(nova.server.httpPort, `/api/v1/streams/${stream.id}/ws`);
    const before = viewers.map((viewer) => viewer.ofType('quality_changed').length);
    const big = Array.from({ length: 40 }, (_, i) => ({ name: `r${i}-${'z'.repeat(100)}`, width: 1920, height: 1080, bandwidth: 6_000_000, codecs: 'avc1.640028', frameRate: 30 }));
    let sent = 0;
    const deadline = Date.now() + 30_000;
    while (metricSum(await metrics(), 'nova_streaming_ws_slow_consumer_drops_total') === 0) {
      assert.ok(Date.now() < deadline, `the slow consumer was never dropped: ${(await metrics()).split('\n').filter((l) => l.includes('websocket') || l.includes('ws_')).join('\n')}`);
      for (let i = 0; i < 20; i++, sent++) nova.server.bus.publish({ type: 'quality_changed', streamId: stream.id, instanceId: 'x', at: Date.now(), renditions: big });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(viewers.map((viewer, i) => waitFor('every viewer gets every message', 30_000, () => viewer.ofType('quality_changed').length === before[i]! + sent)));
    for (const viewer of viewers) assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
    stuck.destroy();
  });

  it('a delivery thread that dies is replaced: its viewers reconnect, the server serves throughout', async (t) => {
    const threads = nova.server.deliveryThreads!;
    const failures: string[] = [];
    let serving = true;
    const poller = (async () => {
      while (serving) {
        // a request on a connection the dying thread held may fail once; a new connection never
        const answer = await getOnNewConnection(urls.hlsMaster).catch((err: Error) => ({ status: 0, body: err.message, at: Date.now() }));
        if (answer.status !== 200) failures.push(`${answer.status} ${answer.body.slice(0, 80)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    threads.injectFault(0);
    const closed = await waitFor('a viewer of the failed thread disconnected', 5000, () => viewers.find((viewer) => viewer.ws.readyState !== viewer.ws.OPEN) ?? false);
    assert.ok(closed);
    // a request that lands on the dying thread's listener fails: asked again
    await waitFor('the thread replaced', 10_000, async () => metricSum(await metrics().catch(() => ''), 'nova_streaming_delivery_thread_restarts_total') === 1 && threads.size === 2);
    const reconnected = new TestViewer(wsUrl());
    viewers.push(reconnected);
    const snapshot = await reconnected.waitFor((m) => m.type === 'snapshot', 5000);
    assert.equal(snapshot.live, true);
    serving = false;
    await poller;
    // connections the kernel had queued on the dying thread's listener are reset with it; every later one is served
    assert.ok(failures.length <= 5, `requests failed while a thread died: ${failures.join('; ')}`);
    t.diagnostic(`${failures.length} requests failed while a thread died`);
    // the replacement serves the stream too: enough new connections reach both threads
    const answers = await Promise.all(Array.from({ length: VIEWERS }, () => getOnNewConnection(urls.video)));
    for (const answer of answers) assert.equal(answer.status, 200);
  });
});
