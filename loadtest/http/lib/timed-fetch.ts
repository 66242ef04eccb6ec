import type { LoadStats } from './load-stats.js';

export interface TimedResponse {
  status: number;
  /** the body as text when asked for, else null (the body is still read to the end) */
  text: string | null;
  ms: number;
}

/**
 * GET that reads the whole body (so the latency includes the transfer, as k6's
 * http_req_duration does) and records it under `kind`. A network failure is
 * an error with status 0, never a throw: a viewer keeps watching.
 */
export async function timedGet(
  stats: LoadStats,
  kind: string,
  url: string,
  options: { asText: boolean; headers?: Record<string, string>; signal?: AbortSignal; method?: string; body?: string },
): Promise<TimedResponse> {
  const started = performance.now();
  try {
    const init: RequestInit = { method: options.method ?? 'GET' };
    if (options.headers !== undefined) init.headers = options.headers;
    if (options.signal !== undefined) init.signal = options.signal;
    if (options.body !== undefined) init.body = options.body;
    const response = await fetch(url, init);
    let text: string | null = null;
    if (options.asText) text = await response.text();
    else await response.arrayBuffer();
    const ms = performance.now() - started;
    stats.record(kind, ms, response.status < 400);
    return { status: response.status, text, ms };
  } catch (err) {
    const ms = performance.now() - started;
    // An abort at the end of the run is not the server's fault.
    if (options.signal?.aborted === true) return { status: 0, text: null, ms };
    stats.record(kind, ms, false);
    return { status: 0, text: null, ms };
  }
}
