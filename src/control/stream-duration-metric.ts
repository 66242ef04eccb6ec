import { Histogram, type Registry } from 'prom-client';

/**
 * nova_streaming_stream_duration_seconds: how long each broadcast lasted, from its
 * start (kept across a publisher's takeover) to ENDED, observed by the instance that
 * ended it. Buckets from seconds (a test publish, a failed start) to a day.
 */
export function createStreamDurationHistogram(registry: Registry): Histogram {
  return new Histogram({
    name: 'nova_streaming_stream_duration_seconds',
    help: 'Duration of each ended broadcast, start to end (observed by the instance that ended it)',
    buckets: [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400],
    registers: [registry],
  });
}
