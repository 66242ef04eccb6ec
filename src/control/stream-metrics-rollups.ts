import { Counter, type Registry } from 'prom-client';
import type { MetricsRollupRepository, RollUpOptions } from './db/metrics-rollup-repository.js';
import type { Logger } from '../log.js';
import { every, type PeriodicTask } from '../ops/periodic.js';

export interface StreamMetricsRollupsOptions {
  /** per-second rows older than this are deleted (0: kept for ever) */
  retentionMs: number;
  /** one-minute roll-ups older than this are deleted (0: kept for ever) */
  rollupRetentionMs: number;
  /** how often completed minutes are rolled up; default 60 s */
  intervalMs?: number;
  /** how often both tables are pruned; default 1 h */
  pruneIntervalMs?: number;
  /**
   * a minute is rolled up once it has been over this long; default 30 s: the recorders
   * flush every 10 s, so its rows are in by then unless a write failed
   */
  delayMs?: number;
  /** rows deleted per statement; default 10,000 */
  pruneBatchRows?: number;
  /** rounds of `maxMinutes` one run goes through while catching up on a backlog; default 6 */
  maxRoundsPerRun?: number;
  rollUp?: RollUpOptions;
  now?: () => number;
}

/**
 * Keeps the stream metrics history: rolls the per-second rows (stream_metrics) up into one
 * row per stream per minute (stream_metrics_1m) every minute, and prunes both tables past
 * their retentions in bounded batches every hour.
 *
 * Every instance runs one (each records the streams it ingests, and streams move between
 * instances), but a round is done by one at a time: the roll-up mark's row is locked with
 * SKIP LOCKED, so the others skip it. A minute is rolled up from all its per-second rows at
 * once and replaces the row it had, so a restart or two instances never count a second twice.
 */
export class StreamMetricsRollups {
  private readonly rollTimer: PeriodicTask;
  private readonly pruneTimer: PeriodicTask | null;
  private running: Promise<void> = Promise.resolve();
  private readonly rowsWritten: Counter;
  private readonly rowsPruned: Counter<'table'>;

  constructor(
    private readonly repo: MetricsRollupRepository,
    registry: Registry,
    private readonly log: Logger,
    private readonly options: StreamMetricsRollupsOptions,
  ) {
    this.rowsWritten = new Counter({
      name: 'nova_streaming_stream_metrics_rollup_rows_written_total',
      help: 'One-minute stream metrics roll-up rows inserted or recomputed by this instance',
      registers: [registry],
    });
    this.rowsPruned = new Counter({
      name: 'nova_streaming_stream_metrics_rows_pruned_total',
      help: 'Stream metrics rows deleted past their retention by this instance, by table (stream_metrics: per second, stream_metrics_1m: per minute)',
      labelNames: ['table'],
      registers: [registry],
    });
    this.rollTimer = every(options.intervalMs ?? 60_000, () => void this.rollUp());
    const prunes = options.retentionMs > 0 || options.rollupRetentionMs > 0;
    this.pruneTimer = prunes ? every(options.pruneIntervalMs ?? 3_600_000, () => void this.prune()) : null;
  }

  /** Rolls up the minutes completed since the last round (a backlog in bounded rounds); never rejects. */
  rollUp(): Promise<void> {
    return this.serially(async () => {
      const until = new Date(this.now() - (this.options.delayMs ?? 30_000));
      const rounds = this.options.maxRoundsPerRun ?? 6;
      try {
        for (let round = 0; round < rounds; round++) {
          const result = await this.repo.rollUp(until, this.options.rollUp);
          if (result === null) return; // another instance is rolling up
          this.rowsWritten.inc(result.rows);
          if (result.caughtUp) return;
        }
        this.log.info({ until: until.toISOString() }, 'stream metrics roll-up has a backlog; it goes on next minute');
      } catch (err) {
        this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'rolling up stream metrics failed; retrying next minute');
      }
    });
  }

  /** Deletes what is past each table's retention, in batches; never rejects. */
  prune(): Promise<void> {
    return this.serially(async () => {
      const now = this.now();
      const batch = this.options.pruneBatchRows ?? 10_000;
      const tables = [
        { table: 'stream_metrics', retentionMs: this.options.retentionMs, remove: (before: Date) => this.repo.deleteMetricsBefore(before, batch) },
        { table: 'stream_metrics_1m', retentionMs: this.options.rollupRetentionMs, remove: (before: Date) => this.repo.deleteRollupsBefore(before, batch) },
      ];
      for (const { table, retentionMs, remove } of tables) {
        if (retentionMs <= 0) continue;
        const before = new Date(now - retentionMs);
        let total = 0;
        try {
          // a batch a statement: on the embedded database one long DELETE would hold its only thread
          for (let deleted = batch; deleted >= batch; ) {
            deleted = await remove(before);
            total += deleted;
            this.rowsPruned.inc({ table }, deleted);
          }
        } catch (err) {
          this.log.error({ err: err instanceof Error ? err.message : String(err), table }, 'deleting old stream metrics failed');
        }
        if (total > 0) this.log.info({ table, rows: total, before: before.toISOString() }, 'stream metrics past retention deleted');
      }
    });
  }

  /** Stops the schedule and waits for a round in progress. */
  async close(): Promise<void> {
    this.rollTimer.cancel();
    this.pruneTimer?.cancel();
    await this.running;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** one round at a time on this instance: a slow prune delays the next roll-up rather than racing it */
  private serially(work: () => Promise<void>): Promise<void> {
    this.running = this.running.then(work);
    return this.running;
  }
}
