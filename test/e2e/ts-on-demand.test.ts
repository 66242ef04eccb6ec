/**
 * MPEG-TS is muxed on demand: a live stream nobody watches over TS costs no
 * TS packaging. The first TS playlist request turns it on and is held until
 * the first TS segment exists (at most a segment boundary and a segment
 * away); TS starts at a segment boundary, with a keyframe, and FFmpeg reads
 * it; later requests answer at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { fetchMediaPlaylist, parseMediaPlaylist, streamMediaUrls, waitForSegments } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, runToolOutput, toolGate } from '../support/tools.js';

const TARGET_MS = 2000;
/**
 * What the server promises a first TS request (its wait's timeout, src/deliver/http/media-routes.ts afterTs): the rest
 * of the open segment, the first TS segment, the muxer's wait for audio to pass it.
 */
const FIRST_TS_WITHIN_MS = 3 * TARGET_MS + 1000;

describe('MPEG-TS on demand', () => {
  let nova: NovaFixture;
  before(async () => {
    nova = await startNova({ env: { TRANSCODE: 'off', SEGMENT_TARGET_MS: String(TARGET_MS) } });
  });
  after(async () => {
    await nova?.stop();
  });

  it('no TS until asked; the first request waits for the first TS segment, which starts after the request at a keyframe', toolGate('ffprobe', haveTool('ffprobe')), async () => {
    const stream = await nova.createStream();
    const urls = streamMediaUrls(nova.http, stream.id);
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 2_000_000, durationMs: 16_000 });
    try {
      const cmaf = await waitForSegments(urls.video, 3, 15_000);
      const newestCmafMsn = cmaf.segments[cmaf.segments.length - 1]!.msn;

      const asked = Date.now();
      const response = await fetch(urls.ts);
      const waited = Date.now() - asked;
      assert.equal(response.status, 200, await response.clone().text());
      const ts = parseMediaPlaylist(await response.text());
      assert.ok(ts.segments.length >= 1, 'the held request answers with a TS segment listed');
      assert.ok(waited <= FIRST_TS_WITHIN_MS, `first TS playlist after ${waited} ms (≤ ${FIRST_TS_WITHIN_MS})`);
      process.stderr.write(`# first TS playlist answered after ${waited} ms\n`);
      // TS was not muxed before the request: its first segment comes after every CMAF segment complete then
      assert.ok(ts.mediaSequence > newestCmafMsn, `TS starts at msn ${ts.mediaSequence}, after msn ${newestCmafMsn} (complete before the request)`);
      assert.equal(ts.segments[0]!.msn, ts.mediaSequence);

      const again = Date.now();
      const master = await fetch(urls.hlsTsMaster);
      assert.equal(master.status, 200);
      assert.match(await master.text(), /#EXT-X-STREAM-INF:.*CODECS="avc1\.[0-9a-fA-F]{6},mp4a\.40\.2".*\n\.\.\/source\/ts\.m3u8/);
      assert.ok(Date.now() - again < 1000, 'once TS exists, requests answer at once');

      // FFmpeg reads the first TS segment: H.264 + AAC, the first video packet a keyframe
      const segmentUrl = new URL(ts.segments[0]!.uri, urls.ts).toString();
      const probe = await runToolOutput('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags', '-of', 'csv=p=0', '-read_intervals', '%+#1', segmentUrl], 15_000);
      assert.equal(probe.code, 0, probe.stderr);
      assert.match(probe.stdout.trim().split('\n')[0] ?? '', /^K/, `first video packet flags: ${probe.stdout}`);

      const later = await fetchMediaPlaylist(urls.ts);
      assert.ok(later.segments.length >= 1);
    } finally {
      await publishing.catch(() => {});
    }
  });

  it('a TS request for a stream with no media yet answers 404 at once, and TS is on when its publisher starts', async () => {
    const stream = await nova.createStream();
    const urls = streamMediaUrls(nova.http, stream.id);
    const early = await fetch(urls.hlsTsMaster);
    assert.equal(early.status, 404);
    await early.text();
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 1_000_000, durationMs: 7000 });
    try {
      // the publisher's first segments: asked before any media, TS may start with the stream or at the next boundary
      const ts = await waitForSegments(urls.ts, 1, 12_000);
      assert.ok(ts.segments.length >= 1);
    } finally {
      await publishing.catch(() => {});
    }
  });
});
