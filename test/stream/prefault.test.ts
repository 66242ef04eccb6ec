/**
 * Prefaulting fresh shared memory (native/shared-memory): a prefaulted buffer is written
 * without page faults, where the same write into a fresh buffer faults in page after page;
 * ByteRing.create and PartArena.create prefault theirs. `npm test` builds the addon; in CI a
 * missing addon fails here instead of skipping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefault } from '../../src/stream/prefault.js';
import { loadNativeAddon } from '../../src/native-addon.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { PartArena } from '../../src/stream/part-arena.js';

const BYTES = 8 * 1024 * 1024;
const { addon, reason } = loadNativeAddon<object>('shared_memory');
const skip = process.env.CI === 'true' ? false : addon === null ? reason : false;

/** minor page faults while filling `bytes` */
function faultsFilling(bytes: Uint8Array): number {
  const before = process.resourceUsage().minorPageFault;
  bytes.fill(7);
  return process.resourceUsage().minorPageFault - before;
}

test('a prefaulted buffer is written without page faults; a fresh one faults page by page', { skip }, () => {
  assert.ok(addon, `the shared-memory addon must be built in CI: ${reason}`);
  const fresh = new SharedArrayBuffer(BYTES);
  const freshFaults = faultsFilling(new Uint8Array(fresh));
  const prefaulted = new SharedArrayBuffer(BYTES);
  assert.equal(prefault(prefaulted), BYTES, 'made resident');
  const prefaultedFaults = faultsFilling(new Uint8Array(prefaulted));
  assert.ok(freshFaults >= 100, `a fresh 8 MiB buffer faults as it is written (${freshFaults})`);
  assert.ok(prefaultedFaults * 20 < freshFaults, `prefaulted: ${prefaultedFaults} faults, fresh: ${freshFaults}`);
  assert.equal(prefault(new SharedArrayBuffer(64 * 1024)), 0, 'small buffers are left alone');
});

test('rings and part arenas are created prefaulted', { skip }, () => {
  const ring = ByteRing.create(BYTES);
  assert.ok(faultsFilling(new Uint8Array(ring.buffer)) < 50, 'ring');
  const arena = PartArena.create(BYTES);
  assert.ok(faultsFilling(new Uint8Array(arena.buffer)) < 50, 'arena');
});
