import { performance } from 'node:perf_hooks';
import { Counter, Histogram, type Registry } from 'prom-client';
import { every, type PeriodicTask } from './periodic.js';

/** How often the delay is sampled: each sample is a wake-up of the main thread. */
const SAMPLE_INTERVAL_MS = 500;

/**
 * The main thread's event loop, for operators: how late a timer fires
 * (`nova_streaming_event_loop_delay_seconds`, sampled twice a second) and how
 * much of the time the loop is busy rather than waiting
 * (`nova_streaming_event_loop_busy_seconds_total`: rate() of it is the
 * utilization, 1 = saturated; libuv keeps the count, reading it wakes nothing).
 *
 * Why not prom-client's default (monitorEventLoopDelay): its timer wakes the
 * loop every `eventLoopMonitoringPrecision` ms and it reports the timer's
 * whole interval, so that precision is both its wake-up rate and its floor
 * (25 ms: 40 wake-ups a second, idle or not, and a p99 never below 25 ms).
 * Its 40 wake-ups a second are gone (an idle server's main thread: ~44 → ~4
 * a second, by strace). Ingest CPU per GB did not measurably change with
 * them (one 6 Mb/s publisher, medians: prom-client's monitor at 25 ms vs
 * 1 s, 6 runs each, 64.3 vs 58.6 CPU-s/GB; the old monitor vs this one in
 * a build that also tried another change, 10 runs each, 56.6 vs 57.8): on
 * this machine CPU follows the work done more than the number of wake-ups.
 * The gain is the reading itself.
 * Sampling every 500 ms still sees a loop that stays slow (a p99 over five
 * minutes is the 6th-worst of 600 samples); a single short stall may fall
 * between samples, which is what the busy-time counter is for.
 */
export class EventLoopDelayMonitor {
  private readonly delay: Histogram;
  private sampler: PeriodicTask | null;

  constructor(registry: Registry, private readonly intervalMs = SAMPLE_INTERVAL_MS) {
    this.delay = new Histogram({
      name: 'nova_streaming_event_loop_delay_seconds',
      help: 'How late a timer on the main thread fires (sampled twice a second): the wait any work queued on the main thread sees',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    let reportedMs = 0;
    new Counter({
      name: 'nova_streaming_event_loop_busy_seconds_total',
      help: 'Time the main thread\'s event loop spent running callbacks rather than waiting for events; rate() is its utilization',
      registers: [registry],
      collect() {
        const activeMs = performance.eventLoopUtilization().active;
        this.inc((activeMs - reportedMs) / 1000);
        reportedMs = activeMs;
      },
    });
    // on the thread's shared periodic timer (src/ops/periodic.ts): how late it fires is what any work queued here waits
    this.sampler = every(this.intervalMs, (lateMs) => this.delay.observe(lateMs / 1000));
  }

  close(): void {
    this.sampler?.cancel();
    this.sampler = null;
  }
}
