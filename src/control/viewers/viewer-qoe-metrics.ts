import { Counter, type Registry } from 'prom-client';

/**
 * The players' quality of experience as Prometheus sees it: seconds watched and
 * seconds spent rebuffering, summed over viewers, so that rebuffering ratio =
 * rate(rebuffer) / rate(watch) (NovaViewerRebufferingHigh, the QoE panels).
 *
 * Nothing feeds these yet: the CMCD viewer-session tracking (issue 25, item 1)
 * will call record() as players report buffer starvation. Until then both
 * counters stay at 0 and the alert cannot fire.
 */
export class ViewerQoeMetrics {
  private readonly watch: Counter;
  private readonly rebuffer: Counter;

  constructor(registry: Registry) {
    this.watch = new Counter({
      name: 'nova_streaming_viewer_watch_seconds_total',
      help: 'Seconds of playback time reported by viewers (playing or stalled), summed over viewers',
      registers: [registry],
    });
    this.rebuffer = new Counter({
      name: 'nova_streaming_viewer_rebuffer_seconds_total',
      help: 'Seconds viewers spent stalled with an empty buffer (CMCD bs), summed over viewers',
      registers: [registry],
    });
  }

  /** A viewer's report: `watchSeconds` of playback time, `rebufferSeconds` of them stalled. */
  record(watchSeconds: number, rebufferSeconds: number): void {
    if (watchSeconds > 0) this.watch.inc(watchSeconds);
    if (rebufferSeconds > 0) this.rebuffer.inc(Math.min(rebufferSeconds, Math.max(watchSeconds, 0)));
  }
}
