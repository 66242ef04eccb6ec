import { sql, type Kysely } from 'kysely';
import { NovaError } from '../../errors.js';
import { badCursor, decodeCursor, encodeCursor } from './opaque-cursor.js';
import type { Schema, ViewerSessionKind } from './schema.js';

export const MAX_VIEWER_PAGE_LIMIT = 100;
/** streams listed in a summary's breakdown */
export const SUMMARY_TOP_STREAMS = 50;
/** cursor times outside 1970..9999 are not ones this API returned (and PostgreSQL's range is wider than JavaScript's) */
const MAX_CURSOR_MS = Date.parse('9999-12-31T23:59:59.999Z');

export interface ViewerSessionView {
  id: string;
  kind: ViewerSessionKind;
  instanceId: string | null;
  startedAt: Date;
  lastSeenAt: Date | null;
  endedAt: Date | null;
  renditions: string[];
  renditionSwitches: number;
  bytesServed: number;
  startupMs: number | null;
  watchMs: number;
  cmcd: boolean;
  cmcdSid: string | null;
  contentId: string | null;
  streamFormat: string | null;
  avgBitrateKbps: number | null;
  avgThroughputKbps: number | null;
  bufferLengthMs: number | null;
  rebufferCount: number;
  rebufferMs: number;
  rebufferRatio: number | null;
}

export interface ViewerSessionPage {
  items: ViewerSessionView[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** Figures over a set of sessions (the owner's, or one stream's). */
export interface ViewerFigures {
  minutesWatched: number;
  sessions: number;
  uniqueViewers: number;
  /** null when no session reported a startup time */
  meanStartupMs: number | null;
  /** CMCD sessions only: their stalled time over their watch time; null without CMCD watch time */
  rebufferRatio: number | null;
  /** weighted by watch time, over the sessions whose player reported `br`; null when none did */
  avgBitrateKbps: number | null;
  cmcdSessions: number;
}

export interface StreamSummary extends ViewerFigures {
  streamId: string;
  title: string;
  /** the stream's most viewers in one second of the window (stream_metrics); 0 without samples */
  peakViewers: number;
}

export interface AnalyticsSummary extends ViewerFigures {
  /** the most viewers in one second of the window, summed over the streams in scope */
  peakConcurrentViewers: number;
  streams: StreamSummary[];
}

interface FiguresRow {
  stream_id: string | null;
  title: string | null;
  total: number;
  watch_ms: number;
  sessions: number;
  unique_viewers: number;
  mean_startup_ms: number | null;
  rebuffer_ratio: number | null;
  avg_bitrate_kbps: number | null;
  cmcd_sessions: number;
}

/**
 * What the analytics API reads about viewers: one stream's sessions page by
 * page, and the summary over a window. Reads only; the rows are written by
 * MetricsRepository (viewer sessions, per-second samples).
 */
export class ViewerAnalyticsRepository {
  readonly #db: Kysely<Schema>;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /** The stream's sessions, newest first; keyset pagination on (started_at, id). */
  async listSessions(streamId: string, options: { limit: number; cursor?: string | null; live?: boolean }): Promise<ViewerSessionPage> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VIEWER_PAGE_LIMIT) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_VIEWER_PAGE_LIMIT}`);
    }
    let query = this.#db.selectFrom('viewer_sessions').selectAll().where('stream_id', '=', streamId);
    if (options.live === true) query = query.where('ended_at', 'is', null);
    if (options.cursor) {
      const after = sessionsCursorKey(options.cursor);
      query = query.where((eb) => eb(eb.refTuple('started_at', 'id'), '<', eb.tuple(after.startedAt, after.id)));
    }
    const rows = await query.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const items = rows.slice(0, limit).map(
      (row): ViewerSessionView => ({
        id: row.id,
        kind: row.kind,
        instanceId: row.instance_id,
        startedAt: new Date(row.started_at),
        lastSeenAt: row.last_seen_at === null ? null : new Date(row.last_seen_at),
        endedAt: row.ended_at === null ? null : new Date(row.ended_at),
        // jsonb: parsed by both drivers; a string only if some driver hands it raw
        renditions: typeof row.renditions === 'string' ? (JSON.parse(row.renditions) as string[]) : row.renditions,
        renditionSwitches: row.rendition_switches,
        bytesServed: Number(row.bytes_served),
        startupMs: row.startup_ms,
        watchMs: Number(row.watch_ms),
        cmcd: row.cmcd,
        cmcdSid: row.cmcd_sid,
        contentId: row.content_id,
        streamFormat: row.stream_format,
        avgBitrateKbps: row.avg_bitrate_kbps,
        avgThroughputKbps: row.avg_throughput_kbps,
        bufferLengthMs: row.buffer_length_ms,
        rebufferCount: row.rebuffer_count,
        rebufferMs: Number(row.rebuffer_ms),
        rebufferRatio: row.rebuffer_ratio,
      }),
    );
    const last = items[items.length - 1];
    const hasMore = rows.length > limit && last !== undefined;
    return { items, hasMore, nextCursor: hasMore ? encodeCursor([last.startedAt.getTime(), last.id]) : null };
  }

  /**
   * Viewing over [from, to) for the streams of `ownerClientId` (null: every stream), in two
   * statements: the sessions' figures (total and per stream, GROUPING SETS) and the peaks
   * from stream_metrics. A session counts when it overlaps the window, with all of its
   * watch time (sessions are not clipped to the window).
   */
  async summary(from: Date, to: Date, ownerClientId: string | null): Promise<AnalyticsSummary> {
    const owner = ownerClientId === null ? sql`TRUE` : sql`st.owner_client_id = ${ownerClientId}`;
    const figures = await sql<FiguresRow>`
      SELECT vs.stream_id, st.title, grouping(vs.stream_id, st.title)::int AS total,
             coalesce(sum(vs.watch_ms), 0)::float8 AS watch_ms,
             count(*)::int AS sessions,
             count(DISTINCT coalesce(vs.client_id, vs.id))::int AS unique_viewers,
             avg(vs.startup_ms)::float8 AS mean_startup_ms,
             (sum(vs.rebuffer_ms) FILTER (WHERE vs.cmcd))::float8 / nullif(sum(vs.watch_ms) FILTER (WHERE vs.cmcd), 0)::float8 AS rebuffer_ratio,
             (sum(vs.avg_bitrate_kbps * vs.watch_ms) FILTER (WHERE vs.avg_bitrate_kbps IS NOT NULL))::float8
               / nullif(sum(vs.watch_ms) FILTER (WHERE vs.avg_bitrate_kbps IS NOT NULL), 0)::float8 AS avg_bitrate_kbps,
             (count(*) FILTER (WHERE vs.cmcd))::int AS cmcd_sessions
      FROM viewer_sessions vs
      JOIN streams st ON st.id = vs.stream_id
      WHERE ${owner}
        AND vs.started_at < ${to}
        AND coalesce(vs.ended_at, vs.last_seen_at, vs.started_at) >= ${from}
      GROUP BY GROUPING SETS ((vs.stream_id, st.title), ())
      ORDER BY grouping(vs.stream_id, st.title) DESC, sum(vs.watch_ms) DESC, vs.stream_id
      LIMIT ${SUMMARY_TOP_STREAMS + 1}
    `.execute(this.#db);
    const rows = figures.rows;
    const totals = rows.find((row) => Number(row.total) !== 0);
    const perStream = rows.filter((row) => Number(row.total) === 0 && row.stream_id !== null);
    const ids = perStream.map((row) => row.stream_id as string);

    // Peak concurrency: per second, the viewers of every stream in scope summed, then the window's max.
    const perStreamPeaks = ids.length === 0 ? sql`` : sql`
      UNION ALL
      SELECT stream_id, max(viewers)::int AS peak FROM stream_metrics
      WHERE stream_id IN (${sql.join(ids)}) AND at >= ${from} AND at < ${to}
      GROUP BY stream_id`;
    const peaks = await sql<{ stream_id: string | null; peak: number | null }>`
      SELECT NULL::text AS stream_id, max(per_second.viewers)::int AS peak
      FROM (
        SELECT m.at, sum(m.viewers) AS viewers
        FROM stream_metrics m JOIN streams st ON st.id = m.stream_id
        WHERE ${owner} AND m.at >= ${from} AND m.at < ${to}
        GROUP BY m.at
      ) per_second
      ${perStreamPeaks}
    `.execute(this.#db);
    const peakOf = new Map<string | null, number>();
    for (const row of peaks.rows) peakOf.set(row.stream_id, row.peak === null ? 0 : Number(row.peak));

    return {
      ...toFigures(totals),
      peakConcurrentViewers: peakOf.get(null) ?? 0,
      streams: perStream.map((row) => ({
        streamId: row.stream_id as string,
        title: row.title ?? '',
        peakViewers: peakOf.get(row.stream_id) ?? 0,
        ...toFigures(row),
      })),
    };
  }
}

function toFigures(row: FiguresRow | undefined): ViewerFigures {
  if (row === undefined) {
    return { minutesWatched: 0, sessions: 0, uniqueViewers: 0, meanStartupMs: null, rebufferRatio: null, avgBitrateKbps: null, cmcdSessions: 0 };
  }
  const orNull = (value: number | null): number | null => (value === null ? null : Number(value));
  return {
    minutesWatched: Number(row.watch_ms) / 60_000,
    sessions: Number(row.sessions),
    uniqueViewers: Number(row.unique_viewers),
    meanStartupMs: orNull(row.mean_startup_ms),
    rebufferRatio: orNull(row.rebuffer_ratio),
    avgBitrateKbps: orNull(row.avg_bitrate_kbps),
    cmcdSessions: Number(row.cmcd_sessions),
  };
}

function sessionsCursorKey(cursor: string): { startedAt: Date; id: string } {
  const invalid = badCursor();
  const value = decodeCursor(cursor, invalid);
  if (value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string' || value[1].length > 200) throw invalid;
  const ms = value[0] as number;
  if (ms < 0 || ms > MAX_CURSOR_MS) throw invalid;
  // text may not hold NUL: a cursor carrying one is not ours
  if (value[1].includes('\u0000')) throw invalid;
  return { startedAt: new Date(ms), id: value[1] };
}
