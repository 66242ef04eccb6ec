/**
 * Thumbnails end to end: FFmpeg publishes over RTMP, the server's ladder
 * FFmpeg (one decode) also writes a JPEG every THUMBNAIL_INTERVAL_SEC, and
 * /hls/:id/thumbnail.jpg serves the newest one; discovery lists its URL.
 * Cheap for a 2-core machine: 640x360 at 15 fps, one 240p ultrafast rung.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { haveTool, runToolOutput, tempDir, toolGate, waitFor } from '../support/tools.js';

const INTERVAL_SEC = 2;
const ENV = {
  TRANSCODE: 'on',
  TRANSCODE_LADDER: '240p:300k',
  TRANSCODE_PRESET: 'ultrafast',
  THUMBNAIL_INTERVAL_SEC: String(INTERVAL_SEC),
  THUMBNAIL_WIDTH: '320',
};
const PICTURE = { width: 640, height: 360, fps: 15, gop: 15, videoBitrate: '600k' };

const ffmpegGate = toolGate('ffmpeg', haveTool('ffmpeg') && haveTool('ffprobe'));

interface Thumbnail {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

async function getThumbnail(url: string, headers: Record<string, string> = {}): Promise<Thumbnail> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('thumbnails from the ladder FFmpeg', ffmpegGate, () => {
  let nova: NovaFixture;
  let open: CreatedStream;
  let hidden: CreatedStream;
  let token: string;
  let openUrl: string;
  let hiddenUrl: string;
  const publishers: FfmpegPublisher[] = [];
  const dir = tempDir('nova-thumbs-');

  before(async () => {
    nova = await startNova({ env: ENV });
    open = await nova.createStream({ title: 'with a picture' });
    hidden = await nova.createStream({ title: 'private', private: true });
    const minted = await nova.api('POST', `/api/v1/streams/${hidden.id}/playback-tokens`, { expires_in: 600 });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    token = (minted.body as { token: string }).token;
    openUrl = `${nova.http}/hls/${open.id}/thumbnail.jpg`;
    hiddenUrl = `${nova.http}/hls/${hidden.id}/thumbnail.jpg`;
    publishers.push(publishWithFfmpeg({ ...PICTURE, url: open.publish_url }));
    publishers.push(publishWithFfmpeg({ ...PICTURE, url: hidden.publish_url }));
  });

  after(async () => {
    for (const publisher of publishers) await publisher.kill();
    await nova?.stop();
  });

  let first: Thumbnail;

  it('serves a JPEG of the thumbnail size within seconds of the stream starting, cacheable for the interval', async () => {
    first = await waitFor('the first thumbnail', 30_000, async () => {
      const answer = await getThumbnail(openUrl);
      if (answer.status === 404) {
        assert.equal(JSON.parse(answer.bytes.toString()).error.code, 'NOVA_ERR_NOT_FOUND');
        return false;
      }
      return answer;
    }, 250);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('content-type'), 'image/jpeg');
    assert.equal(first.headers.get('cache-control'), `public, max-age=${INTERVAL_SEC}`);
    assert.match(first.headers.get('etag') ?? '', /^"[A-Za-z0-9_-]+"$/);
    // a whole JPEG: SOI first, EOI last
    assert.deepEqual([...first.bytes.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...first.bytes.subarray(-2)], [0xff, 0xd9]);
    const file = join(dir, 'first.jpg');
    writeFileSync(file, first.bytes);
    const probe = await runToolOutput('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', file], 10_000);
    assert.equal(probe.code, 0, probe.stderr);
    const stream = (JSON.parse(probe.stdout) as { streams: Array<{ codec_name: string; width: number; height: number }> }).streams[0]!;
    assert.deepEqual(stream, { codec_name: 'mjpeg', width: 320, height: 180 });
  });

  it('answers 304 to the same ETag, and a new image after the interval', async () => {
    const etag = first.headers.get('etag')!;
    const again = await fetch(openUrl, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    await again.arrayBuffer();
    const next = await waitFor('a refreshed thumbnail', 20_000, async () => {
      const answer = await getThumbnail(openUrl);
      return answer.status === 200 && answer.headers.get('etag') !== etag ? answer : false;
    }, 500);
    assert.deepEqual([...next.bytes.subarray(0, 2)], [0xff, 0xd8]);
    assert.notDeepEqual(next.bytes, first.bytes);
  });

  it('is listed by discovery for the public stream; the private one is not listed', async () => {
    const item = await waitFor('the stream listed with its thumbnail', 10_000, async () => {
      const response = await fetch(`${nova.http}/api/v1/discover/live?sort=recent`);
      const body = (await response.json()) as { items: Array<{ id: string; thumbnail_url: string | null }> };
      assert.ok(!body.items.some((i) => i.id === hidden.id), 'a private stream is never listed');
      const listed = body.items.find((i) => i.id === open.id);
      return listed !== undefined && listed.thumbnail_url !== null ? listed : false;
    }, 250);
    assert.equal(item.thumbnail_url, openUrl);
    const fetched = await getThumbnail(item.thumbnail_url!);
    assert.equal(fetched.status, 200);
  });

  it('refuses a private stream\'s thumbnail without its viewer token, and serves it privately with one', async () => {
    const refused = await getThumbnail(hiddenUrl);
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.bytes.toString()).error.code, 'NOVA_ERR_UNAUTHORIZED');
    const served = await waitFor('the private thumbnail', 30_000, async () => {
      const answer = await getThumbnail(`${hiddenUrl}?token=${encodeURIComponent(token)}`);
      return answer.status === 200 ? answer : false;
    }, 250);
    assert.equal(served.headers.get('cache-control'), `private, max-age=${INTERVAL_SEC}`);
    assert.deepEqual([...served.bytes.subarray(0, 2)], [0xff, 0xd8]);
  });

  it('counts what it made and what it holds in the metrics', async () => {
    const text = await (await fetch(`${nova.http}/metrics`)).text();
    const generated = Number(/^nova_streaming_thumbnails_generated_total (\S+)$/m.exec(text)?.[1]);
    const held = Number(/^nova_streaming_thumbnail_bytes (\S+)$/m.exec(text)?.[1]);
    assert.ok(generated >= 3, text.slice(0, 200));
    // two live streams, one JPEG each, a few KiB
    assert.ok(held > 1000 && held < 200_000, `held ${held}`);
  });

  it('answers 404 once the stream has ended', async () => {
    await publishers[0]!.stop();
    const gone = await waitFor('the thumbnail gone', 15_000, async () => {
      const answer = await getThumbnail(openUrl);
      return answer.status === 404 ? answer : false;
    }, 250);
    assert.equal(JSON.parse(gone.bytes.toString()).error.code, 'NOVA_ERR_NOT_FOUND');
  });
});
