import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { PartArena, PartArenaPool } from '../../src/stream/part-arena.js';
import { startWorker } from '../../src/worker-file.js';
import { fillPattern, patternMismatch } from './part-arena-pattern.js';
import { xorshift32 } from '../support/xorshift.js';

/** The producer's arena and the consumer's view of it, on one thread. */
function pair(capacity: number): { producer: PartArena; consumer: PartArena } {
  const producer = PartArena.create(capacity);
  return { producer, consumer: PartArena.attach(producer.buffer) };
}

/** Allocates, fills and takes one region, as a worker and the main thread do between them. */
function part(producer: PartArena, consumer: PartArena, length: number, sequence: number): Uint8Array | null {
  const region = producer.allocate(length);
  if (region === null) return null;
  fillPattern(region, sequence);
  return consumer.take(producer.positionOf(region), length);
}

test('a taken region shows what the producer wrote; a released one is reused', () => {
  const { producer, consumer } = pair(100);
  const first = part(producer, consumer, 60, 1)!;
  assert.equal(patternMismatch(first, 1), -1);
  assert.equal(producer.allocate(41), null, 'only 40 bytes are free');
  const second = part(producer, consumer, 40, 2)!;
  assert.equal(producer.allocate(1), null, 'full');
  PartArena.release(first);
  const third = part(producer, consumer, 60, 3)!;
  assert.equal(third.byteOffset, first.byteOffset, 'the released region is written again');
  assert.equal(patternMismatch(second, 2), -1);
  assert.equal(patternMismatch(third, 3), -1);
});

test('regions released out of order free space only up to the oldest one still held', () => {
  const { producer, consumer } = pair(90);
  const a = part(producer, consumer, 30, 1)!;
  const b = part(producer, consumer, 30, 2)!;
  const c = part(producer, consumer, 30, 3)!;
  PartArena.release(b);
  PartArena.release(c);
  assert.equal(producer.allocate(1), null, 'a still holds the ring from its start');
  assert.equal(consumer.heldRegions, 1, 'b and c are released, a is not');
  PartArena.release(a);
  assert.equal(consumer.heldRegions, 0);
  assert.ok(producer.allocate(90), 'everything is free again');
});

test('a region never wraps: it starts over at 0 and the skipped tail is freed with it', () => {
  const { producer, consumer } = pair(100);
  const a = part(producer, consumer, 70, 1)!;
  PartArena.release(a);
  // 30 bytes left at the end: a 40-byte region starts at 0 and owns them too
  const b = part(producer, consumer, 40, 2)!;
  assert.equal(b.byteOffset, a.byteOffset, 'starts at the beginning of the data area');
  assert.equal(producer.allocate(31), null, '40 + the skipped 30 are in use: 30 left');
  const c = part(producer, consumer, 30, 3)!; // [40, 70)
  PartArena.release(b);
  // free now: [70, 100) and [0, 40); a 41-byte region fits neither
  assert.equal(producer.allocate(41), null);
  const d = producer.allocate(40)!;
  assert.equal(d.byteOffset, b.byteOffset);
  assert.equal(patternMismatch(c, 3), -1);
});

test('releasing twice, or bytes that are not a region, changes nothing', () => {
  const { producer, consumer } = pair(64);
  const a = part(producer, consumer, 32, 1)!;
  const b = part(producer, consumer, 32, 2)!;
  PartArena.release(a);
  const c = part(producer, consumer, 32, 3)!; // reuses a's bytes
  PartArena.release(a); // a stale second release must not free c
  PartArena.release(new Uint8Array(32));
  PartArena.release(a.subarray(0, 8)); // a view of the same memory is not the region
  assert.equal(producer.allocate(1), null);
  assert.equal(consumer.heldRegions, 2);
  PartArena.release(b);
  PartArena.release(c);
  assert.equal(consumer.heldRegions, 0);
});

test('sizes the arena cannot hold, and foreign buffers, are refused', () => {
  const { producer, consumer } = pair(64);
  assert.equal(producer.allocate(0), null);
  assert.equal(producer.allocate(65), null);
  assert.throws(() => consumer.take(128, 1), RangeError);
  assert.throws(() => consumer.take(60, 8), RangeError, 'a region past the end of the data area');
  const region = producer.allocate(8)!;
  assert.throws(() => producer.positionOf(new Uint8Array(8)), RangeError);
  assert.equal(producer.positionOf(region), 0);
  assert.throws(() => PartArena.create(0), RangeError);
  assert.throws(() => PartArena.attach(new SharedArrayBuffer(256)), /bad header/);
  assert.throws(() => PartArena.attach(new SharedArrayBuffer(8)), /too small/);
});

test('an arena posted again (a pooled arena reused) reaches the same consumer, which still knows what it holds', () => {
  const producer = PartArena.create(100);
  const { port1, port2 } = new MessageChannel();
  const repost = (): SharedArrayBuffer => {
    port1.postMessage(producer.buffer);
    return receiveMessageOnPort(port2)!.message as SharedArrayBuffer;
  };
  const first = repost();
  const second = repost();
  assert.notEqual(first, second, 'each message brings its own SharedArrayBuffer object');
  const consumer = PartArena.attach(first);
  const held = part(producer, consumer, 60, 1)!;
  assert.equal(PartArena.attach(second), consumer);
  // another arena is another consumer
  assert.notEqual(PartArena.attach(PartArena.create(100).buffer), consumer);
  assert.equal(producer.allocate(41), null, 'still held through the first attach');
  PartArena.release(held);
  assert.ok(producer.drained);
  assert.ok(producer.allocate(60));
  port1.close();
});

test('the pool reuses an arena handed back only once drained, the smallest that fits and is not much larger, and keeps at most maxIdle', () => {
  const pool = new PartArenaPool(2);
  const a = pool.acquire(100);
  const consumer = PartArena.attach(a.buffer);
  const held = part(a, consumer, 10, 1)!;
  pool.giveBack(a);
  const b = pool.acquire(100);
  assert.notEqual(b, a, 'a still has a part held: not reused');
  PartArena.release(held);
  const big = pool.acquire(400);
  pool.giveBack(big);
  assert.equal(pool.acquire(100), a, 'drained now, and smaller than the other drained one');
  assert.notEqual(pool.acquire(300), big, 'more than a quarter larger than asked: a stream would cycle through it all');
  assert.equal(pool.acquire(350), big);
  assert.notEqual(pool.acquire(500), big, 'nothing idle is large enough');
  pool.giveBack(a);
  pool.giveBack(b);
  pool.giveBack(big);
  assert.equal(pool.idleCount, 2, 'the oldest idle arena is dropped');
  assert.notEqual(pool.acquire(100), a);
});

test('property: held regions never overlap and keep their bytes, whatever the sizes and release order', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 16, max: 4096 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 1500 }), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 300 }),
      (capacity, steps) => {
        const { producer, consumer } = pair(capacity);
        const held: { view: Uint8Array; sequence: number }[] = [];
        let sequence = 0;
        for (const [size, pick, release] of steps) {
          if (release && held.length > 0) {
            const [gone] = held.splice(pick % held.length, 1);
            PartArena.release(gone!.view);
          }
          const view = part(producer, consumer, size, ++sequence);
          if (view !== null) {
            held.push({ view, sequence });
          } else if (held.length === 0 && size <= capacity / 2) {
            return false; // an empty arena fits any region up to half its capacity, wherever its head is
          }
          for (const region of held) if (patternMismatch(region.view, region.sequence) !== -1) return false;
        }
        // everything released: the arena is empty again
        for (const region of held) PartArena.release(region.view);
        return consumer.heldRegions === 0 && producer.allocate(Math.floor(capacity / 2)) !== null;
      },
    ),
    { numRuns: 500 },
  );
});

test('across threads: a worker writes 64 MB of parts through a 1 MiB arena, released out of order, none overwritten while held', async () => {
  const parts = 2000;
  const worker = startWorker(new URL('./part-arena-worker.ts', import.meta.url), {
    workerData: { capacity: 1 << 20, parts, maxPart: 128 << 10 },
  });
  let arena: PartArena | null = null;
  const held: { view: Uint8Array; sequence: number }[] = [];
  let received = 0;
  let bytes = 0;
  let failure: string | null = null;
  const random = xorshift32(0x1234567);
  const done = new Promise<{ fullWaits: number }>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (message: { type: string; buffer?: SharedArrayBuffer; sequence?: number; position?: number; length?: number; fullWaits?: number }) => {
      if (message.type === 'arena') arena = PartArena.attach(message.buffer!);
      else if (message.type === 'part') {
        const view = arena!.take(message.position!, message.length!);
        if (message.sequence !== received) failure ??= `part ${message.sequence} arrived as the ${received}th`;
        if (patternMismatch(view, message.sequence!) !== -1) failure ??= `part ${message.sequence} arrived damaged`;
        received++;
        bytes += view.byteLength;
        held.push({ view, sequence: message.sequence! });
        // keep up to 6 regions, dropping a random one: the store drops pending parts before older segments
        while (held.length > 6) {
          const [gone] = held.splice(random() % held.length, 1);
          const at = patternMismatch(gone!.view, gone!.sequence);
          if (at !== -1) failure ??= `part ${gone!.sequence} was overwritten at byte ${at} while held`;
          PartArena.release(gone!.view);
        }
      } else if (message.type === 'full' && held.length > 0) {
        const gone = held.shift()!;
        if (patternMismatch(gone.view, gone.sequence) !== -1) failure ??= `part ${gone.sequence} was overwritten while held`;
        PartArena.release(gone.view);
      } else if (message.type === 'done') resolve({ fullWaits: message.fullWaits! });
    });
  });
  const { fullWaits } = await done;
  await worker.terminate();
  assert.equal(failure, null);
  assert.equal(received, parts);
  assert.ok(bytes > 32 * (1 << 20), `${bytes} bytes went through: the arena was reused many times over`);
  assert.ok(fullWaits > 0, 'the producer had to wait for releases at least once');
});
