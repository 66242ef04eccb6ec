import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { copyBytes } from '../../src/stream/shared-copy.js';

function filled(length: number, shared: boolean, seed: number): Uint8Array {
  const bytes = new Uint8Array(shared ? new SharedArrayBuffer(length) : new ArrayBuffer(length));
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

test('copyBytes writes what TypedArray.set writes, for every alignment and side shared or not', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 200_000 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 15 }),
      (sourceShared, targetShared, length, sourceStart, targetViewStart, targetOffset) => {
        const source = filled(sourceStart + length + 3, sourceShared, 7).subarray(sourceStart, sourceStart + length);
        const targetSize = targetViewStart + targetOffset + length + 5;
        const target = filled(targetSize, targetShared, 11).subarray(targetViewStart);
        const expected = Uint8Array.from(target);
        expected.set(source, targetOffset);
        copyBytes(target, targetOffset, source);
        assert.deepEqual(Uint8Array.from(target), expected);
      },
    ),
    { numRuns: 400 },
  );
});

test('copyBytes copies between two shared buffers, slice by slice past the scratch size', () => {
  const source = filled(300_001, true, 3).subarray(1);
  const target = filled(300_010, true, 0);
  copyBytes(target, 6, source);
  assert.deepEqual(target.subarray(6, 6 + source.length), Uint8Array.from(source));
  assert.deepEqual(Array.from(target.subarray(0, 6)), Array.from(filled(6, false, 0)));
});

test('copyBytes refuses to write past the target as TypedArray.set does', () => {
  const source = filled(1000, true, 1).subarray(1);
  const target = new Uint8Array(new SharedArrayBuffer(1000));
  assert.throws(() => copyBytes(target, 2, source), RangeError);
  assert.throws(() => copyBytes(target, -1, source), RangeError);
  assert.ok(target.every((b) => b === 0), 'nothing written');
});
