/**
 * IngestConnection's word to the worker on when to look at its ring again:
 * a real FFmpeg publish (the golden capture) pushed inline, its bytes stamped
 * with made-up read times, and the parts it emits watched through its emit().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { IngestConnection } from '../../src/ingest/ingest-connection.js';
import { ingestLimits, type WorkerToMain } from '../../src/ingest/ingest-messages.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { ChunkReader } from '../../src/ingest/rtmp/chunk-reader.js';
import { HANDSHAKE_PACKET_SIZE } from '../../src/ingest/rtmp/handshake.js';
import { decodeCommand } from '../../src/ingest/rtmp/rtmp-command.js';
import { reconnectRequestOf } from '../../src/ingest/rtmp/reconnect-request.js';
import { ClientBytes, ffmpegPublishCapture } from './rtmp/session-harness.js';

const limits = ingestLimits(loadConfig({}));
/** read-time step per pushed slice: the capture's 2 s arrive over ~8 s of made-up clock, so the stamps are not media times */
const SLICE_BYTES = 1024;
const MS_PER_SLICE = 100;

interface Run {
  connection: IngestConnection;
  /** per track, the read time of the slice during which its latest part was emitted */
  lastPartReadAt: { video: number; audio: number };
  parts: number;
  /** after each slice pushed once publishing: nextPartDueAt(), the slice's read time, and a part target after the latest cut of the track that cut last */
  slices: Array<{ due: number; readAt: number; afterLatestCut: number }>;
}

/** Pushes the capture up to `fraction` of its bytes: byte by byte until the publish command, then in slices. */
function publish(options: { frameQueueReader: boolean; fraction: number }): Run {
  const capture = ffmpegPublishCapture();
  const run: Run = { connection: null!, lastPartReadAt: { video: Number.NaN, audio: Number.NaN }, parts: 0, slices: [] };
  let readAt = 1_000_000;
  let publishRequested = false;
  const emit = (message: WorkerToMain): void => {
    if (message.type === 'publish') publishRequested = true;
    // a track's first part is due a part target after its configuration arrived
    if (message.type === 'tracks') {
      if (message.video !== null && Number.isNaN(run.lastPartReadAt.video)) run.lastPartReadAt.video = readAt;
      if (message.audio !== null && Number.isNaN(run.lastPartReadAt.audio)) run.lastPartReadAt.audio = readAt;
    }
    if (message.type === 'media' && message.media.kind === 'part') {
      run.parts++;
      run.lastPartReadAt[message.media.track] = readAt;
    }
  };
  const connection = new IngestConnection(limits, emit);
  run.connection = connection;
  let at = 0;
  while (!publishRequested) {
    assert.ok(Number.isNaN(connection.nextPartDueAt()), 'no part is due before publishing');
    connection.push(capture.subarray(at, at + 1), readAt);
    at++;
  }
  connection.handle({
    type: 'publish_accepted',
    streamId: 'test',
    frameQueue: options.frameQueueReader ? ByteRing.create(1024 * 1024).buffer : null,
    resume: null,
    tsWanted: false,
  });
  const end = Math.floor(capture.length * options.fraction);
  for (; at < end; at += SLICE_BYTES) {
    readAt += MS_PER_SLICE;
    connection.push(capture.subarray(at, Math.min(at + SLICE_BYTES, end)), readAt);
    const { video, audio } = run.lastPartReadAt;
    const afterLatestCut = (Number.isNaN(audio) ? video : Number.isNaN(video) ? audio : Math.max(video, audio)) + limits.partTargetMs;
    run.slices.push({ due: connection.nextPartDueAt(), readAt, afterLatestCut });
  }
  return run;
}

describe('IngestConnection.nextPartDueAt', () => {
  it('is a part target after the read that cut the latest part of either track, or now when audio waits on the next video frame', () => {
    const run = publish({ frameQueueReader: false, fraction: 0.8 });
    assert.ok(run.parts >= 10, `parts emitted: ${run.parts}`);
    const known = run.slices.filter((slice) => !Number.isNaN(slice.due));
    assert.ok(known.length > run.slices.length / 2, `due times known after ${run.slices.length - known.length} of ${run.slices.length} slices`);
    let byCut = 0;
    let now = 0;
    for (const { due, readAt, afterLatestCut } of known) {
      if (due === afterLatestCut) byCut++;
      else if (due === readAt) now++;
      else assert.fail(`due ${due}: neither the latest read ${readAt} nor a part target after the latest cut ${afterLatestCut}`);
      assert.ok(due <= readAt + limits.partTargetMs, `due ${due} vs read ${readAt}`);
    }
    // the capture's audio parts end on audio frames that wait for the next video frame, now and then between two slices
    assert.ok(byCut > 0 && now > 0, `due by the cut ${byCut} times, now ${now} times`);
  });

  it('is NaN while a consumer wants frames one by one (the transcoder reading the frame queue)', () => {
    const run = publish({ frameQueueReader: true, fraction: 0.8 });
    assert.ok(run.parts >= 10, 'packaging goes on');
    assert.ok(run.slices.every((slice) => Number.isNaN(slice.due)), JSON.stringify(run.slices.filter((slice) => !Number.isNaN(slice.due)).slice(0, 3)));
  });
});

describe('IngestConnection and the Reconnect Request', () => {
  it("reports the connect's capsEx with the publish, and sends the request the main thread asks for", () => {
    const messages: WorkerToMain[] = [];
    const connection = new IngestConnection(limits, (message) => messages.push(message));
    const client = new ClientBytes()
      .handshake()
      .command(0, 'connect', 1, { app: 'live', tcUrl: 'rtmp://lb/live', capsEx: 1 })
      .command(0, 'createStream', 2, null)
      .command(1, 'publish', 0, null, 'key1', 'live');
    connection.push(client.bytes(), Date.now());
    const publish = messages.find((m) => m.type === 'publish');
    assert.deepEqual(publish, { type: 'publish', app: 'live', streamName: 'key1', tcUrl: 'rtmp://lb/live', capsEx: 1 });

    const sentBefore = messages.filter((m) => m.type === 'send').length;
    connection.handle({ type: 'reconnect_request', request: { description: 'draining' } });
    const sent = messages.filter((m): m is Extract<WorkerToMain, { type: 'send' }> => m.type === 'send');
    assert.equal(sent.length, sentBefore + 1, 'one write: the onStatus');
    const commands: Array<{ streamId: number; request: ReturnType<typeof reconnectRequestOf> }> = [];
    const reader = new ChunkReader((typeId, streamId, _ts, payload) => {
      if (typeId === 20) commands.push({ streamId, request: reconnectRequestOf(decodeCommand(typeId, payload)) });
    }, { maxMessageBytes: 1 << 20, maxChunkSize: 1 << 20 });
    reader.push(new Uint8Array(Buffer.concat(sent.map((m) => m.bytes))).subarray(1 + 2 * HANDSHAKE_PACKET_SIZE));
    assert.deepEqual(commands.at(-1), { streamId: 0, request: { description: 'draining' } });
  });

  for (const capsEx of [1, 0]) {
    it(`a publisher ${capsEx === 1 ? 'that can reconnect is packaged up to its next keyframe after the request, not past it' : 'that cannot reconnect is packaged as before the request'}`, () => {
      // FFmpeg's media from the golden capture, sent by a client whose connect announces capsEx
      const media: Array<{ typeId: number; timestamp: number; payload: Uint8Array }> = [];
      new ChunkReader(
        (typeId, _streamId, timestamp, payload) => {
          if (typeId === 8 || typeId === 9) media.push({ typeId, timestamp, payload: payload.slice() });
        },
        { maxMessageBytes: 1 << 24, maxChunkSize: 1 << 24 },
      ).push(ffmpegPublishCapture().subarray(1 + 2 * HANDSHAKE_PACKET_SIZE));
      const isKey = (m: (typeof media)[number]): boolean => m.typeId === 9 && m.payload[0]! >> 4 === 1 && m.payload[1] === 1;
      const keyframes = media.filter(isKey).map((m) => m.timestamp);
      assert.ok(keyframes.length >= 2, `the capture has keyframes at ${keyframes.join(', ')}`);

      const videoDurations: number[] = [];
      const connection = new IngestConnection(limits, (message) => {
        if (message.type === 'media' && message.media.kind === 'segment' && message.media.track === 'video') videoDurations.push(message.media.duration);
      });
      const client = new ClientBytes()
        .handshake()
        .command(0, 'connect', 1, { app: 'live', tcUrl: 'rtmp://lb/live', capsEx })
        .command(0, 'createStream', 2, null)
        .command(1, 'publish', 0, null, 'key1', 'live');
      connection.push(client.bytes(), Date.now());
      connection.handle({ type: 'publish_accepted', streamId: 'test', frameQueue: null, resume: null, tsWanted: false });
      // the request comes just after the first keyframe: the second is where the publisher moves
      const requestAfter = media.findIndex((m) => isKey(m) && m.timestamp === keyframes[0]);
      media.forEach((m, i) => {
        connection.push(new ClientBytes().message(m.typeId === 9 ? 6 : 4, m.typeId, 1, m.timestamp, m.payload).bytes(), Date.now());
        if (i === requestAfter) connection.handle({ type: 'reconnect_request', request: {} });
      });
      connection.finishStream('test');
      const packagedMs = videoDurations.reduce((sum, d) => sum + d * 1000, 0);
      if (capsEx === 1) assert.ok(Math.abs(packagedMs - (keyframes[1]! - keyframes[0]!)) < 50, `${packagedMs} ms packaged: up to the keyframe at ${keyframes[1]} ms`);
      else assert.ok(packagedMs > keyframes[1]! - keyframes[0]! + 300, `${packagedMs} ms packaged: past the keyframe at ${keyframes[1]} ms`);
    });
  }
});
