import { sql, type Kysely } from 'kysely';
import type { Schema, StreamMetrics1mRow } from './schema.js';
import { numberOrNull, type StreamMetricsPoint } from './metrics-repository.js';
import { readViewersByRendition, renditionMeans } from './rendition-means-sql.js';
import { stddevOf } from '../series-stats.js';

const MINUTE_MS = 60_000;

export interface RollUpOptions {
  /** minutes before the mark rolled up again, for rows that were written late (default 2) */
  lookbackMinutes?: number;
  /** at most this many minutes past the mark in one round, so a backlog goes in bounded steps (default 60) */
  maxMinutes?: number;
}

export interface RollUpResult {
  /** roll-up rows inserted or changed */
  rows: number;
  /** every minute before it is rolled up now */
  rolledTo: Date;
  /** false: a backlog remains before `until` (call again) */
  caughtUp: boolean;
}

/**
 * One minute of per-second rows per stream, in stream_metrics_1m's columns. A row is recomputed
 * whole from the minute's seconds, never added to: rolling a minute up twice gives the same row.
 */
const PER_MINUTE_COLUMNS = sql`
  to_timestamp((floor(extract(epoch FROM at) / 60) * 60)::float8) AS minute,
  count(*)::int AS samples, min(at) AS first_at, max(at) AS last_at,
  avg(viewers)::float8 AS viewers_avg, max(viewers) AS viewers_max,
  avg(ingress_bitrate)::float8 AS ingress_bitrate_avg, min(ingress_bitrate) AS ingress_bitrate_min,
  max(ingress_bitrate) AS ingress_bitrate_max, coalesce(stddev_pop(ingress_bitrate), 0)::float8 AS ingress_bitrate_stddev,
  avg(fps)::float8 AS fps_avg, min(fps) AS fps_min, coalesce(stddev_pop(fps), 0)::float8 AS fps_stddev,
  avg(rebuffer_ratio)::float8 AS rebuffer_ratio_avg, count(rebuffer_ratio)::int AS rebuffer_samples,
  avg(egress_bitrate)::float8 AS egress_bitrate_avg, max(egress_bitrate) AS egress_bitrate_max, count(egress_bitrate)::int AS egress_samples,
  ${renditionMeans('viewers_by_rendition', 1)} AS viewers_by_rendition_avg, count(viewers_by_rendition)::int AS rendition_samples`;

/** every minute before it is in stream_metrics_1m (-infinity before the first roll-up) */
const ROLLED_TO = sql`(SELECT coalesce(max(rolled_to), '-infinity'::timestamptz) FROM stream_metrics_rollup_state)`;

/**
 * The one-minute roll-ups of stream_metrics (migrations 0007, 0008): filling them, pruning both
 * tables past their retention in bounded batches, and reading a stream's series from them.
 */
export class MetricsRollupRepository {
  readonly #db: Kysely<Schema>;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /**
   * Rolls up the minutes that ended before `until`, from where the last round stopped (the
   * mark in stream_metrics_rollup_state), at most `maxMinutes` of them, and the `lookbackMinutes`
   * before the mark again. One transaction holding the mark's row: null when another instance
   * holds it (it is rolling up; this round is its). A minute already rolled up is replaced only
   * by one with at least as many seconds, so rows pruned meanwhile never shrink it.
   */
  async rollUp(until: Date, options: RollUpOptions = {}): Promise<RollUpResult | null> {
    const lookbackMs = (options.lookbackMinutes ?? 2) * MINUTE_MS;
    const maxMs = Math.max(1, options.maxMinutes ?? 60) * MINUTE_MS;
    const end = floorMinute(until.getTime());
    return this.#db.transaction().execute(async (trx) => {
      const state = await sql<{ rolled_to: Date | null }>`
        SELECT rolled_to FROM stream_metrics_rollup_state FOR UPDATE SKIP LOCKED
      `.execute(trx);
      const row = state.rows[0];
      if (row === undefined) return null;
      const mark = row.rolled_to === null ? null : new Date(row.rolled_to).getTime();
      if (mark !== null && mark >= end) return { rows: 0, rolledTo: new Date(mark), caughtUp: true };
      // the first second not rolled up yet: a stretch without any (the server was down, no stream was live) is skipped in one step
      const next = await sql<{ at: Date | null }>`
        SELECT min(at) AS at FROM stream_metrics
        WHERE at >= coalesce(${mark === null ? null : new Date(mark)}::timestamptz, '-infinity') AND at < ${new Date(end)}
      `.execute(trx);
      const nextAt = next.rows[0]?.at ?? null;
      const chunkEnd = nextAt === null ? end : Math.min(end, floorMinute(new Date(nextAt).getTime()) + maxMs);
      const rollFrom = mark !== null ? mark - lookbackMs : nextAt === null ? end : floorMinute(new Date(nextAt).getTime());
      let rows = 0;
      if (rollFrom < chunkEnd) {
        const result = await sql`
          INSERT INTO stream_metrics_1m (stream_id, minute, samples, first_at, last_at, viewers_avg, viewers_max,
            ingress_bitrate_avg, ingress_bitrate_min, ingress_bitrate_max, ingress_bitrate_stddev,
            fps_avg, fps_min, fps_stddev, rebuffer_ratio_avg, rebuffer_samples,
            egress_bitrate_avg, egress_bitrate_max, egress_samples, viewers_by_rendition_avg, rendition_samples)
          SELECT stream_id, ${PER_MINUTE_COLUMNS}
          FROM stream_metrics
          WHERE at >= ${new Date(rollFrom)} AND at < ${new Date(chunkEnd)}
          GROUP BY stream_id, 2
          ON CONFLICT (stream_id, minute) DO UPDATE SET
            samples = excluded.samples, first_at = excluded.first_at, last_at = excluded.last_at,
            viewers_avg = excluded.viewers_avg, viewers_max = excluded.viewers_max,
            ingress_bitrate_avg = excluded.ingress_bitrate_avg, ingress_bitrate_min = excluded.ingress_bitrate_min,
            ingress_bitrate_max = excluded.ingress_bitrate_max, ingress_bitrate_stddev = excluded.ingress_bitrate_stddev,
            fps_avg = excluded.fps_avg, fps_min = excluded.fps_min, fps_stddev = excluded.fps_stddev,
            rebuffer_ratio_avg = excluded.rebuffer_ratio_avg, rebuffer_samples = excluded.rebuffer_samples,
            egress_bitrate_avg = excluded.egress_bitrate_avg, egress_bitrate_max = excluded.egress_bitrate_max,
            egress_samples = excluded.egress_samples, viewers_by_rendition_avg = excluded.viewers_by_rendition_avg,
            rendition_samples = excluded.rendition_samples
          WHERE stream_metrics_1m.samples <= excluded.samples
        `.execute(trx);
        rows = Number(result.numAffectedRows ?? 0n);
      }
      await trx.updateTable('stream_metrics_rollup_state').set({ rolled_to: new Date(chunkEnd) }).execute();
      return { rows, rolledTo: new Date(chunkEnd), caughtUp: chunkEnd >= end };
    });
  }

  /** Every minute before it is rolled up; null before the first round. */
  async rolledTo(): Promise<Date | null> {
    const row = await this.#db.selectFrom('stream_metrics_rollup_state').select('rolled_to').executeTakeFirst();
    return row?.rolled_to ?? null;
  }

  /**
   * Deletes up to `limit` per-second rows older than `before`, never one of a minute not yet
   * rolled up (the mark); returns how many. Callers repeat while a whole batch went.
   */
  async deleteMetricsBefore(before: Date, limit: number): Promise<number> {
    const result = await sql`
      DELETE FROM stream_metrics WHERE (stream_id, at) IN (
        SELECT stream_id, at FROM stream_metrics WHERE at < least(${before}::timestamptz, ${ROLLED_TO}) LIMIT ${Math.max(1, Math.floor(limit))}::int
      )
    `.execute(this.#db);
    return Number(result.numAffectedRows ?? 0n);
  }

  /** Deletes up to `limit` roll-up rows of minutes before `before`; returns how many. */
  async deleteRollupsBefore(before: Date, limit: number): Promise<number> {
    const result = await sql`
      DELETE FROM stream_metrics_1m WHERE (stream_id, minute) IN (
        SELECT stream_id, minute FROM stream_metrics_1m WHERE minute < ${before} LIMIT ${Math.max(1, Math.floor(limit))}::int
      )
    `.execute(this.#db);
    return Number(result.numAffectedRows ?? 0n);
  }

  /** Roll-up rows of one stream with minutes in [from, to), oldest first. */
  async listRollups(streamId: string, range: { from?: Date; to?: Date } = {}): Promise<StreamMetrics1mRow[]> {
    let query = this.#db.selectFrom('stream_metrics_1m').selectAll().where('stream_id', '=', streamId);
    if (range.from) query = query.where('minute', '>=', range.from);
    if (range.to) query = query.where('minute', '<', range.to);
    return query.orderBy('minute', 'asc').execute();
  }

  /**
   * The stream's series over the whole minutes in [from, to) (both multiples of 60 s), one
   * point per `stepSeconds` (a multiple of 60) that has samples, aligned on multiples of the
   * step since the epoch. Minutes before the mark come from stream_metrics_1m; the newest ones,
   * not rolled up yet, from the per-second rows in the same shape, so a window up to now ends
   * with the current minute. Means, spreads, the rebuffering ratio, egress and the viewers by
   * rendition pool exactly (weighted by seconds), so a point is what the per-second rows would give.
   */
  async series(streamId: string, from: Date, to: Date, stepSeconds: number): Promise<StreamMetricsPoint[]> {
    const step = Math.max(60, Math.floor(stepSeconds / 60) * 60);
    const result = await sql<{
      at: Date;
      samples: number;
      first_at: Date;
      last_at: Date;
      viewers: number;
      peak_viewers: number;
      bitrate_mean: number;
      bitrate_squares: number;
      fps_mean: number;
      fps_squares: number;
      rebuffer_ratio: number | null;
      rebuffer_samples: number;
      egress_bitrate: number | null;
      peak_egress_bitrate: number | null;
      viewers_by_rendition: unknown;
    }>`
      WITH minutes AS (
        SELECT minute, samples, first_at, last_at, viewers_avg, viewers_max, ingress_bitrate_avg, ingress_bitrate_stddev,
               fps_avg, fps_stddev, rebuffer_ratio_avg, rebuffer_samples,
               egress_bitrate_avg, egress_bitrate_max, egress_samples, viewers_by_rendition_avg, rendition_samples
        FROM stream_metrics_1m
        WHERE stream_id = ${streamId} AND minute >= ${from} AND minute < least(${to}::timestamptz, ${ROLLED_TO})
        UNION ALL
        SELECT minute, samples, first_at, last_at, viewers_avg, viewers_max, ingress_bitrate_avg, ingress_bitrate_stddev,
               fps_avg, fps_stddev, rebuffer_ratio_avg, rebuffer_samples,
               egress_bitrate_avg, egress_bitrate_max, egress_samples, viewers_by_rendition_avg, rendition_samples
        FROM (
          SELECT ${PER_MINUTE_COLUMNS}
          FROM stream_metrics
          WHERE stream_id = ${streamId} AND at >= greatest(${from}::timestamptz, ${ROLLED_TO}) AND at < ${to}
          GROUP BY 1
        ) tail
      )
      SELECT to_timestamp((floor(extract(epoch FROM minute) / ${step}::int) * ${step}::int)::float8) AS at,
             sum(samples)::int AS samples, min(first_at) AS first_at, max(last_at) AS last_at,
             (sum(viewers_avg * samples) / sum(samples))::float8 AS viewers, max(viewers_max) AS peak_viewers,
             (sum(ingress_bitrate_avg * samples) / sum(samples))::float8 AS bitrate_mean,
             (sum((ingress_bitrate_stddev * ingress_bitrate_stddev + ingress_bitrate_avg * ingress_bitrate_avg) * samples) / sum(samples))::float8 AS bitrate_squares,
             (sum(fps_avg * samples) / sum(samples))::float8 AS fps_mean,
             (sum((fps_stddev * fps_stddev + fps_avg * fps_avg) * samples) / sum(samples))::float8 AS fps_squares,
             (sum(rebuffer_ratio_avg * rebuffer_samples) / nullif(sum(rebuffer_samples), 0))::float8 AS rebuffer_ratio,
             sum(rebuffer_samples)::int AS rebuffer_samples,
             (sum(egress_bitrate_avg * egress_samples) / nullif(sum(egress_samples), 0))::float8 AS egress_bitrate,
             max(egress_bitrate_max)::float8 AS peak_egress_bitrate,
             ${renditionMeans('viewers_by_rendition_avg', 'rendition_samples')} AS viewers_by_rendition
      FROM minutes
      GROUP BY 1
      ORDER BY 1
    `.execute(this.#db);
    return result.rows.map((row) => {
      const bitrate = Number(row.bitrate_mean);
      const fps = Number(row.fps_mean);
      const rebufferRatio = row.rebuffer_ratio === null ? null : Number(row.rebuffer_ratio);
      return {
        at: new Date(row.at),
        viewers: Number(row.viewers),
        peakViewers: Number(row.peak_viewers),
        ingressBitrate: bitrate,
        fps,
        rebufferRatio,
        egressBitrate: numberOrNull(row.egress_bitrate),
        peakEgressBitrate: numberOrNull(row.peak_egress_bitrate),
        viewersByRendition: readViewersByRendition(row.viewers_by_rendition),
        samples: Number(row.samples),
        stats: {
          samples: Number(row.samples),
          firstAt: new Date(row.first_at).getTime(),
          lastAt: new Date(row.last_at).getTime(),
          ingressBitrate: { mean: bitrate, stddev: stddevOf(bitrate, Number(row.bitrate_squares)) },
          fps: { mean: fps, stddev: stddevOf(fps, Number(row.fps_squares)) },
          rebufferRatio,
          rebufferSamples: Number(row.rebuffer_samples),
        },
      };
    });
  }
}

export function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}
