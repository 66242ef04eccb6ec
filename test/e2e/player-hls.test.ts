/**
 * hls.js in headless Debian Chromium plays what real FFmpeg (libx264 with
 * B-frames + AAC) publishes into the whole server: fMP4 HLS, LL-HLS with
 * parts and blocking reloads, the MPEG-TS variant, a reconnect's
 * discontinuity, the end of a stream, audio-only and video-only streams.
 * hls.js runs through MediaSource: Chromium's native HLS is never used.
 *
 * One server and one browser for the file (PGlite and Chromium each cost
 * seconds); each test publishes its own stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublishOptions, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser, type PlayerPage, type PlayerState } from '../support/browser.js';
import { fetchMediaPlaylist, streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()) };
/** small enough that FFmpeg, the server and Chromium share two busy cores in real time */
const PICTURE: Partial<FfmpegPublishOptions> = { width: 640, height: 360, fps: 30 };
/** plain HLS: whole segments and ordinary reloads (hls.js turns low-latency mode on by default) */
const PLAIN_HLS = { lowLatencyMode: false };
const PLAY_SECONDS = 5;
const PLAY_TIMEOUT_MS = 40_000;

describe('hls.js plays live streams published by FFmpeg', gate, () => {
  let nova: NovaFixture;
  let browser: PlayerBrowser;
  const publishers: FfmpegPublisher[] = [];
  const players: PlayerPage[] = [];

  before(async () => {
    nova = await startNova();
    browser = await launchPlayerBrowser();
  });

  after(async () => {
    for (const publisher of publishers) await publisher.kill();
    for (const player of players) await player.close().catch(() => {});
    await browser?.close();
    await nova?.stop();
  });

  async function publishLive(options: Partial<FfmpegPublishOptions> = {}): Promise<{ streamId: string; urls: StreamMediaUrls; publisher: FfmpegPublisher; publishUrl: string }> {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ ...PICTURE, ...options, url: stream.publish_url });
    publishers.push(publisher);
    const urls = streamMediaUrls(nova.http, stream.id);
    // one complete segment listed: a player starting now has something to play
    await waitForSegments(options.video === false ? urls.audio : urls.video, 1, 20_000);
    return { streamId: stream.id, urls, publisher, publishUrl: stream.publish_url };
  }

  async function play(url: string, config: Record<string, unknown>): Promise<PlayerPage> {
    const player = await browser.openPlayer({ engine: 'hls.js', url, config });
    players.push(player);
    return player;
  }

  it('this Chromium decodes H.264 and AAC through MediaSource (Debian builds carry the proprietary codecs)', async () => {
    const support = await browser.mediaSupport(['video/mp4; codecs="avc1.64001f"', 'audio/mp4; codecs="mp4a.40.2"', 'video/mp2t; codecs="avc1.64001f,mp4a.40.2"']);
    assert.equal(support['video/mp4; codecs="avc1.64001f"'], true);
    assert.equal(support['audio/mp4; codecs="mp4a.40.2"'], true);
  });

  it('fMP4 HLS: currentTime advances 5 s with no fatal error; time to first frame printed', async (t) => {
    const live = await publishLive();
    const player = await play(live.urls.hlsMaster, PLAIN_HLS);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    assert.ok(state.levels.some((level) => level.width === 640 && level.height === 360), `levels: ${JSON.stringify(state.levels)}`);
    const partRequests = player.requests.filter((url) => /\/part-\d+-\d+\.m4s/.test(url));
    assert.deepEqual(partRequests, [], 'plain mode: whole segments only, no parts');
    assert.ok(player.requests.some((url) => /\/video\/seg-\d+\.m4s$/.test(url)), 'whole segments fetched');
    t.diagnostic(`hls.js time to first frame: ${state.firstFrameMs} ms; live latency by hls.js: ${state.liveLatencySec?.toFixed(2)} s`);
    await player.close();
    await live.publisher.stop();
  });

  it('LL-HLS: hls.js low-latency mode plays from parts fetched through blocking playlist reloads', async (t) => {
    const live = await publishLive();
    const player = await play(live.urls.hlsMaster, { lowLatencyMode: true });
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    const answered = (pattern: RegExp): number => player.responses.filter((r) => pattern.test(r.url) && r.status === 200).length;
    const blockingReloads = answered(/\/(video|audio)\.m3u8\?.*_HLS_msn=\d+&_HLS_part=\d+/);
    const parts = answered(/\/(video|audio)\/part-\d+-\d+\.m4s$/);
    // 5 s of 200 ms parts is 25 per track: well over 10 means parts really carried the playback
    assert.ok(blockingReloads >= 10, `blocking reloads answered: ${blockingReloads}`);
    assert.ok(parts >= 10, `parts fetched: ${parts}`);
    t.diagnostic(
      `LL-HLS: ${blockingReloads} blocking reloads, ${parts} parts; time to first frame ${state.firstFrameMs} ms; live latency by hls.js ${state.liveLatencySec?.toFixed(2)} s`,
    );
    await player.close();
    await live.publisher.stop();
  });

  it('the MPEG-TS variant plays in hls.js', async () => {
    const live = await publishLive();
    await waitForSegments(live.urls.ts, 1, 10_000);
    const player = await play(live.urls.hlsTsMaster, PLAIN_HLS);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    assert.ok(player.requests.some((url) => /\/ts\/seg-\d+\.ts$/.test(url)), 'TS segments fetched');
    await player.close();
    await live.publisher.stop();
  });

  it('a publisher that drops and reconnects on the same key: EXT-X-DISCONTINUITY, no ENDLIST between, and hls.js keeps playing across it', async (t) => {
    const live = await publishLive();
    // join once the window holds 4 segments: hls.js then starts HOLD-BACK (3 targets) behind the live edge,
    // a buffer that covers the encoder's reconnect (FFmpeg's start plus its first 2 s GOP)
    await waitForSegments(live.urls.video, 4, 20_000);
    const player = await play(live.urls.hlsMaster, PLAIN_HLS);
    await player.waitForPlayback(2, PLAY_TIMEOUT_MS);

    // the encoder vanishes without a goodbye (a crash, a cut cable) and comes back on the same key
    await live.publisher.kill();
    const again = publishWithFfmpeg({ ...PICTURE, url: live.publishUrl });
    publishers.push(again);
    const withBreak = await waitFor('a discontinuity listed', 20_000, async () => {
      const playlist = await fetchMediaPlaylist(live.urls.video);
      return playlist.segments.some((s) => s.discontinuity) ? playlist : false;
    });
    assert.equal(withBreak.ended, false, 'no ENDLIST between the two publishers');

    const breakAt = (state: PlayerState): number | undefined => state.discontinuityStarts[1];
    const before = await player.waitUntil(
      'half a second before the discontinuity',
      (state) => breakAt(state) !== undefined && state.currentTime >= breakAt(state)! - 0.5,
      PLAY_TIMEOUT_MS,
    );
    const reachedAt = Date.now();
    const crossed = await player.waitUntil('3 s past the discontinuity', (state) => state.currentTime >= breakAt(before)! + 3, PLAY_TIMEOUT_MS);
    // 3.5 s of media in at most 4.5 s of wall clock: whatever hls.js did at the break (it may jump a
    // small hole between the two publishers' media) it kept playing instead of freezing
    const wallSeconds = (Date.now() - reachedAt) / 1000;
    assert.ok(wallSeconds <= 4.5, `3.5 s of media across the discontinuity took ${wallSeconds} s: ${JSON.stringify(crossed)}`);
    assert.equal(crossed.fatal, null);
    t.diagnostic(
      `discontinuity at media time ${breakAt(crossed)?.toFixed(2)} s crossed: 3.5 s of media in ${wallSeconds.toFixed(2)} s; ` +
        `buffered ${JSON.stringify(crossed.buffered)}; hls.js non-fatal errors: ${crossed.errors.map((e) => e.detail.split(':')[0]).join(', ') || 'none'}`,
    );
    await player.close();
    await again.stop();
  });

  it('a publisher that leaves: EXT-X-ENDLIST, and hls.js plays to the end', async () => {
    const live = await publishLive({ durationSec: 6 });
    const player = await play(live.urls.hlsMaster, PLAIN_HLS);
    assert.equal(await live.publisher.exited, 0, live.publisher.stderr());
    const ended = await waitFor('ENDLIST', 10_000, async () => {
      const playlist = await fetchMediaPlaylist(live.urls.video);
      return playlist.ended ? playlist : false;
    });
    assert.ok(ended.segments.length >= 3);
    const state = await player.waitUntil('ended', (s) => s.ended, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    await player.close();
  });

  it('an audio-only stream plays', async () => {
    const live = await publishLive({ video: false });
    assert.equal((await fetch(live.urls.video)).status, 404, 'no video playlist for an audio-only stream');
    const player = await play(live.urls.hlsMaster, PLAIN_HLS);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    await player.close();
    await live.publisher.stop();
  });

  it('a video-only stream plays', async () => {
    const live = await publishLive({ audio: false });
    assert.equal((await fetch(live.urls.audio)).status, 404, 'no audio playlist for a video-only stream');
    const player = await play(live.urls.hlsMaster, PLAIN_HLS);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    await player.close();
    await live.publisher.stop();
  });
});
