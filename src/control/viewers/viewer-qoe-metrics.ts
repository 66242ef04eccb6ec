import { Counter, type Registry } from 'prom-client';

/**
 * The players' quality of experience as Prometheus sees it: seconds watched and
 * seconds spent rebuffering, summed over viewers, so that rebuffering ratio =
 * rate(rebuffer) / rate(watch) (NovaViewerRebufferingHigh, the QoE panels).
 *
 * Fed by the viewer-session tracker (src/deliver/sessions/) at each flush,
 * from the sessions whose players send CMCD: their watch time and the stalls
 * their buffer-starvation (bs) reports add up to.
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
