import { NovaError } from '../../errors.js';
import { seesEverything } from '../auth/principal.js';
import type { MetricsRepository } from '../db/metrics-repository.js';
import { floorMinute, type MetricsRollupRepository } from '../db/metrics-rollup-repository.js';
import { healthOf } from '../health-score.js';
import { poolSeriesStats } from '../series-stats.js';
import type { StreamRepository } from '../db/stream-repository.js';
import type { ViewerAnalyticsRepository, ViewerFigures } from '../db/viewer-analytics-repository.js';
import type { ApiRequest, ApiRouter } from './api-router.js';

/** points one answer may hold: three hours at 1 s */
export const MAX_SERIES_POINTS = 10_800;
const DEFAULT_WINDOW_MS = 3_600_000;
const DEFAULT_SUMMARY_WINDOW_MS = 86_400_000;
/** the longest summary window: 31 days */
export const MAX_SUMMARY_WINDOW_MS = 31 * 86_400_000;
const STREAM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AnalyticsRoutesDeps {
  streams: StreamRepository;
  metrics: MetricsRepository;
  rollups: MetricsRollupRepository;
  viewers: ViewerAnalyticsRepository;
  now?: () => number;
}

/**
 * The analytics routes, all needing `analytics:read`: GET /api/v1/streams/{id}/metrics (a
 * stream's history over a window with its health score: at 1 s or rolled up by `step` in SQL
 * from the per-second rows, or from the one-minute roll-ups when `step` is whole minutes),
 * GET /api/v1/streams/{id}/viewers (its viewer sessions, paginated) and
 * GET /api/v1/analytics/summary (viewing over a window, per owner). Like the streams
 * routes, another client's stream is a 404.
 */
export function registerAnalyticsRoutes(router: ApiRouter, deps: AnalyticsRoutesDeps): void {
  const now = deps.now ?? Date.now;
  const ownedStream = async (request: ApiRequest) => {
    const principal = request.principal!;
    const id = request.params.id as string;
    const stream = STREAM_ID.test(id) ? await deps.streams.get(id) : null;
    const owned = stream !== null && (seesEverything(principal) || (principal.kind === 'client' && stream.ownerClientId === principal.clientId));
    if (!owned) throw new NovaError('NOVA_ERR_NOT_FOUND', `no stream ${JSON.stringify(id.slice(0, 64))}`);
    return stream;
  };

  router.handle('getStreamMetrics', async (request) => {
    const stream = await ownedStream(request);
    const { from: fromText, to: toText, step } = request.params as { from?: string; to?: string; step: number };
    const to = toText === undefined ? now() : Date.parse(toText);
    const from = fromText === undefined ? to - DEFAULT_WINDOW_MS : Date.parse(fromText);
    if (!(from < to)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'from must be before to');
    if ((to - from) / 1000 / step > MAX_SERIES_POINTS) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `the window holds more than ${MAX_SERIES_POINTS} steps of ${step} s: narrow it or raise step`);
    }
    // whole minutes: the roll-ups answer (long windows stay cheap and outlive the per-second rows), over the minutes the window touches
    const perMinute = step % 60 === 0;
    const start = perMinute ? floorMinute(from) : from;
    const end = perMinute ? floorMinute(to + 59_999) : to;
    const points = perMinute
      ? await deps.rollups.series(stream.id, new Date(start), new Date(end), step)
      : await deps.metrics.series(stream.id, new Date(start), new Date(end), step);
    const window = poolSeriesStats(points.map((p) => p.stats));
    return {
      status: 200,
      body: {
        stream_id: stream.id,
        from: new Date(start).toISOString(),
        to: new Date(end).toISOString(),
        step,
        resolution: perMinute ? 60 : 1,
        health: window === null ? null : healthOf(window),
        points: points.map((p) => ({
          at: p.at.toISOString(),
          viewers: p.viewers,
          peak_viewers: p.peakViewers,
          ingress_bitrate: p.ingressBitrate,
          fps: p.fps,
          rebuffer_ratio: p.rebufferRatio,
          egress_bitrate: p.egressBitrate,
          peak_egress_bitrate: p.peakEgressBitrate,
          viewers_by_rendition: p.viewersByRendition,
          samples: p.samples,
          health_score: healthOf(p.stats).score,
        })),
      },
    };
  });

  router.handle('listStreamViewers', async (request) => {
    const stream = await ownedStream(request);
    const { limit, cursor, live } = request.params as { limit: number; cursor?: string; live?: boolean };
    const page = await deps.viewers.listSessions(stream.id, { limit, cursor: cursor ?? null, live: live === true });
    return {
      status: 200,
      body: {
        stream_id: stream.id,
        items: page.items.map((s) => ({
          id: s.id,
          kind: s.kind,
          instance_id: s.instanceId,
          started_at: s.startedAt.toISOString(),
          last_seen_at: s.lastSeenAt?.toISOString() ?? null,
          ended_at: s.endedAt?.toISOString() ?? null,
          renditions: s.renditions,
          rendition_switches: s.renditionSwitches,
          bytes_served: s.bytesServed,
          startup_ms: s.startupMs,
          watch_ms: s.watchMs,
          cmcd: s.cmcd,
          cmcd_sid: s.cmcdSid,
          content_id: s.contentId,
          stream_format: s.streamFormat,
          avg_bitrate_kbps: s.avgBitrateKbps,
          avg_throughput_kbps: s.avgThroughputKbps,
          buffer_length_ms: s.bufferLengthMs,
          rebuffer_count: s.rebufferCount,
          rebuffer_ms: s.rebufferMs,
          rebuffer_ratio: s.rebufferRatio,
        })),
        has_more: page.hasMore,
        next_cursor: page.nextCursor,
      },
    };
  });

  router.handle('getAnalyticsSummary', async (request) => {
    const principal = request.principal!;
    const { from: fromText, to: toText } = request.params as { from?: string; to?: string };
    const to = toText === undefined ? now() : Date.parse(toText);
    const from = fromText === undefined ? to - DEFAULT_SUMMARY_WINDOW_MS : Date.parse(fromText);
    if (!(from < to)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'from must be before to');
    if (to - from > MAX_SUMMARY_WINDOW_MS) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'the window is longer than 31 days: narrow it');
    // the admin token and admin clients: every stream; any other client: its own
    const owner = seesEverything(principal) ? null : principal.kind === 'client' ? principal.clientId : null;
    const summary = await deps.viewers.summary(new Date(from), new Date(to), owner);
    return {
      status: 200,
      body: {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        ...figures(summary),
        peak_concurrent_viewers: summary.peakConcurrentViewers,
        streams: summary.streams.map((s) => ({ stream_id: s.streamId, title: s.title, ...figures(s), peak_viewers: s.peakViewers })),
      },
    };
  });
}

function figures(f: ViewerFigures) {
  return {
    minutes_watched: f.minutesWatched,
    sessions: f.sessions,
    unique_viewers: f.uniqueViewers,
    qoe: { mean_startup_ms: f.meanStartupMs, rebuffer_ratio: f.rebufferRatio, avg_bitrate_kbps: f.avgBitrateKbps, cmcd_sessions: f.cmcdSessions },
  };
}
