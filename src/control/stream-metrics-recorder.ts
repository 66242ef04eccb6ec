import { Counter, type Registry } from 'prom-client';
import type { MetricsRepository, StreamMetricsSample } from './db/metrics-repository.js';
import type { ViewersByRendition } from './db/rendition-means-sql.js';
import type { EventBus, StreamEvent } from './events/stream-events.js';
import type { Logger } from '../log.js';
import { every, type PeriodicTask } from '../ops/periodic.js';

export interface StreamMetricsRecorderOptions {
  instanceId: string;
  /** viewers of a stream now, across instances */
  viewers: (streamId: string) => number;
  /** the rebuffering ratio of the stream's CMCD viewers on this instance now; null when none report */
  rebufferRatio?: (streamId: string) => number | null;
  /**
   * bytes served to the stream's viewers on this instance since the previous call for it
   * (called once per sample); absent: egress is not measured, written as null
   */
  bytesServed?: (streamId: string) => number;
  /** the stream's viewers on this instance by rendition now; absent: not measured, written as null */
  viewersByRendition?: (streamId: string) => ViewersByRendition;
  /** sees each sample as it is taken (the live health gauge) */
  observe?: (sample: StreamMetricsSample) => void;
  /** default 10 s */
  flushIntervalMs?: number;
}

/** A stream's latest egress sample: its second, the start of the interval it covers, the bytes served in it. */
interface EgressSample {
  at: number;
  since: number;
  bytes: number;
}

/** the lifecycle's stream_metrics events come once a second per live stream */
const SAMPLE_PERIOD_MS = 1000;
/** a stream's previous sample further back than this is from before a gap, not the start of this interval */
const EGRESS_GAP_MS = 10_000;
/** ~100 bytes a row, ~200 with a few renditions' viewers: a database that stays away for a long while costs at most ~10 MB here */
const MAX_PENDING_ROWS = 50_000;

/**
 * The per-second history of each stream this instance ingests, in the
 * stream_metrics table: one row per stream per second (viewers, ingress
 * bitrate, frame rate, viewers' rebuffering ratio, egress bitrate, viewers by
 * rendition), taken from the lifecycle's stream_metrics events.
 *
 * Rows are written in one statement every flush interval rather than one per
 * stream per second: on the embedded database each statement is a round trip
 * to its thread (~2 ms of CPU), which at one row a second would cost more
 * than a publisher's own ingest. Each instance writes only the streams it
 * ingests (the Redis bus carries the others' events too). Rows wait in
 * memory, bounded (the oldest go first, counted), while the database is
 * unreachable; a failed write is retried with the next flush. Roll-ups and
 * retention are StreamMetricsRollups' work.
 */
export class StreamMetricsRecorder {
  private pending: StreamMetricsSample[] = [];
  /** each sampled stream's previous sample, for its egress interval; dropped when it ends */
  private readonly lastEgress = new Map<string, EgressSample>();
  private egressSweptAt = 0;
  private readonly unsubscribe: () => void;
  private readonly flushTimer: PeriodicTask;
  private flushing: Promise<void> | null = null;
  private readonly rowsWritten: Counter;
  private readonly rowsDropped: Counter;

  constructor(
    private readonly repo: MetricsRepository,
    bus: EventBus,
    registry: Registry,
    private readonly log: Logger,
    private readonly options: StreamMetricsRecorderOptions,
  ) {
    this.rowsWritten = new Counter({
      name: 'nova_streaming_stream_metrics_rows_written_total',
      help: 'Per-second stream metrics rows written to the database',
      registers: [registry],
    });
    this.rowsDropped = new Counter({
      name: 'nova_streaming_stream_metrics_rows_dropped_total',
      help: 'Per-second stream metrics rows dropped unwritten (database unreachable for long)',
      registers: [registry],
    });
    this.unsubscribe = bus.subscribe((event) => this.onEvent(event));
    this.flushTimer = every(options.flushIntervalMs ?? 10_000, () => void this.flush());
  }

  /** Rows not yet written. */
  get pendingRows(): number {
    return this.pending.length;
  }

  /** Writes what is pending (one statement); resolves when done, never rejects. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops listening and writes what is pending (before the database closes). */
  async close(): Promise<void> {
    this.unsubscribe();
    this.flushTimer.cancel();
    await this.flushing;
    await this.flush();
  }

  private onEvent(event: StreamEvent): void {
    if (event.type === 'stream_ended') this.lastEgress.delete(event.streamId);
    if (event.type !== 'stream_metrics' || event.instanceId !== this.options.instanceId) return;
    if (this.pending.length >= MAX_PENDING_ROWS) {
      this.pending.shift();
      this.rowsDropped.inc();
    }
    // The lifecycle ticks on the wall clock's whole seconds (ops/periodic.ts), a millisecond or two
    // early or some late: truncated, an early tick fell into the second before, onto the previous
    // tick's row (which it replaced), leaving a second without a row. The nearest second is the tick's own.
    const at = Math.round(event.at / 1000) * 1000;
    const sample: StreamMetricsSample = {
      streamId: event.streamId,
      at: new Date(at),
      viewers: this.options.viewers(event.streamId),
      ingressBitrate: event.ingressBitrate,
      fps: event.fps,
      rebufferRatio: this.options.rebufferRatio?.(event.streamId) ?? null,
      egressBitrate: this.egressBitrate(event.streamId, at),
      viewersByRendition: this.options.viewersByRendition?.(event.streamId) ?? null,
    };
    this.pending.push(sample);
    this.options.observe?.(sample);
  }

  /**
   * Bits per second served to the stream's viewers between its previous sample and this one
   * (`at`, its whole second): the bytes served meanwhile over that interval, so the rows' bits
   * add up to what was served. A stream's first sample takes the lifecycle's period (1 s) for
   * its interval: its bytes since the first viewer arrived all land in that second. A sample in
   * the same second as the previous one (a tick over half a second late) replaces its row, so it
   * carries that sample's bytes and interval on rather than losing them. A previous sample from
   * before a gap (the stream moved to another instance and back) counts as none: its interval
   * would spread the bytes of this second over the whole gap.
   */
  private egressBitrate(streamId: string, at: number): number | null {
    const bytesServed = this.options.bytesServed;
    if (bytesServed === undefined) return null;
    let bytes = bytesServed(streamId);
    const previous = this.lastEgress.get(streamId);
    let since = at - SAMPLE_PERIOD_MS;
    if (previous !== undefined && previous.at === at) {
      bytes += previous.bytes;
      since = previous.since;
    } else if (previous !== undefined && previous.at < at && at - previous.at <= EGRESS_GAP_MS) {
      since = previous.at;
    }
    this.lastEgress.set(streamId, { at, since, bytes });
    // streams no longer sampled here without an end seen (moved to another instance) go within a gap's time
    if (at - this.egressSweptAt > EGRESS_GAP_MS) {
      this.egressSweptAt = at;
      for (const [id, last] of this.lastEgress) if (at - last.at > EGRESS_GAP_MS) this.lastEgress.delete(id);
    }
    return (bytes * 8 * 1000) / (at - since);
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    try {
      await this.repo.insertMetrics(rows);
      this.rowsWritten.inc(rows.length);
    } catch (err) {
      // back in front of what arrived meanwhile, within the bound
      const keep = rows.concat(this.pending);
      const over = keep.length - MAX_PENDING_ROWS;
      if (over > 0) this.rowsDropped.inc(over);
      this.pending = over > 0 ? keep.slice(over) : keep;
      this.log.error({ err: err instanceof Error ? err.message : String(err), rows: rows.length }, 'writing stream metrics failed; retrying with the next flush');
    }
  }
}
