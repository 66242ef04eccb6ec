import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a WebSocket was refused or closed by the server; the label values of nova_streaming_ws_rejected_total. */
export type WsRejectReason =
  | 'bad_stream_id'
  | 'not_found'
  | 'lookup_failed'
  | 'ip_limit'
  | 'unauthorized'
  | 'forbidden'
  | 'oversize'
  | 'binary'
  | 'invalid_json'
  | 'unsupported_message'
  | 'flood';

export interface WsMetrics {
  connections: Gauge;
  viewers: Histogram;
  peakViewers: Gauge<'stream'>;
  currentViewers: Gauge<'stream'>;
  connectionFailures: Counter<'reason'>;
  broadcastErrors: Counter;
  slowConsumerDrops: Counter;
  rejected: Counter<'reason'>;
}

export function createWsMetrics(registry: Registry): WsMetrics {
  const registers = [registry];
  return {
    connections: new Gauge({ name: 'nova_streaming_websocket_connections', help: 'Open WebSocket connections', registers }),
    // The seed called this nova_streaming_viewers_total; a _total name is a counter's (promtool check metrics).
    viewers: new Histogram({
      name: 'nova_streaming_stream_viewers',
      help: 'Viewer count of each live stream, observed once a second per stream',
      buckets: [0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000, 100_000],
      registers,
    }),
    peakViewers: new Gauge({
      name: 'nova_streaming_peak_viewers',
      help: 'Peak viewers of the current broadcast (only the top streams by peak, to bound label cardinality)',
      labelNames: ['stream'] as const,
      registers,
    }),
    currentViewers: new Gauge({
      name: 'nova_streaming_current_viewers',
      help: 'Viewers now of the streams nova_streaming_peak_viewers labels (the top streams by peak)',
      labelNames: ['stream'] as const,
      registers,
    }),
    connectionFailures: new Counter({
      name: 'nova_streaming_websocket_connection_failures_total',
      help: 'WebSocket connections that did not open for a viewer: upgrades refused, and sockets closed at open for a missing or bad token',
      labelNames: ['reason'] as const,
      registers,
    }),
    broadcastErrors: new Counter({ name: 'nova_streaming_broadcast_errors_total', help: 'Events that failed to reach WebSocket subscribers', registers }),
    slowConsumerDrops: new Counter({
      name: 'nova_streaming_ws_slow_consumer_drops_total',
      help: 'WebSockets closed because their send backlog passed the backpressure limit',
      registers,
    }),
    rejected: new Counter({
      name: 'nova_streaming_ws_rejected_total',
      help: 'WebSocket upgrades refused and connections closed for bad input, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}
