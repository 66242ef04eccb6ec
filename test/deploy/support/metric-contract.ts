import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/**
 * The metric names operators' dashboards and alerts may use: the agreed list
 * (some are still being written in src/) plus whatever src/ defines. A name
 * renamed in src/ without updating this list and the dashboard fails
 * dashboard-metrics.test.ts.
 */
export const AGREED_METRICS: Readonly<Record<string, MetricKind>> = {
  nova_streaming_active_streams: 'gauge',
  nova_streaming_rtmp_connections: 'gauge',
  nova_streaming_rtmp_native_reader_sockets: 'gauge',
  nova_streaming_rtmp_ingestion_latency_seconds: 'histogram',
  nova_streaming_rtmp_ingested_bytes_total: 'counter',
  nova_streaming_rtmp_ingested_frames_total: 'counter',
  nova_streaming_rtmp_connection_errors_total: 'counter',
  nova_streaming_timestamp_repairs_total: 'counter',
  nova_streaming_hls_segment_generation_seconds: 'histogram',
  nova_streaming_segments_served_total: 'counter',
  nova_streaming_bytes_served_total: 'counter',
  nova_streaming_segment_store_bytes: 'gauge',
  nova_streaming_websocket_connections: 'gauge',
  // the seed's nova_streaming_viewers_total: a histogram may not end in _total (promtool check metrics)
  nova_streaming_stream_viewers: 'histogram',
  nova_streaming_peak_viewers: 'gauge',
  nova_streaming_current_viewers: 'gauge',
  nova_streaming_websocket_connection_failures_total: 'counter',
  nova_streaming_stream_duration_seconds: 'histogram',
  nova_streaming_rendition_media_seconds_served_total: 'counter',
  nova_streaming_viewer_watch_seconds_total: 'counter',
  nova_streaming_viewer_rebuffer_seconds_total: 'counter',
  nova_streaming_http_requests_total: 'counter',
  nova_streaming_http_request_duration_seconds: 'histogram',
  nova_streaming_broadcast_errors_total: 'counter',
  nova_streaming_ws_slow_consumer_drops_total: 'counter',
  nova_streaming_transcode_speed: 'gauge',
  nova_streaming_transcode_lag_seconds: 'gauge',
  nova_streaming_transcode_restarts_total: 'counter',
};

/** Prometheus' own series that alerts may use. */
export const PROMETHEUS_SERIES: ReadonlySet<string> = new Set(['up']);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** `new Counter|Gauge|Histogram({ name: 'nova_streaming_…'` in src/. */
export function metricsDefinedInSource(srcDir: string): Map<string, MetricKind> {
  const found = new Map<string, MetricKind>();
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/new (Counter|Gauge|Histogram)(?:<[^>]*>)?\(\{\s*name:\s*'(nova_streaming_[a-z0-9_]+)'/g)) {
      found.set(match[2]!, match[1]!.toLowerCase() as MetricKind);
    }
  }
  return found;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/** Metric names in a PromQL expression (functions, keywords, labels, strings and durations left out). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\boffset\s+\S+/g, '');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = match[1]!;
    if (match[2] !== undefined) continue; // a function call
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word) || /^[eE]\d+$/.test(word)) continue;
    names.push(word);
  }
  return names;
}
