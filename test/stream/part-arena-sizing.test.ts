/**
 * Part arenas follow the stream: the first is small, a full one is replaced by one
 * sized from the measured rate and the retained media time, a much too large one by a
 * smaller one, and a replaced (retired) arena hands its pages back as its parts are
 * released, without disturbing the parts still held in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartArenaReader, mediaMessageOf } from '../../src/package/media-message.js';
import type { PackagedPart } from '../../src/package/packaged-media.js';
import { PartArena, PartArenaPool, PartArenaWriter } from '../../src/stream/part-arena.js';
import { canDiscardPages } from '../../src/stream/discard-pages.js';
import { CI } from '../support/tools.js';
import { fillPattern, patternMismatch } from './part-arena-pattern.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/**
 * A producer and consumer over a fake clock: parts of `partBytes` every `partMs`, the consumer
 * keeping the last `keep` of them (as the store keeps its window) and releasing older ones.
 */
function stream(options: { initialBytes: number; retainMs: number }) {
  let now = 0;
  const announced: SharedArrayBuffer[] = [];
  const writer = new PartArenaWriter({ initialBytes: options.initialBytes, maxBytes: 64 * MiB, retainMs: options.retainMs }, (buffer) => announced.push(buffer), new PartArenaPool(8), () => now);
  const reader = new PartArenaReader((reason) => assert.fail(reason));
  const held: { bytes: Uint8Array; sequence: number }[] = [];
  const capacities: number[] = [];
  let sequence = 0;
  let damaged = 0;
  return {
    writer,
    reader,
    held,
    capacities,
    get damaged() {
      return damaged;
    },
    run(partBytes: number, partMs: number, durationMs: number, keep: number): void {
      for (const end = now + durationMs; now < end; now += partMs) {
        const bytes = writer.allocate(partBytes);
        fillPattern(bytes, ++sequence);
        const part: PackagedPart = { kind: 'part', rendition: 'source', track: 'video', msn: 0, part: { index: sequence, duration: partMs / 1000, independent: true }, bytes };
        const message = mediaMessageOf(writer, part);
        for (const buffer of announced.splice(0)) {
          reader.attach(buffer);
          capacities.push(buffer.byteLength - 64);
        }
        const received = reader.received(structuredClone(message), true)!;
        held.push({ bytes: received.bytes, sequence });
        while (held.length > keep) {
          const gone = held.shift()!;
          if (patternMismatch(gone.bytes, gone.sequence) !== -1) damaged++;
          PartArena.release(gone.bytes);
        }
      }
    },
  };
}

test('a stream above the first arena gets one sized from its rate and retained time; every part stays intact', () => {
  // 12 Mb/s in 200 ms parts (300 KB each), 16 s kept: ~24 MB, far above the 1 MiB first arena
  const s = stream({ initialBytes: 1 * MiB, retainMs: 16_000 });
  s.run(300 * KiB, 200, 60_000, 80);
  assert.equal(s.capacities[0], 1 * MiB, 'starts small');
  const last = s.capacities.at(-1)!;
  const needed = 80 * 300 * KiB;
  assert.ok(last >= needed && last <= needed * 1.25, `grown to ${(last / MiB).toFixed(1)} MiB for ${(needed / MiB).toFixed(1)} MiB kept`);
  assert.ok(s.capacities.length <= 3, `replaced ${s.capacities.length - 1} times: the rate sizes it, not doubling`);
  assert.equal(s.writer.fallbacks, 0, 'every part in an arena');
  assert.equal(s.damaged, 0, 'no part was overwritten while held, across replacements');
  for (const { bytes, sequence } of s.held) assert.equal(patternMismatch(bytes, sequence), -1);
});

test('an arena far larger than the recent rate needs is replaced by a smaller one once the window moved on', () => {
  const s = stream({ initialBytes: 1 * MiB, retainMs: 16_000 });
  s.run(300 * KiB, 200, 20_000, 80);
  const large = s.writer.capacity;
  s.run(30 * KiB, 200, 40_000, 80); // the bitrate fell tenfold
  assert.ok(s.writer.capacity < large / 2, `${(s.writer.capacity / MiB).toFixed(1)} MiB after ${(large / MiB).toFixed(1)} MiB`);
  assert.equal(s.damaged, 0);
  assert.equal(s.writer.fallbacks, 0);
});

test('a retired arena hands back its pages as its parts are released; the parts still held keep their bytes', { skip: !canDiscardPages && !CI ? 'native/build/shared_memory.node is not built (bash native/build.sh)' : undefined }, () => {
  assert.ok(canDiscardPages, 'the shared memory addon is built');
  const producer = PartArena.create(4 * MiB);
  const consumer = PartArena.attach(producer.buffer);
  const regions: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) {
    const region = producer.allocate(256 * KiB)!;
    fillPattern(region, i);
    regions.push(consumer.take(producer.positionOf(region), region.length));
  }
  assert.equal(consumer.residentBytes, 2 * MiB, 'what the regions reached');
  // not retired: a released region's bytes stay (the producer reuses them as they are)
  PartArena.release(regions[0]!);
  assert.equal(patternMismatch(regions[0]!, 0), -1);
  consumer.retire();
  assert.equal(consumer.residentBytes, 7 * 256 * KiB, 'retired: only what is still held');
  for (let i = 1; i < 4; i++) PartArena.release(regions[i]!);
  assert.equal(consumer.residentBytes, 7 * 256 * KiB, 'handed back in batches of 1 MiB: not yet');
  assert.equal(patternMismatch(regions[2]!, 2), -1);
  PartArena.release(regions[4]!);
  assert.equal(consumer.residentBytes, 3 * 256 * KiB, 'a batch handed back');
  // whole pages only: the region's first and last bytes may share a page with its neighbours
  assert.ok(regions[2]!.subarray(8 * KiB, -8 * KiB).every((byte) => byte === 0), 'a released region of a retired arena reads as returned pages (zeros)');
  for (let i = 5; i < 8; i++) assert.equal(patternMismatch(regions[i]!, i), -1, `held region ${i} intact`);
  for (let i = 5; i < 8; i++) PartArena.release(regions[i]!);
  assert.equal(consumer.residentBytes, 0, 'drained: the whole arena returned');
  assert.ok(producer.drained);
  // reused afterwards (a pooled arena), it works as new
  const again = producer.allocate(100)!;
  fillPattern(again, 9);
  const taken = consumer.take(producer.positionOf(again), 100);
  assert.equal(patternMismatch(taken, 9), -1);
  assert.equal(consumer.residentBytes, (taken.byteOffset - 64) + 100, 'attached again: in use, counted as touched');
});
