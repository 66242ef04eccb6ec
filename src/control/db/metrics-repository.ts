import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Schema, StreamMetricsRow, ViewerSessionKind, ViewerSessionRow } from './schema.js';
import type { ViewerSessionRecord } from '../../deliver/sessions/viewer-session-tracker.js';
import type { SeriesStats } from '../series-stats.js';
import { readViewersByRendition, renditionMeans, type ViewersByRendition } from './rendition-means-sql.js';

export interface StreamMetricsSample {
  streamId: string;
  /** Truncated to the whole second: one row per stream per second. */
  at: Date;
  viewers: number;
  /** bits per second */
  ingressBitrate: number;
  fps: number;
  /** the stream's CMCD viewers' rebuffering ratio (0..1); null or absent when none report */
  rebufferRatio?: number | null;
  /** bits per second served to the stream's viewers; null or absent when not measured (no session tracking) */
  egressBitrate?: number | null;
  /** the stream's live HLS/DASH sessions by rendition; null or absent when not measured */
  viewersByRendition?: ViewersByRendition | null;
}

export interface StartViewerSessionInput {
  streamId: string;
  kind: ViewerSessionKind;
  clientId?: string | null;
  at?: Date;
}

/** One point of a stream's series: the samples of `step` seconds from `at`, rolled up. */
export interface StreamMetricsPoint {
  at: Date;
  /** mean over the step's samples (the sample itself at 1 s) */
  viewers: number;
  peakViewers: number;
  /** bits per second, mean */
  ingressBitrate: number;
  fps: number;
  /** mean over the step's samples that have one; null when no CMCD viewer reported */
  rebufferRatio: number | null;
  /** bits per second served to viewers, mean over the step's samples that have one; null when none has */
  egressBitrate: number | null;
  /** the largest of those samples */
  peakEgressBitrate: number | null;
  /** each rendition's mean viewers over the step's samples that have a distribution; null when none has */
  viewersByRendition: ViewersByRendition | null;
  /** seconds of the step that have a sample */
  samples: number;
  /** the step's samples' spread and extent, for its health score */
  stats: SeriesStats;
}

/** Rows per INSERT: 8 parameters each stays far below PostgreSQL's 65535-parameter limit. */
const METRICS_BATCH_ROWS = 1000;
const MAX_INT4 = 2_147_483_647;
/** 24 parameters a session row: 1000 rows stay far below PostgreSQL's 65535-parameter limit */
const SESSION_BATCH_ROWS = 1000;

/**
 * Per-second stream metrics and viewer sessions. Metrics are written in
 * batches (StreamMetricsRecorder); nothing here is called per frame.
 */
export class MetricsRepository {
  readonly #db: Kysely<Schema>;
  readonly #now: () => Date;

  constructor(db: Kysely<Schema>, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Inserts samples; a second sample for the same (stream, second) replaces
   * the first. All samples must name existing streams (foreign key).
   */
  async insertMetrics(samples: readonly StreamMetricsSample[]): Promise<void> {
    if (samples.length === 0) return;
    // One row per key per statement: ON CONFLICT DO UPDATE refuses to touch a row twice.
    const byKey = new Map<string, StreamMetricsSample>();
    for (const sample of samples) {
      const second = Math.floor(sample.at.getTime() / 1000) * 1000;
      byKey.set(`${sample.streamId}\u0000${second}`, { ...sample, at: new Date(second) });
    }
    const rows = [...byKey.values()].map((s) => ({
      stream_id: s.streamId,
      at: s.at,
      viewers: clampInt(s.viewers),
      ingress_bitrate: clampInt(s.ingressBitrate),
      fps: Number.isFinite(s.fps) && s.fps > 0 ? s.fps : 0,
      rebuffer_ratio: s.rebufferRatio != null && Number.isFinite(s.rebufferRatio) ? Math.min(1, Math.max(0, s.rebufferRatio)) : null,
      egress_bitrate: s.egressBitrate == null ? null : clampBigint(s.egressBitrate),
      viewers_by_rendition: s.viewersByRendition == null ? null : JSON.stringify(countsOnly(s.viewersByRendition)),
    }));
    for (let i = 0; i < rows.length; i += METRICS_BATCH_ROWS) {
      await this.#db
        .insertInto('stream_metrics')
        .values(rows.slice(i, i + METRICS_BATCH_ROWS))
        .onConflict((oc) =>
          oc.columns(['stream_id', 'at']).doUpdateSet((eb) => ({
            viewers: eb.ref('excluded.viewers'),
            ingress_bitrate: eb.ref('excluded.ingress_bitrate'),
            fps: eb.ref('excluded.fps'),
            rebuffer_ratio: eb.ref('excluded.rebuffer_ratio'),
            egress_bitrate: eb.ref('excluded.egress_bitrate'),
            viewers_by_rendition: eb.ref('excluded.viewers_by_rendition'),
          })),
        )
        .execute();
    }
  }

  /** Samples of one stream in [from, to), oldest first. */
  async listMetrics(streamId: string, range: { from?: Date; to?: Date } = {}): Promise<StreamMetricsRow[]> {
    let query = this.#db.selectFrom('stream_metrics').selectAll().where('stream_id', '=', streamId);
    if (range.from) query = query.where('at', '>=', range.from);
    if (range.to) query = query.where('at', '<', range.to);
    return query.orderBy('at', 'asc').execute();
  }

  /**
   * The stream's series in [from, to) from the per-second rows: one point per `stepSeconds` that
   * has samples, aligned on multiples of the step since the epoch, rolled up in SQL (at 1 s each
   * point is a sample). Steps of whole minutes read the roll-ups instead (MetricsRollupRepository).
   */
  async series(streamId: string, from: Date, to: Date, stepSeconds: number): Promise<StreamMetricsPoint[]> {
    const step = Math.max(1, Math.floor(stepSeconds));
    const result = await sql<{
      at: Date;
      viewers: number;
      peak_viewers: number;
      ingress_bitrate: number;
      bitrate_stddev: number;
      fps: number;
      fps_stddev: number;
      rebuffer_ratio: number | null;
      rebuffer_samples: number;
      egress_bitrate: number | null;
      peak_egress_bitrate: number | null;
      viewers_by_rendition: unknown;
      samples: number;
      first_at: Date;
      last_at: Date;
    }>`
      SELECT to_timestamp((floor(extract(epoch FROM at) / ${step}::int) * ${step}::int)::float8) AS at,
             avg(viewers)::float8 AS viewers, max(viewers) AS peak_viewers,
             avg(ingress_bitrate)::float8 AS ingress_bitrate, coalesce(stddev_pop(ingress_bitrate), 0)::float8 AS bitrate_stddev,
             avg(fps)::float8 AS fps, coalesce(stddev_pop(fps), 0)::float8 AS fps_stddev,
             avg(rebuffer_ratio)::float8 AS rebuffer_ratio, count(rebuffer_ratio)::int AS rebuffer_samples,
             avg(egress_bitrate)::float8 AS egress_bitrate, max(egress_bitrate)::float8 AS peak_egress_bitrate,
             ${renditionMeans('viewers_by_rendition', 1)} AS viewers_by_rendition,
             count(*)::int AS samples, min(at) AS first_at, max(at) AS last_at
      FROM stream_metrics
      WHERE stream_id = ${streamId} AND at >= ${from} AND at < ${to}
      GROUP BY 1
      ORDER BY 1
    `.execute(this.#db);
    return result.rows.map((row) => {
      const ingressBitrate = Number(row.ingress_bitrate);
      const fps = Number(row.fps);
      const rebufferRatio = row.rebuffer_ratio === null ? null : Number(row.rebuffer_ratio);
      const samples = Number(row.samples);
      return {
        at: new Date(row.at),
        viewers: Number(row.viewers),
        peakViewers: Number(row.peak_viewers),
        ingressBitrate,
        fps,
        rebufferRatio,
        egressBitrate: numberOrNull(row.egress_bitrate),
        peakEgressBitrate: numberOrNull(row.peak_egress_bitrate),
        viewersByRendition: readViewersByRendition(row.viewers_by_rendition),
        samples,
        stats: {
          samples,
          firstAt: new Date(row.first_at).getTime(),
          lastAt: new Date(row.last_at).getTime(),
          ingressBitrate: { mean: ingressBitrate, stddev: Number(row.bitrate_stddev) },
          fps: { mean: fps, stddev: Number(row.fps_stddev) },
          rebufferRatio,
          rebufferSamples: Number(row.rebuffer_samples),
        },
      };
    });
  }

  /**
   * Writes the sessions' current state, per 1000 rows one upsert of the new and
   * changed ones (a new id inserted, a known one updated) and one update of
   * those whose counters alone moved (`countersOnly`: the row exists, eight
   * columns change). A session of a stream deleted meanwhile is skipped rather
   * than failing the batch (the join on streams; an update finds no row). The
   * rows travel as one JSON parameter, not a parameter per column: building,
   * sending and binding 24 000 parameters cost more CPU than the statement on
   * the embedded database (see docs/operations.md, "Viewer sessions").
   * Resolves to the statements run.
   */
  async upsertViewerSessions(records: readonly ViewerSessionRecord[]): Promise<number> {
    // one row per id per statement (ON CONFLICT DO UPDATE touches a row once): the newest snapshot wins,
    // written whole if any snapshot of it had to be (a failed batch retried with a newer counters-only one)
    const byId = new Map<string, ViewerSessionRecord>();
    const whole = new Set<string>();
    for (const record of records) {
      byId.set(record.id, record);
      if (record.countersOnly !== true) whole.add(record.id);
    }
    const upserts: ViewerSessionRecord[] = [];
    const counters: ViewerSessionRecord[] = [];
    for (const record of byId.values()) (whole.has(record.id) ? upserts : counters).push(record);
    let statements = 0;
    for (let i = 0; i < upserts.length; i += SESSION_BATCH_ROWS) {
      const rows = upserts.slice(i, i + SESSION_BATCH_ROWS).map(sessionRowJson);
      await sql`
        INSERT INTO viewer_sessions (id, stream_id, kind, client_id, started_at, ended_at, instance_id, last_seen_at, renditions,
          rendition_switches, requests, bytes_served, startup_ms, watch_ms, cmcd, cmcd_sid, content_id, stream_format,
          rebuffer_count, rebuffer_ms, rebuffer_ratio, avg_bitrate_kbps, avg_throughput_kbps, buffer_length_ms)
        SELECT v.* FROM json_to_recordset(${JSON.stringify(rows)}::json) AS v (id text, stream_id text, kind text, client_id text,
          started_at timestamptz, ended_at timestamptz, instance_id text, last_seen_at timestamptz, renditions jsonb,
          rendition_switches int, requests int, bytes_served bigint, startup_ms int, watch_ms bigint, cmcd boolean, cmcd_sid text,
          content_id text, stream_format text, rebuffer_count int, rebuffer_ms bigint, rebuffer_ratio float8, avg_bitrate_kbps float8,
          avg_throughput_kbps float8, buffer_length_ms float8)
        JOIN streams s ON s.id = v.stream_id
        ON CONFLICT (id) DO UPDATE SET
          kind = excluded.kind, ended_at = excluded.ended_at, last_seen_at = excluded.last_seen_at, renditions = excluded.renditions,
          rendition_switches = excluded.rendition_switches, requests = excluded.requests, bytes_served = excluded.bytes_served,
          startup_ms = excluded.startup_ms, watch_ms = excluded.watch_ms, cmcd = excluded.cmcd, cmcd_sid = excluded.cmcd_sid,
          content_id = excluded.content_id, stream_format = excluded.stream_format, rebuffer_count = excluded.rebuffer_count,
          rebuffer_ms = excluded.rebuffer_ms, rebuffer_ratio = excluded.rebuffer_ratio, avg_bitrate_kbps = excluded.avg_bitrate_kbps,
          avg_throughput_kbps = excluded.avg_throughput_kbps, buffer_length_ms = excluded.buffer_length_ms
      `.execute(this.#db);
      statements++;
    }
    for (let i = 0; i < counters.length; i += SESSION_BATCH_ROWS) {
      const rows = counters.slice(i, i + SESSION_BATCH_ROWS).map(sessionCountersJson);
      await sql`
        UPDATE viewer_sessions t SET last_seen_at = v.last_seen_at, requests = v.requests, bytes_served = v.bytes_served,
          watch_ms = v.watch_ms, rebuffer_ratio = v.rebuffer_ratio, avg_bitrate_kbps = v.avg_bitrate_kbps,
          avg_throughput_kbps = v.avg_throughput_kbps, buffer_length_ms = v.buffer_length_ms
        FROM json_to_recordset(${JSON.stringify(rows)}::json) AS v (id text, last_seen_at timestamptz, requests int, bytes_served bigint,
          watch_ms bigint, rebuffer_ratio float8, avg_bitrate_kbps float8, avg_throughput_kbps float8, buffer_length_ms float8)
        WHERE t.id = v.id
      `.execute(this.#db);
      statements++;
    }
    return statements;
  }

  /** Returns the new session's id. */
  async startViewerSession(input: StartViewerSessionInput): Promise<string> {
    const id = randomUUID();
    await this.#db
      .insertInto('viewer_sessions')
      .values({
        id,
        stream_id: input.streamId,
        kind: input.kind,
        client_id: input.clientId ?? null,
        started_at: input.at ?? this.#now(),
      })
      .execute();
    return id;
  }

  /** False when the session is unknown or already ended. */
  async endViewerSession(id: string, at: Date = this.#now()): Promise<boolean> {
    const result = await this.#db
      .updateTable('viewer_sessions')
      .set({ ended_at: at })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Closes every open session of a stream (it ended); returns how many. */
  async endOpenViewerSessions(streamId: string, at: Date = this.#now()): Promise<number> {
    const result = await this.#db
      .updateTable('viewer_sessions')
      .set({ ended_at: at })
      .where('stream_id', '=', streamId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listViewerSessions(streamId: string): Promise<ViewerSessionRow[]> {
    return this.#db
      .selectFrom('viewer_sessions')
      .selectAll()
      .where('stream_id', '=', streamId)
      .orderBy('started_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }
}

/** A session as its viewer_sessions row, keyed by column for json_to_recordset (Dates become ISO strings). */
function sessionRowJson(r: ViewerSessionRecord) {
  return {
    id: r.id,
    stream_id: r.streamId,
    kind: r.protocol,
    client_id: pgText(r.clientKey),
    started_at: r.startedAt,
    ended_at: r.endedAt,
    instance_id: r.instanceId,
    last_seen_at: r.lastSeenAt,
    renditions: r.renditions,
    rendition_switches: clampInt(r.renditionSwitches),
    requests: clampInt(r.requests),
    bytes_served: Math.max(0, Math.round(r.bytesServed)),
    startup_ms: r.startupMs === null ? null : clampInt(r.startupMs),
    watch_ms: Math.max(0, Math.round(r.watchMs)),
    cmcd: r.cmcd,
    cmcd_sid: pgText(r.cmcdSid),
    content_id: pgText(r.contentId),
    stream_format: r.streamFormat,
    rebuffer_count: clampInt(r.rebufferCount),
    rebuffer_ms: Math.max(0, Math.round(r.rebufferMs)),
    rebuffer_ratio: finiteOrNull(r.rebufferRatio),
    avg_bitrate_kbps: finiteOrNull(r.avgBitrateKbps),
    avg_throughput_kbps: finiteOrNull(r.avgThroughputKbps),
    buffer_length_ms: finiteOrNull(r.bufferLengthMs),
  };
}

/** What a counters-only write changes (see ViewerSession.notable: everything else changes with a notable write). */
function sessionCountersJson(r: ViewerSessionRecord) {
  return {
    id: r.id,
    last_seen_at: r.lastSeenAt,
    requests: clampInt(r.requests),
    bytes_served: Math.max(0, Math.round(r.bytesServed)),
    watch_ms: Math.max(0, Math.round(r.watchMs)),
    rebuffer_ratio: finiteOrNull(r.rebufferRatio),
    avg_bitrate_kbps: finiteOrNull(r.avgBitrateKbps),
    avg_throughput_kbps: finiteOrNull(r.avgThroughputKbps),
    buffer_length_ms: finiteOrNull(r.bufferLengthMs),
  };
}

/** NUL, and a UTF-16 surrogate without its pair: what JSON can carry and PostgreSQL text cannot. */
const NOT_PG_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A client-chosen string (a `?sid=%00` is one request away) made storable: one
 * such value would otherwise fail its whole batch, and every retry of it.
 */
function pgText(value: string | null): string | null {
  if (value === null) return null;
  NOT_PG_TEXT.lastIndex = 0;
  return NOT_PG_TEXT.test(value) ? value.replace(NOT_PG_TEXT, '\ufffd') : value;
}

function finiteOrNull(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

/** node-postgres hands float8 back as a number, numeric and bigint as strings: read either */
export function numberOrNull(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

/** bits per second: a whole number, at most what a JavaScript number holds exactly */
function clampBigint(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.round(value));
}

/** a distribution as stored: whole non-negative counts, the renditions with none left out */
function countsOnly(byRendition: ViewersByRendition): ViewersByRendition {
  const out = new Map<string, number>();
  for (const [rendition, viewers] of Object.entries(byRendition)) {
    const count = clampInt(viewers);
    if (count > 0) out.set(rendition, count);
  }
  return Object.fromEntries(out);
}

function clampInt(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(MAX_INT4, Math.round(value));
}
