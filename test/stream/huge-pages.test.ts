/**
 * Huge pages for fresh shared memory (native/shared-memory): an advised buffer is faulted in
 * 2 MiB at a time where the kernel's transparent huge pages allow it (the machine's setting is
 * read: with THP "never" the advice is refused and 0 returned), a fraction of the faults of the
 * same write into a buffer left alone; ByteRing.create and PartArena.create advise theirs.
 * `npm test` builds the addon; in CI a missing addon fails here instead of skipping.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { adviseHugePages } from '../../src/stream/huge-pages.js';
import { loadNativeAddon } from '../../src/native-addon.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { PartArena } from '../../src/stream/part-arena.js';

const BYTES = 16 * 1024 * 1024;
const { addon, reason } = loadNativeAddon<object>('shared_memory');
const skip = process.env.CI === 'true' ? false : addon === null ? reason : false;
const thpOff = /\[never\]/.test(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));

/** minor page faults while filling `bytes` */
function faultsFilling(bytes: Uint8Array): number {
  const before = process.resourceUsage().minorPageFault;
  bytes.fill(7);
  return process.resourceUsage().minorPageFault - before;
}

test('an advised buffer faults in 2 MiB at a time; one left alone, page by page', { skip }, () => {
  assert.ok(addon, `the shared-memory addon must be built in CI: ${reason}`);
  const alone = new SharedArrayBuffer(BYTES);
  const aloneFaults = faultsFilling(new Uint8Array(alone));
  const advised = new SharedArrayBuffer(BYTES);
  const bytes = adviseHugePages(advised);
  assert.equal(adviseHugePages(new SharedArrayBuffer(64 * 1024)), 0, 'small buffers are left alone');
  if (thpOff) {
    assert.equal(bytes, 0, 'THP is off here: the advice is refused');
    return;
  }
  assert.ok(bytes >= BYTES - 4 * 1024 * 1024, `the 2 MiB-aligned interior advised (${bytes} bytes)`);
  const advisedFaults = faultsFilling(new Uint8Array(advised));
  assert.ok(aloneFaults >= 1000, `16 MiB left alone faults page by page (${aloneFaults})`);
  // what is left: the head and tail outside the aligned interior, at most 2 MiB of small pages
  assert.ok(advisedFaults * 4 < aloneFaults, `advised: ${advisedFaults} faults, left alone: ${aloneFaults}`);
});

test('rings and part arenas are created advised', { skip }, () => {
  const ringFaults = faultsFilling(new Uint8Array(ByteRing.create(BYTES).buffer));
  const arenaFaults = faultsFilling(new Uint8Array(PartArena.create(BYTES).buffer));
  if (thpOff) return;
  assert.ok(ringFaults < 1000, `ring: ${ringFaults} faults for 16 MiB`);
  assert.ok(arenaFaults < 1000, `arena: ${arenaFaults} faults for 16 MiB`);
});
