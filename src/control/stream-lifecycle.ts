import type { Histogram } from 'prom-client';
import type { Logger } from '../log.js';
import { every, type PeriodicTask } from '../ops/periodic.js';
import type { StreamRepository } from './db/stream-repository.js';
import type { EventBus } from './events/stream-events.js';
import type { StreamEndReason } from '../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../package/rendition-info.js';
import type { IngestLifecycle } from '../ingest/rtmp-ingest-server.js';
import type { MediaSink } from '../package/media-sink.js';
import type { AudioTrackConfig, VideoTrackConfig } from '../stream/media-frame.js';
import { NovaError } from '../errors.js';
import { hashStreamKey, looksLikeStreamKey } from './auth/stream-key.js';
import { isDatabaseUnreachable } from './db/database-errors.js';
import { DeferredWrites } from './db/deferred-writes.js';
import { PublishKeyCache } from './publish-key-cache.js';
import { CoalescedLookup } from './coalesced-lookup.js';
import type { StreamRecord } from './db/stream-repository.js';

/**
 * What the lifecycle tells delivery: a stream's begin and end and its
 * renditions, which it computes from the track configs and the ladder.
 * Media itself goes from ingest and the transcoder straight to the sink.
 */
export type StreamShapeSink = Omit<MediaSink, 'add' | 'thumbnail'>;

interface LiveState {
  video: VideoTrackConfig | null;
  audio: AudioTrackConfig | null;
  renditions: RenditionInfo[];
  /**
   * stream_started is in the outbox. Until then (markActive not yet
   * committed) track changes and metrics are only recorded, so a viewer never
   * sees quality_changed or stream_metrics before the start.
   */
  announced: boolean;
  /** the renditions the last stream_started or quality_changed carried (JSON) */
  announcedKey: string;
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

/** How the lifecycle rides out a database outage (server.ts gives it metrics and the postgres breaker). */
export interface LifecycleOutageTolerance {
  /** state writes that wait for the database to come back */
  writes?: DeferredWrites;
  /** keys found good lately: a publisher is let in from it while the database cannot answer */
  keys?: PublishKeyCache;
}

/** how long a key found good is trusted while the database is unreachable (PUBLISH_KEY_CACHE_MS's default) */
export const PUBLISH_KEY_CACHE_MS = 10 * 60_000;

/**
 * A stream's life as the control plane sees it: key check, PENDING/ENDED →
 * ACTIVE → ENDED in the database with their events in the outbox (the same
 * statements: stream_started, quality_changed, stream_ended reach every
 * instance's bus through the event log), the stream's begin, renditions and
 * end to delivery (never its media), and once a second an ephemeral
 * stream_metrics event per live stream on the bus.
 */
export class StreamLifecycle implements IngestLifecycle {
  private readonly live = new Map<string, LiveState>();
  /**
   * Whether each stream let in by authorize() is private, until its start
   * hands that to delivery: the record is read there anyway, and the start
   * must not wait on the database before its stream exists in the store.
   * One entry at most per stream let in and not started (a refused publish).
   */
  private readonly privacy = new Map<string, boolean>();
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
    /** nova_streaming_stream_duration_seconds (stream-duration-metric.ts): observed when this instance ends a broadcast */
    private readonly durations: Histogram | null = null,
    outage: LifecycleOutageTolerance = {},
  ) {
    this.timer = every(1000, () => this.publishMetrics());
    this.writes = outage.writes ?? new DeferredWrites(log);
    this.keys = outage.keys ?? new PublishKeyCache(PUBLISH_KEY_CACHE_MS);
    this.unsubscribe = bus.subscribe((event) => {
      if (event.type === 'key_revoked') this.keys.forgetStream(event.streamId);
    });
  }

  private readonly writes: DeferredWrites;
  /**
   * Each stream's database writes, one after another in the order they were asked for: each
   * writes its event in its own transaction, and the events' order is their commits' order, so a
   * start is never announced after its end (with a pool of connections two writes of one stream
   * could otherwise commit either way round). By stream, not by live session: a publisher that
   * drops and comes back while the database is away has its end land before its new start.
   */
  private readonly writeChains = new Map<string, Promise<void>>();
  private readonly keys: PublishKeyCache;
  /** key hashes to streams: publishes that arrive together share the database's round trips */
  private readonly keyLookup = new CoalescedLookup<string, StreamRecord>((hashes) => this.repo.findStreamsByKeyHashes(hashes));
  private readonly unsubscribe: () => void;

  /**
   * The stream a publish key opens, or null for an unknown or revoked key.
   * While the database cannot be reached, a key found good lately is let in
   * from the cache; any other publish is refused with NOVA_ERR_DATABASE_UNAVAILABLE.
   */
  async authorize(app: string, streamName: string): Promise<{ streamId: string } | null> {
    if (app.replace(/\/+$/, '') !== INGEST_APP) return null;
    // OBS and FFmpeg may append a query to the key ("key?foo=bar"); the key is what precedes it.
    const key = streamName.split('?', 1)[0]!;
    if (!looksLikeStreamKey(key)) return null;
    const keyHash = hashStreamKey(key);
    try {
      const stream = await this.keyLookup.get(keyHash);
      if (stream === null) {
        this.keys.forgetKey(keyHash);
        return null;
      }
      this.keys.remember(keyHash, stream.id, stream.private);
      this.privacy.set(stream.id, stream.private);
      return { streamId: stream.id };
    } catch (err) {
      if (!isDatabaseUnreachable(err)) throw err;
      const known = this.keys.recall(keyHash);
      if (known === null) throw new NovaError('NOVA_ERR_DATABASE_UNAVAILABLE', 'the database is unreachable and this key was not checked lately: try again shortly');
      this.log.warn({ stream: known.streamId }, 'database unreachable: publish key accepted from the cache of keys checked lately');
      this.privacy.set(known.streamId, known.private);
      return { streamId: known.streamId };
    }
  }

  async started(streamId: string): Promise<void> {
    let state = this.live.get(streamId);
    if (!state) {
      state = {
        video: null,
        audio: null,
        renditions: [],
        announced: false,
        announcedKey: '[]',
        transcoded: [],
        rate: null,
        statsAt: this.now(),
        longGopMs: 0,
        renditionsSaveQueued: false,
      };
      this.live.set(streamId, state);
      // A start that no authorize() preceded here is refused to tokenless viewers until told otherwise: private is the safe guess.
      this.delivery.beginStream(streamId, [], { private: this.privacy.get(streamId) ?? true });
      this.privacy.delete(streamId);
    }
    const live = state;
    const at = new Date(this.now());
    // Written even when the publisher left meanwhile: its end is queued after this write (see writeChains).
    await this.write(streamId, `start ${streamId}`, async () => {
      // A takeover on this instance changes the row, not the news: the stream was announced.
      const renditions = live.announced ? null : live.renditions;
      const row = await this.repo.markActive(streamId, this.instanceId, at, renditions);
      if (row !== null && renditions !== null) {
        live.announced = true;
        live.announcedKey = JSON.stringify(renditions);
      }
    });
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
    // (privacy stays: a publisher taking over may have been let in before the one it replaces ends)
    const state = this.live.get(streamId);
    if (!state) return;
    this.live.delete(streamId);
    // A publisher that dropped may come back: delivery holds its playlists open for a grace.
    this.delivery.endStream(streamId, reason === 'disconnected' ? 'dropped' : 'ended');
    // The peak goes in the same write as ENDED: a client that sees ENDED sees the broadcast's peak.
    const at = new Date(this.now());
    const peak = this.peakViewers(streamId);
    // a change of this turn is news from before the end
    this.writeRenditions(streamId, state);
    let movedTo: string | null = null;
    await this.write(streamId, `end ${streamId}`, async () => {
      // Only while the record still names this instance: a publisher that moved on may be live elsewhere already.
      const ended = await this.repo.markEnded(streamId, reason, at, this.instanceId, peak);
      if (ended !== null) {
        if (ended.startedAt !== null && this.durations !== null) this.durations.observe(Math.max(0, (at.getTime() - ended.startedAt.getTime()) / 1000));
        return;
      }
      const record = await this.repo.get(streamId);
      if (record !== null && record.status === 'ACTIVE' && record.instanceId !== this.instanceId) movedTo = record.instanceId;
    });
    if (movedTo !== null) {
      this.log.info({ stream: streamId, reason, now: movedTo }, 'publisher moved to another instance: the stream goes on there');
      return;
    }
    this.log.info({ stream: streamId, reason }, 'stream ended');
  }

  close(): void {
    this.timer.cancel();
    this.unsubscribe();
    // writes still waiting for the database make one last try and give up: the server is stopping
    this.writes.close();
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
  }

  /**
   * Runs `write` after the stream's earlier writes (see writeChains), waiting out a database
   * outage (DeferredWrites); a failed write does not stop the next.
   */
  private write(streamId: string, what: string, write: () => Promise<void>): Promise<void> {
    const run = (): Promise<void> => this.writes.run(what, write);
    const done = (this.writeChains.get(streamId) ?? Promise.resolve()).then(run, run);
    const tail = done.catch(() => {});
    this.writeChains.set(streamId, tail);
    void tail.then(() => {
      if (this.writeChains.get(streamId) === tail) this.writeChains.delete(streamId);
    });
    return done;
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
    queueMicrotask(() => this.writeRenditions(streamId, state));
  }

  /** Queues the renditions write (once per turn; ended() queues it itself so that it goes before the end). */
  private writeRenditions(streamId: string, state: LiveState): void {
    if (!state.renditionsSaveQueued) return;
    state.renditionsSaveQueued = false;
    this.write(streamId, `renditions ${streamId}`, async () => {
      const renditions = state.renditions;
      const key = JSON.stringify(renditions);
      // announced only once the start is, and only when it is news
      const announce = state.announced && key !== state.announcedKey;
      if (announce) state.announcedKey = key;
      await this.repo.setRenditions(streamId, renditions, announce);
    }).catch((err: unknown) => {
      this.log.error({ err: err instanceof Error ? err.message : String(err), stream: streamId }, 'saving renditions failed');
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
