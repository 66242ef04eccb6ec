/**
 * The worker's outbox on a real MessageChannel: what a look emits arrives as
 * one message, in order, with its transferred buffers; what is emitted
 * outside a look arrives at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { WorkerToMain } from '../../src/ingest/ingest-messages.js';
import { WorkerOutbox } from '../../src/ingest/worker-outbox.js';

function received(port: MessagePort): WorkerToMain[][] {
  const out: WorkerToMain[][] = [];
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) out.push(m.message as WorkerToMain[]);
  return out;
}

describe('WorkerOutbox', () => {
  it('sends at once outside a look, one message per send', () => {
    const { port1, port2 } = new MessageChannel();
    const outbox = new WorkerOutbox(port1);
    outbox.send({ type: 'unpublish' });
    assert.deepEqual(received(port2), [[{ type: 'unpublish' }]]);
    outbox.send({ type: 'resume_producer' });
    outbox.send({ type: 'long_gop', observedMs: 4000 });
    assert.deepEqual(received(port2), [[{ type: 'resume_producer' }], [{ type: 'long_gop', observedMs: 4000 }]]);
    port1.close();
  });

  it("holds a look's messages until it ends, then sends them as one, in order, with their transfers", () => {
    const { port1, port2 } = new MessageChannel();
    const outbox = new WorkerOutbox(port1);
    const first = new Uint8Array([1, 2, 3]);
    const second = new Uint8Array([4, 5]);
    outbox.begin();
    outbox.send({ type: 'send', bytes: first }, [first.buffer as ArrayBuffer]);
    outbox.send({ type: 'unpublish' });
    outbox.send({ type: 'send', bytes: second }, [second.buffer as ArrayBuffer]);
    assert.deepEqual(received(port2), [], 'nothing leaves before the look ends');
    outbox.end();
    assert.equal(first.byteLength, 0, 'transferred, not copied');
    const batches = received(port2);
    assert.equal(batches.length, 1);
    assert.deepEqual(
      batches[0]!.map((m) => (m.type === 'send' ? [...m.bytes] : m.type)),
      [[1, 2, 3], 'unpublish', [4, 5]],
    );

    // the next look starts empty, and a look that emitted nothing sends nothing
    outbox.begin();
    outbox.end();
    assert.deepEqual(received(port2), []);
    outbox.begin();
    outbox.send({ type: 'resume_producer' });
    outbox.end();
    assert.deepEqual(received(port2), [[{ type: 'resume_producer' }]]);
    // after end() sends go at once again
    outbox.send({ type: 'unpublish' });
    assert.deepEqual(received(port2), [[{ type: 'unpublish' }]]);
    port1.close();
  });
});
