import { setTimeout as sleep } from 'node:timers/promises';
import { formatSummary, LoadStats } from './load-stats.js';
import { flagsToEnvNames } from './cli-flags.js';
import { viewerParamsFrom, type ViewerScenarioParams } from '../../k6/lib/scenario-params.js';

/** One viewer's life: loops until `signal` aborts. */
export type Viewer = (params: ViewerScenarioParams, stats: LoadStats, signal: AbortSignal) => Promise<void>;

/** Sleep that ends early (without throwing) when the run ends. */
export async function pause(seconds: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await sleep(Math.max(0, seconds * 1000), undefined, { signal }).catch(() => undefined);
}

/**
 * The k6 ramping-vus shape: VUs start evenly over `rampSeconds`, then all run
 * for `durationSeconds`. Prints the summary (or JSON with --json) and sets the
 * exit code to 1 when any request failed.
 */
export async function runViewerScenario(name: string, viewer: Viewer, argv: readonly string[]): Promise<void> {
  const flags = flagsToEnvNames(argv);
  const params = viewerParamsFrom(flags);
  const stats = new LoadStats(name);
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), (params.rampSeconds + params.durationSeconds) * 1000);
  const viewers: Promise<void>[] = [];
  for (let i = 0; i < params.vus; i++) {
    if (i > 0 && params.rampSeconds > 0) await pause(params.rampSeconds / params.vus, controller.signal);
    if (controller.signal.aborted) break;
    viewers.push(viewer(params, stats, controller.signal));
  }
  await Promise.all(viewers);
  clearTimeout(deadline);
  const summary = stats.summary();
  process.stdout.write(`${flags['JSON'] === 'true' ? JSON.stringify(summary) : formatSummary(summary)}\n`);
  if (summary.total.errors > 0 || summary.total.requests === 0) process.exitCode = 1;
}
