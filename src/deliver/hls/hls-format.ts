/** Number and date spellings shared by the HLS writers, so every playlist agrees. */

/** Decimal seconds with three places (EXTINF, DURATION, PART-TARGET, HOLD-BACK). */
export function seconds3(value: number): string {
  return value.toFixed(3);
}

/** Rounds up to the millisecond: a printed target must not undercut the durations it bounds. */
export function ceilToMillis(value: number): number {
  return Math.ceil(value * 1000 - 1e-6) / 1000;
}

/** EXT-X-PROGRAM-DATE-TIME value: ISO 8601 with milliseconds, UTC. */
export function programDateTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Quoted-string attribute values may not contain '"' or line breaks (RFC 8216bis 4.2). */
export function quoted(value: string): string {
  return `"${value.replace(/["\r\n]/g, '')}"`;
}
