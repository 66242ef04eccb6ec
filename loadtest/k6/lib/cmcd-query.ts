/**
 * What a simulated player reports through CMCD (CTA-5004) on each request, as
 * hls.js sends it: one `CMCD=` query parameter holding the dictionary with its
 * keys in alphabetical order, URL-encoded. Pure code with no runtime imports,
 * shared by loadtest/k6/hls-viewers-cmcd.ts and its Node mirror, so both send
 * the same reports.
 */

export interface CmcdReport {
  /** session id: one per viewer */
  sid: string;
  /** object type: m(anifest), i(nit), v(ideo) */
  ot: 'm' | 'i' | 'v';
  /** encoded bitrate of the rendition, kbps */
  br?: number;
  /** buffer length, ms */
  bl?: number;
  /** measured throughput, kbps */
  mtp?: number;
  /** object duration, ms */
  d?: number;
  /** buffer starvation since the previous request */
  bs?: boolean;
}

/** The CMCD dictionary text of a report (keys sorted; sf=h: an HLS player). */
export function cmcdText(report: CmcdReport): string {
  const members: string[] = [];
  if (report.bl !== undefined) members.push(`bl=${Math.round(report.bl)}`);
  if (report.br !== undefined) members.push(`br=${Math.round(report.br)}`);
  if (report.bs === true) members.push('bs');
  if (report.d !== undefined) members.push(`d=${Math.round(report.d)}`);
  if (report.mtp !== undefined) members.push(`mtp=${Math.round(report.mtp)}`);
  members.push(`ot=${report.ot}`, 'sf=h', `sid="${report.sid}"`);
  return members.join(',');
}

/** `url` with the report as its `CMCD` query parameter (after any query it has). */
export function withCmcd(url: string, report: CmcdReport): string {
  return `${url}${url.includes('?') ? '&' : '?'}CMCD=${encodeURIComponent(cmcdText(report))}`;
}

/**
 * A viewer's player state between requests: the rendition's bitrate, a
 * buffer of about three segments that drains and refills, a measured
 * throughput that varies, and now and then a stall (bs) on a segment request.
 */
export class SimulatedPlayer {
  private bufferMs: number;
  /** the last segment request reported bs */
  lastStalled = false;

  constructor(
    readonly sid: string,
    private readonly bitrateKbps: number,
    private readonly stallRate: number,
    private readonly random: () => number,
  ) {
    this.bufferMs = 4000 + random() * 4000;
  }

  /** A playlist reload: ot=m with the last buffer length, as hls.js does. */
  playlist(url: string): string {
    return withCmcd(url, { sid: this.sid, ot: 'm', bl: this.bufferMs, br: this.bitrateKbps, mtp: this.throughput() });
  }

  /** The init segment. */
  init(url: string): string {
    return withCmcd(url, { sid: this.sid, ot: 'i', br: this.bitrateKbps });
  }

  /** A media segment of `durationMs`: ot=v, its duration, the buffer now, bs on a small share of them. */
  segment(url: string, durationMs: number): string {
    const stalled = this.random() < this.stallRate;
    this.lastStalled = stalled;
    this.bufferMs = stalled ? 0 : Math.min(12_000, Math.max(2000, this.bufferMs + (this.random() - 0.5) * durationMs));
    return withCmcd(url, { sid: this.sid, ot: 'v', br: this.bitrateKbps, bl: this.bufferMs, d: durationMs, mtp: this.throughput(), bs: stalled });
  }

  private throughput(): number {
    return this.bitrateKbps * (3 + this.random() * 7);
  }
}

/** STALL_RATE (0.01): the share of segment requests that report buffer starvation (bs). */
export function stallRateFrom(source: Record<string, string | undefined>): number {
  const value = source['STALL_RATE'];
  if (value === undefined || value === '') return 0.01;
  const rate = Number(value);
  if (!(rate >= 0 && rate <= 1)) throw new Error(`STALL_RATE must be between 0 and 1, not ${value}`);
  return rate;
}
