import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per server instance (tests run several in one process).
 * Components create their metrics on it with names nova_streaming_*.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nova_streaming_process_' });
  return registry;
}

export type { Registry };
