/**
 * Our publisher honouring a Reconnect Request, between two RTMP test servers over real sockets:
 * it announces the capability, moves to the request's tcUrl (scheme-relative here, resolved
 * against the current one) at the next keyframe with the stream's headers and its timestamps
 * continuing, leaves the old server without an unpublish, and stays where it is when the new
 * address refuses it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HandOffEvent } from '../../loadtest/publisher/handoff-client.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { CapsExMask } from '../../src/ingest/rtmp/reconnect-request.js';
import { startTestRtmpServer, type RecordedConnection } from '../ingest/rtmp/rtmp-test-server.js';
import { freePort, waitFor } from '../support/tools.js';

/** the fixture's keyframes: one every 60 pictures at 30 fps */
const KEYFRAME_INTERVAL_MS = 2000;
const FRAME_MS = 1000 / 30;

const isAvcSequenceHeader = (head: Uint8Array): boolean => head[0] === 0x17 && head[1] === 0;
const isAvcKeyframe = (head: Uint8Array): boolean => head[0] === 0x17 && head[1] === 1;

describe('HandOffClient: the publisher side of the Reconnect Request', () => {
  it('moves to the requested server at the next keyframe, timestamps continuing, and leaves the old one without unpublishing', async () => {
    const first = await startTestRtmpServer();
    const second = await startTestRtmpServer();
    try {
      const events: HandOffEvent[] = [];
      const publishing = publishSynthetic({ url: `rtmp://127.0.0.1:${first.port}/live/test`, bitrateBps: 500_000, durationMs: 3000, onEvent: (e) => events.push(e) });
      const old: RecordedConnection = await waitFor('video on the first server', 5000, () => (first.connections[0]?.video.length ?? 0) > 5 && first.connections[0]);
      assert.equal(old.capsEx(), CapsExMask.reconnect, 'the connect announced reconnect support');
      assert.equal(old.requestReconnect({ tcUrl: `//127.0.0.1:${second.port}/live`, description: 'moving' }), true);
      const result = await publishing;
      await old.closed;

      assert.equal(result.handOffs, 1);
      const handOff = events.find((e) => e.type === 'hand_off');
      assert.ok(handOff?.type === 'hand_off', JSON.stringify(events));
      assert.deepEqual(events[0], { type: 'reconnect_request', from: `rtmp://127.0.0.1:${first.port}/live`, tcUrl: `//127.0.0.1:${second.port}/live`, description: 'moving' });
      assert.equal(handOff.to, `rtmp://127.0.0.1:${second.port}/live`);
      assert.equal(handOff.timelineMs % KEYFRAME_INTERVAL_MS, 0, `moved at ${handOff.timelineMs} ms, not on a keyframe`);

      // the old server: media up to the keyframe, then the connection ends without FCUnpublish/deleteStream
      assert.equal(old.unpublished, false, 'the stream is not over: no unpublish');
      const lastOld = old.video.at(-1)!.timestamp;
      assert.ok(lastOld < handOff.timelineMs && handOff.timelineMs - lastOld <= Math.ceil(FRAME_MS), `old server's last video at ${lastOld}`);

      // the new server: the same key, headers then the keyframe at the hand-off time, then the rest
      const moved = second.connections[0]!;
      assert.deepEqual(moved.publish, { app: 'live', streamName: 'test', tcUrl: `rtmp://127.0.0.1:${second.port}/live` });
      assert.equal(moved.metadata.length, 1);
      assert.ok(isAvcSequenceHeader(moved.video[0]!.head) && moved.video[0]!.timestamp === handOff.timelineMs, 'AVC sequence header first, at the hand-off time');
      assert.ok(isAvcKeyframe(moved.video[1]!.head) && moved.video[1]!.timestamp === handOff.timelineMs, 'then the keyframe');
      assert.deepEqual([moved.audio[0]!.head[0]! >> 4, moved.audio[0]!.head[1]], [10, 0], 'AAC sequence header first');
      assert.ok(moved.audio.slice(1).every((a) => a.timestamp >= handOff.timelineMs));
      assert.ok(moved.video.at(-1)!.timestamp > handOff.timelineMs + 500, 'the stream went on there');
      assert.equal(moved.unpublished, true, 'the publisher ended cleanly where it was');
      const frames = old.video.length - 1 + moved.video.length - 1; // minus each server's sequence header
      assert.equal(frames, result.framesSent, 'every picture went to one server or the other');
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('stays on its server when the requested one refuses the connection', async () => {
    const server = await startTestRtmpServer();
    const closedPort = await freePort();
    try {
      const events: HandOffEvent[] = [];
      const publishing = publishSynthetic({ url: `rtmp://127.0.0.1:${server.port}/live/test`, bitrateBps: 500_000, durationMs: 1500, onEvent: (e) => events.push(e) });
      const connection = await waitFor('video', 5000, () => (server.connections[0]?.video.length ?? 0) > 5 && server.connections[0]);
      connection.requestReconnect({ tcUrl: `rtmp://127.0.0.1:${closedPort}/live` });
      const result = await publishing;
      assert.equal(result.handOffs, 0);
      assert.deepEqual(
        events.map((e) => e.type),
        ['reconnect_request', 'hand_off_failed'],
      );
      assert.equal(server.connections.length, 1);
      assert.equal(connection.video.length - 1, result.framesSent, 'every picture went to the one server');
      assert.equal(connection.unpublished, true);
    } finally {
      await server.close();
    }
  });
});
