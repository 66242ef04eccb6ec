/**
 * Micro-benchmark of copies into and out of shared memory: TypedArray.prototype.set
 * against copyBytes (src/stream/shared-copy.ts), for the sizes media moves in
 * (an audio frame, a 4 KiB chunk payload, a video frame), lined up and not.
 * Prints ns per byte, median of 7 runs; the plain (unshared) copy is the floor.
 *
 *   node --import tsx loadtest/bench/shared-copy-micro.ts
 */
import { copyBytes } from '../../src/stream/shared-copy.js';
import { median } from './lib/measure.js';

const RUNS = 7;
const BYTES_PER_RUN = 64 * 1024 * 1024;
const shared = new Uint8Array(new SharedArrayBuffer(4 * 1024 * 1024));
const plain = new Uint8Array(new ArrayBuffer(4 * 1024 * 1024));

function nsPerByte(copy: () => void, size: number): number {
  const copies = Math.max(1, Math.floor(BYTES_PER_RUN / size));
  for (let i = 0; i < Math.min(copies, 1000); i++) copy();
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < copies; i++) copy();
    runs.push(Number(process.hrtime.bigint() - started) / (copies * size));
  }
  return median(runs);
}

console.log('copy                               size     set ns/B  copyBytes ns/B');
for (const size of [256, 4096, 60_000, 1_000_000]) {
  const cases: [string, Uint8Array, number, Uint8Array][] = [
    ['plain → plain (floor)', plain, 3, plain.subarray(2_002_049, 2_002_049 + size)],
    ['shared → plain, misaligned', plain, 3, shared.subarray(2049, 2049 + size)],
    ['plain → shared, misaligned', shared, 3, plain.subarray(2_002_049, 2_002_049 + size)],
    ['shared → shared, misaligned', shared, 3, shared.subarray(2_002_049, 2_002_049 + size)],
    ['shared → plain, lined up', plain, 8, shared.subarray(2064, 2064 + size)],
  ];
  for (const [name, target, offset, source] of cases) {
    const viaSet = nsPerByte(() => target.set(source, offset), size);
    const viaCopyBytes = nsPerByte(() => copyBytes(target, offset, source), size);
    console.log(`${name.padEnd(32)} ${String(size).padStart(8)} ${viaSet.toFixed(3).padStart(12)} ${viaCopyBytes.toFixed(3).padStart(15)}`);
  }
}
