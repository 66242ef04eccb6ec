/**
 * One `Range: bytes=…` spec (RFC 9110 14.1.2): `a-b`, `a-`, `-n`. Several
 * ranges are answered with the whole body (allowed: a server may ignore
 * Range), anything unparsable or unsatisfiable with 416.
 */

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number /* inclusive */ }
  | { kind: 'unsatisfiable' };

const FULL: RangeResult = { kind: 'full' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };
const SPEC = /^bytes=(\d*)-(\d*)$/;

export function parseByteRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header === '') return FULL;
  const trimmed = header.trim();
  if (trimmed.startsWith('bytes=') && trimmed.includes(',')) return FULL;
  const match = SPEC.exec(trimmed);
  if (!match) return UNSATISFIABLE;
  const [, first, last] = match;
  if (first === '' && last === '') return UNSATISFIABLE;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return UNSATISFIABLE;
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return UNSATISFIABLE;
  let end = last === '' ? size - 1 : Number(last);
  if (end < start) return UNSATISFIABLE;
  if (end >= size) end = size - 1;
  return { kind: 'partial', start, end };
}
