import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNovaError } from '../../../src/errors.js';
import { encodeAmf0 } from '../../../src/ingest/rtmp/amf0.js';
import { SERVER_CHUNK_SIZE, SERVER_WINDOW_ACK_SIZE } from '../../../src/ingest/rtmp/rtmp-server-session.js';
import { ClientBytes, SessionHarness, ffmpegPublishCapture, type MediaRecord } from './session-harness.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** A deterministic PRNG so a failing split is reproducible (seed printed on failure). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function assertNonDecreasing(track: MediaRecord[], name: string): void {
  for (let i = 1; i < track.length; i++) {
    assert.ok(track[i].timestamp >= track[i - 1].timestamp, `${name} timestamp went back at ${i}: ${track[i - 1].timestamp} → ${track[i].timestamp}`);
  }
}

/** What the FFmpeg capture must decode to, however the bytes are split. */
function checkFfmpegCapture(h: SessionHarness): void {
  assert.deepEqual(h.publishRequests.map((p) => [p.app, p.streamName]), [['live', 'golden-key']]);
  assert.match(h.publishRequests[0].tcUrl, /^rtmp:\/\/127\.0\.0\.1:\d+\/live$/);
  assert.equal(h.metadata.length, 1);
  assert.equal(h.metadata[0].width, 320);
  assert.equal(h.metadata[0].height, 180);
  assert.equal(h.metadata[0].videocodecid, 7);
  assert.equal(h.metadata[0].audiocodecid, 10);
  assert.equal(h.metadata[0].framerate, 30);
  // video: AVC sequence header (keyframe, codec 7, packet type 0) first, then NALU packets
  assert.ok(h.video.length >= 55, `video messages: ${h.video.length}`);
  assert.deepEqual([h.video[0].b0, h.video[0].b1], [0x17, 0]);
  assert.deepEqual([h.video[1].b0, h.video[1].b1], [0x17, 1], 'first frame is a keyframe');
  // NALU packets, and FFmpeg ends with an AVC end-of-sequence packet (type 2)
  assert.ok(h.video.slice(1, -1).every((v) => v.b1 === 1 && (v.b0 & 0x0f) === 7));
  assert.equal(h.video[h.video.length - 1].b1, 2);
  // audio: AAC (sound format 10) sequence header then raw frames
  assert.ok(h.audio.length >= 80, `audio messages: ${h.audio.length}`);
  assert.deepEqual([h.audio[0].b0 >> 4, h.audio[0].b1], [10, 0]);
  assert.ok(h.audio.slice(1).every((a) => a.b0 >> 4 === 10 && a.b1 === 1));
  assertNonDecreasing(h.video, 'video');
  assertNonDecreasing(h.audio, 'audio');
  assert.ok(h.video[h.video.length - 1].timestamp > 1800, 'about 2 s of video');
  assert.equal(h.unpublishCount, 1);
  assert.equal(h.session.state, 'connected');
}

describe('RtmpServerSession: FFmpeg golden capture', () => {
  const capture = ffmpegPublishCapture();

  it('decodes the capture pushed whole', () => {
    const h = new SessionHarness();
    h.push(capture);
    checkFfmpegCapture(h);
    assert.equal(h.session.bytesReceived, capture.length);
  });

  it('answers the way FFmpeg expects (S0S1S2, connect _result, createStream id, Publish.Start)', () => {
    const h = new SessionHarness();
    h.push(capture);
    const s0s1s2 = h.sent[0];
    assert.equal(s0s1s2.length, 3073);
    assert.equal(s0s1s2[0], 3);
    assert.deepEqual(Buffer.from(s0s1s2.subarray(1537)), Buffer.from(capture.subarray(1, 1537)), 'S2 echoes C1');
    const replies = h.replies();
    const control = replies.filter((m) => m.typeId <= 6).map((m) => [m.typeId, Buffer.from(m.payload).toString('hex')]);
    assert.deepEqual(control.slice(0, 2), [
      [5, SERVER_WINDOW_ACK_SIZE.toString(16).padStart(8, '0')],
      [6, SERVER_WINDOW_ACK_SIZE.toString(16).padStart(8, '0') + '02'],
    ]);
    assert.equal(h.replyChunkSize, SERVER_CHUNK_SIZE);
    const commands = h.replyCommands();
    const connectResult = commands.find((c) => c.name === '_result' && c.transactionId === 1);
    assert.ok(connectResult);
    assert.equal((connectResult.args[1] as Record<string, unknown>).code, 'NetConnection.Connect.Success');
    assert.ok(commands.some((c) => c.name === '_result' && c.args[1] === 1), 'createStream answered with stream id 1');
    assert.ok(commands.some((c) => c.name === 'onFCPublish'));
    const status = commands.find((c) => c.name === 'onStatus');
    assert.equal((status?.args[1] as Record<string, unknown>).code, 'NetStream.Publish.Start');
  });

  it('decodes the same when pushed one byte at a time', () => {
    const h = new SessionHarness();
    for (let i = 0; i < capture.length; i++) h.push(capture.subarray(i, i + 1));
    checkFfmpegCapture(h);
  });

  it('decodes the same at random split points', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = mulberry32(seed);
      const h = new SessionHarness();
      let pos = 0;
      while (pos < capture.length) {
        const size = 1 + Math.floor(random() * (random() < 0.5 ? 16 : 9000));
        h.push(capture.subarray(pos, pos + size));
        pos += size;
      }
      try {
        checkFfmpegCapture(h);
      } catch (err) {
        throw new Error(`split seed ${seed}: ${(err as Error).message}`);
      }
    }
  });
});

describe('RtmpServerSession: protocol behaviour', () => {
  it('answers a ping request with a pong carrying the same timestamp', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().handshake().message(2, 4, 0, 0, hex('0006 01020304')).bytes());
    assert.deepEqual(
      h.replies().map((m) => [m.typeId, Buffer.from(m.payload).toString('hex')]),
      [[4, '000701020304']],
    );
  });

  it('acknowledges when received bytes cross the window the client announced', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().handshake().message(2, 5, 0, 0, hex('00001000')).publishCommands().bytes());
    assert.equal(h.replies().filter((m) => m.typeId === 3).length, 0, 'not yet 4096 bytes');
    h.push(new ClientBytes().message(6, 9, 1, 0, new Uint8Array(5000)).bytes());
    const acks = h.replies().filter((m) => m.typeId === 3);
    assert.equal(acks.length, 1);
    assert.equal(Buffer.from(acks[0].payload).readUInt32BE(0), h.session.bytesReceived);
  });

  it('drops media that arrives before the publish was accepted, delivers it after', () => {
    const h = new SessionHarness(undefined, false);
    const client = new ClientBytes().publishPreamble().message(6, 9, 1, 0, hex('1700000000'));
    h.push(client.bytes());
    assert.equal(h.publishRequests.length, 1);
    assert.equal(h.video.length, 0);
    assert.equal(h.session.droppedMediaMessages, 1);
    h.session.acceptPublish();
    assert.equal(h.session.state, 'publishing');
    h.push(new ClientBytes().message(6, 9, 1, 40, hex('2701000000')).bytes());
    assert.deepEqual(h.video.map((v) => v.timestamp), [40]);
  });

  it('rejectPublish sends an error onStatus and closes the session', () => {
    const h = new SessionHarness(undefined, false);
    h.push(new ClientBytes().publishPreamble('bad').bytes());
    h.session.rejectPublish('NetStream.Publish.BadName', 'unknown key');
    const status = h.replyCommands().find((c) => c.name === 'onStatus');
    assert.deepEqual(status?.args[1], { level: 'error', code: 'NetStream.Publish.BadName', description: 'unknown key' });
    assert.equal(h.session.state, 'closed');
  });

  it('counts unknown commands and ignores them', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().publishPreamble().command(0, '_checkbw', 5, null).bytes());
    assert.deepEqual(h.ignored, ['_checkbw']);
    assert.equal(h.session.ignoredCommands, 1);
    assert.equal(h.session.state, 'publishing');
  });

  it('splits aggregate messages into audio and video with rebased timestamps', () => {
    const h = new SessionHarness();
    const tag = (type: number, ts: number, body: string): string => {
      const size = body.length / 2;
      return `${type.toString(16).padStart(2, '0')} ${size.toString(16).padStart(6, '0')} ${ts.toString(16).padStart(6, '0')} 00 000000 ${body} ${(11 + size).toString(16).padStart(8, '0')}`;
    };
    const payload = hex(tag(9, 1000, '1701000000') + tag(8, 1010, 'af01'));
    h.push(new ClientBytes().publishPreamble().message(7, 22, 1, 50, payload).bytes());
    assert.deepEqual(h.video.map((v) => v.timestamp), [50]);
    assert.deepEqual(h.audio.map((a) => a.timestamp), [60]);
  });
});

describe('RtmpServerSession: bad input', () => {
  const expectError = (bytes: Uint8Array, code: string, pattern?: RegExp, limits?: { maxMessageBytes: number; maxChunkSize: number }): SessionHarness => {
    const h = new SessionHarness(limits);
    assert.throws(
      () => h.push(bytes),
      (err: unknown) => isNovaError(err) && err.code === code && (pattern === undefined || pattern.test(err.message)),
    );
    assert.equal(h.session.state, 'closed');
    h.push(bytes); // ignored after close, no throw
    return h;
  };

  it('rejects random bytes instead of a handshake', () => {
    const random = mulberry32(7);
    const bytes = Uint8Array.from({ length: 2000 }, () => Math.floor(random() * 256));
    bytes[0] = 0x8e;
    expectError(bytes, 'NOVA_ERR_RTMP_HANDSHAKE');
  });

  it('rejects an HTTP request on the RTMP port', () => {
    expectError(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'NOVA_ERR_RTMP_HANDSHAKE');
  });

  it('rejects C0 version 6 (RTMPE)', () => {
    const bytes = new ClientBytes().handshake().bytes();
    bytes[0] = 6;
    expectError(bytes, 'NOVA_ERR_RTMP_HANDSHAKE', /version 6/);
  });

  it('rejects Set Chunk Size 0', () => {
    expectError(new ClientBytes().handshake().message(2, 1, 0, 0, hex('00000000')).bytes(), 'NOVA_ERR_RTMP_CHUNK', /Set Chunk Size 0/);
  });

  it('rejects Set Chunk Size 2^31', () => {
    expectError(new ClientBytes().handshake().message(2, 1, 0, 0, hex('80000000')).bytes(), 'NOVA_ERR_RTMP_CHUNK', /2147483648/);
  });

  it('rejects a message longer than maxMessageBytes', () => {
    expectError(
      new ClientBytes().publishPreamble().message(6, 9, 1, 0, new Uint8Array(70_000)).bytes(),
      'NOVA_ERR_RTMP_LIMIT',
      /exceeds 65536/,
      { maxMessageBytes: 65536, maxChunkSize: 65536 },
    );
  });

  it('rejects malformed AMF in a command', () => {
    // "connect" then a number cut short
    expectError(new ClientBytes().handshake().message(3, 20, 0, 0, hex('02 0007 636f6e6e656374 00 3ff0')).bytes(), 'NOVA_ERR_RTMP_AMF');
  });

  it('rejects a command whose name is not a string', () => {
    expectError(new ClientBytes().handshake().message(3, 20, 0, 0, encodeAmf0([1, 2])).bytes(), 'NOVA_ERR_RTMP_PROTOCOL');
  });

  it('rejects a reference to an unknown chunk stream', () => {
    expectError(new ClientBytes().handshake().raw(hex('85 000000 aa')).bytes(), 'NOVA_ERR_RTMP_CHUNK', /unknown chunk stream 5/);
  });

  it('rejects publish before connect', () => {
    expectError(new ClientBytes().handshake().command(1, 'publish', 0, null, 'k', 'live').bytes(), 'NOVA_ERR_RTMP_PROTOCOL', /before connect/);
  });

  it('rejects a second publish on one connection', () => {
    expectError(new ClientBytes().publishPreamble().command(1, 'publish', 0, null, 'k2', 'live').bytes(), 'NOVA_ERR_RTMP_PROTOCOL', /already/);
  });
});
