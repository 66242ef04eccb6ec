import { loadNativeAddon } from '../native-addon.js';

interface SharedMemoryAddon {
  prefault(view: Int32Array): number;
}

/** this thread's addon: undefined until first use, null when it is not built */
let addon: SharedMemoryAddon | null | undefined;

/** below this a buffer's first-touch faults are not worth a call */
const MIN_BYTES = 1024 * 1024;

/**
 * Makes a fresh shared buffer's memory resident now, in huge pages where the kernel allows
 * (native/shared-memory says why: a part arena or ingress ring faulted in 4 KiB at a time as
 * it is first written cost ~5,000 page faults per publisher). Returns the bytes made resident:
 * 0 without the addon, for a small buffer, or where the kernel refused (the pages then fault in
 * as they are written, as without it).
 */
export function prefault(buffer: SharedArrayBuffer): number {
  if (buffer.byteLength < MIN_BYTES) return 0;
  if (addon === undefined) addon = loadNativeAddon<SharedMemoryAddon>('shared_memory').addon;
  return addon === null ? 0 : addon.prefault(new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4)));
}
