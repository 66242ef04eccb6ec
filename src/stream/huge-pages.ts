import { loadNativeAddon } from '../native-addon.js';

interface SharedMemoryAddon {
  adviseHugePages(view: Int32Array): number;
}

/** this thread's addon: undefined until first use, null when it is not built */
let addon: SharedMemoryAddon | null | undefined;

/** the advice covers a buffer's 2 MiB-aligned interior only: below this there is little of it */
const MIN_BYTES = 4 * 1024 * 1024;

/**
 * Asks the kernel to back a fresh shared buffer with transparent huge pages before anything
 * writes to it (native/shared-memory says why: a part arena or ingress ring faulted in 4 KiB
 * at a time cost ~5,000 page faults per publisher). Returns the bytes advised: 0 without the
 * addon, for a buffer under 4 MiB, or where THP is off (the pages then fault in 4 KiB at a time).
 */
export function adviseHugePages(buffer: SharedArrayBuffer): number {
  if (buffer.byteLength < MIN_BYTES) return 0;
  if (addon === undefined) addon = loadNativeAddon<SharedMemoryAddon>('shared_memory').addon;
  return addon === null ? 0 : addon.adviseHugePages(new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4)));
}
