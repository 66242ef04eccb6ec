import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pagePopulateStatus, populatePages } from '../../src/stream/page-populate.js';
import { PartArena } from '../../src/stream/part-arena.js';
import { startWorker } from '../../workers/worker-file.js';

const MiB = 2 ** 20;
const PAGE = 4096;

/** Minor page faults while `write` runs (this process; the test runs nothing else meanwhile). */
function faultsDuring(write: () => void): number {
  const before = process.resourceUsage().minorPageFault;
  write();
  return process.resourceUsage().minorPageFault - before;
}

function writeFrontToBack(view: Uint8Array): void {
  const chunk = new Uint8Array(150_000).fill(0x5a);
  for (let offset = 0; offset + chunk.length <= view.length; offset += chunk.length) view.set(chunk, offset);
}

test('the addon is built and the kernel populates (the suite builds native/ first)', () => {
  const status = pagePopulateStatus();
  assert.equal(status.available, true, status.reason);
});

test('a populated buffer is written without a page fault per page; an unpopulated one faults on each', () => {
  const unpopulated = new SharedArrayBuffer(16 * MiB);
  const faultsWithout = faultsDuring(() => writeFrontToBack(new Uint8Array(unpopulated)));

  const populated = new SharedArrayBuffer(16 * MiB);
  const bytes = populatePages(populated);
  assert.ok(bytes >= 16 * MiB - 2 * PAGE && bytes <= 16 * MiB, `populated ${bytes} bytes`);
  const faultsWith = faultsDuring(() => writeFrontToBack(new Uint8Array(populated)));

  // Without: one fault per 4 KiB page (~4096). With: none but stray ones (the chunk, the heap).
  assert.ok(faultsWithout > 3000, `expected a fault per page without populating, got ${faultsWithout}`);
  assert.ok(faultsWith < 200, `expected (almost) no faults after populating, got ${faultsWith}`);
});

test('populating changes no byte, in a shared or an ordinary buffer, written or not', () => {
  for (const buffer of [new SharedArrayBuffer(3 * MiB + 123), new ArrayBuffer(2 * MiB + 7)]) {
    const view = new Uint8Array(buffer);
    for (let i = 0; i < view.length; i += 997) view[i] = (i * 31) & 0xff;
    const before = view.slice();
    populatePages(buffer);
    assert.deepEqual(view, before);
  }
  const fresh = new SharedArrayBuffer(MiB);
  populatePages(fresh);
  assert.ok(new Uint8Array(fresh).every((b) => b === 0), 'a fresh buffer stays zeroed');
});

test('buffers smaller than a page, or empty, are left alone', () => {
  assert.equal(populatePages(new SharedArrayBuffer(0)), 0);
  assert.ok(populatePages(new SharedArrayBuffer(100)) === 0);
});

test('a part arena created on a worker thread has its pages populated there', async () => {
  const worker = startWorker(new URL('./page-populate-worker.ts', import.meta.url));
  const [faults] = (await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  })) as [number];
  await worker.terminate();
  assert.ok(faults < 200, `expected (almost) no faults writing a fresh 8 MiB arena, got ${faults}`);
});

test('PartArena.create populates on this thread too', () => {
  const arena = PartArena.create(8 * MiB);
  const faults = faultsDuring(() => {
    for (let region = arena.allocate(150_000); region !== null; region = arena.allocate(150_000)) region.fill(1);
  });
  assert.ok(faults < 200, `expected (almost) no faults, got ${faults}`);
});
