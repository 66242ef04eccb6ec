import type { Logger } from '../log.js';
import { every, type PeriodicTask } from '../ops/periodic.js';
import type { StreamRepository } from './db/stream-repository.js';
import type { EventBus } from './events/stream-events.js';
import type { StreamEndReason } from '../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../package/rendition-info.js';
import type { IngestLifecycle } from '../ingest/rtmp-ingest-server.js';
import type { MediaSink } from '../package/media-sink.js';
import type { AudioTrackConfig, VideoTrackConfig } from '../stream/media-frame.js';

/**
 * What the lifecycle tells delivery: a stream's begin and end and its
 * renditions, which it computes from the track configs and the ladder.
 * Media itself goes from ingest and the transcoder straight to the sink.
 */
export type StreamShapeSink = Omit<MediaSink, 'add'>;

interface LiveState {
  video: VideoTrackConfig | null;
  audio: AudioTrackConfig | null;
  renditions: RenditionInfo[];
  /**
   * stream_started is on the bus. Until then (markActive in flight) track
   * changes and metrics are only recorded: stream_started will carry them, so
   * a viewer never sees quality_changed or stream_metrics before the start.
   */
  announced: boolean;
  /** the ladder renditions live now (from the transcoder), listed after the source */
  transcoded: RenditionInfo[];
  /**
   * Ingest rate over the worker's last stats interval (bits/s, video frames/s), null before
   * its first stats. A rate, not the bytes summed per metrics second: the worker reports
   * every 1.00–1.04 s by its own clock, so a sum per second of ours read 0 about once a
   * minute (a second with no report in it) and in every stream's first second.
   */
  rate: { bitrate: number; fps: number } | null;
  /** when the last stats arrived (or the stream started) */
  statsAt: number;
  longGopMs: number;
  /** a write of the renditions to the database is queued (it writes them as they are when it runs) */
  renditionsSaveQueued: boolean;
}

const INGEST_APP = 'live';

/**
 * A stream's life as the control plane sees it: key check, PENDING/ENDED →
 * ACTIVE → ENDED in the database, events on the bus, the stream's begin,
 * renditions and end to delivery (never its media), and once a second a
 * stream_metrics event per live stream.
 */
export class StreamLifecycle implements IngestLifecycle {
  private readonly live = new Map<string, LiveState>();
  private readonly timer: PeriodicTask;

  constructor(
    private readonly repo: StreamRepository,
    private readonly bus: EventBus,
    private readonly delivery: StreamShapeSink,
    private readonly instanceId: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** the broadcast's peak viewer count so far (global when instances share a store): kept with ENDED */
    private readonly peakViewers: (streamId: string) => number = () => 0,
  ) {
    this.timer = every(1000, () => this.publishMetrics());
  }

  async authorize(app: string, streamName: string): Promise<{ streamId: string } | null> {
    if (app.replace(/\/+$/, '') !== INGEST_APP) return null;
    // OBS and FFmpeg may append a query to the key ("key?foo=bar"); the key is what precedes it.
    const key = streamName.split('?', 1)[0]!;
    const stream = await this.repo.findStreamByKey(key);
    return stream ? { streamId: stream.id } : null;
  }

  async started(streamId: string): Promise<void> {
    const takeover = this.live.has(streamId);
    if (!takeover) {
      this.live.set(streamId, { video: null, audio: null, renditions: [], announced: false, transcoded: [], rate: null, statsAt: this.now(), longGopMs: 0, renditionsSaveQueued: false });
      this.delivery.beginStream(streamId, []);
    }
    await this.repo.markActive(streamId, this.instanceId, new Date(this.now()));
    const state = this.live.get(streamId);
    // Gone already (the publisher left during markActive): its stream_ended is out; a start now would contradict it.
    if (!state || state.announced) return;
    state.announced = true;
    this.bus.publish({ type: 'stream_started', streamId, instanceId: this.instanceId, at: this.now(), renditions: state.renditions });
  }

  tracksChanged(streamId: string, video: VideoTrackConfig | null, audio: AudioTrackConfig | null): void {
    const state = this.live.get(streamId);
    if (!state) return;
    state.video = video;
    state.audio = audio;
    this.updateRenditions(streamId, state);
  }

  /**
   * The transcoder's live renditions changed (FFmpeg up with its first
   * frames out, or down): renditions that left are removed from delivery
   * (a restarted FFmpeg starts them afresh), and viewers get quality_changed.
   */
  transcodedRenditions(streamId: string, renditions: RenditionInfo[]): void {
    const state = this.live.get(streamId);
    if (!state) return;
    const same =
      renditions.length === state.transcoded.length &&
      renditions.every((r, i) => r.name === state.transcoded[i]!.name && r.codecs === state.transcoded[i]!.codecs);
    if (same) return;
    for (const previous of state.transcoded) {
      if (!renditions.some((r) => r.name === previous.name)) this.delivery.removeRendition(streamId, previous.name);
    }
    state.transcoded = renditions;
    this.updateRenditions(streamId, state);
  }

  stats(streamId: string, bytes: number, videoFrames: number): void {
    const state = this.live.get(streamId);
    if (!state) return;
    const now = this.now();
    const seconds = (now - state.statsAt) / 1000;
    state.statsAt = now;
    if (seconds > 0) state.rate = { bitrate: (bytes * 8) / seconds, fps: videoFrames / seconds };
  }

  longGop(streamId: string, observedMs: number): void {
    const state = this.live.get(streamId);
    if (!state) return;
    if (state.longGopMs === 0) {
      this.log.warn(
        { stream: streamId, keyframeIntervalMs: observedMs },
        'encoder keyframe interval exceeds the segment target: segments will be longer (set the encoder keyframe interval to 2 s)',
      );
    }
    state.longGopMs = observedMs;
  }

  /** Current live facts for the API: keyframe warning and renditions. */
  liveInfo(streamId: string): { renditions: RenditionInfo[]; keyframeIntervalWarningMs: number } | null {
    const state = this.live.get(streamId);
    return state ? { renditions: state.renditions, keyframeIntervalWarningMs: state.longGopMs } : null;
  }

  async ended(streamId: string, reason: StreamEndReason): Promise<void> {
    if (!this.live.delete(streamId)) return;
    // A publisher that dropped may come back: delivery holds its playlists open for a grace.
    this.delivery.endStream(streamId, reason === 'disconnected' ? 'dropped' : 'ended');
    // The peak goes in the same write as ENDED: a client that sees ENDED sees the broadcast's peak.
    // Only while the record still names this instance: a publisher that moved on may be live elsewhere already.
    const ended = await this.repo.markEnded(streamId, reason, new Date(this.now()), this.instanceId, this.peakViewers(streamId));
    if (ended === null) {
      const record = await this.repo.get(streamId);
      if (record !== null && record.status === 'ACTIVE' && record.instanceId !== this.instanceId) {
        this.log.info({ stream: streamId, reason, now: record.instanceId }, 'publisher moved to another instance: the stream goes on there');
        return;
      }
    }
    this.log.info({ stream: streamId, reason }, 'stream ended');
    this.bus.publish({ type: 'stream_ended', streamId, instanceId: this.instanceId, at: this.now(), reason });
  }

  close(): void {
    this.timer.cancel();
  }

  private updateRenditions(streamId: string, state: LiveState): void {
    const codecs = [state.video?.codecString, state.audio?.codecString].filter((c): c is string => !!c).join(',');
    const source: RenditionInfo = {
      name: state.video ? 'source' : 'audio',
      width: state.video?.width ?? 0,
      height: state.video?.height ?? 0,
      bandwidth: 0,
      codecs,
      frameRate: state.video?.frameRate ?? 0,
    };
    // An audio-only stream has no ladder: the transcoder never offers renditions for it.
    const renditions = state.video ? [source, ...state.transcoded] : [source];
    // Tracks can arrive again unchanged (a repeated sequence header, a takeover by the same encoder): only a change is news.
    if (JSON.stringify(renditions) === JSON.stringify(state.renditions)) return;
    state.renditions = renditions;
    this.delivery.updateRenditions(streamId, state.renditions);
    this.saveRenditions(streamId, state);
    if (state.announced) this.bus.publish({ type: 'quality_changed', streamId, instanceId: this.instanceId, at: this.now(), renditions: state.renditions });
  }

  /**
   * One database write for the changes of one turn: a publisher's video and audio configs come
   * in one message from the worker (a look's messages travel together) and each changes the
   * renditions, so every stream start wrote them twice, a statement of the embedded database's
   * ~2 ms each for a value that the next one replaced at once.
   */
  private saveRenditions(streamId: string, state: LiveState): void {
    if (state.renditionsSaveQueued) return;
    state.renditionsSaveQueued = true;
    queueMicrotask(() => {
      state.renditionsSaveQueued = false;
      this.repo.setRenditions(streamId, state.renditions).catch((err: unknown) => {
        this.log.error({ err: err instanceof Error ? err.message : String(err), stream: streamId }, 'saving renditions failed');
      });
    });
  }

  private publishMetrics(): void {
    const at = this.now();
    for (const [streamId, state] of this.live) {
      if (!state.announced || state.rate === null) continue;
      this.bus.publish({
        type: 'stream_metrics',
        streamId,
        instanceId: this.instanceId,
        at,
        ingressBitrate: Math.round(state.rate.bitrate),
        fps: Math.round(state.rate.fps * 100) / 100,
        renditions: state.renditions.map((r) => r.name),
      });
    }
  }
}
