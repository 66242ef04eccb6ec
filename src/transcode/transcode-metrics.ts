import { Counter, Gauge, type Registry } from 'prom-client';

export type TranscodeRestartReason = 'exit' | 'stall' | 'output_error';
export type TranscodeDropReason = 'lag' | 'queue_full' | 'restart';

/**
 * The transcoder's Prometheus series. Gauges carry a `stream` label and are
 * removed when the stream's transcoder stops, so their cardinality is the
 * number of live streams; counters are aggregated over streams (a label per
 * stream on a counter would grow for the life of the process).
 */
export class TranscodeMetrics {
  readonly speed: Gauge<'stream'>;
  readonly lagSeconds: Gauge<'stream'>;
  readonly restarts: Counter<'reason'>;
  readonly encoderInfo: Gauge<'encoder'>;
  readonly droppedFrames: Counter<'reason'>;
  readonly thumbnails: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.speed = new Gauge({
      name: 'nova_streaming_transcode_speed',
      help: 'Transcode speed as a multiple of real time (output media seconds per wall second), per live stream',
      labelNames: ['stream'],
      registers,
    });
    this.lagSeconds = new Gauge({
      name: 'nova_streaming_transcode_lag_seconds',
      help: 'Newest input DTS written to FFmpeg minus newest output DTS of the slowest rendition, per live stream',
      labelNames: ['stream'],
      registers,
    });
    this.restarts = new Counter({
      name: 'nova_streaming_transcode_restarts_total',
      help: 'FFmpeg transcoder restarts after an exit, a stall or unparsable output',
      labelNames: ['reason'],
      registers,
    });
    this.encoderInfo = new Gauge({
      name: 'nova_streaming_transcode_encoder_info',
      help: 'The H.264 encoder selected at start-up (value 1)',
      labelNames: ['encoder'],
      registers,
    });
    this.droppedFrames = new Counter({
      name: 'nova_streaming_transcode_dropped_frames_total',
      help: 'Source video frames not sent to the transcoder (encoder behind real time, stdin queue full, process restarting)',
      labelNames: ['reason'],
      registers,
    });
    this.thumbnails = new Counter({
      name: 'nova_streaming_thumbnails_generated_total',
      help: 'Thumbnail JPEGs made by the transcoders of streams ingested here (from the ladder\'s own decode)',
      registers,
    });
  }

  setEncoder(encoder: string): void {
    this.encoderInfo.reset();
    this.encoderInfo.set({ encoder }, 1);
  }

  removeStream(streamId: string): void {
    this.speed.remove({ stream: streamId });
    this.lagSeconds.remove({ stream: streamId });
  }
}
