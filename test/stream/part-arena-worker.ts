/**
 * Producer side of the cross-thread PartArena test, as an ingest worker
 * uses it: creates the arena, posts it, then allocates `parts` regions of
 * varied sizes, fills each with a pattern derived from its sequence number
 * and posts {sequence, position, length}. When the arena is full it waits
 * for the main thread's releases, telling it so (a real packager falls
 * back to a fresh buffer instead; here waiting proves the space comes back).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { xorshift32 } from '../support/xorshift.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { PartArena } from '../../src/stream/part-arena.js';
import { fillPattern } from './part-arena-pattern.js';

interface ProducerData {
  capacity: number;
  parts: number;
  maxPart: number;
}

const { capacity, parts, maxPart } = workerData as ProducerData;
const port = parentPort!;
const arena = PartArena.create(capacity);
port.postMessage({ type: 'arena', buffer: arena.buffer });

const nextRandom = xorshift32(0x2545f491);

let fullWaits = 0;
for (let sequence = 0; sequence < parts; sequence++) {
  const length = 1 + (nextRandom() % 4 === 0 ? nextRandom() % maxPart : nextRandom() % 4096);
  let region = arena.allocate(length);
  while (region === null) {
    // the main thread drops its oldest region on this, as the store's window moves on
    if (fullWaits++ % 10 === 0) port.postMessage({ type: 'full' });
    await sleep(1);
    region = arena.allocate(length);
  }
  fillPattern(region, sequence);
  port.postMessage({ type: 'part', sequence, position: arena.positionOf(region), length });
}
port.postMessage({ type: 'done', fullWaits });
