/** Bytes a test can recognise later: each region's content follows from its sequence number. */
export function fillPattern(region: Uint8Array, sequence: number): void {
  for (let i = 0; i < region.length; i++) region[i] = (sequence * 31 + i * 7) & 0xff;
}

/** The index of the first byte that is not the pattern, or -1. */
export function patternMismatch(region: Uint8Array, sequence: number): number {
  for (let i = 0; i < region.length; i++) if (region[i] !== ((sequence * 31 + i * 7) & 0xff)) return i;
  return -1;
}
