import { Gauge, type Registry } from 'prom-client';
import type { StreamMetricsSample } from './db/metrics-repository.js';
import { healthOf } from './health-score.js';
import { seriesStats, type SeriesSample } from './series-stats.js';

/** the gauge scores each stream's last minute of samples */
const WINDOW_MS = 60_000;
/** samples come every second: a stream without one for this long is no longer ingested here */
const STALE_MS = 5_000;

/**
 * nova_streaming_stream_health_score{stream}: the health score (src/control/health-score.ts)
 * of each stream this instance ingests, over its last minute of per-second samples, the same
 * samples the recorder writes. Computed when scraped; a stream leaves the series a few seconds
 * after its samples stop, so the label's cardinality is the live streams, as the transcoder's
 * per-stream gauges.
 */
export class StreamHealthGauge {
  private readonly windows = new Map<string, SeriesSample[]>();
  private sweptAt = 0;

  constructor(
    registry: Registry,
    private readonly now: () => number = Date.now,
  ) {
    const windows = this.windows;
    new Gauge({
      name: 'nova_streaming_stream_health_score',
      help: 'Health score (0-100) of each stream ingested here over its last minute: ingest continuity and steadiness, viewer rebuffering (docs/operations.md)',
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        this.reset();
        const at = now();
        for (const [stream, samples] of windows) {
          if (stale(samples, at)) {
            windows.delete(stream);
            continue;
          }
          const stats = seriesStats(samples.filter((s) => s.at > at - WINDOW_MS));
          if (stats !== null) this.set({ stream }, healthOf(stats).score);
        }
      },
    });
  }

  /** Takes one per-second sample (the recorder's). */
  observe(sample: StreamMetricsSample): void {
    const at = sample.at.getTime();
    let samples = this.windows.get(sample.streamId);
    if (samples === undefined) {
      samples = [];
      this.windows.set(sample.streamId, samples);
    }
    samples.push({ at, ingressBitrate: sample.ingressBitrate, fps: sample.fps, rebufferRatio: sample.rebufferRatio ?? null });
    while (samples.length > 0 && samples[0]!.at <= at - WINDOW_MS) samples.shift();
    // ended streams go at the scrape; without scrapes, once a minute here
    const now = this.now();
    if (now - this.sweptAt >= WINDOW_MS) {
      this.sweptAt = now;
      for (const [stream, window] of this.windows) if (stale(window, now)) this.windows.delete(stream);
    }
  }

  /** streams with samples now (tests) */
  get streams(): number {
    return this.windows.size;
  }
}

function stale(samples: readonly SeriesSample[], now: number): boolean {
  const last = samples[samples.length - 1];
  return last === undefined || now - last.at > STALE_MS;
}
