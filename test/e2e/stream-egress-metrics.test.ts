/**
 * Egress and the quality distribution in the per-second stream metrics, from
 * real requests to a real server: a synthetic publisher feeds a stream, plain
 * HTTP viewers fetch its playlists and segments, and the stream_metrics rows
 * the recorder writes carry the bits served (adding up to the bytes the
 * viewers received) and the viewers by rendition; the metrics API returns
 * them. Once with delivery threads serving the media (their viewer sessions
 * applied by the main thread's tracker) and once with the main thread alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { MetricsRepository } from '../../src/control/db/metrics-repository.js';
import type { StreamMetricsRow } from '../../src/control/db/schema.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { parseMediaPlaylist, streamMediaUrls } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

const VIEWING_MS = 4000;

let database: TestDatabase;
before(async () => {
  database = await openMemoryDatabase();
});
after(async () => {
  await database?.dispose();
});

for (const threads of ['2', '0']) {
  describe(`egress and viewers by rendition per second (DELIVERY_THREADS=${threads})`, () => {
    let nova: NovaFixture;
    let streamId: string;
    const publishing = new AbortController();
    let published: Promise<unknown>;
    /** response body bytes every request of this test received */
    let received = 0;

    /** a GET as a viewer `sid` (its session), counting the body's bytes */
    async function get(url: string, sid: string): Promise<{ status: number; text: string }> {
      const response = await fetch(`${url}${url.includes('?') ? '&' : '?'}sid=${sid}`);
      const body = new Uint8Array(await response.arrayBuffer());
      received += body.byteLength;
      return { status: response.status, text: new TextDecoder().decode(body) };
    }

    /** a viewer of one track: reloads its playlist and fetches each segment listed once, until `until` */
    async function watch(playlistUrl: string, sid: string, until: number): Promise<number> {
      const fetched = new Set<number>();
      while (Date.now() < until) {
        const playlist = await get(playlistUrl, sid);
        if (playlist.status === 200) {
          for (const segment of parseMediaPlaylist(playlist.text).segments) {
            if (fetched.has(segment.msn)) continue;
            fetched.add(segment.msn);
            assert.equal((await get(new URL(segment.uri, playlistUrl).toString(), sid)).status, 200);
          }
        }
        await new Promise((r) => setTimeout(r, 300));
      }
      return fetched.size;
    }

    async function rows(): Promise<StreamMetricsRow[]> {
      await nova.server.streamMetrics.flush();
      return new MetricsRepository(database.database.db).listMetrics(streamId);
    }

    before(async () => {
      nova = await startNova({ database: database.database, env: { DELIVERY_THREADS: threads } });
      const stream = await nova.createStream();
      streamId = stream.id;
      published = publishSynthetic({ url: stream.publish_url, bitrateBps: 1_000_000, durationMs: 60_000, signal: publishing.signal }).catch(() => null);
      const urls = streamMediaUrls(nova.http, streamId);
      await waitFor('two segments listed', 30_000, async () => {
        const playlist = await get(urls.video, 'waiting');
        return playlist.status === 200 && parseMediaPlaylist(playlist.text).segments.length >= 2;
      }, 200);
    });
    after(async () => {
      publishing.abort();
      await published;
      await nova?.stop();
    });

    it('the rows carry the bits served (adding up to what the viewers received) and the viewers by rendition', async (t) => {
      const urls = streamMediaUrls(nova.http, streamId);
      const until = Date.now() + VIEWING_MS;
      // two viewers of the source rendition's video, and one fetching only its audio (bytes, but no rendition: audio is not
      // what a viewer's quality is)
      const segments = await Promise.all([watch(urls.video, 'video-a', until), watch(urls.video, 'video-b', until), watch(urls.audio, 'audio-only', until)]);
      assert.ok(segments.every((n) => n >= 2), `segments fetched: ${segments.join(', ')}`);
      const stoppedAt = Date.now();
      // a sample after the last response takes its bytes (a delivery thread posts its sessions once per event-loop turn)
      const all = await waitFor('a sample 2 s after the viewers stopped', 10_000, async () => {
        const got = await rows();
        return got.some((r) => r.at.getTime() >= stoppedAt + 2000) ? got : false;
      }, 250);

      assert.ok(all.every((r) => r.egress_bitrate !== null && r.viewers_by_rendition !== null), 'measured in every second: sessions are tracked');
      // each row: the bits served since the stream's previous sample, per second; samples come once a second
      const bitsRecorded = all.reduce((sum, r) => sum + Number(r.egress_bitrate), 0);
      const ratio = bitsRecorded / (received * 8);
      t.diagnostic(`${all.length} rows record ${bitsRecorded} bits; the viewers received ${received * 8} (ratio ${ratio.toFixed(3)})`);
      assert.ok(ratio > 0.8 && ratio < 1.2, `recorded ${bitsRecorded} bits over ${all.length} rows; the viewers received ${received * 8}`);
      assert.ok(all.some((r) => Number(r.egress_bitrate) > 100_000), JSON.stringify(all.map((r) => r.egress_bitrate)));
      // while they watched: the two video viewers on the source rendition
      const distributions = all.map((r) => JSON.stringify(r.viewers_by_rendition));
      assert.ok(distributions.includes(JSON.stringify({ source: 2 })), distributions.join(' '));
      assert.ok(all.every((r) => Object.keys(r.viewers_by_rendition!).every((name) => name === 'source')), distributions.join(' '));

      // the metrics API returns them
      const from = new Date(all[0]!.at.getTime()).toISOString();
      const to = new Date(all.at(-1)!.at.getTime() + 1000).toISOString();
      const answer = await nova.api('GET', `/api/v1/streams/${streamId}/metrics?from=${from}&to=${to}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const points = (answer.body as { points: Array<{ egress_bitrate: number | null; viewers_by_rendition: Record<string, number> | null }> }).points;
      assert.equal(points.length, all.length);
      assert.deepEqual(
        points.map((p) => [p.egress_bitrate, p.viewers_by_rendition]),
        all.map((r) => [Number(r.egress_bitrate), r.viewers_by_rendition]),
      );
    });
  });
}
