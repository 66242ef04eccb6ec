import type { RenditionInfo } from '../../package/rendition-info.js';
import type { Logger } from '../../log.js';
import type { PackagedMedia } from '../../package/packaged-media.js';
import type { MediaSink, StreamAccess } from '../../package/media-sink.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { SegmentStore } from '../store/segment-store.js';
import { encodeFrameHead, type FeedMessage } from './feed-frames.js';
import { beginMessage, writeSnapshot } from './feed-snapshot.js';
import { feedMessageOf } from './feed-apply.js';
import type { EdgeMetrics } from './edge-metrics.js';

/** Where one edge's feed is written: an HTTP response held open by the internal listener. */
export interface FeedOutput {
  /**
   * Writes one frame (head, then the body unchanged). False when the peer
   * has fallen further behind than the caller allows: it is dropped and
   * resyncs from a fresh snapshot on its next connection.
   */
  write(head: Uint8Array, body: Uint8Array | null): boolean;
  close(): void;
}

interface Subscriber {
  readonly output: FeedOutput;
  /** the edge reads thumbnail frames (it asked: thumbnails=1) */
  readonly thumbnails: boolean;
  lastWriteAt: number;
}

/** The pieces of a stream's media state another instance continues from when the publisher moves there. */
export interface StreamContinuityState {
  /** the msn after the newest one begun here (that one may be half listed: it is skipped) */
  nextMsn: number;
  /** the discontinuity sequence of the newest segment */
  discontinuitySequence: number;
  /** presentation time (ms, stream timeline) where the media held here ends */
  endPtsMs: number;
  timelineOriginMs: number | null;
  /** past every init version used here */
  nextInitVersion: number;
}

/**
 * The origin's side of origin–edge delivery, placed between ingest (and
 * transcode) and the segment store: it passes everything to the store and,
 * for streams an edge subscribed to, the same calls as feed frames. Media
 * is written before the store takes it: a part's bytes may live in a
 * PartArena, valid until the store lets go of them.
 */
export class OriginFeeds implements MediaSink {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly newestMsn = new Map<string, number>();
  /** runs only while an edge follows a stream here */
  private heartbeat: PeriodicTask | null = null;

  constructor(
    private readonly store: SegmentStore,
    private readonly metrics: EdgeMetrics,
    private readonly log: Logger,
    /** a stream began a new msn here: its continuity state is worth sharing now */
    private readonly onNewMsn: (streamId: string) => void = () => {},
    private readonly heartbeatMs = 250,
  ) {}

  /** Edges following this instance's streams now. */
  get subscriberCount(): number {
    let count = 0;
    for (const set of this.subscribers.values()) count += set.size;
    return count;
  }

  /** Whether the stream is in this instance's store (an edge may follow it). */
  has(streamId: string): boolean {
    return this.store.getStream(streamId) !== undefined;
  }

  /**
   * An edge follows a stream from now on: it gets a snapshot of what the store
   * holds, then every change. Null when the stream is not here. Returns the
   * unsubscribe function (the connection closed).
   */
  subscribe(streamId: string, output: FeedOutput, options: { thumbnails?: boolean } = {}): (() => void) | null {
    const stream = this.store.getStream(streamId);
    if (!stream) return null;
    const subscriber: Subscriber = { output, thumbnails: options.thumbnails === true, lastWriteAt: Date.now() };
    let set = this.subscribers.get(streamId);
    if (!set) {
      set = new Set();
      this.subscribers.set(streamId, set);
    }
    set.add(subscriber);
    this.metrics.feedSubscribers.inc();
    this.heartbeat ??= every(this.heartbeatMs, () => this.ping(this.heartbeatMs));
    let ok = true;
    writeSnapshot(
      stream,
      (message, body) => {
        if (ok) ok = this.writeTo(subscriber, message, body ?? null);
      },
      { thumbnails: subscriber.thumbnails },
    );
    if (!ok) this.drop(streamId, subscriber, 'snapshot larger than the backlog allowed');
    return () => this.remove(streamId, subscriber);
  }

  beginStream(streamId: string, renditions: readonly RenditionInfo[], access?: StreamAccess): void {
    // the begin carries the stream's privacy: edges refuse tokenless viewers of a private stream too
    this.broadcast(streamId, beginMessage(this.store.beginStream(streamId, renditions, access)));
  }

  updateRenditions(streamId: string, renditions: readonly RenditionInfo[]): void {
    this.store.updateRenditions(streamId, renditions);
    this.broadcast(streamId, { t: 'renditions', renditions: [...renditions] });
  }

  add(streamId: string, media: PackagedMedia): void {
    const set = this.subscribers.get(streamId);
    if (media.kind === 'init') {
      // inits are ordinary buffers: stored first, then sent with the version the store gave them
      this.store.add(streamId, media);
      if (set === undefined || set.size === 0) return;
      const stream = this.store.getStream(streamId);
      const init = stream?.renditions.get(media.rendition)?.tracks.get(media.track)?.init;
      if (stream && !stream.ended && init) this.broadcast(streamId, feedMessageOf({ ...media, version: init.version }, init.generation), init.bytes);
      return;
    }
    if (set !== undefined && set.size > 0) {
      const stream = this.store.getStream(streamId);
      // parts may live in a PartArena: sent before the store may let go of them
      if (stream && !stream.ended) this.broadcast(streamId, feedMessageOf(media, stream.generation), media.bytes);
    }
    this.store.add(streamId, media);
    // after the store took it: the continuity shared now must count this msn as begun
    this.noteMsn(streamId, media.msn);
  }

  thumbnail(streamId: string, jpeg: Uint8Array): void {
    this.store.thumbnail(streamId, jpeg);
    const set = this.subscribers.get(streamId);
    const stored = this.store.getStream(streamId)?.thumbnail;
    if (set === undefined || stored === undefined || stored === null || stored.bytes !== jpeg) return;
    const message: FeedMessage = { t: 'thumbnail' };
    const head = encodeFrameHead(message, jpeg.byteLength);
    for (const subscriber of [...set]) {
      if (subscriber.thumbnails && !this.writeTo(subscriber, message, jpeg, head)) this.drop(streamId, subscriber, 'fell behind');
    }
  }

  removeRendition(streamId: string, rendition: string): void {
    this.store.removeRendition(streamId, rendition);
    this.broadcast(streamId, { t: 'remove', rendition });
  }

  endStream(streamId: string, how: 'ended' | 'dropped'): void {
    this.store.endStream(streamId, how);
    this.broadcast(streamId, { t: 'end', how });
    this.newestMsn.delete(streamId);
  }

  /** What a publisher moving elsewhere continues from; null when the stream holds no media here. */
  continuity(streamId: string): StreamContinuityState | null {
    const stream = this.store.getStream(streamId);
    if (!stream) return null;
    let newest = -1;
    let discontinuitySequence = stream.baseDiscontinuities;
    let endPtsMs = 0;
    let nextInitVersion = stream.firstInitVersion;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        if (track.init !== null && track.init.version + 1 > nextInitVersion) nextInitVersion = track.init.version + 1;
        const last = track.lastSegment();
        const msn = Math.max(track.pendingMsn, last ? last.msn : -1);
        if (msn > newest) newest = msn;
        let sequence = track.droppedDiscontinuities;
        for (const segment of track.segments) if (segment.discontinuity) sequence++;
        if (track.pendingParts.length > 0 && track.pendingDiscontinuity) sequence++;
        if (sequence > discontinuitySequence) discontinuitySequence = sequence;
        let end = last ? last.startPts + last.duration * 1000 : 0;
        for (const part of track.pendingParts) end += part.duration * 1000;
        if (end > endPtsMs) endPtsMs = end;
      }
    }
    if (newest < 0) return null;
    return { nextMsn: newest + 1, discontinuitySequence, endPtsMs, timelineOriginMs: stream.timelineOriginMs, nextInitVersion };
  }

  /** Closes every feed (shutdown); edges resync from the stream's next origin. */
  close(): void {
    for (const [streamId, set] of this.subscribers) for (const subscriber of [...set]) this.drop(streamId, subscriber, null);
  }

  /** The stream left the store (ended and its grace passed): its feeds end. */
  streamRemoved(streamId: string): void {
    const set = this.subscribers.get(streamId);
    if (set) for (const subscriber of [...set]) this.drop(streamId, subscriber, null);
    this.newestMsn.delete(streamId);
  }

  private noteMsn(streamId: string, msn: number): void {
    const newest = this.newestMsn.get(streamId);
    if (newest !== undefined && msn <= newest) return;
    this.newestMsn.set(streamId, msn);
    this.onNewMsn(streamId);
  }

  private broadcast(streamId: string, message: FeedMessage, body: Uint8Array | null = null): void {
    const set = this.subscribers.get(streamId);
    if (set === undefined || set.size === 0) return;
    // one head for every follower: the frame is the same bytes for each
    const head = encodeFrameHead(message, body === null ? 0 : body.byteLength);
    for (const subscriber of set) {
      if (!this.writeTo(subscriber, message, body, head)) this.drop(streamId, subscriber, 'fell behind');
    }
  }

  private writeTo(subscriber: Subscriber, message: FeedMessage, body: Uint8Array | null, encoded?: Uint8Array): boolean {
    const bodyLength = body === null ? 0 : body.byteLength;
    const head = encoded ?? encodeFrameHead(message, bodyLength);
    subscriber.lastWriteAt = Date.now();
    this.metrics.feedBytesSent.inc(head.byteLength + bodyLength);
    if (message.t === 'init' || message.t === 'part' || message.t === 'segment') this.metrics.feedObjectsSent.inc({ kind: message.t });
    return subscriber.output.write(head, bodyLength > 0 ? body : null);
  }

  private ping(heartbeatMs: number): void {
    const now = Date.now();
    for (const [streamId, set] of this.subscribers) {
      for (const subscriber of set) {
        if (now - subscriber.lastWriteAt < heartbeatMs) continue;
        if (!this.writeTo(subscriber, { t: 'ping' }, null)) this.drop(streamId, subscriber, 'fell behind');
      }
    }
  }

  private drop(streamId: string, subscriber: Subscriber, why: string | null): void {
    if (!this.remove(streamId, subscriber)) return;
    if (why !== null) {
      this.metrics.feedDrops.inc();
      this.log.warn({ stream: streamId, why }, 'edge feed dropped');
    }
    subscriber.output.close();
  }

  private remove(streamId: string, subscriber: Subscriber): boolean {
    const set = this.subscribers.get(streamId);
    if (!set || !set.delete(subscriber)) return false;
    if (set.size === 0) this.subscribers.delete(streamId);
    this.metrics.feedSubscribers.dec();
    if (this.subscribers.size === 0) {
      this.heartbeat?.cancel();
      this.heartbeat = null;
    }
    return true;
  }
}
