import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { NovaError } from '../../src/errors.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { startWorker } from '../../src/worker-file.js';

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

test('records round-trip in order, joined from parts', () => {
  const ring = ByteRing.create(64);
  assert.equal(ring.capacity, 64);
  assert.ok(ring.tryWrite(bytes(1, 2), bytes(3)));
  assert.ok(ring.tryWrite());
  assert.ok(ring.tryWrite(bytes(9, 9, 9, 9, 9)));
  assert.equal(ring.bytesUsed, 8 + 4 + 12);
  assert.deepEqual(ring.read(), bytes(1, 2, 3));
  assert.deepEqual(ring.read(), bytes());
  assert.deepEqual(ring.read(), bytes(9, 9, 9, 9, 9));
  assert.equal(ring.read(), null);
  assert.equal(ring.bytesUsed, 0);
});

test('full ring refuses without writing; oversized records throw', () => {
  const ring = ByteRing.create(32);
  assert.ok(ring.tryWrite(new Uint8Array(12))); // 16
  assert.ok(ring.tryWrite(new Uint8Array(9))); // 4 + 12 = 16 → full
  assert.equal(ring.tryWrite(bytes()), false);
  assert.equal(ring.bytesUsed, 32);
  assert.throws(() => ring.tryWrite(new Uint8Array(29)), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_PAYLOAD_TOO_LARGE');
  ring.read();
  ring.read();
  assert.equal(ring.read(), null);
  assert.ok(ring.tryWrite(new Uint8Array(28)), 'a record of capacity − 4 fits an empty ring wherever the positions are');
  assert.equal(ring.read()!.length, 28);
});

test('a record split at the end of the data area is joined on read; a view stays reserved until the next read', () => {
  const ring = ByteRing.create(32);
  ring.tryWrite(new Uint8Array(20)); // positions 0..24
  ring.read();
  ring.release();
  const split = bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  assert.ok(ring.tryWrite(split)); // prefix at 24, payload 28..32 + 0..11
  assert.deepEqual(ring.read(), split);
  ring.tryWrite(bytes(42, 43));
  const view = ring.read()!;
  assert.deepEqual(view, bytes(42, 43));
  assert.equal(view.buffer, ring.buffer, 'contiguous record: a view, no copy');
  assert.equal(ring.bytesUsed, 8, 'still reserved while the view may be in use');
  ring.release();
  assert.equal(ring.bytesUsed, 0);
  const target = new Uint8Array(64);
  ring.tryWrite(bytes(7, 7, 7));
  const copied = ring.read(target)!;
  assert.equal(copied.buffer, target.buffer);
  assert.equal(ring.bytesUsed, 0, 'copied out: freed at once');
  ring.tryWrite(bytes(1, 2, 3));
  assert.throws(() => ring.read(new Uint8Array(2)), (err: unknown) => err instanceof NovaError);
});

test('attach sees the same ring; foreign buffers are refused', () => {
  const producer = ByteRing.create(100);
  const consumer = ByteRing.attach(producer.buffer);
  assert.equal(consumer.capacity, 100);
  producer.tryWrite(bytes(5));
  assert.deepEqual(consumer.read(), bytes(5));
  assert.throws(() => ByteRing.attach(new SharedArrayBuffer(256)), NovaError);
  assert.throws(() => ByteRing.create(4), NovaError);
});

test('waitForData resolves on notify, on close, and times out', async () => {
  const ring = ByteRing.create(64);
  const started = Date.now();
  assert.equal(await ring.waitForData(30), 'timed-out');
  assert.ok(Date.now() - started >= 25);
  const waiting = ring.waitForData(5000);
  setTimeout(() => {
    ring.tryWrite(bytes(1));
    ring.notify();
  }, 10);
  assert.equal(await waiting, 'ok');
  assert.equal(await ring.waitForData(5000), 'ok', 'data already there: immediate');
  ring.read();
  ring.read();
  assert.equal(ring.closed, false);
  const closing = ring.waitForData(5000);
  setTimeout(() => ring.close(), 10);
  assert.equal(await closing, 'ok');
  assert.equal(ring.closed, true);
});

test('waitForSpace resolves when the consumer frees room', async () => {
  const ring = ByteRing.create(16);
  ring.tryWrite(new Uint8Array(12));
  assert.equal(await ring.waitForSpace(4, 20), 'timed-out');
  const waiting = ring.waitForSpace(4, 5000);
  setTimeout(() => ring.read(target()), 10);
  assert.equal(await waiting, 'ok');
  assert.ok(ring.tryWrite(new Uint8Array(4)));
  function target(): Uint8Array {
    return new Uint8Array(16);
  }
});

type Op = { write: number; parts: number } | { read: 'view' | 'copy' };

test('property: any sequence of writes and reads matches a FIFO model and never overwrites unread bytes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 8, max: 200 }),
      fc.array(
        fc.oneof(
          fc.record({ write: fc.integer({ min: 0, max: 120 }), parts: fc.integer({ min: 1, max: 3 }) }),
          fc.record({ read: fc.constantFrom<'view' | 'copy'>('view', 'copy') }),
        ),
        { maxLength: 200 },
      ),
      (capacityBytes, ops: Op[]) => {
        const ring = ByteRing.create(capacityBytes);
        const capacity = ring.capacity;
        const model: Uint8Array[] = [];
        let modelUsed = 0;
        let counter = 0;
        let heldView: { view: Uint8Array; expected: Uint8Array } | null = null;
        let reservedBytes = 0;
        const target = new Uint8Array(256);
        const size = (n: number) => 4 + ((n + 3) & ~3);
        for (const op of ops) {
          if ('write' in op) {
            const record = new Uint8Array(op.write);
            for (let i = 0; i < record.length; i++) record[i] = (counter++ * 31) & 0xff;
            const cut1 = Math.floor(record.length / 3);
            const parts = op.parts === 1 ? [record] : op.parts === 2 ? [record.subarray(0, cut1), record.subarray(cut1)] : [record.subarray(0, cut1), new Uint8Array(0), record.subarray(cut1)];
            const needed = size(record.length);
            if (needed > capacity) {
              assert.throws(() => ring.tryWrite(...parts), NovaError);
              continue;
            }
            const fits: boolean = capacity - modelUsed - reservedBytes >= needed;
            assert.equal(ring.tryWrite(...parts), fits);
            if (fits) {
              model.push(record);
              modelUsed += needed;
            }
          } else {
            const got = op.read === 'view' ? ring.read() : ring.read(target);
            heldView = null;
            reservedBytes = 0;
            const expected = model.shift();
            if (expected === undefined) {
              assert.equal(got, null);
              continue;
            }
            assert.ok(got !== null);
            assert.deepEqual([...got], [...expected]);
            modelUsed -= size(expected.length);
            if (op.read === 'view') {
              heldView = { view: got, expected };
              // a contiguous record is lent as a view and stays reserved; a split one was copied out
              if (got.buffer === ring.buffer) reservedBytes = size(expected.length);
            }
          }
          if (heldView) assert.deepEqual([...heldView.view], [...heldView.expected], 'unread/held bytes overwritten');
          assert.equal(ring.bytesUsed, modelUsed + reservedBytes);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('a real Worker producer moves ~256 MB of random records intact and in order', async () => {
  const ring = ByteRing.create(1 << 20);
  const totalBytes = 256 << 20;
  const worker = startWorker(new URL('./byte-ring-worker.ts', import.meta.url), {
    workerData: { buffer: ring.buffer, totalBytes, maxPayload: 256 << 10 },
  });
  let workerError: unknown = null;
  const finished = new Promise<{ records: number; bytes: number; fullWaits: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', (err) => {
      workerError = err;
      reject(err);
    });
  });
  finished.catch(() => {});
  let expectedSequence = 0;
  let receivedBytes = 0;
  const started = Date.now();
  try {
    for (;;) {
      const record = ring.read();
      if (record === null) {
        if (ring.closed && ring.bytesUsed === 0 && ring.read() === null) break;
        if (workerError !== null) throw workerError;
        assert.ok(Date.now() - started < 120_000, 'transfer too slow');
        await ring.waitForData(1000);
        continue;
      }
      const view = new DataView(record.buffer, record.byteOffset, 8);
      assert.equal(view.getUint32(0, true), expectedSequence, 'order');
      const payload = record.subarray(8);
      if (crc32(payload) !== view.getUint32(4, true)) assert.fail(`checksum mismatch in record ${expectedSequence}`);
      expectedSequence++;
      receivedBytes += record.length;
      assert.ok(Date.now() - started < 120_000, 'transfer too slow');
    }
    const summary = await finished;
    assert.equal(expectedSequence, summary.records);
    assert.equal(receivedBytes, summary.bytes);
    assert.ok(receivedBytes >= totalBytes);
    assert.ok(summary.fullWaits > 0, 'the producer really hit backpressure');
  } finally {
    await worker.terminate();
  }
});
