import { NovaError } from '../../errors.js';
import { seesEverything } from '../auth/principal.js';
import type { MetricsRepository } from '../db/metrics-repository.js';
import type { StreamRepository } from '../db/stream-repository.js';
import type { ApiRouter } from './api-router.js';

/** points one answer may hold: three hours at 1 s */
export const MAX_SERIES_POINTS = 10_800;
const DEFAULT_WINDOW_MS = 3_600_000;
const STREAM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AnalyticsRoutesDeps {
  streams: StreamRepository;
  metrics: MetricsRepository;
  now?: () => number;
}

/**
 * GET /api/v1/streams/{id}/metrics: a stream's per-second history (stream_metrics) over a
 * window, at 1 s or rolled up by `step` in SQL. Needs `analytics:read`; like the streams
 * routes, another client's stream is a 404.
 */
export function registerAnalyticsRoutes(router: ApiRouter, deps: AnalyticsRoutesDeps): void {
  const now = deps.now ?? Date.now;
  router.handle('getStreamMetrics', async (request) => {
    const principal = request.principal!;
    const id = request.params.id as string;
    const stream = STREAM_ID.test(id) ? await deps.streams.get(id) : null;
    const owned = stream !== null && (seesEverything(principal) || (principal.kind === 'client' && stream.ownerClientId === principal.clientId));
    if (!owned) throw new NovaError('NOVA_ERR_NOT_FOUND', `no stream ${JSON.stringify(id.slice(0, 64))}`);
    const { from: fromText, to: toText, step } = request.params as { from?: string; to?: string; step: number };
    const to = toText === undefined ? now() : Date.parse(toText);
    const from = fromText === undefined ? to - DEFAULT_WINDOW_MS : Date.parse(fromText);
    if (!(from < to)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'from must be before to');
    if ((to - from) / 1000 / step > MAX_SERIES_POINTS) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `the window holds more than ${MAX_SERIES_POINTS} steps of ${step} s: narrow it or raise step`);
    }
    const points = await deps.metrics.series(stream.id, new Date(from), new Date(to), step);
    return {
      status: 200,
      body: {
        stream_id: stream.id,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        step,
        points: points.map((p) => ({
          at: p.at.toISOString(),
          viewers: p.viewers,
          peak_viewers: p.peakViewers,
          ingress_bitrate: p.ingressBitrate,
          fps: p.fps,
          rebuffer_ratio: p.rebufferRatio,
          samples: p.samples,
        })),
      },
    };
  });
}
