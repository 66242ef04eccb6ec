/**
 * dash.js in headless Debian Chromium plays the dynamic MPD of a live
 * stream real FFmpeg publishes into the whole server (the same CMAF
 * segments HLS serves), and follows it to its end when the publisher leaves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser } from '../support/browser.js';
import { fetchText, streamMediaUrls, waitForSegments } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, toolGate } from '../support/tools.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()) };

describe('dash.js plays live streams published by FFmpeg', gate, () => {
  let nova: NovaFixture;
  let browser: PlayerBrowser;
  const publishers: FfmpegPublisher[] = [];

  before(async () => {
    nova = await startNova();
    browser = await launchPlayerBrowser();
  });

  after(async () => {
    for (const publisher of publishers) await publisher.kill();
    await browser?.close();
    await nova?.stop();
  });

  it('the dynamic MPD plays: currentTime advances 5 s with no fatal error; time to first frame and live latency printed', async (t) => {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ url: stream.publish_url, width: 640, height: 360 });
    publishers.push(publisher);
    const urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 2, 20_000);
    const mpd = await fetchText(urls.dash);
    assert.match(mpd, /type="dynamic"/);

    const player = await browser.openPlayer({ engine: 'dash.js', url: urls.dash });
    const state = await player.waitForPlayback(5, 40_000);
    assert.equal(state.fatal, null);
    assert.ok(state.levels.some((level) => level.width === 640 && level.height === 360), `levels: ${JSON.stringify(state.levels)}`);
    assert.ok(player.responses.some((r) => /\/dash\/.*\/video\/seg-\d+\.m4s$/.test(r.url) && r.status === 200), 'segments fetched from /dash');
    t.diagnostic(`dash.js time to first frame: ${state.firstFrameMs} ms; live latency by dash.js: ${state.liveLatencySec?.toFixed(2)} s`);
    await player.close();
    await publisher.stop();
  });
});
