/**
 * Draining an instance moves its publishers to another one. Two instances (A and B) share a real
 * PostgreSQL behind a real HAProxy in TCP mode (the L4 balancer RTMP needs); publishers connect
 * through HAProxy and land on A. A drains (what SIGTERM does): our publisher, which announces
 * Enhanced RTMP v2 reconnect support, gets the Reconnect Request, reconnects through HAProxy
 * (A's listener is closed, so it lands on B) and the stream, same id, goes on live on B with its
 * timestamps continuing; FFmpeg, which does not announce it, is closed when the grace ends, and
 * its stream ends 'disconnected' (its publisher is expected back), not as a clean unpublish.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import type { HandOffEvent } from '../../loadtest/publisher/handoff-client.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { openTemporaryPostgres, type TestDatabase } from '../control/database-fixture.js';
import { haveHaproxy, startHaproxy, type Haproxy } from '../support/haproxy.js';
import { metricValue, ofTrack, recordFrameQueue, timelineProblems } from '../support/ingest-observer.js';
import { streamMediaUrls } from '../support/live-media.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { CI, haveTool, toolGate, waitFor } from '../support/tools.js';

/** long enough for our publisher to reach its next keyframe (every 2 s) and reconnect */
const DRAIN_GRACE_MS = 4000;
/** the drain closes what is left at its grace; the worker and the socket take a moment more */
const CLOSE_SLACK_MS = 2500;

const tools = toolGate('ffmpeg and haproxy', haveTool('ffmpeg') && haveHaproxy());

describe('drain: publishers move to another instance through an L4 balancer', { ...tools, timeout: 60_000 }, () => {
  let db: TestDatabase | null = null;
  let a: NovaFixture;
  let b: NovaFixture;
  let haproxy: Haproxy;

  before(async () => {
    if (tools.skip !== undefined) return;
    db = await openTemporaryPostgres();
    if (db === null) {
      if (CI) throw new Error('PostgreSQL is required under CI=true');
      return;
    }
    const env = (name: string): Record<string, string> => ({ INSTANCE_ID: `drain-${name}-${process.pid}`, LOG_LEVEL: 'debug', DRAIN_GRACE_MS: String(DRAIN_GRACE_MS) });
    [a, b] = await Promise.all([startNova({ database: db.database, env: env('a') }), startNova({ database: db.database, env: env('b') })]);
  });

  after(async () => {
    await haproxy?.stop();
    await a?.stop();
    await b?.stop();
    await db?.dispose();
  });

  it('our publisher honours the Reconnect Request and lands on B; FFmpeg is closed after the grace', async (t) => {
    if (db === null) return t.skip('PostgreSQL not reachable');
    haproxy = await startHaproxy({
      servers: [
        { name: 'a', port: a.server.rtmpPort },
        { name: 'b', port: b.server.rtmpPort },
      ],
    });
    const ours = await a.createStream({ title: 'honours the reconnect request' });
    const theirs = await a.createStream({ title: 'ffmpeg, no capsEx' });
    const publishUrl = (stream: CreatedStream): string => haproxy.rtmpUrl(`live/${stream.stream_key}`);

    const events: Array<HandOffEvent & { at: number }> = [];
    const stopPublisher = new AbortController();
    const publishing = publishSynthetic({
      url: publishUrl(ours),
      bitrateBps: 800_000,
      durationMs: 60_000,
      signal: stopPublisher.signal,
      onEvent: (event) => events.push({ ...event, at: Date.now() }),
    });
    let ffmpeg: FfmpegPublisher | null = null;
    try {
      ffmpeg = publishWithFfmpeg({ url: publishUrl(theirs), width: 320, height: 240, fps: 15 });
      // both land on A: HAProxy's "balance first" sends every connection to the first server that takes it
      const rowOf = (stream: CreatedStream) => a.server.repo.get(stream.id);
      for (const stream of [ours, theirs]) {
        await waitFor(`${stream.title} ACTIVE on A`, 15_000, async () => {
          const row = await rowOf(stream);
          return row?.status === 'ACTIVE' && row.instanceId === a.server.config.instanceId;
        });
      }
      await waitFor('a segment of our stream on A', 10_000, async () => (await fetch(streamMediaUrls(a.http, ours.id).video)).status === 200);

      b.server.ingest.watchFrameQueue(ours.id); // B's session of our stream gets a frame queue from its first frame
      const drainStarted = Date.now();
      const drained = a.server.drain();

      // ours: the request, the move at the next keyframe, the stream live on B under the same id
      const handOff = await waitFor('the hand-off', DRAIN_GRACE_MS, () => events.find((e) => e.type === 'hand_off'));
      const request = events.find((e) => e.type === 'reconnect_request');
      assert.ok(request !== undefined && request.at - drainStarted < 1000, `Reconnect Request ${request === undefined ? 'never came' : `after ${request.at - drainStarted} ms`}`);
      assert.ok(request.type === 'reconnect_request');
      assert.equal(request.tcUrl, null, 'no tcUrl: reconnect to the same address (the balancer)');
      assert.match(request.description ?? '', /shutting down/);
      assert.ok(!events.some((e) => e.type === 'hand_off_failed'), JSON.stringify(events));
      const recording = await recordFrameQueue(b, ours.id);
      await waitFor('our stream ACTIVE on B', 5000, async () => {
        const row = await rowOf(ours);
        return row?.status === 'ACTIVE' && row.instanceId === b.server.config.instanceId;
      });
      await waitFor("B's master playlist", 5000, async () => (await fetch(streamMediaUrls(b.http, ours.id).hlsMaster)).status === 200);
      assert.ok(!a.server.ingest.liveStreamIds.includes(ours.id), 'A no longer ingests it');
      // A let go of it as dropped, and neither ENDED the row B owns nor announced an end: it goes on elsewhere
      const leftA = await waitFor('A letting go of the stream', 5000, () => a.logs().find((l) => l.msg === 'publisher moved to another instance: the stream goes on there' && l.stream === ours.id));
      assert.equal(leftA.reason, 'disconnected', 'A ended its session as dropped, not unpublished');
      assert.equal(a.logs().find((l) => l.msg === 'stream ended' && l.stream === ours.id), undefined, 'A did not end the stream');

      // timestamps continue: B's first frame is the keyframe the hand-off happened at
      await waitFor('2 s of media on B', 5000, () => ofTrack(recording.frames, 'video').length >= 30);
      const video = ofTrack(recording.frames, 'video');
      assert.ok(handOff.type === 'hand_off');
      assert.ok(video[0]!.keyframe, 'B starts at a keyframe');
      assert.equal(video[0]!.dts, handOff.timelineMs, 'the timeline continues from where it was on A');
      assert.ok(handOff.timelineMs > 0);
      assert.deepEqual(timelineProblems(recording.frames), []);

      // theirs: closed when the grace ended, stream ended 'disconnected'
      const ffmpegExit = await Promise.race([ffmpeg.exited.then(() => Date.now()), new Promise<number>((r) => setTimeout(() => r(-1), DRAIN_GRACE_MS + CLOSE_SLACK_MS + 3000))]);
      assert.ok(ffmpegExit > 0, 'FFmpeg was disconnected');
      assert.ok(ffmpegExit - drainStarted >= DRAIN_GRACE_MS, `FFmpeg closed ${ffmpegExit - drainStarted} ms into the drain, before the grace`);
      assert.ok(ffmpegExit - drainStarted <= DRAIN_GRACE_MS + CLOSE_SLACK_MS, `FFmpeg closed ${ffmpegExit - drainStarted} ms into the drain`);
      await drained;
      const theirsRow = await rowOf(theirs);
      assert.deepEqual([theirsRow?.status, theirsRow?.endReason], ['ENDED', 'disconnected']);

      assert.equal(await metricValue(a, 'nova_streaming_rtmp_reconnect_requests_total'), 1);
      assert.equal(await metricValue(a, 'nova_streaming_rtmp_publisher_handoffs_total'), 1);
      assert.equal(await metricValue(a, 'nova_streaming_rtmp_drain_closed_connections_total'), 1);
      assert.equal(await metricValue(a, 'nova_streaming_rtmp_draining'), 1);
      assert.equal((await fetch(`${a.http}/ready`)).status, 503, 'a draining instance is not ready');
      assert.equal(await metricValue(b, 'nova_streaming_rtmp_reconnect_requests_total'), 0);

      // still live on B after A's drain is over
      assert.ok(b.server.ingest.liveStreamIds.includes(ours.id));
      assert.equal((await rowOf(ours))?.status, 'ACTIVE');
    } finally {
      stopPublisher.abort();
      await ffmpeg?.kill();
      const result = await publishing.catch((err: unknown) => err);
      assert.ok(!(result instanceof Error), `publisher failed: ${String(result)}`);
      assert.equal((result as { handOffs: number }).handOffs, 1);
    }
  });
});
