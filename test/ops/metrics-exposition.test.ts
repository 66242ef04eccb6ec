import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { publishWithFfmpeg } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { fetchMediaPlaylist, streamMediaUrls, waitForSegments } from '../support/live-media.js';
import { metricValue } from '../support/ingest-observer.js';
import { startNova } from '../support/nova-server.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';

// One live server: a broadcast that plays and ends, a refused WebSocket and an API call fill the
// labelled series and histograms, then promtool lints the exposition Prometheus would scrape.
const tools = toolGate('ffmpeg and promtool', haveTool('ffmpeg') && haveTool('promtool', ['--version']));

/** The close code of a WebSocket the server refuses once it has looked the stream up. */
function wsRefused(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${url} refused with HTTP ${res.statusCode}`)));
    socket.once('message', () => reject(new Error(`${url} got a message`)));
    socket.once('close', (code) => resolve(code));
    socket.once('error', () => {});
  });
}

test('a live /metrics passes promtool check metrics, with broadcast duration, media by rendition and WebSocket failures counted', tools, async () => {
  const nova = await startNova();
  try {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ url: stream.publish_url, durationSec: 5 });
    const urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 1, 15_000);
    const segment = (await fetchMediaPlaylist(urls.video)).segments[0]!;
    const body = await fetch(new URL(segment.uri, urls.video));
    assert.equal(body.status, 200);
    await body.arrayBuffer();
    assert.ok(Math.abs((await metricValue(nova, 'nova_streaming_rendition_media_seconds_served_total', { rendition: 'source' })) - segment.duration) < 0.01);

    const missing = stream.ws_url.replace(stream.id, '00000000-0000-4000-8000-000000000000');
    assert.equal(await wsRefused(missing), 4404);
    assert.equal(await metricValue(nova, 'nova_streaming_websocket_connection_failures_total', { reason: 'not_found' }), 1);

    assert.equal(await publisher.exited, 0, publisher.stderr());
    await waitFor('ENDED', 10_000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    await waitFor('duration observed', 5000, async () => (await metricValue(nova, 'nova_streaming_stream_duration_seconds_count')) === 1);
    const seconds = await metricValue(nova, 'nova_streaming_stream_duration_seconds_sum');
    assert.ok(seconds >= 3 && seconds < 30, `a 5 s broadcast lasted ${seconds} s`);

    const text = await (await fetch(`${nova.http}/metrics`)).text();
    assert.match(text, /^nova_streaming_stream_viewers_count /m);
    assert.match(text, /^nova_streaming_http_requests_total\{/m);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
    assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool found problems');
  } finally {
    await nova.stop();
  }
});
