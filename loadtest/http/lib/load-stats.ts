/**
 * Request counts, errors and latencies by kind (playlist, segment, part...),
 * summarised as req/s and p50/p99 the way k6's end-of-test summary does.
 * Latencies go into a growing Float64Array per kind: a load run makes
 * hundreds of thousands of samples and a plain number[] doubles their memory.
 */
class LatencySamples {
  private samples = new Float64Array(1024);
  count = 0;
  errors = 0;

  add(ms: number): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count++] = ms;
  }

  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const sorted = this.samples.slice(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.ceil((p / 100) * this.count) - 1)]!;
  }
}

export interface KindSummary {
  kind: string;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LoadSummary {
  scenario: string;
  seconds: number;
  total: KindSummary;
  byKind: KindSummary[];
  /** scenario-specific counters (e.g. rejoins, stale reloads) */
  counters: Record<string, number>;
}

export class LoadStats {
  private readonly kinds = new Map<string, LatencySamples>();
  private readonly all = new LatencySamples();
  private readonly counters: Record<string, number> = {};
  private readonly startedAt = performance.now();

  constructor(private readonly scenario: string) {}

  /** One finished request; `ok` false counts it as an error (its latency still counts, as in k6). */
  record(kind: string, ms: number, ok: boolean): void {
    let samples = this.kinds.get(kind);
    if (samples === undefined) {
      samples = new LatencySamples();
      this.kinds.set(kind, samples);
    }
    samples.add(ms);
    this.all.add(ms);
    if (!ok) {
      samples.errors++;
      this.all.errors++;
    }
  }

  count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  summary(): LoadSummary {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const summarise = (kind: string, samples: LatencySamples): KindSummary => ({
      kind,
      requests: samples.count,
      errors: samples.errors,
      requestsPerSecond: samples.count / seconds,
      p50Ms: samples.percentile(50),
      p99Ms: samples.percentile(99),
    });
    return {
      scenario: this.scenario,
      seconds,
      total: summarise('all', this.all),
      byKind: [...this.kinds].map(([kind, samples]) => summarise(kind, samples)),
      counters: { ...this.counters },
    };
  }
}

export function formatSummary(summary: LoadSummary): string {
  const row = (s: KindSummary): string =>
    `${s.kind.padEnd(16)} ${String(s.requests).padStart(9)} ${s.requestsPerSecond.toFixed(1).padStart(9)} ${String(s.errors).padStart(7)} ${s.p50Ms.toFixed(1).padStart(9)} ${s.p99Ms.toFixed(1).padStart(9)}`;
  const lines = [
    `${summary.scenario}: ${summary.seconds.toFixed(1)} s`,
    `${'kind'.padEnd(16)} ${'requests'.padStart(9)} ${'req/s'.padStart(9)} ${'errors'.padStart(7)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}`,
    ...summary.byKind.map(row),
    row(summary.total),
  ];
  for (const [name, value] of Object.entries(summary.counters)) lines.push(`${name}: ${value}`);
  return lines.join('\n');
}
