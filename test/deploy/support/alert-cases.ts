/**
 * One `promtool test rules` case per alert in files/alerts.yml: series on which the
 * alert fires (with the labels it must carry) and a healthy twin on which it stays
 * quiet at the same moment. alert-rules.test.ts runs them all and fails when an
 * alert has no case here.
 */

export interface InputSeries {
  series: string;
  values: string;
}

export interface AlertCase {
  alert: string;
  /** the series' sample interval (default 1m) */
  interval?: string;
  fire: InputSeries[];
  quiet: InputSeries[];
  /** when both are evaluated: after the rule's `for` has passed on `fire` */
  at: string;
  /** the firing alert's labels, severity included */
  labels: Record<string, string>;
}

const JOB = 'nova-streaming';
const HOT = '10.42.0.17:8080';
const COOL = '10.42.1.23:8080';

function series(name: string, labels: Record<string, string>, values: string): InputSeries {
  const all = { job: JOB, ...labels };
  return { series: `${name}{${Object.entries(all).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`, values };
}

/** A histogram's _bucket, _count series, each bucket given by how much it grows a sample. */
function histogram(name: string, labels: Record<string, string>, perSample: Record<string, number>, samples = 30): InputSeries[] {
  const out = Object.entries(perSample).map(([le, step]) => series(`${name}_bucket`, { ...labels, le }, `0+${step}x${samples}`));
  out.push(series(`${name}_count`, labels, `0+${perSample['+Inf']}x${samples}`));
  return out;
}

export const ALERT_CASES: readonly AlertCase[] = [
  {
    alert: 'NovaInstanceDown',
    fire: [series('up', { instance: HOT }, '0x10')],
    quiet: [series('up', { instance: HOT }, '1x10')],
    at: '5m',
    labels: { job: JOB, instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaIngestLatencyHigh',
    fire: histogram('nova_streaming_rtmp_ingestion_latency_seconds', { instance: HOT }, { '0.1': 0, '1': 10, '+Inf': 10 }),
    quiet: histogram('nova_streaming_rtmp_ingestion_latency_seconds', { instance: HOT }, { '0.1': 10, '1': 10, '+Inf': 10 }),
    at: '15m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaEventLoopLagHigh',
    fire: histogram('nova_streaming_event_loop_delay_seconds', { instance: HOT }, { '0.01': 0, '1': 10, '+Inf': 10 }),
    quiet: histogram('nova_streaming_event_loop_delay_seconds', { instance: HOT }, { '0.01': 10, '1': 10, '+Inf': 10 }),
    at: '15m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaStreamsDropped',
    fire: [series('nova_streaming_active_streams', { instance: HOT }, '10x12 2x10')],
    quiet: [series('nova_streaming_active_streams', { instance: HOT }, '10x12 8x10')],
    at: '17m',
    labels: { severity: 'page' },
  },
  {
    alert: 'NovaRtmpConnectionErrors',
    fire: [series('nova_streaming_rtmp_connection_errors_total', { instance: HOT, code: 'NOVA_ERR_RTMP_HANDSHAKE' }, '0+12x30')],
    quiet: [series('nova_streaming_rtmp_connection_errors_total', { instance: HOT, code: 'NOVA_ERR_RTMP_HANDSHAKE' }, '0+3x30')],
    at: '20m',
    labels: { instance: HOT, code: 'NOVA_ERR_RTMP_HANDSHAKE', severity: 'ticket' },
  },
  {
    alert: 'NovaFrameQueueDrops',
    fire: [series('nova_streaming_frame_queue_dropped_total', { instance: HOT }, '0+1x20')],
    quiet: [series('nova_streaming_frame_queue_dropped_total', { instance: HOT }, '0x20')],
    at: '15m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaSegmentGenerationSlow',
    fire: histogram('nova_streaming_hls_segment_generation_seconds', { instance: HOT, track: 'video' }, { '0.5': 0, '2.5': 10, '5': 10, '+Inf': 10 }),
    quiet: histogram('nova_streaming_hls_segment_generation_seconds', { instance: HOT, track: 'video' }, { '0.5': 10, '2.5': 10, '5': 10, '+Inf': 10 }),
    at: '15m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    // one segment in ten listed more than 5 s after its last bytes arrived
    alert: 'NovaSegmentGenerationOverFiveSeconds',
    fire: histogram('nova_streaming_hls_segment_generation_seconds', { instance: HOT, track: 'video' }, { '0.5': 9, '5': 9, '+Inf': 10 }),
    quiet: histogram('nova_streaming_hls_segment_generation_seconds', { instance: HOT, track: 'video' }, { '0.5': 9, '5': 10, '+Inf': 10 }),
    at: '10m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaTranscodeBehind',
    fire: [series('nova_streaming_transcode_speed', { instance: HOT, stream: 's1' }, '0.8x10')],
    quiet: [series('nova_streaming_transcode_speed', { instance: HOT, stream: 's1' }, '1x10'), series('nova_streaming_transcode_lag_seconds', { instance: HOT, stream: 's1' }, '1x10')],
    at: '5m',
    labels: { job: JOB, instance: HOT, stream: 's1', severity: 'page' },
  },
  {
    alert: 'NovaTranscodeRestarting',
    fire: [series('nova_streaming_transcode_restarts_total', { instance: HOT, reason: 'exited' }, '0+1x20')],
    quiet: [series('nova_streaming_transcode_restarts_total', { instance: HOT, reason: 'exited' }, '0x10 1x10')],
    at: '16m',
    labels: { instance: HOT, severity: 'ticket' },
  },
  {
    alert: 'NovaWebSocketSlowConsumers',
    fire: [series('nova_streaming_ws_slow_consumer_drops_total', { instance: HOT }, '0+120x30')],
    quiet: [series('nova_streaming_ws_slow_consumer_drops_total', { instance: HOT }, '0+30x30')],
    at: '20m',
    labels: { instance: HOT, severity: 'ticket' },
  },
  {
    alert: 'NovaBroadcastErrors',
    fire: [series('nova_streaming_broadcast_errors_total', { instance: HOT }, '0+1x30')],
    quiet: [series('nova_streaming_broadcast_errors_total', { instance: HOT }, '0x30')],
    at: '20m',
    labels: { instance: HOT, severity: 'ticket' },
  },
  {
    alert: 'NovaMemoryHigh',
    fire: [series('nova_streaming_process_process_resident_memory_bytes', { instance: HOT }, '2000000000x20')],
    quiet: [series('nova_streaming_process_process_resident_memory_bytes', { instance: HOT }, '1000000000x20')],
    at: '15m',
    labels: { instance: HOT, severity: 'ticket' },
  },
  {
    alert: 'NovaEdgeOriginUnreachable',
    fire: [series('nova_streaming_edge_origin_circuit_open', { instance: HOT, origin: 'nova-7d9f-abc' }, '1x10')],
    quiet: [series('nova_streaming_edge_origin_circuit_open', { instance: HOT, origin: 'nova-7d9f-abc' }, '0x10')],
    at: '5m',
    labels: { instance: HOT, origin: 'nova-7d9f-abc', severity: 'ticket' },
  },
  {
    alert: 'NovaOutboxBacklog',
    fire: [series('nova_streaming_outbox_pending', { instance: HOT }, '5000x10')],
    quiet: [series('nova_streaming_outbox_pending', { instance: HOT }, '10x10')],
    at: '8m',
    labels: { severity: 'page' },
  },
  {
    alert: 'NovaEventsDeadLettered',
    fire: [series('nova_streaming_dlq_messages_total', { instance: HOT, group: 'webhooks' }, '0x3 1x12')],
    quiet: [series('nova_streaming_dlq_messages_total', { instance: HOT, group: 'webhooks' }, '0x15')],
    at: '10m',
    labels: { instance: HOT, group: 'webhooks', severity: 'ticket' },
  },
  {
    alert: 'NovaWebhookDisabled',
    fire: [series('nova_streaming_webhooks_disabled_total', { instance: HOT }, '0x3 1x12')],
    quiet: [series('nova_streaming_webhooks_disabled_total', { instance: HOT }, '0x15')],
    at: '10m',
    labels: { severity: 'ticket' },
  },
  {
    alert: 'NovaBreakerOpen',
    fire: [series('nova_streaming_breaker_state', { instance: HOT, breaker: 'postgres' }, '2x10')],
    // webhook targets' breakers open often and on their own: they never alert
    quiet: [series('nova_streaming_breaker_state', { instance: HOT, breaker: 'postgres' }, '0x10'), series('nova_streaming_breaker_state', { instance: HOT, breaker: 'webhook:wh_1' }, '2x10')],
    at: '8m',
    labels: { instance: HOT, breaker: 'postgres', severity: 'ticket' },
  },
  {
    // 2 % of 10 requests a second fail; quiet: 0.5 % of as many, and 1 in 6 of a trickle too thin to judge
    alert: 'NovaApiErrorRateHigh',
    fire: [
      series('nova_streaming_http_requests_total', { instance: HOT, route: '/api/v1/streams', method: 'get', status: '200' }, '0+588x20'),
      series('nova_streaming_http_requests_total', { instance: HOT, route: '/api/v1/streams', method: 'get', status: '500' }, '0+12x20'),
    ],
    quiet: [
      series('nova_streaming_http_requests_total', { instance: HOT, route: '/api/v1/streams', method: 'get', status: '200' }, '0+597x20'),
      series('nova_streaming_http_requests_total', { instance: HOT, route: '/api/v1/streams', method: 'get', status: '503' }, '0+3x20'),
      series('nova_streaming_http_requests_total', { instance: COOL, route: '/api/v1/streams', method: 'get', status: '200' }, '0+5x20'),
      series('nova_streaming_http_requests_total', { instance: COOL, route: '/api/v1/streams', method: 'get', status: '500' }, '0+1x20'),
    ],
    at: '15m',
    labels: { instance: HOT, severity: 'page' },
  },
  {
    alert: 'NovaWebSocketConnectionFailures',
    fire: [series('nova_streaming_websocket_connection_failures_total', { instance: HOT, reason: 'lookup_failed' }, '0+10x10')],
    quiet: [series('nova_streaming_websocket_connection_failures_total', { instance: HOT, reason: 'lookup_failed' }, '0+3x10')],
    at: '6m',
    labels: { instance: HOT, severity: 'ticket' },
  },
  {
    // 100 viewers for five minutes, then 40: fires; a fall to 60, or a stream of 10 falling to 2, does not
    alert: 'NovaViewersDropped',
    interval: '15s',
    fire: [series('nova_streaming_current_viewers', { instance: HOT, stream: 's1' }, '100x20 40x10')],
    quiet: [
      series('nova_streaming_current_viewers', { instance: HOT, stream: 's1' }, '100x20 60x10'),
      series('nova_streaming_current_viewers', { instance: HOT, stream: 's2' }, '10x20 2x10'),
    ],
    at: '5m30s',
    labels: { stream: 's1', severity: 'page' },
  },
  {
    // 6 s stalled per 60 s watched (10 %); quiet: 1 s per 60 (1.7 %)
    alert: 'NovaViewerRebufferingHigh',
    fire: [
      series('nova_streaming_viewer_rebuffer_seconds_total', { instance: HOT }, '0+6x20'),
      series('nova_streaming_viewer_watch_seconds_total', { instance: HOT }, '0+60x20'),
    ],
    quiet: [
      series('nova_streaming_viewer_rebuffer_seconds_total', { instance: HOT }, '0+1x20'),
      series('nova_streaming_viewer_watch_seconds_total', { instance: HOT }, '0+60x20'),
    ],
    at: '12m',
    labels: { severity: 'page' },
  },
];
