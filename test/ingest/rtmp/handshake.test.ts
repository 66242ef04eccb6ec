import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNovaError } from '../../../src/errors.js';
import { ClientHandshake, HANDSHAKE_PACKET_SIZE, ServerHandshake } from '../../../src/ingest/rtmp/handshake.js';
import { ffmpegPublishCapture } from './session-harness.js';

describe('handshake', () => {
  it('server answers FFmpeg\'s real (digest) C0C1 with S0, a simple S1 and S2 = C1', () => {
    const capture = ffmpegPublishCapture();
    const server = new ServerHandshake();
    const sent: Uint8Array[] = [];
    const consumed = server.push(capture, 0, (b) => sent.push(b));
    assert.equal(consumed, 1 + 2 * HANDSHAKE_PACKET_SIZE, 'C0 C1 C2');
    assert.equal(server.state, 'done');
    assert.equal(sent.length, 1);
    const reply = sent[0];
    assert.equal(reply[0], 3);
    assert.deepEqual([...reply.subarray(5, 9)], [0, 0, 0, 0], 'S1 version zero: simple scheme');
    assert.ok(capture[5] !== 0 || capture[6] !== 0, 'FFmpeg C1 carries a version (digest scheme)');
    assert.deepEqual(Buffer.from(reply.subarray(1 + HANDSHAKE_PACKET_SIZE)), Buffer.from(capture.subarray(1, 1 + HANDSHAKE_PACKET_SIZE)));
  });

  it('server handshake works one byte at a time and leaves the rest for the chunk stream', () => {
    const input = new Uint8Array(1 + 2 * HANDSHAKE_PACKET_SIZE + 3);
    input[0] = 3;
    const server = new ServerHandshake();
    let sends = 0;
    let total = 0;
    for (let i = 0; i < input.length; i++) total += server.push(input.subarray(i, i + 1), 0, () => sends++);
    assert.equal(total, 1 + 2 * HANDSHAKE_PACKET_SIZE);
    assert.equal(sends, 1);
    assert.equal(server.state, 'done');
  });

  it('rejects a C0 other than 3', () => {
    for (const version of [0, 6, 0x16, 0x47]) {
      assert.throws(
        () => new ServerHandshake().push(Uint8Array.of(version), 0, () => undefined),
        (err: unknown) => isNovaError(err) && err.code === 'NOVA_ERR_RTMP_HANDSHAKE',
      );
    }
  });

  it('client and server complete a handshake against each other; C2 echoes S1', () => {
    const client = new ClientHandshake();
    const server = new ServerHandshake();
    const c0c1 = client.start();
    let s0s1s2: Uint8Array = new Uint8Array(0);
    server.push(c0c1, 0, (b) => (s0s1s2 = b));
    let c2: Uint8Array = new Uint8Array(0);
    assert.equal(client.push(s0s1s2, 0, (b) => (c2 = b)), s0s1s2.length);
    assert.equal(client.state, 'done');
    assert.deepEqual(Buffer.from(c2), Buffer.from(s0s1s2.subarray(1, 1 + HANDSHAKE_PACKET_SIZE)));
    server.push(c2, 0, () => undefined);
    assert.equal(server.state, 'done');
  });
});
