/**
 * Memory that follows the stream: a publisher's part arenas start small and
 * grow with its bitrate (a stream far above the first arena still packages
 * every part intact), the buffer gauges follow a stream from its start to
 * its end, and its arenas' memory is returned once the store lets go of it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { metricValue, probePackets, recordFrameQueue } from '../support/ingest-observer.js';
import { fetchMediaPlaylist, fetchText, streamMediaUrls } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { tempDir, waitFor } from '../support/tools.js';

const BUFFERS = 'nova_streaming_stream_buffer_bytes';
const PER_STREAM = 'nova_streaming_stream_buffer_bytes_per_stream';
const MiB = 1024 * 1024;

async function bytesOf(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}`);
  return new Uint8Array(await response.arrayBuffer());
}

describe('stream buffers', () => {
  let database: TestDatabase;
  let nova: NovaFixture;
  before(async () => {
    database = await openMemoryDatabase();
    nova = await startNova({ database: database.database, env: { TRANSCODE: 'off' } });
  });
  after(async () => {
    await nova.stop();
    await database.dispose();
  });

  it('the gauges follow a stream from its start to its end; no frame queue with transcoding off', async () => {
    const stream = await nova.createStream();
    const arenasBefore = await metricValue(nova, BUFFERS, { structure: 'part_arena' });
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 2_000_000, durationMs: 3000 });
    const arena = await waitFor('the stream\'s part arena in the gauges', 5000, async () => (await metricValue(nova, PER_STREAM, { stream: stream.id, structure: 'part_arena' })) || false);
    assert.ok(arena > 0 && arena <= MiB, `${arena} bytes: the first arena is 1 MiB at most`);
    assert.equal(await metricValue(nova, PER_STREAM, { stream: stream.id, structure: 'ingress_ring' }), 512 * 1024, 'the default ingress ring');
    assert.equal(await metricValue(nova, PER_STREAM, { stream: stream.id, structure: 'frame_queue' }), 0, 'no frame queue: nobody reads it');
    assert.ok((await metricValue(nova, BUFFERS, { structure: 'ingress_ring' })) >= 512 * 1024);
    await publishing;
    await waitFor('the stream to end', 5000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    await waitFor('the stream to leave the per-stream gauges', 5000, async () => !(await fetchText(`${nova.http}/metrics`)).includes(stream.id));
    assert.equal(await metricValue(nova, BUFFERS, { structure: 'ingress_ring' }), 0, 'no connection open');
    assert.equal(await metricValue(nova, BUFFERS, { structure: 'frame_queue' }), 0);
    // the ended stream's parts are still served (ENDLIST grace): their arena stays until the store lets go
    assert.ok((await metricValue(nova, BUFFERS, { structure: 'part_arena' })) > arenasBefore);
    nova.server.store.removeStream(stream.id);
    // once every delivery thread's copy of the store has let go too (a loop turn or two)
    await waitFor('its arena memory returned', 2000, async () => (await metricValue(nova, BUFFERS, { structure: 'part_arena' })) === arenasBefore);
  });

  it('a stream far above the first arena: the arena grows, every part and segment is intact, and its memory is returned at the end', async () => {
    const stream = await nova.createStream();
    const urls = streamMediaUrls(nova.http, stream.id);
    const fallbacksBefore = await metricValue(nova, 'nova_streaming_part_arena_fallbacks_total');
    // 16 Mb/s: the first 1 MiB arena holds half a second of it
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 16_000_000, durationMs: 6000 });
    const recording = await recordFrameQueue(nova, stream.id);
    let largest = 0;
    while ((await Promise.race([publishing.then(() => true), new Promise((resolve) => setTimeout(resolve, 250, false))])) === false) {
      largest = Math.max(largest, await metricValue(nova, PER_STREAM, { stream: stream.id, structure: 'part_arena' }));
    }
    assert.equal(await recording.ended, 'unpublished');
    assert.ok(largest > 2 * MiB, `the stream's arenas grew past the first (${(largest / MiB).toFixed(1)} MiB)`);
    assert.equal(await metricValue(nova, 'nova_streaming_part_arena_fallbacks_total'), fallbacksBefore, 'every part in an arena');

    // every segment of the stream is still listed (3 of 2 s): the segments as served, with their init, hold every frame
    const playlist = await waitFor('the ended playlist', 5000, async () => {
      const listed = await fetchMediaPlaylist(urls.video);
      return listed.ended ? listed : false;
    });
    const text = await fetchText(urls.video);
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)?.[1];
    assert.ok(init !== undefined, 'an init segment is listed');
    const chunks: Uint8Array[] = [await bytesOf(new URL(init, urls.video).href)];
    for (const segment of playlist.segments) {
      const bytes = await bytesOf(new URL(segment.uri, urls.video).href);
      const parts = playlist.parts.filter((part) => part.msn === segment.msn);
      if (parts.length > 0) {
        const partBytes = await Promise.all(parts.map((part) => bytesOf(new URL(part.uri, urls.video).href)));
        assert.deepEqual(Buffer.concat(partBytes), Buffer.from(bytes), `segment ${segment.msn} is its parts back to back`);
      }
      chunks.push(bytes);
    }
    const file = join(tempDir('stream-buffers-'), 'video.mp4');
    writeFileSync(file, Buffer.concat(chunks));
    const served = probePackets(file).filter((packet) => packet.track === 'video');
    const queued = recording.frames.filter((frame) => frame.track === 'video');
    assert.equal(playlist.mediaSequence, 0, 'the whole stream is listed');
    assert.ok(served.length >= queued.length - 30, `${served.length} of ${queued.length} frames served (the last GOP may be cut short)`);
    assert.deepEqual(served.map((p) => p.md5), queued.slice(0, served.length).map((f) => f.md5), 'served frames are the published ones, byte for byte');

    nova.server.store.removeStream(stream.id);
    await waitFor('every arena returned once the store (and each delivery thread) let go of the stream', 2000, async () => (await metricValue(nova, BUFFERS, { structure: 'part_arena' })) === 0);
  });
});
