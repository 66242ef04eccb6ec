/**
 * Origin–edge delivery across server processes sharing PostgreSQL and Redis:
 * any instance plays any live stream. Real FFmpeg publishes to A; hls.js
 * (LL-HLS) plays from B and dash.js from C in Chromium; many viewers asking
 * an edge for the same new part cost one upstream transfer; every instance
 * serves the same bytes and ETags; an origin that hangs turns into 503 +
 * Retry-After at its edges while other streams play on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser, type PlayerPage } from '../support/browser.js';
import { fetchMediaPlaylist, fetchText, parseMediaPlaylist, streamMediaUrls, waitForSegments, type MediaPlaylist } from '../support/live-media.js';
import { createCluster, type Cluster, type ClusterInstance } from '../support/nova-cluster.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';
import { TestViewer } from '../ws/support/ws-viewer.js';
import { redisReachable, SHARED_REDIS_URL } from '../ws/support/redis-helpers.js';
import { startHaproxy, haveHaproxy } from '../support/haproxy.js';
import pg from 'pg';
import { metricSum } from '../support/metrics-text.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()), ...toolGate('haproxy', haveHaproxy()) };
const EDGE_ENV = { INTERNAL_SECRET: 'edge-test-secret-0123456789', INTERNAL_PORT: '0', EDGE_ORIGIN_LOST_GRACE_MS: '1000' };

async function metricsOf(instance: ClusterInstance): Promise<string> {
  return fetchText(`${instance.http}/metrics`);
}

/** An encoder that reconnects on its own when its connection drops, as OBS does: FFmpeg started again at once. */
function reconnectingFfmpeg(url: string): { stop(): Promise<void>; starts(): number } {
  let current: FfmpegPublisher | null = null;
  let stopped = false;
  let starts = 0;
  const run = (): void => {
    if (stopped) return;
    starts++;
    const publisher = publishWithFfmpeg({ url, width: 640, height: 360, fps: 30 });
    current = publisher;
    void publisher.exited.then(() => {
      if (!stopped) setTimeout(run, 100);
    });
  };
  run();
  return {
    starts: () => starts,
    async stop() {
      stopped = true;
      await current?.kill();
    },
  };
}

/** When the edge's playlist first lists a part after a discontinuity past lastBefore: the moved stream back there. */
async function firstPartAfterMove(url: string, lastBefore: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url).catch(() => null);
    if (response?.status === 200) {
      const playlist = parseMediaPlaylist(await response.text());
      if (playlist.parts.some((part) => part.discontinuity && part.msn > lastBefore)) return Date.now();
    } else await response?.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`${url} listed no part after a discontinuity within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Which instance the database says ingests the stream, and its status. */
async function recordOf(databaseUrl: string, streamId: string): Promise<{ status: string; instance_id: string | null }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ status: string; instance_id: string | null }>('SELECT status, instance_id FROM streams WHERE id = $1', [streamId]);
    return result.rows[0]!;
  } finally {
    await client.end();
  }
}

/** msns listed in order, with the discontinuities: the numbering must go on rising across a move. */
function assertRisingAcrossMove(playlist: MediaPlaylist, lastBefore: number): void {
  const msns = playlist.segments.map((s) => s.msn);
  for (let i = 1; i < msns.length; i++) assert.equal(msns[i], msns[i - 1]! + 1, `consecutive msns: ${msns.join(',')}`);
  const moved = playlist.segments.find((s) => s.discontinuity && s.msn > lastBefore);
  assert.ok(moved, `a discontinuity after msn ${lastBefore}: ${msns.join(',')}`);
}

function partsOf(playlist: MediaPlaylist): Set<string> {
  return new Set(playlist.parts.map((p) => p.uri));
}

describe('origin–edge: any instance plays any live stream', gate, () => {
  let cluster: Cluster;
  let browser: PlayerBrowser;
  const players: PlayerPage[] = [];
  const publishers: FfmpegPublisher[] = [];
  const viewers: TestViewer[] = [];
  const publishing = new AbortController();

  before(async () => {
    if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
    cluster = await createCluster(EDGE_ENV);
    browser = await launchPlayerBrowser();
  });

  after(async () => {
    publishing.abort();
    for (const viewer of viewers) viewer.close();
    for (const publisher of publishers) await publisher.kill();
    for (const player of players) await player.close().catch(() => {});
    await browser?.close();
    await cluster?.dispose();
  });

  async function createStream(on: ClusterInstance): Promise<{ id: string; key: string }> {
    const { status, body } = await cluster.api(on, 'POST', '/api/v1/streams', { title: 'edge' });
    assert.equal(status, 201);
    const created = body as { id: string; stream_key: string };
    return { id: created.id, key: created.stream_key };
  }

  it('FFmpeg on A; hls.js (LL-HLS) on B and dash.js on C play; one transfer per object; same bytes and ETags everywhere; B within a part of A', async () => {
    const a = await cluster.start('a');
    const [b, c] = await Promise.all([cluster.start('b'), cluster.start('c')]);
    const stream = await createStream(a);
    const publisher = publishWithFfmpeg({ url: `${a.rtmp}/${stream.key}`, width: 640, height: 360, fps: 30 });
    publishers.push(publisher);
    const atA = streamMediaUrls(a.http, stream.id);
    const atB = streamMediaUrls(b.http, stream.id);
    const atC = streamMediaUrls(c.http, stream.id);
    await waitForSegments(atA.video, 2, 20_000);

    const hls = await browser.openPlayer({ engine: 'hls.js', url: atB.hlsMaster, config: { lowLatencyMode: true } });
    players.push(hls);
    const dash = await browser.openPlayer({ engine: 'dash.js', url: atC.dash });
    players.push(dash);
    const [hlsState, dashState] = await Promise.all([hls.waitForPlayback(4, 40_000), dash.waitForPlayback(4, 40_000)]);
    assert.equal(hlsState.fatal, null);
    assert.equal(dashState.fatal, null);
    // hls.js really ran LL-HLS against B: blocking reloads and parts
    assert.ok(hls.requests.some((u) => u.startsWith(b.http) && u.includes('_HLS_msn=')), 'hls.js made blocking playlist reloads on B');
    assert.ok(hls.requests.some((u) => u.startsWith(b.http) && /part-\d+-\d+\.m4s/.test(u)), 'hls.js loaded parts from B');

    // 200 viewers at B ask for the part that does not exist yet (the preload hint) at once
    const playlist = await fetchText(atB.video);
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(playlist)?.[1];
    assert.ok(hint, playlist);
    const partUrl = new URL(hint, atB.video).toString();
    const metricsBefore = await metricsOf(b);
    const [videoBefore, audioBefore] = await Promise.all([fetchMediaPlaylist(atB.video), fetchMediaPlaylist(atB.audio)]);
    const bodies = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const response = await fetch(partUrl);
        const bytes = Buffer.from(await response.arrayBuffer());
        return { status: response.status, bytes, etag: response.headers.get('etag'), error: response.status === 200 ? '' : bytes.toString().slice(0, 200) };
      }),
    );
    const [videoAfter, audioAfter] = await Promise.all([fetchMediaPlaylist(atB.video), fetchMediaPlaylist(atB.audio)]);
    const metricsAfter = await metricsOf(b);
    assert.deepEqual(new Set(bodies.map((r) => r.status)), new Set([200]), `${hint}: ${[...new Set(bodies.map((r) => `${r.status} ${r.error}`))].join('; ')}`);
    assert.equal(new Set(bodies.map((r) => r.bytes.toString('base64'))).size, 1, 'every viewer got the same bytes');
    assert.equal(new Set(bodies.map((r) => r.etag)).size, 1);
    // the edge received each new part once: as many part transfers as parts that appeared (a couple of
    // parts may land between reading the metrics and the playlists), none it already had
    let appeared = 0;
    for (const [before, after] of [
      [videoBefore, videoAfter],
      [audioBefore, audioAfter],
    ] as const) {
      const had = partsOf(before);
      for (const uri of partsOf(after)) if (!had.has(uri)) appeared++;
    }
    const transfers = metricSum(metricsAfter, 'nova_streaming_edge_upstream_objects_total', 'kind="part"') - metricSum(metricsBefore, 'nova_streaming_edge_upstream_objects_total', 'kind="part"');
    assert.ok(appeared >= 1, 'the hinted part appeared');
    assert.ok(transfers >= appeared && transfers <= appeared + 4, `${transfers} part transfers for ${appeared} new parts while 200 requests waited`);
    assert.equal(metricSum(metricsAfter, 'nova_streaming_edge_upstream_duplicates_total'), 0);
    assert.equal(
      metricSum(metricsAfter, 'nova_streaming_edge_origin_lookups_total'),
      metricSum(metricsBefore, 'nova_streaming_edge_origin_lookups_total'),
      'the burst opened no new feed',
    );

    // the same segment: the same bytes and ETag from A, B and C
    const listed = (await fetchMediaPlaylist(atA.video)).segments.at(-1)!;
    const fromEach = await Promise.all(
      [atA, atB, atC].map(async (urls) => {
        const response = await fetch(new URL(listed.uri, urls.video));
        return { status: response.status, etag: response.headers.get('etag'), cache: response.headers.get('cache-control'), bytes: Buffer.from(await response.arrayBuffer()) };
      }),
    );
    for (const got of fromEach) {
      assert.equal(got.status, 200);
      assert.equal(got.etag, fromEach[0]!.etag);
      assert.equal(got.cache, fromEach[0]!.cache);
      assert.ok(got.bytes.equals(fromEach[0]!.bytes), 'same bytes from every instance');
    }
    assert.ok(fromEach[0]!.bytes.byteLength > 1000);

    // B's live edge trails A's by at most one part (sampled together, several times)
    for (let i = 0; i < 5; i++) {
      const [fromA, fromB] = await Promise.all([fetchMediaPlaylist(atA.video), fetchMediaPlaylist(atB.video)]);
      const aParts = fromA.parts.map((p) => p.uri);
      const bParts = fromB.parts.map((p) => p.uri);
      const caughtUp = bParts.includes(aParts.at(-1)!); // B lists A's newest part (or A was read a moment earlier)
      const behind = aParts.length - 1 - aParts.lastIndexOf(bParts.at(-1)!);
      assert.ok(caughtUp || behind <= 1, `A's newest part ${aParts.at(-1)}, B's ${bParts.at(-1)}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const bMetrics = await metricsOf(b);
    assert.ok(metricSum(bMetrics, 'nova_streaming_edge_requests_total', 'result="hit"') > 200);
    assert.ok(metricSum(await metricsOf(a), 'nova_streaming_edge_feed_subscribers') >= 2, 'B and C follow A');
    await publisher.kill();
    for (const instance of [a, b, c]) await cluster.signal(instance, 'SIGKILL');
  });

  it('an origin that stops answering: its streams answer 503 + Retry-After at the edge and WebSocket viewers are told; other streams play on', async () => {
    const a = await cluster.start('a2');
    const [b, c] = await Promise.all([cluster.start('b2'), cluster.start('c2')]);
    const onA = await createStream(a);
    const onB = await createStream(b);
    for (const [instance, stream] of [
      [a, onA],
      [b, onB],
    ] as const) {
      void publishSynthetic({ url: `${instance.rtmp}/${stream.key}`, bitrateBps: 1_000_000, durationMs: 120_000, signal: publishing.signal }).catch(() => {});
    }
    const hungAtC = streamMediaUrls(c.http, onA.id);
    const aliveAtC = streamMediaUrls(c.http, onB.id);
    await waitForSegments(hungAtC.video, 1, 20_000);
    await waitForSegments(aliveAtC.video, 1, 20_000);
    const viewer = new TestViewer(c.ws(onA.id));
    viewers.push(viewer);
    await viewer.opened;
    // C follows A's feed now (a replica that lost it during set-up says so in the snapshot, and is waited for)
    const snapshot = await viewer.waitFor((m) => m.type === 'snapshot');
    if (snapshot.interrupted === true) await viewer.waitFor((m) => m.type === 'stream_resumed', 8000);

    await cluster.signal(a, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      const interrupted = await viewer.waitFor((m) => m.type === 'stream_interrupted', 5000).catch((err: Error) => {
        // what C's edge said about the stream, for whoever reads a failure
        const edgeLines = c.logs.filter((line) => line.stream === onA.id || String(line.msg ?? '').includes('origin'));
        throw new Error(`${err.message}; C's log about it: ${JSON.stringify(edgeLines.slice(-20))}`);
      });
      assert.equal(interrupted.reason, 'origin_unreachable');
      assert.ok(Date.now() - stoppedAt < 2000, `stream_interrupted ${Date.now() - stoppedAt} ms after the origin stopped`);
      const answer = await waitFor('503 for the hung origin’s stream at the edge', 10_000, async () => {
        const started = Date.now();
        const response = await fetch(hungAtC.video, { signal: AbortSignal.timeout(8000) });
        await response.arrayBuffer();
        // never a hang: every request answers well within the player's own timeouts
        assert.ok(Date.now() - started < 7000);
        return response.status === 503 ? response : false;
      });
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.ok(Date.now() - stoppedAt < 5000, `503 ${Date.now() - stoppedAt} ms after the origin stopped`);
      // the stream ingested on B plays on at C
      const before = (await fetchMediaPlaylist(aliveAtC.video)).segments.at(-1)!.msn;
      await waitFor('the other stream moving on at C', 8000, async () => (await fetchMediaPlaylist(aliveAtC.video)).segments.at(-1)!.msn > before);
    } finally {
      await cluster.signal(a, 'SIGCONT');
    }
    const resumed = await viewer.waitFor((m) => m.type === 'stream_resumed', 8000);
    assert.equal(resumed.stream_id, onA.id);
    for (const instance of [a, b, c]) await cluster.signal(instance, 'SIGKILL');
  });

  it('SIGKILL of the origin: the encoder reconnects through HAProxy and lands on B; hls.js on C plays across the discontinuity; msns continue', async (t) => {
    const a = await cluster.start('a3');
    const [b, c] = await Promise.all([cluster.start('b3'), cluster.start('c3')]);
    const balancer = await startHaproxy({ servers: [{ name: 'a', port: a.rtmpPort }, { name: 'b', port: b.rtmpPort }] });
    const stream = await createStream(a);
    const encoder = reconnectingFfmpeg(balancer.rtmpUrl(`live/${stream.key}`));
    try {
      const atA = streamMediaUrls(a.http, stream.id);
      const atC = streamMediaUrls(c.http, stream.id);
      await waitForSegments(atA.video, 2, 20_000);
      const player = await browser.openPlayer({ engine: 'hls.js', url: atC.hlsMaster });
      players.push(player);
      await player.waitForPlayback(4, 40_000);
      const lastBefore = (await fetchMediaPlaylist(atC.video)).segments.at(-1)!.msn;
      const atKill = await player.state();
      await cluster.signal(a, 'SIGKILL');
      const killedAt = Date.now();
      const backAtC = firstPartAfterMove(atC.video, lastBefore);
      backAtC.catch(() => {}); // awaited below; a failure before then is the one to report
      await waitFor('the stream ACTIVE on B', 20_000, async () => {
        const record = await recordOf(cluster.databaseUrl, stream.id);
        return record.status === 'ACTIVE' && record.instance_id === b.instanceId;
      });
      const after = await waitFor('C listing B’s segments after the discontinuity', 20_000, async () => {
        const playlist = await fetchMediaPlaylist(atC.video);
        const moved = playlist.segments.find((s) => s.discontinuity && s.msn > lastBefore);
        return moved && playlist.segments.at(-1)!.msn > moved.msn ? playlist : false;
      });
      assertRisingAcrossMove(after, lastBefore);
      const played = await player.waitUntil('playing 6 s past the kill', (state) => state.currentTime > atKill.currentTime + 6, 40_000);
      assert.equal(played.fatal, null);
      const stalled = played.stalledMs - atKill.stalledMs;
      // The player can only stand still for as long as C had nothing newer than its buffer (FFmpeg's restart,
      // slow on a busy machine, is most of that); beyond it, it must be playing again within 3 s.
      const outageMs = (await backAtC) - killedAt;
      const bufferedAheadMs = Math.max(0, ((atKill.buffered.at(-1)?.[1] ?? atKill.currentTime) - atKill.currentTime) * 1000);
      const unavoidableMs = Math.max(0, outageMs - bufferedAheadMs);
      const metricsOfC = await metricsOf(c);
      const heldTooLong = metricSum(metricsOfC, 'nova_streaming_held_requests_timed_out_total');
      const figures =
        `hls.js stood still ${stalled} ms in all across the move; C listed B's first part ${outageMs} ms after the kill, the player had ${Math.round(bufferedAheadMs)} ms buffered; ` +
        `C answered ${heldTooLong} held requests late; player stalls ${JSON.stringify(played.stalls.slice(atKill.stalls.length))}, errors ${JSON.stringify(played.errors.slice(atKill.errors.length))}`;
      assert.ok(stalled <= unavoidableMs + 3000, figures);
      t.diagnostic(figures);
      assert.ok(encoder.starts() >= 2, 'the encoder reconnected');
      assert.equal(metricSum(metricsOfC, 'nova_streaming_stream_moves_total', 'kind="followed"'), 1);
    } finally {
      await encoder.stop();
      await balancer.stop();
    }
    for (const instance of [b, c]) await cluster.signal(instance, 'SIGKILL');
  });

  it('SIGTERM of the origin (drain): our publisher honours the Reconnect Request, FFmpeg reconnects after the grace; hls.js on C plays on', async (t) => {
    const a = await cluster.start('a4', { DRAIN_GRACE_MS: '3000' });
    const [b, c] = await Promise.all([cluster.start('b4'), cluster.start('c4')]);
    const balancer = await startHaproxy({ servers: [{ name: 'a', port: a.rtmpPort }, { name: 'b', port: b.rtmpPort }] });
    const ours = await createStream(a);
    const theirs = await createStream(a);
    const handOffs: string[] = [];
    void publishSynthetic({
      url: balancer.rtmpUrl(`live/${ours.key}`),
      bitrateBps: 1_500_000,
      durationMs: 120_000,
      signal: publishing.signal,
      onEvent: (event) => handOffs.push(event.type),
    }).catch(() => {});
    const encoder = reconnectingFfmpeg(balancer.rtmpUrl(`live/${theirs.key}`));
    try {
      const oursAtC = streamMediaUrls(c.http, ours.id);
      const theirsAtC = streamMediaUrls(c.http, theirs.id);
      await waitForSegments(streamMediaUrls(a.http, ours.id).video, 2, 20_000);
      await waitForSegments(theirsAtC.video, 2, 20_000);
      const player = await browser.openPlayer({ engine: 'hls.js', url: oursAtC.hlsMaster });
      players.push(player);
      await player.waitForPlayback(4, 40_000);
      const oursBefore = (await fetchMediaPlaylist(oursAtC.video)).segments.at(-1)!.msn;
      const theirsBefore = (await fetchMediaPlaylist(theirsAtC.video)).segments.at(-1)!.msn;
      const atTerm = await player.state();
      // C's playlists sampled from the drain on: the discontinuity is listed for a window (12 s), and A's
      // exit (its drain's grace for FFmpeg) may take longer than that under load
      const samples = new Map<string, MediaPlaylist>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          for (const [urls, before] of [
            [oursAtC, oursBefore],
            [theirsAtC, theirsBefore],
          ] as const) {
            const text = await fetchText(urls.video).catch(() => null);
            const playlist = text === null ? null : parseMediaPlaylist(text);
            const moved = playlist?.segments.find((s) => s.discontinuity && s.msn > before);
            if (playlist && moved && playlist.segments.at(-1)!.msn > moved.msn && !samples.has(urls.video)) samples.set(urls.video, playlist);
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })();
      const stopped = cluster.signal(a, 'SIGTERM');
      // ours moves at its next keyframe; FFmpeg is closed at the end of the grace and comes back on B
      for (const stream of [ours, theirs]) {
        await waitFor(`${stream === ours ? 'our publisher' : 'FFmpeg'} live on B`, 20_000, async () => {
          const record = await recordOf(cluster.databaseUrl, stream.id);
          return record.status === 'ACTIVE' && record.instance_id === b.instanceId;
        });
      }
      await stopped;
      for (const [urls, before] of [
        [oursAtC, oursBefore],
        [theirsAtC, theirsBefore],
      ] as const) {
        let lastSeen = '';
        const after = await waitFor('C listing the stream’s segments from B', 20_000, async () => {
          lastSeen = await fetchText(urls.video);
          const playlist = samples.get(urls.video) ?? parseMediaPlaylist(lastSeen);
          const moved = playlist.segments.find((s) => s.discontinuity && s.msn > before);
          return moved && playlist.segments.at(-1)!.msn > moved.msn ? playlist : false;
        }).catch(async (err: Error) => {
          // what C listed and what its edge did: the only clues a CI run leaves
          const edgeLogs = c.logs.filter((line) => line.component === 'edge').map((line) => JSON.stringify(line));
          const atB = await fetchText(urls.video.replace(c.http, b.http)).catch((e: Error) => e.message);
          const bLogs = b.logs.filter((line) => String(line.msg ?? '').match(/moved|resum|continu|publish/i)).map((line) => JSON.stringify(line));
          const cMetrics = (await metricsOf(c)).split('\n').filter((line) => line.startsWith('nova_streaming_edge_upstream') || line.startsWith('nova_streaming_edge_stream_moves'));
          edgeLogs.push('--- B:', atB, ...bLogs, '--- C metrics:', ...cMetrics);
          throw new Error(`${err.message} (last msn before the drain ${before})\n${lastSeen}\n${edgeLogs.join('\n')}`);
        });
        assertRisingAcrossMove(after, before);
      }
      sampling = false;
      await sampler;
      assert.ok(handOffs.length > 0, 'our publisher saw the Reconnect Request');
      const played = await player.waitUntil('playing 6 s past the drain', (state) => state.currentTime > atTerm.currentTime + 6, 40_000);
      assert.equal(played.fatal, null);
      const stalled = played.stalledMs - atTerm.stalledMs;
      assert.ok(stalled <= 3000, `hls.js stood still ${stalled} ms in all across the hand-off`);
      t.diagnostic(`hls.js on C stood still ${stalled} ms across the drain's hand-off`);
    } finally {
      await encoder.stop();
      await balancer.stop();
    }
    for (const instance of [b, c]) await cluster.signal(instance, 'SIGKILL');
  });
});
