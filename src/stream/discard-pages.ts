import { loadNativeAddon } from '../native-addon.js';

interface SharedMemoryAddon {
  discard(view: Uint8Array): number;
}

const { addon } = loadNativeAddon<SharedMemoryAddon>('shared_memory');

/** Whether discardPages can return memory in this process (the native addon is built). */
export const canDiscardPages = addon !== null;

/**
 * Hands the whole pages inside `view` back to the kernel; they read as zeros afterwards.
 * Only for bytes nobody reads or writes any more. Returns the bytes returned (0 without
 * the native addon: the memory then stays resident until the buffer is collected).
 */
export function discardPages(view: Uint8Array): number {
  return addon === null || view.byteLength === 0 ? 0 : addon.discard(view);
}
