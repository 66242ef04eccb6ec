/**
 * Copying bytes to or from shared memory at the speed of a plain copy.
 *
 * Why: V8 copies into or out of a SharedArrayBuffer (TypedArray.prototype.set,
 * Buffer.copy) with relaxed atomic loads and stores: a machine word at a time
 * when source and target lie at the same address modulo 8, otherwise one byte
 * at a time, ~0.7 ns a byte against ~0.05 for a plain copy (Node 20 here:
 * `loadtest/bench/shared-copy-micro.ts`). Media reaches shared memory at any alignment: a chunk's
 * payload follows a 1-byte header in the ingress ring, a sample follows the one
 * before it in a part. A misaligned copy therefore goes through a private
 * scratch buffer, placed to line up with the shared side: two fast copies
 * instead of a slow one.
 */
const WORD_BYTES = 8;
/** below this a bounce costs more than the byte-wise copy it avoids (shared-copy-micro: ~1 KiB) */
const BOUNCE_MIN_BYTES = 1024;
/** a large copy bounces in slices of this size: the scratch stays small */
const SLICE_BYTES = 64 * 1024;

/**
 * Room for two slices, each at any offset modulo 8; one per thread (module
 * state). The second starts 2 KiB past a multiple of 4 KiB from the first: a
 * copy between addresses a multiple of 4 KiB apart (give or take 64 bytes)
 * runs ~15× slower on x86 (4K aliasing in `rep movsb`; shared-copy-micro).
 */
const SECOND_SLICE = SLICE_BYTES + 2048;
const scratch = new Uint8Array(SECOND_SLICE + SLICE_BYTES + WORD_BYTES);

function isShared(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof SharedArrayBuffer;
}

/**
 * `target.set(source, targetOffset)`, fast whichever side is shared. The
 * same checks (offset within bounds: RangeError) and the same result; source
 * and target must not overlap unless they are the same unshared buffer.
 */
export function copyBytes(target: Uint8Array, targetOffset: number, source: Uint8Array): void {
  const length = source.length;
  if (
    length < BOUNCE_MIN_BYTES ||
    ((source.byteOffset - target.byteOffset - targetOffset) & (WORD_BYTES - 1)) === 0 ||
    targetOffset < 0 ||
    targetOffset + length > target.length
  ) {
    target.set(source, targetOffset);
    return;
  }
  const sourceShared = isShared(source);
  const targetShared = isShared(target);
  if (!sourceShared && !targetShared) {
    target.set(source, targetOffset);
    return;
  }
  for (let done = 0; done < length; done += SLICE_BYTES) {
    const end = Math.min(length, done + SLICE_BYTES);
    const slice = source.subarray(done, end);
    const to = targetOffset + done;
    if (sourceShared) {
      // shared → scratch lined up with the source: word by word; then a plain copy (or one more bounce)
      const at = (source.byteOffset + done) & (WORD_BYTES - 1);
      scratch.set(slice, at);
      if (targetShared) {
        const at2 = SECOND_SLICE + ((target.byteOffset + to) & (WORD_BYTES - 1));
        scratch.copyWithin(at2, at, at + slice.length);
        target.set(scratch.subarray(at2, at2 + slice.length), to);
      } else {
        target.set(scratch.subarray(at, at + slice.length), to);
      }
    } else {
      // a plain copy into scratch lined up with the target, then word by word into shared memory
      const at = (target.byteOffset + to) & (WORD_BYTES - 1);
      scratch.set(slice, at);
      target.set(scratch.subarray(at, at + slice.length), to);
    }
  }
}
