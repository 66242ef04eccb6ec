import { Registry, collectDefaultMetrics } from 'prom-client';

const PROCESS_PREFIX = 'nova_streaming_process_';

/**
 * prom-client's event-loop delay gauges, which come from a monitorEventLoopDelay
 * timer waking the loop every `eventLoopMonitoringPrecision` ms. prom-client
 * has no switch for them: its timer is given a period it never reaches and
 * the gauges are left out; EventLoopDelayMonitor (event-loop-delay.ts) reports
 * the delay instead. (`…_nodejs_eventloop_lag_seconds`, measured with a
 * setImmediate at scrape time, stays.)
 */
const DELAY_GAUGES = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((stat) => `${PROCESS_PREFIX}nodejs_eventloop_lag_${stat}_seconds`);
/**
 * prom-client's totals of active handles, requests and resources are gauges named `_total`,
 * which `promtool check metrics` rejects (a `_total` name is a counter's). The same gauges
 * without the suffix, by `type`, stay: sum them for the total.
 */
const TOTAL_GAUGES = ['handles', 'requests', 'resources'].map((kind) => `${PROCESS_PREFIX}nodejs_active_${kind}_total`);
/** ~24.8 days, the longest a libuv timer period may be here (int32 milliseconds) */
const NEVER_MS = 2 ** 31 - 1;

/**
 * One registry per server instance (tests run several in one process).
 * Components create their metrics on it with names nova_streaming_*.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PROCESS_PREFIX, eventLoopMonitoringPrecision: NEVER_MS });
  for (const name of [...DELAY_GAUGES, ...TOTAL_GAUGES]) registry.removeSingleMetric(name);
  return registry;
}

export type { Registry };
