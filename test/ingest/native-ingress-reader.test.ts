/**
 * The native ingress reader (native/ingress-reader) against real TCP sockets:
 * the records it writes are the ones the JavaScript path writes (an 8-byte
 * receive time, then the socket's bytes, in order, nothing lost or repeated),
 * through a ring small enough to wrap and fill (the reader stops, the worker's
 * resume starts it again), EOF is reported, and after detach() it has not
 * read a byte more (Node can read the rest). A claimed socket (a worker reads
 * it at its looks) is read by the reader thread only past its low-water mark
 * or at EOF, and its records carry the bytes' arrival time, not the read's.
 * `npm test` builds the addon; in CI a missing addon fails here instead of skipping.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IngressControl } from '../../src/ingest/ingest-messages.js';
import { nativeIngressReader, workerSocketReader, type NativeIngressReader } from '../../src/ingest/native-ingress-reader.js';
import { ByteRing } from '../../src/stream/byte-ring.js';

const RECEIVED_AT_BYTES = 8;
const { reader, reason } = nativeIngressReader();

interface Pair {
  client: net.Socket;
  accepted: net.Socket;
  close(): Promise<void>;
}

/** Every record in the ring now: its receive time and bytes. */
function drainRecords(consumer: ByteRing): Array<{ at: number; bytes: Buffer }> {
  const records: Array<{ at: number; bytes: Buffer }> = [];
  let record: Uint8Array | null;
  while ((record = consumer.read()) !== null) {
    records.push({
      at: new DataView(record.buffer, record.byteOffset, RECEIVED_AT_BYTES).getFloat64(0, true),
      bytes: Buffer.from(record.subarray(RECEIVED_AT_BYTES)),
    });
  }
  consumer.release();
  return records;
}

/** A connected TCP pair whose server side Node has accepted paused (as the RTMP server does for the native reader). */
async function connectedPair(): Promise<Pair> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const acceptedP = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const accepted = await acceptedP;
  return {
    client,
    accepted,
    async close() {
      client.destroy();
      accepted.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('native ingress reader', { skip: process.env.CI === 'true' ? false : reader === null ? reason : false }, () => {
  let native: NativeIngressReader;
  before(() => {
    assert.ok(reader, `the native reader must be built in CI: ${reason}`);
    native = reader;
  });

  /** The pair's accepted socket read by the native reader into a fresh 1 MiB ring, with a consumer attached. */
  function attachedRing(pair: Pair): { consumer: ByteRing; control: Int32Array; handle: number } {
    const ring = ByteRing.create(1024 * 1024);
    const consumer = ByteRing.attach(ring.buffer);
    consumer.markConsumerAttached();
    const control = new Int32Array(new SharedArrayBuffer(IngressControl.length * 4));
    return { consumer, control, handle: native.attach(pair.accepted, ring.buffer, control, IngressControl, () => {}) };
  }

  it('writes the socket bytes as ring records (receive time + bytes), in order, through wrap, full and resume; reports EOF', async () => {
    const pair = await connectedPair();
    const ring = ByteRing.create(256 * 1024);
    const consumer = ByteRing.attach(ring.buffer);
    consumer.markConsumerAttached();
    const control = new Int32Array(new SharedArrayBuffer(IngressControl.length * 4));
    const events: string[] = [];
    const handle = native.attach(pair.accepted, ring.buffer, control, IngressControl, (event) => events.push(event));
    const payload = randomBytes(6 * 1024 * 1024);
    const sendStarted = Date.now();
    // Written in uneven pieces, more than the ring holds: it fills while nothing reads it, then drains and refills.
    let offset = 0;
    void (async () => {
      while (offset < payload.length) {
        const piece = payload.subarray(offset, offset + 1 + ((offset * 7919) % 100_000));
        offset += piece.length;
        if (!pair.client.write(piece)) await new Promise((resolve) => pair.client.once('drain', resolve));
      }
      pair.client.end();
    })();

    // Read nothing until the ring is full: the reader must stop by itself (and resume below once drained).
    const fillDeadline = Date.now() + 10_000;
    while (Atomics.load(control, IngressControl.producerPaused) === 0 && Date.now() < fillDeadline) await sleep(2);
    assert.equal(Atomics.load(control, IngressControl.producerPaused), 1, 'the reader stopped on a full ring');

    const received: Buffer[] = [];
    let receivedBytes = 0;
    let records = 0;
    let pauses = 0;
    let stampsOk = true;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      let record: Uint8Array | null;
      while ((record = consumer.read()) !== null) {
        const stamp = new DataView(record.buffer, record.byteOffset, RECEIVED_AT_BYTES).getFloat64(0, true);
        if (!(stamp >= sendStarted - 5 && stamp <= Date.now() + 5)) stampsOk = false;
        received.push(Buffer.from(record.subarray(RECEIVED_AT_BYTES)));
        receivedBytes += record.length - RECEIVED_AT_BYTES;
        records++;
      }
      consumer.release();
      if (Atomics.load(control, IngressControl.producerPaused) === 1 && consumer.bytesUsed === 0) {
        pauses++;
        native.resume(handle); // what the worker's resume_producer leads to
      }
      if (Atomics.load(control, IngressControl.socketClosed) === 1 && consumer.bytesUsed === 0 && consumer.read() === null) break;
      await sleep(1);
    }
    // socketClosed is stored before the 'closed' event is queued to this thread: give it its turn before detaching
    const eventDeadline = Date.now() + 2000;
    while (!events.includes('closed') && Date.now() < eventDeadline) await sleep(5);
    native.detach(handle);
    await pair.close();
    assert.equal(receivedBytes, payload.length, 'every byte arrived');
    assert.ok(Buffer.concat(received).equals(payload), 'the bytes are the ones sent, in order');
    assert.ok(stampsOk, 'every record carries a receive time (epoch ms) taken while the bytes were in flight');
    assert.ok(pauses > 0, `the ring filled and the reader resumed (${pauses} times)`);
    assert.ok(records > 1);
    assert.ok(events.includes('closed'), `EOF reported (${events.join(',')})`);
    assert.equal(Atomics.load(control, IngressControl.socketClosed), 1);
  });

  it('reads nothing after detach(): Node can read the rest of the socket itself', async () => {
    const pair = await connectedPair();
    const ring = ByteRing.create(64 * 1024);
    const consumer = ByteRing.attach(ring.buffer);
    const control = new Int32Array(new SharedArrayBuffer(IngressControl.length * 4));
    const handle = native.attach(pair.accepted, ring.buffer, control, IngressControl, () => {});
    pair.client.write('first');
    const deadline = Date.now() + 5000;
    let first: Uint8Array | null = null;
    while ((first = consumer.read()) === null && Date.now() < deadline) await sleep(2);
    assert.equal(Buffer.from(first!.subarray(RECEIVED_AT_BYTES)).toString(), 'first');
    native.detach(handle);
    native.detach(handle); // idempotent
    pair.client.write('second');
    await sleep(50);
    assert.equal(consumer.read(), null, 'no record after detach');
    const rest = new Promise<string>((resolve) => pair.accepted.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    pair.accepted.resume(); // accepted paused: Node starts reading only now
    assert.equal(await rest, 'second');
    await pair.close();
  });

  it('a claimed socket is read at the claimer\'s looks, stamped with arrival time; the reader thread reads it past the low-water mark, after release, and at EOF', async () => {
    // The worker's side, called on this thread: the addon is the same from any thread.
    const claimer = workerSocketReader();
    assert.ok(claimer, 'the addon loads for a worker');
    const pair = await connectedPair();
    const { consumer, control, handle } = attachedRing(pair);
    const before = native.readCounts();
    const lowWater = 64 * 1024;
    assert.equal(claimer.claim(handle, lowWater), true);
    // The kernel turns receive timestamps on asynchronously when the first socket asks (attach's
    // SO_TIMESTAMPNS): packets in the first moments carry none, and their records the read time.
    await sleep(100);

    // Below the mark: nothing reaches the ring until the claimer reads, and the stamp is when the bytes came.
    const sentAt = Date.now();
    pair.client.write(Buffer.alloc(10_000, 1));
    await sleep(150);
    assert.equal(drainRecords(consumer).length, 0, 'the reader thread left the claimed socket alone');
    assert.equal(claimer.read(handle), 'read');
    const claimedRecords = drainRecords(consumer);
    assert.equal(claimedRecords.reduce((n, r) => n + r.bytes.length, 0), 10_000);
    for (const { at } of claimedRecords) {
      assert.ok(at >= sentAt - 5 && at <= sentAt + 100, `stamped at arrival (${at - sentAt} ms after the write), not at the read 150 ms later`);
    }
    assert.equal(claimer.read(handle), 'none', 'nothing more waiting');

    // Past the mark (a claimer behind): the reader thread reads after all.
    pair.client.write(Buffer.alloc(3 * lowWater, 2));
    let behind = 0;
    const behindDeadline = Date.now() + 5000;
    while (behind < 3 * lowWater && Date.now() < behindDeadline) {
      behind += drainRecords(consumer).reduce((n, r) => n + r.bytes.length, 0);
      await sleep(5);
    }
    assert.ok(behind > 0, 'the reader thread read a claimed socket past its low-water mark');
    assert.equal(claimer.read(handle), behind === 3 * lowWater ? 'none' : 'read');
    drainRecords(consumer);

    // Released: the reader thread reads as bytes come.
    claimer.release(handle);
    pair.client.write('after release');
    let released = '';
    const releasedDeadline = Date.now() + 5000;
    while (released !== 'after release' && Date.now() < releasedDeadline) {
      released += drainRecords(consumer).map((r) => r.bytes.toString()).join('');
      await sleep(5);
    }
    assert.equal(released, 'after release');

    // Claimed again, then EOF: reported as when the reader thread reads it, and read() says 'gone'.
    assert.equal(claimer.claim(handle, lowWater), true);
    pair.client.end('last');
    const eofDeadline = Date.now() + 5000;
    let tail = '';
    while (Atomics.load(control, IngressControl.socketClosed) === 0 && Date.now() < eofDeadline) {
      if (claimer.read(handle) === 'gone') break;
      await sleep(5);
    }
    tail += drainRecords(consumer).map((r) => r.bytes.toString()).join('');
    assert.equal(tail, 'last');
    assert.equal(Atomics.load(control, IngressControl.socketClosed), 1, 'EOF seen on a claimed socket');
    assert.equal(claimer.read(handle), 'gone');
    const after = native.readCounts();
    assert.ok(after.worker - before.worker >= 2, `reads by the claimer counted (${after.worker - before.worker})`);
    assert.ok(after.reader > before.reader, 'reads by the reader thread counted');
    native.detach(handle);
    assert.equal(claimer.claim(handle, lowWater), false, 'a detached socket cannot be claimed');
    assert.equal(claimer.read(handle), 'gone');
    await pair.close();
  });

  it('bytes that waited in a claimed socket are stamped across the time they came in, not all with the newest arrival', async () => {
    const claimer = workerSocketReader()!;
    const pair = await connectedPair();
    const { consumer, control, handle } = attachedRing(pair);
    assert.equal(claimer.claim(handle, 1024 * 1024), true);
    await sleep(100); // receive timestamps on (see above)
    assert.equal(claimer.read(handle), 'none', 'found empty: what comes next came after this');
    // a publisher's pace: 20 KB every 30 ms for 150 ms, read once after it
    const firstWriteAt = Date.now();
    for (let i = 0; i < 6; i++) {
      pair.client.write(Buffer.alloc(20_000, i));
      await sleep(30);
    }
    const lastWriteAt = Date.now() - 30;
    assert.equal(claimer.read(handle), 'read');
    const records = drainRecords(consumer);
    assert.equal(records.reduce((n, r) => n + r.bytes.length, 0), 120_000);
    assert.ok(records.length >= 6, `read in pieces (${records.length})`);
    for (let i = 1; i < records.length; i++) assert.ok(records[i]!.at >= records[i - 1]!.at, 'stamps in arrival order');
    const first = records[0]!.at;
    const last = records.at(-1)!.at;
    assert.ok(last - first >= 80, `stamps span the ~150 ms the bytes came over (${(last - first).toFixed(0)} ms)`);
    assert.ok(first >= firstWriteAt - 5 && last <= lastWriteAt + 40, `within the writes: ${(first - firstWriteAt).toFixed(0)} .. ${(last - lastWriteAt).toFixed(0)} ms`);
    native.detach(handle);
    await pair.close();
  });

  it('refuses what is not a ring, and a socket without a descriptor', async () => {
    const pair = await connectedPair();
    const control = new Int32Array(new SharedArrayBuffer(IngressControl.length * 4));
    assert.throws(() => native.attach(pair.accepted, new SharedArrayBuffer(4096), control, IngressControl, () => {}), /not a ByteRing/);
    assert.throws(() => native.attach(new net.Socket(), ByteRing.create(4096).buffer, control, IngressControl, () => {}), /no descriptor/);
    await pair.close();
  });
});

