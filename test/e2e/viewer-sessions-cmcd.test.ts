/**
 * Viewer sessions from real players: hls.js and dash.js in headless Chromium
 * with CMCD on play a stream real FFmpeg publishes, and their viewer_sessions
 * rows carry startup time, renditions, bytes and what they reported (sid, br,
 * mtp, bl). A player throttled with Chromium's network emulation rebuffers,
 * and the rebuffering shows in its session row, in the stream's per-second
 * metrics rows and in the counters NovaViewerRebufferingHigh reads. A player
 * without CMCD is still counted, by its fingerprint.
 *
 * One server, one stream and one browser for the file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import type { ViewerSessionRow } from '../../src/control/db/schema.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser, type PlayerPage } from '../support/browser.js';
import { metricValue } from '../support/ingest-observer.js';
import { streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()) };
const PLAY_TIMEOUT_MS = 60_000;
const REBUFFER = 'nova_streaming_viewer_rebuffer_seconds_total';
const WATCH = 'nova_streaming_viewer_watch_seconds_total';
/** plain HLS, a short forward buffer: a throttled player runs dry within seconds */
const HLS_CONFIG = { lowLatencyMode: false, maxBufferLength: 6 };

describe('viewer sessions with CMCD from hls.js and dash.js in Chromium', gate, () => {
  let database: TestDatabase;
  let nova: NovaFixture;
  let browser: PlayerBrowser;
  let publisher: FfmpegPublisher;
  let streamId: string;
  let urls: StreamMediaUrls;
  const players: PlayerPage[] = [];

  before(async () => {
    database = await openMemoryDatabase();
    nova = await startNova({ database: database.database });
    browser = await launchPlayerBrowser();
    const stream = await nova.createStream({ title: 'cmcd' });
    streamId = stream.id;
    // 1 Mb/s: a throttle of 25 kB/s is a fifth of what playback needs
    publisher = publishWithFfmpeg({ url: stream.publish_url, width: 640, height: 360, videoBitrate: '1M' });
    urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 2, 30_000);
  });

  after(async () => {
    for (const player of players) await player.close().catch(() => {});
    await publisher?.kill();
    await browser?.close();
    await nova?.stop();
    await database?.dispose();
  });

  async function play(engine: 'hls.js' | 'dash.js', url: string, config: Record<string, unknown>): Promise<PlayerPage> {
    const player = await browser.openPlayer({ engine, url, config });
    players.push(player);
    return player;
  }

  async function sessions(): Promise<ViewerSessionRow[]> {
    await nova.server.sessions!.flush();
    return database.database.db.selectFrom('viewer_sessions').selectAll().where('stream_id', '=', streamId).execute();
  }

  async function sessionOf(sid: string): Promise<ViewerSessionRow> {
    const row = (await sessions()).find((r) => r.cmcd_sid === sid);
    assert.ok(row, `no session row for CMCD sid ${sid}`);
    return row;
  }

  /** the session id hls.js puts in CMCD (its own sessionId unless configured) */
  function hlsSessionId(player: PlayerPage): Promise<string> {
    return player.page.evaluate(() => (globalThis as unknown as { novaPlayer: { player: { sessionId: string } } }).novaPlayer.player.sessionId);
  }

  it('hls.js (CMCD in the query) and dash.js (CMCD headers): startup, renditions, bytes and CMCD fields in their rows', async () => {
    const hls = await play('hls.js', urls.hlsMaster, { ...HLS_CONFIG, cmcd: { contentId: 'cmcd-e2e' } });
    const dash = await play('dash.js', urls.dash, { streaming: { cmcd: { enabled: true, sid: 'dash-e2e-session', cid: 'cmcd-e2e-dash', mode: 'header' } } });
    await hls.waitForPlayback(5, PLAY_TIMEOUT_MS);
    await dash.waitForPlayback(5, PLAY_TIMEOUT_MS);
    const hlsSid = await hlsSessionId(hls);
    assert.ok(hls.requests.some((url) => url.includes('CMCD=')), 'hls.js sent CMCD in the query');

    const rendition = new URL(urls.video).pathname.split('/')[3]!;
    for (const [sid, kind, format, contentId] of [
      [hlsSid, 'hls', 'h', 'cmcd-e2e'],
      ['dash-e2e-session', 'dash', 'd', 'cmcd-e2e-dash'],
    ] as const) {
      // a row whose only changes are its counters is rewritten every 10 s (rowRefreshMs)
      const row = await waitFor(`${kind}'s row with 3 s watched`, 15_000, async () => {
        const found = (await sessions()).find((r) => r.cmcd_sid === sid);
        return found !== undefined && Number(found.watch_ms) >= 3000 ? found : false;
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await sessionOf(sid))}`);
      });
      const what = `${kind}: ${JSON.stringify(row)}`;
      assert.equal(row.kind, kind, what);
      assert.equal(row.cmcd, true, what);
      assert.equal(row.content_id, contentId, what);
      assert.equal(row.stream_format, format, what);
      assert.equal(row.instance_id, nova.server.config.instanceId, what);
      assert.equal(row.ended_at, null, what);
      assert.ok(row.startup_ms !== null && row.startup_ms >= 0 && row.startup_ms < PLAY_TIMEOUT_MS, what);
      assert.deepEqual(row.renditions, [rendition], what);
      assert.equal(row.rendition_switches, 0, what);
      // 5 s of 1 Mb/s video and AAC: well over 300 kB
      assert.ok(Number(row.bytes_served) > 300_000, what);
      assert.ok(row.requests >= 5, what);
      assert.ok(Number(row.watch_ms) >= 3000, what);
      // what the player reported: encoded bitrate (the 1 Mb/s ladder rung, in kb/s), measured throughput, buffer
      assert.ok(row.avg_bitrate_kbps !== null && row.avg_bitrate_kbps > 100 && row.avg_bitrate_kbps < 10_000, what);
      assert.ok(row.avg_throughput_kbps !== null && row.avg_throughput_kbps > 0, what);
      assert.ok(row.buffer_length_ms !== null && row.buffer_length_ms >= 0, what);
    }
    for (const player of [hls, dash]) await player.close();
  });

  it('a player without CMCD is counted by its fingerprint', async () => {
    const before = new Set((await sessions()).map((r) => r.id));
    const player = await play('hls.js', urls.hlsMaster, HLS_CONFIG);
    await player.waitForPlayback(3, PLAY_TIMEOUT_MS);
    let rows: ViewerSessionRow[] = [];
    // counters alone reach the row every 10 s
    await waitFor('the fingerprinted row with its bytes', 15_000, async () => {
      rows = (await sessions()).filter((r) => !before.has(r.id) && !r.cmcd);
      return rows.length === 1 && Number(rows[0]!.bytes_served) > 100_000;
    }).catch(() => {});
    assert.equal(rows.length, 1, JSON.stringify(rows));
    const row = rows[0]!;
    assert.equal(row.kind, 'hls');
    assert.equal(row.cmcd_sid, null);
    // a hash of address and user agent: 16 base64url characters, the same as the viewer counter's
    assert.match(row.client_id ?? '', /^[A-Za-z0-9_-]{16}$/);
    assert.ok(Number(row.bytes_served) > 100_000 && row.startup_ms !== null, JSON.stringify(row));
    assert.ok(!player.requests.some((url) => url.includes('CMCD=')));
    await player.close();
  });

  it('a throttled player rebuffers: its session, the stream metrics rows and the QoE counters the alert reads show it', async (t) => {
    const rebufferBefore = await metricValue(nova, REBUFFER);
    const watchBefore = await metricValue(nova, WATCH);
    const player = await play('hls.js', urls.hlsMaster, { ...HLS_CONFIG, cmcd: {} });
    await player.waitForPlayback(3, PLAY_TIMEOUT_MS);
    const sid = await hlsSessionId(player);

    // Chromium's network emulation on this page only: 25 kB/s is far below what the stream needs
    const cdp = await browser.context.newCDPSession(player.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 50, downloadThroughput: 25_000, uploadThroughput: -1 });
    const stalled = await player.waitUntil('stalled 3 s', (s) => s.stalls.length > 0 && s.stalledMs >= 3000, PLAY_TIMEOUT_MS);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    // the first request after the stall carries bs; a few seconds of playback make sure it went out
    await player.waitForPlayback(3, PLAY_TIMEOUT_MS);
    const row = await waitFor('a rebuffer in the session row', 20_000, async () => {
      const r = await sessionOf(sid);
      return r.rebuffer_count > 0 ? r : false;
    });
    const what = JSON.stringify(row);
    t.diagnostic(`player stalled ${stalled.stalledMs} ms by its own count; the session says ${row.rebuffer_count} stall(s), ${row.rebuffer_ms} ms, ratio ${row.rebuffer_ratio}`);
    assert.ok(Number(row.rebuffer_ms) >= 1000, what);
    assert.ok(row.rebuffer_ratio !== null && row.rebuffer_ratio > 0 && row.rebuffer_ratio <= 1, what);

    // the stream's per-second rows: the rebuffering ratio of its CMCD viewers
    const metricsRow = await waitFor('a stream_metrics row with rebuffering', 20_000, async () => {
      await nova.server.streamMetrics.flush();
      const rows = await database.database.db
        .selectFrom('stream_metrics')
        .select(['at', 'rebuffer_ratio'])
        .where('stream_id', '=', streamId)
        .where('rebuffer_ratio', '>', 0)
        .execute();
      return rows.length > 0 ? rows.at(-1)! : false;
    });
    assert.ok(metricsRow.rebuffer_ratio! <= 1);

    // what NovaViewerRebufferingHigh divides: rebuffer seconds over watch seconds, both moved by real
    // players (a stall is reported no faster than watch time accrues: it may take a few flushes)
    const rebuffered = await waitFor("the session's stall in the rebuffer counter", 30_000, async () => {
      const seconds = (await metricValue(nova, REBUFFER)) - rebufferBefore;
      return seconds >= Number(row.rebuffer_ms) / 1000 - 0.01 ? seconds : false;
    });
    const watched = (await metricValue(nova, WATCH)) - watchBefore;
    assert.ok(watched > rebuffered, `watch ${watched} s, rebuffer ${rebuffered} s`);
    t.diagnostic(`QoE counters over the test: ${rebuffered.toFixed(1)} s rebuffering / ${watched.toFixed(1)} s watched = ${((100 * rebuffered) / watched).toFixed(1)} %`);
    await player.close();
  });
});
