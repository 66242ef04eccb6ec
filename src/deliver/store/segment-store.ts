import { createHash } from 'node:crypto';
import type { RenditionInfo } from '../../package/rendition-info.js';
import type { MediaSink, StreamAccess } from '../../package/media-sink.js';
import type { PackagedMedia, PackagedPart, PackagedSegment, PackagedTrack } from '../../package/packaged-media.js';
import { PartArena } from '../../stream/part-arena.js';

/**
 * The bounded in-memory home of every live stream's packaged media:
 * stream → rendition → track → init, a sliding window of segments (with
 * their parts while they are near the live edge) and the in-progress
 * segment's parts. Served straight from memory by the HTTP layer.
 *
 * Bounds: a window in segments per track, and bytes per stream and overall.
 * Byte eviction drops the oldest msn of a stream across all its tracks at
 * once, so video, audio and TS windows stay aligned (DASH and HLS list the
 * same msn range in every track).
 *
 * Part bytes may live in a PartArena (live ingest): every path that lets go
 * of a part's bytes, or never keeps them, releases them (releasePart), so the
 * packager can reuse the region. Responses never hold stored bytes past the
 * call that wrote them (media-response.ts copies what a slow reader has not
 * taken), so dropping is the last use.
 */

export interface StoredPart {
  /** the StreamStore generation the part was produced under (its ETag): the same on every instance serving it */
  readonly generation: string;
  readonly index: number;
  readonly duration: number;
  readonly independent: boolean;
  /** null once the part has aged out of the LL-HLS listing (its segment still serves the bytes) */
  bytes: Uint8Array | null;
}

export interface StoredSegment {
  /** the StreamStore generation the segment was produced under (its ETag) */
  readonly generation: string;
  readonly msn: number;
  readonly duration: number;
  readonly baseMediaDecodeTime: number;
  readonly startPts: number;
  readonly programDateTime: number;
  readonly discontinuity: boolean;
  /** which init (TrackStore.inits index) decodes this segment */
  readonly initVersion: number;
  /** parts of this segment, in order; empty for 'ts' */
  readonly parts: StoredPart[];
  /**
   * The segment's own bytes; null when the segment is its parts back to back
   * (live CMAF tracks: the packager sends each byte once), whose bytes then
   * stay for the segment's life. See segmentBody().
   */
  readonly bytes: Uint8Array | null;
  /** size of the segment */
  readonly byteLength: number;
}

/** What a segment is served as: its own bytes, or its parts' bytes in order. */
export function segmentBody(segment: StoredSegment): readonly Uint8Array[] {
  if (segment.bytes !== null) return [segment.bytes];
  const body: Uint8Array[] = [];
  for (const part of segment.parts) if (part.bytes !== null) body.push(part.bytes);
  return body;
}


export interface StoredInit {
  /** 0 for the first init of the stream; a reconnect with a different decoder config adds one */
  readonly version: number;
  /** the StreamStore generation the init was produced under (its ETag) */
  readonly generation: string;
  readonly bytes: Uint8Array;
  readonly codecs: string;
  readonly timescale: number;
}

/** What a track's playlists carry over from media it no longer holds. */
export interface TrackRunningState {
  droppedDiscontinuities: number;
  maxSegmentDuration: number;
  maxPartDuration: number;
}

/** unavailable: the stream's origin is lost (an edge's replica): answer 503 */
export type WaitOutcome = 'ready' | 'timeout' | 'ended' | 'gone' | 'unavailable';

export interface ParkedWait {
  /** Forget the wait without calling back (the request was aborted). */
  cancel(): void;
}

interface Waiter extends ParkedWait {
  readonly msn: number;
  /** -1: waiting for the whole segment */
  readonly part: number;
  done: boolean;
  timer: NodeJS.Timeout | null;
  readonly onDone: (outcome: WaitOutcome) => void;
}

export class TrackStore {
  /** the current init (newest version) */
  init: StoredInit | null = null;
  /** every init version segments may still reference (tiny; bounded by MAX_INIT_VERSIONS) */
  readonly inits: StoredInit[] = [];
  /** oldest first; the playlist lists the last `windowSegments`, older ones are kept for late players */
  readonly segments: StoredSegment[] = [];
  /** msn of the in-progress segment, -1 when none has started */
  pendingMsn = -1;
  /** the in-progress segment follows a discontinuity: its parts are listed after the tag */
  pendingDiscontinuity = false;
  readonly pendingParts: StoredPart[] = [];
  /** discontinuity-flagged segments that have left the store (EXT-X-DISCONTINUITY-SEQUENCE) */
  droppedDiscontinuities = 0;
  /** running maxima, so EXT-X-TARGETDURATION and PART-TARGET never shrink within a stream */
  maxSegmentDuration = 0;
  maxPartDuration = 0;
  bytes = 0;
  readonly waiters: Waiter[] = [];

  constructor(readonly track: PackagedTrack) {}

  lastSegment(): StoredSegment | undefined {
    return this.segments[this.segments.length - 1];
  }

  findSegment(msn: number): StoredSegment | undefined {
    const segments = this.segments;
    if (segments.length === 0) return undefined;
    // msn are contiguous within a stream: index directly, fall back to a scan if not
    const guess = msn - segments[0]!.msn;
    if (guess >= 0 && guess < segments.length && segments[guess]!.msn === msn) return segments[guess];
    for (const segment of segments) if (segment.msn === msn) return segment;
    return undefined;
  }

  findInit(version: number): StoredInit | undefined {
    for (const init of this.inits) if (init.version === version) return init;
    return undefined;
  }

  findPart(msn: number, index: number): StoredPart | undefined {
    if (msn === this.pendingMsn) {
      const part = this.pendingParts[index];
      return part && part.index === index ? part : this.pendingParts.find((p) => p.index === index);
    }
    const segment = this.findSegment(msn);
    if (!segment) return undefined;
    const part = segment.parts[index];
    return part && part.index === index ? part : segment.parts.find((p) => p.index === index);
  }

  /** Whether a playlist would already contain segment `msn` (part < 0) or part `part` of `msn` or anything later. */
  isAvailable(msn: number, part: number): boolean {
    const last = this.lastSegment();
    const lastMsn = last ? last.msn : -1;
    if (part < 0) return lastMsn >= msn;
    if (lastMsn >= msn + 1) return true;
    if (this.pendingParts.length > 0) {
      const newestPart = this.pendingParts[this.pendingParts.length - 1]!.index;
      if (this.pendingMsn > msn) return true;
      if (this.pendingMsn === msn && newestPart >= part) return true;
    }
    if (last && last.msn === msn) {
      // a completed segment holds all its parts; a part index past its end is "later" only once msn+1 starts
      const lastIndex = last.parts.length > 0 ? last.parts[last.parts.length - 1]!.index : Number.POSITIVE_INFINITY;
      return lastIndex >= part;
    }
    return false;
  }
}

export class RenditionStore {
  readonly tracks = new Map<PackagedTrack, TrackStore>();
  constructor(public info: RenditionInfo) {}

  trackOrCreate(track: PackagedTrack, baseDiscontinuities = 0): TrackStore {
    let store = this.tracks.get(track);
    if (!store) {
      store = new TrackStore(track);
      store.droppedDiscontinuities = baseDiscontinuities;
      this.tracks.set(track, store);
    }
    return store;
  }
}

/**
 * What a stream's media continues from when it was produced elsewhere before:
 * a replica's origin state (an edge), or the shared resume state of a stream
 * whose publisher moved here from another instance.
 */
export interface StreamContinuity {
  /** the producing origin's generation: ETags of objects added from now on carry it */
  generation?: string;
  /** EXT-X-DISCONTINUITY-SEQUENCE of the first segment the store will hold (tracks created from now on start from it) */
  discontinuitySequence?: number;
  /** DASH availabilityStartTime of the producing origin, so every instance's MPD maps t onto the same wall clock */
  timelineOriginMs?: number | null;
  /** the version a track's first init gets (past those of the stream's previous origin) */
  firstInitVersion?: number;
}

/** A stream's newest thumbnail: one per stream, replaced by the next, gone when the stream ends. */
export interface StoredThumbnail {
  bytes: Uint8Array;
  /** strong, from the bytes: the same image has the same tag on an origin and its edges */
  etag: string;
  /** epoch ms it was stored */
  at: number;
}

export class StreamStore {
  readonly renditions = new Map<string, RenditionStore>();
  /** the newest JPEG of the stream (from its transcoder, or its origin's feed), null before the first and after the end */
  thumbnail: StoredThumbnail | null = null;
  /**
   * Which producer's media is being added now (ETags carry it per object):
   * an instance's own ingest, or the origin an edge replicates. A publisher
   * moving to another instance starts a new generation; msns keep rising.
   */
  generation: string;
  /** EXT-X-DISCONTINUITY-SEQUENCE a track created from now on starts from */
  baseDiscontinuities = 0;
  /**
   * The version a track's first init gets: 0, or past every version the stream's
   * previous origin used (a publisher that moved here), so no init-vN URL names
   * two different inits.
   */
  firstInitVersion = 0;
  ended = false;
  endedAt = 0;
  /**
   * Every playback request needs a viewer token for this stream (the media
   * routes check it; its answers are never publicly cacheable). Set from the
   * stream's record when its publisher is let in, and from the origin's feed
   * on an edge.
   */
  private = false;
  /** a replica whose origin is lost past its grace: playlists answer 503 until it is back */
  unavailable = false;
  bytes = 0;
  removalTimer: NodeJS.Timeout | null = null;
  /** set while a dropped publisher has reconnectGraceMs to come back before ENDLIST */
  reconnectTimer: NodeJS.Timeout | null = null;
  /** bumped on every change: rendered playlists are reused while it stays the same */
  changes = 0;
  /** epoch ms of the latest change (this store's clock): the publishTime of an MPD whose text that change altered */
  changedAt = 0;
  /**
   * Wall clock (epoch ms) at which the media timeline (baseMediaDecodeTime 0)
   * began: DASH availabilityStartTime. Derived from the first segment's
   * program date time so that t/timescale maps onto wall clock exactly.
   */
  timelineOriginMs: number | null = null;

  constructor(
    readonly id: string,
    /** distinguishes two lives of the same stream id in ETags */
    generation: string,
    readonly startedAt: number,
  ) {
    this.generation = generation;
  }
}

export interface SegmentStoreOptions {
  /** segments listed in a live playlist (6: 12 s of 2 s segments, Apple's recommended minimum of 3 target durations plus margin) */
  windowSegments: number;
  /** segments kept after leaving the playlist, for a player a reload behind (1: a reload every target duration sees at most one leave) */
  keepAfterWindow: number;
  /** completed segments whose parts stay listed and served (3: spec asks parts to go after ~3 target durations) */
  partSegments: number;
  /** all streams together (512 MiB) */
  maxBytes: number;
  /** one stream (64 MiB: ~20 s of 6 Mb/s video in three renditions and TS twice over) */
  maxStreamBytes: number;
  /**
   * Lets go of a part's bytes (PartArena.release: a region of an arena becomes reusable). The
   * main thread's store, mirrored to delivery threads, holds releases back until every thread's
   * copy of the store has let go too (see deliver/threads/store-mirror.ts).
   */
  releaseBytes: (bytes: Uint8Array) => void;
  /** how long an ended stream's media stays served with ENDLIST (60 s) */
  endedGraceMs: number;
  /**
   * A publisher that vanished without a goodbye (a dropped connection, a
   * crashed encoder) usually comes back within seconds: its playlists stay
   * live this long (5 s) before ENDLIST, so players already watching keep
   * reloading and cross the reconnect's discontinuity instead of stopping.
   * A clean unpublish ends playlists at once.
   */
  reconnectGraceMs: number;
  now: () => number;
}

export const DEFAULT_SEGMENT_STORE_OPTIONS: SegmentStoreOptions = {
  windowSegments: 6,
  keepAfterWindow: 1,
  partSegments: 3,
  maxBytes: 512 * 1024 * 1024,
  maxStreamBytes: 64 * 1024 * 1024,
  endedGraceMs: 60_000,
  reconnectGraceMs: 5000,
  releaseBytes: PartArena.release,
  now: Date.now,
};

export type SegmentStoreEvent = { type: 'removed'; streamId: string };

/**
 * Told synchronously right after a segment becomes listed (playlists and
 * MPDs rendered from now on contain it): segment generation metrics and
 * start-up measurements hang off this.
 */
export type SegmentListedListener = (streamId: string, rendition: string, segment: PackagedSegment) => void;

let generationCounter = 0;

/** Unique per store and start: time and a counter, base 36 (also the process id: instances on one host start in the same ms). */
function newGeneration(now: number): string {
  generationCounter = (generationCounter + 1) % 0x10000;
  return `${now.toString(36)}${process.pid.toString(36)}${generationCounter.toString(36)}`;
}

/** init versions kept per track: a stream reconnecting with new encoder settings more often than this within a window is pathological */
const MAX_INIT_VERSIONS = 4;

export class SegmentStore implements MediaSink {
  readonly options: SegmentStoreOptions;
  private readonly streams = new Map<string, StreamStore>();
  private totalBytes = 0;
  private parked = 0;
  private readonly listedListeners: SegmentListedListener[] = [];

  constructor(options: Partial<SegmentStoreOptions> = {}) {
    this.options = { ...DEFAULT_SEGMENT_STORE_OPTIONS, ...options };
    if (this.options.windowSegments < 1) throw new RangeError('windowSegments must be at least 1');
  }

  /** Subscribes to segments becoming listed; returns the unsubscribe function. */
  onSegmentListed(listener: SegmentListedListener): () => void {
    this.listedListeners.push(listener);
    return () => {
      const at = this.listedListeners.indexOf(listener);
      if (at >= 0) this.listedListeners.splice(at, 1);
    };
  }

  /** Bytes of media held, all streams. */
  get memoryBytes(): number {
    return this.totalBytes;
  }

  /** Requests parked on a blocking reload or a preload hint right now. */
  get parkedCount(): number {
    return this.parked;
  }

  /** Bytes of thumbnails held, all streams together (a gauge reads it at scrape time). */
  get thumbnailBytes(): number {
    let bytes = 0;
    for (const stream of this.streams.values()) if (stream.thumbnail !== null) bytes += stream.thumbnail.bytes.byteLength;
    return bytes;
  }

  /** The stream's newest thumbnail; ignored for a stream not held or ended (its last image must not outlive it). */
  thumbnail(streamId: string, jpeg: Uint8Array): void {
    const stream = this.streams.get(streamId);
    if (!stream || stream.ended) return;
    stream.thumbnail = { bytes: jpeg, etag: `"${createHash('sha1').update(jpeg).digest('base64url')}"`, at: this.options.now() };
  }

  streamMemoryBytes(streamId: string): number {
    return this.streams.get(streamId)?.bytes ?? 0;
  }

  getStream(streamId: string): StreamStore | undefined {
    return this.streams.get(streamId);
  }

  streamIds(): IterableIterator<string> {
    return this.streams.keys();
  }

  /**
   * Starts (or resumes, after a publisher reconnect within the grace period)
   * a stream. Renditions are listed in master-playlist order.
   */
  beginStream(streamId: string, renditions: readonly RenditionInfo[], continuity: StreamContinuity & Partial<StreamAccess> = {}): StreamStore {
    let stream = this.streams.get(streamId);
    if (stream) {
      if (stream.removalTimer) clearTimeout(stream.removalTimer);
      stream.removalTimer = null;
      if (stream.reconnectTimer) clearTimeout(stream.reconnectTimer);
      stream.reconnectTimer = null;
      stream.ended = false;
      stream.unavailable = false;
      this.markChanged(stream);
    } else {
      const now = this.options.now();
      stream = new StreamStore(streamId, newGeneration(now), now);
      this.streams.set(streamId, stream);
      if (continuity.discontinuitySequence !== undefined) stream.baseDiscontinuities = continuity.discontinuitySequence;
      if (continuity.firstInitVersion !== undefined) stream.firstInitVersion = continuity.firstInitVersion;
    }
    if (continuity.generation !== undefined) stream.generation = continuity.generation;
    if (continuity.private !== undefined) stream.private = continuity.private;
    if (continuity.timelineOriginMs !== undefined && continuity.timelineOriginMs !== null) stream.timelineOriginMs = continuity.timelineOriginMs;
    this.updateRenditions(streamId, renditions);
    return stream;
  }

  /**
   * A publisher of a stream this instance held (as a replica or a previous
   * session) starts producing here: what it adds carries a generation of
   * its own, so no object URL's ETag means two different byte strings.
   */
  renewGeneration(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (stream) stream.generation = newGeneration(this.options.now());
  }

  /** Replaces rendition descriptions (quality_changed); media of renditions no longer listed stays until evicted. */
  updateRenditions(streamId: string, renditions: readonly RenditionInfo[]): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    this.markChanged(stream);
    for (const info of renditions) {
      const existing = stream.renditions.get(info.name);
      if (existing) existing.info = info;
      else stream.renditions.set(info.name, new RenditionStore(info));
    }
  }

  /**
   * A replica takes a track's running state from its origin's snapshot
   * (discontinuity sequence, the target durations that never shrink), so its
   * playlists read like the origin's. A track already holding media keeps its
   * own: it continues what this instance had (a publisher that moved).
   */
  restoreTrack(streamId: string, rendition: string, track: PackagedTrack, state: TrackRunningState): void {
    const stream = this.streams.get(streamId);
    const renditionStore = stream?.renditions.get(rendition);
    if (!stream || !renditionStore) return;
    const trackStore = renditionStore.trackOrCreate(track, stream.baseDiscontinuities);
    if (trackStore.segments.length > 0 || trackStore.pendingParts.length > 0) return;
    trackStore.droppedDiscontinuities = state.droppedDiscontinuities;
    trackStore.maxSegmentDuration = Math.max(trackStore.maxSegmentDuration, state.maxSegmentDuration);
    trackStore.maxPartDuration = Math.max(trackStore.maxPartDuration, state.maxPartDuration);
    this.markChanged(stream);
  }

  /**
   * Takes a rendition out of a live stream: it leaves every playlist and
   * MPD, its media is freed and parked requests for it are answered 'gone'.
   * (A transcoded rendition whose FFmpeg died: when it comes back it starts
   * a fresh track, so playlists never show the gap.)
   */
  removeRendition(streamId: string, name: string): void {
    const stream = this.streams.get(streamId);
    const rendition = stream?.renditions.get(name);
    if (!stream || !rendition) return;
    stream.renditions.delete(name);
    this.markChanged(stream);
    for (const track of rendition.tracks.values()) {
      this.account(stream, track, -track.bytes);
      this.releaseTrackParts(track);
      this.releaseAll(track, 'gone');
    }
  }

  /** Adds packaged media; returns false (and drops it) when the stream is unknown or ended. */
  add(streamId: string, media: PackagedMedia): boolean {
    const stream = this.streams.get(streamId);
    if (!stream || stream.ended) {
      if (media.kind === 'part') this.options.releaseBytes(media.bytes);
      return false;
    }
    this.markChanged(stream);
    let rendition = stream.renditions.get(media.rendition);
    if (!rendition) {
      rendition = new RenditionStore({ name: media.rendition, width: 0, height: 0, bandwidth: 0, codecs: '', frameRate: 0 });
      stream.renditions.set(media.rendition, rendition);
    }
    const track = rendition.trackOrCreate(media.track, stream.baseDiscontinuities);
    switch (media.kind) {
      case 'init':
        this.addInit(stream, track, media.bytes, media.codecs, media.timescale, media.version);
        break;
      case 'part':
        this.addPart(stream, track, media);
        break;
      case 'segment':
        this.addSegment(stream, track, media);
        break;
    }
    this.enforceBounds(stream);
    return true;
  }

  /**
   * The publisher is gone: playlists get ENDLIST, parked requests are
   * answered, media stays for the grace period. 'dropped' (the connection
   * was lost without an unpublish) waits reconnectGraceMs first, since a
   * reconnect within it continues the same playlists.
   */
  endStream(streamId: string, how: 'ended' | 'dropped' = 'ended'): void {
    const stream = this.streams.get(streamId);
    if (!stream || stream.ended) return;
    if (how === 'dropped' && this.options.reconnectGraceMs > 0) {
      if (stream.reconnectTimer) return;
      stream.reconnectTimer = setTimeout(() => {
        stream.reconnectTimer = null;
        this.endStream(streamId, 'ended');
      }, this.options.reconnectGraceMs);
      stream.reconnectTimer.unref();
      return;
    }
    if (stream.reconnectTimer) clearTimeout(stream.reconnectTimer);
    stream.reconnectTimer = null;
    stream.ended = true;
    this.markChanged(stream);
    stream.endedAt = this.options.now();
    stream.thumbnail = null;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        // parts of an unfinished segment will never complete: drop them
        this.account(stream, track, -this.dropPendingParts(track));
        this.releaseAll(track, 'ended');
      }
    }
    stream.removalTimer = setTimeout(() => this.removeStream(streamId), this.options.endedGraceMs);
    stream.removalTimer.unref();
  }

  /**
   * The segment in progress will never be completed by the one producing it (its
   * origin died and the publisher moved on, or this instance takes the stream over
   * from a replica): its parts become a segment as they are, so the playlists keep
   * consecutive msns when the next producer starts at the following one. Its
   * timing follows the previous segment (the same session's). Parts of a segment
   * with no previous one to follow are dropped.
   */
  sealPendingParts(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        const previous = track.lastSegment();
        const parts = track.pendingParts;
        if (parts.length === 0) continue;
        if (!previous || previous.msn !== track.pendingMsn - 1 || parts[0]!.index !== 0 || parts.some((p, i) => p.bytes === null || p.index !== i)) {
          this.account(stream, track, -this.dropPendingParts(track));
          continue;
        }
        let duration = 0;
        for (const part of parts) duration += part.duration;
        const timescale = track.init?.timescale ?? 0;
        const sealed: PackagedSegment = {
          kind: 'segment',
          rendition: rendition.info.name,
          track: track.track,
          msn: track.pendingMsn,
          duration,
          baseMediaDecodeTime: previous.baseMediaDecodeTime + Math.round(previous.duration * timescale),
          startPts: previous.startPts + previous.duration * 1000,
          programDateTime: previous.programDateTime + previous.duration * 1000,
          discontinuity: track.pendingDiscontinuity,
          parts: parts.map((p) => ({ index: p.index, duration: p.duration, independent: p.independent })),
          bytes: new Uint8Array(0),
        };
        this.addSegment(stream, track, sealed);
      }
    }
    this.markChanged(stream);
  }

  /**
   * An edge lost the stream's origin for longer than it serves a replica as
   * it was: parked requests are answered 'unavailable' (503) and so are new
   * playlist requests until resumeStream() or beginStream().
   */
  interruptStream(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (!stream || stream.ended || stream.unavailable) return;
    stream.unavailable = true;
    this.markChanged(stream);
    for (const rendition of stream.renditions.values()) for (const track of rendition.tracks.values()) this.releaseAll(track, 'unavailable');
  }

  resumeStream(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (!stream || !stream.unavailable) return;
    stream.unavailable = false;
    this.markChanged(stream);
  }

  removeStream(streamId: string): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    if (stream.removalTimer) clearTimeout(stream.removalTimer);
    if (stream.reconnectTimer) clearTimeout(stream.reconnectTimer);
    this.streams.delete(streamId);
    this.totalBytes -= stream.bytes;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        this.releaseTrackParts(track);
        this.releaseAll(track, 'gone');
      }
    }
  }

  /** Drops everything (server shutdown): parked requests are answered 'gone'. */
  clear(): void {
    for (const id of [...this.streams.keys()]) this.removeStream(id);
  }

  /**
   * Parks a blocking request until `isAvailable(msn, part)` holds for the
   * track (part < 0: the whole segment), the stream ends or goes, or the
   * timeout passes. Returns null when nothing needs waiting for (the
   * condition holds already, or the track does not exist).
   */
  waitFor(
    streamId: string,
    rendition: string,
    track: PackagedTrack,
    msn: number,
    part: number,
    timeoutMs: number,
    onDone: (outcome: WaitOutcome) => void,
  ): ParkedWait | null {
    const stream = this.streams.get(streamId);
    const trackStore = stream?.renditions.get(rendition)?.tracks.get(track);
    if (!stream || !trackStore || stream.ended || stream.unavailable || trackStore.isAvailable(msn, part)) return null;
    const waiter: Waiter = {
      msn,
      part,
      done: false,
      timer: null,
      onDone,
      cancel: () => this.finish(trackStore, waiter, null),
    };
    waiter.timer = setTimeout(() => this.finish(trackStore, waiter, 'timeout'), timeoutMs);
    trackStore.waiters.push(waiter);
    this.parked++;
    return waiter;
  }

  /**
   * Parks a request until `track` of `rendition` has its first segment (an
   * output turned on at a client's request, like MPEG-TS), the stream ends
   * or goes, or the timeout passes. Null when nothing needs waiting for (it
   * has a segment already) or nothing can come (no such stream or rendition, or ended).
   */
  waitForTrack(streamId: string, rendition: string, track: PackagedTrack, timeoutMs: number, onDone: (outcome: WaitOutcome) => void): ParkedWait | null {
    const stream = this.streams.get(streamId);
    const renditionStore = stream?.renditions.get(rendition);
    if (!stream || !renditionStore || stream.ended) return null;
    // msn 0 as a whole segment: available once the track holds any segment (msns start at 0)
    renditionStore.trackOrCreate(track, stream.baseDiscontinuities);
    return this.waitFor(streamId, rendition, track, 0, -1, timeoutMs, onDone);
  }

  private addInit(stream: StreamStore, track: TrackStore, bytes: Uint8Array, codecs: string, timescale: number, version?: number): void {
    const current = track.init;
    if (version !== undefined) {
      // a replica takes its origin's numbering as it is, so init-vN names the same bytes everywhere
      if (current && version <= current.version) return;
    } else if (current && current.timescale === timescale && Buffer.compare(current.bytes, bytes) === 0) {
      // identical bytes (a reconnect with the same encoder settings) keep the version: players keep their cached init
      return;
    }
    const next = version ?? (current ? current.version + 1 : stream.firstInitVersion);
    const init: StoredInit = { version: next, generation: stream.generation, bytes, codecs, timescale };
    track.inits.push(init);
    track.init = init;
    this.account(stream, track, bytes.byteLength);
    if (track.inits.length > MAX_INIT_VERSIONS) {
      const dropped = track.inits.shift()!;
      this.account(stream, track, -dropped.bytes.byteLength);
    }
  }

  private addPart(stream: StreamStore, track: TrackStore, media: PackagedPart): void {
    const last = track.lastSegment();
    if (last && media.msn <= last.msn) {
      this.options.releaseBytes(media.bytes); // late part of a segment already complete
      return;
    }
    const newest = track.pendingParts.length > 0 ? track.pendingParts[track.pendingParts.length - 1]! : null;
    if (media.msn === track.pendingMsn && newest !== null && media.part.index <= newest.index) {
      this.options.releaseBytes(media.bytes); // a part already here (a replica resyncing from its origin's snapshot)
      return;
    }
    if (media.msn !== track.pendingMsn) {
      // a new segment began: parts of an unfinished previous one are orphans
      this.account(stream, track, -this.dropPendingParts(track));
      track.pendingMsn = media.msn;
      track.pendingDiscontinuity = media.discontinuity === true;
    }
    const info = media.part;
    track.pendingParts.push({ generation: stream.generation, index: info.index, duration: info.duration, independent: info.independent, bytes: media.bytes });
    if (info.duration > track.maxPartDuration) track.maxPartDuration = info.duration;
    this.account(stream, track, media.bytes.byteLength);
    this.notify(track);
  }

  private addSegment(stream: StreamStore, track: TrackStore, media: PackagedSegment): void {
    const last = track.lastSegment();
    if (last && media.msn <= last.msn) return; // duplicate or out of order: msn never repeat
    let parts: StoredPart[];
    if (track.pendingMsn === media.msn && track.pendingParts.length > 0) {
      parts = track.pendingParts.splice(0, track.pendingParts.length);
      // the segment's own list is authoritative on durations and count; keep bytes where we have them
      if (media.parts.length > 0) {
        const byIndex = parts;
        parts = media.parts.map((info) => {
          const have = byIndex.find((p) => p.index === info.index);
          return { generation: have ? have.generation : stream.generation, index: info.index, duration: info.duration, independent: info.independent, bytes: have ? have.bytes : null };
        });
        let kept = 0;
        for (const p of parts) kept += p.bytes ? p.bytes.byteLength : 0;
        let had = 0;
        for (const p of byIndex) {
          had += p.bytes ? p.bytes.byteLength : 0;
          if (p.bytes !== null && !parts.some((stored) => stored.bytes === p.bytes)) this.releasePart(p);
        }
        this.account(stream, track, kept - had);
      }
    } else {
      this.account(stream, track, -this.dropPendingParts(track));
      parts = media.parts.map((info) => ({ generation: stream.generation, index: info.index, duration: info.duration, independent: info.independent, bytes: null }));
    }
    track.pendingMsn = -1;
    track.pendingDiscontinuity = false;
    // A segment sent without bytes is its parts: it can be served only if every one arrived (they
    // always do, in order, on one port; a gap would mean a lost message, and a truncated segment
    // is worse than a missing one).
    const ownBytes = media.bytes.byteLength > 0 || parts.length === 0 ? media.bytes : null;
    let partBytes = 0;
    let partsComplete = true;
    for (const p of parts) {
      if (p.bytes === null) partsComplete = false;
      else partBytes += p.bytes.byteLength;
    }
    if (ownBytes === null && !partsComplete) {
      this.account(stream, track, -partBytes);
      for (const p of parts) this.releasePart(p);
      return;
    }
    const byteLength = ownBytes === null ? partBytes : ownBytes.byteLength;
    for (const p of parts) if (p.duration > track.maxPartDuration) track.maxPartDuration = p.duration;
    const segment: StoredSegment = {
      generation: stream.generation,
      msn: media.msn,
      duration: media.duration,
      baseMediaDecodeTime: media.baseMediaDecodeTime,
      startPts: media.startPts,
      programDateTime: media.programDateTime,
      discontinuity: media.discontinuity,
      initVersion: track.init ? track.init.version : 0,
      parts,
      bytes: ownBytes,
      byteLength,
    };
    track.segments.push(segment);
    if (media.duration > track.maxSegmentDuration) track.maxSegmentDuration = media.duration;
    // the parts of a segment made of them were counted as they arrived
    if (ownBytes !== null) this.account(stream, track, ownBytes.byteLength);
    if (stream.timelineOriginMs === null && track.track !== 'ts' && track.init) {
      stream.timelineOriginMs = media.programDateTime - (media.baseMediaDecodeTime / track.init.timescale) * 1000;
    }
    // parts age out of the listing: keep their bytes only near the live edge (unless they are the segment)
    const partHorizon = track.segments.length - 1 - this.options.partSegments;
    if (partHorizon >= 0 && track.segments[partHorizon]!.bytes !== null) {
      const old = track.segments[partHorizon]!;
      let freed = 0;
      for (const p of old.parts) {
        if (p.bytes) {
          freed += p.bytes.byteLength;
          this.releasePart(p);
        }
      }
      if (freed > 0) this.account(stream, track, -freed);
    }
    const limit = this.options.windowSegments + this.options.keepAfterWindow;
    while (track.segments.length > limit) this.dropOldestSegment(stream, track);
    this.notify(track);
    for (const listener of this.listedListeners) listener(stream.id, media.rendition, media);
  }

  private dropPendingParts(track: TrackStore): number {
    let freed = 0;
    for (const p of track.pendingParts) {
      freed += p.bytes ? p.bytes.byteLength : 0;
      this.releasePart(p);
    }
    track.pendingParts.length = 0;
    track.pendingMsn = -1;
    track.pendingDiscontinuity = false;
    return freed;
  }

  private dropOldestSegment(stream: StreamStore, track: TrackStore): void {
    const segment = track.segments.shift();
    if (!segment) return;
    if (segment.discontinuity) track.droppedDiscontinuities++;
    let freed = segment.bytes !== null ? segment.bytes.byteLength : 0;
    for (const p of segment.parts) {
      freed += p.bytes ? p.bytes.byteLength : 0;
      this.releasePart(p);
    }
    this.account(stream, track, -freed);
  }

  private markChanged(stream: StreamStore): void {
    stream.changes++;
    stream.changedAt = this.options.now();
  }

  private account(stream: StreamStore, track: TrackStore, delta: number): void {
    // callers pass -freed: with nothing freed that is -0, a heap number, which turned these small-integer
    // fields into doubles at a stream's end and deoptimized the store's optimized code under the first stream
    if (delta === 0) return;
    track.bytes += delta;
    stream.bytes += delta;
    this.totalBytes += delta;
  }

  /**
   * Per stream first, then overall: the stream holding the most bytes gives
   * up its oldest msn (ended streams go whole first), so one big stream
   * cannot starve the others. A track's newest segment is never evicted:
   * a playlist must have something to list.
   */
  private enforceBounds(stream: StreamStore): void {
    while (stream.bytes > this.options.maxStreamBytes && this.evictOldestMsn(stream)) {
      /* evicting */
    }
    while (this.totalBytes > this.options.maxBytes) {
      let ended: StreamStore | null = null;
      for (const candidate of this.streams.values()) if (candidate.ended) ended = candidate;
      if (ended && ended !== stream) {
        this.removeStream(ended.id);
        continue;
      }
      let largest: StreamStore | null = null;
      for (const candidate of this.streams.values()) {
        if (!largest || candidate.bytes > largest.bytes) largest = candidate;
      }
      if (!largest || !this.evictOldestMsn(largest)) {
        // the largest cannot give more; try any other stream that can
        let evicted = false;
        for (const candidate of this.streams.values()) {
          if (candidate !== largest && this.evictOldestMsn(candidate)) {
            evicted = true;
            break;
          }
        }
        if (!evicted) return;
      }
    }
  }

  private evictOldestMsn(stream: StreamStore): boolean {
    let oldest = Number.POSITIVE_INFINITY;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        if (track.segments.length > 1 && track.segments[0]!.msn < oldest) oldest = track.segments[0]!.msn;
      }
    }
    if (oldest === Number.POSITIVE_INFINITY) return false;
    for (const rendition of stream.renditions.values()) {
      for (const track of rendition.tracks.values()) {
        if (track.segments.length > 1 && track.segments[0]!.msn === oldest) this.dropOldestSegment(stream, track);
      }
    }
    return true;
  }

  private notify(track: TrackStore): void {
    const waiters = track.waiters;
    if (waiters.length === 0) return;
    for (let i = 0; i < waiters.length; ) {
      const waiter = waiters[i]!;
      if (track.isAvailable(waiter.msn, waiter.part)) {
        this.finish(track, waiter, 'ready');
        // finish removed it from the array: same index now holds the next
      } else {
        i++;
      }
    }
  }

  /** The part lets go of its bytes; a region of a PartArena becomes reusable. */
  private releasePart(part: StoredPart): void {
    if (part.bytes === null) return;
    this.options.releaseBytes(part.bytes);
    part.bytes = null;
  }

  /** Every part's bytes of a track that leaves the store. */
  private releaseTrackParts(track: TrackStore): void {
    for (const segment of track.segments) for (const p of segment.parts) this.releasePart(p);
    for (const p of track.pendingParts) this.releasePart(p);
  }

  private releaseAll(track: TrackStore, outcome: WaitOutcome): void {
    while (track.waiters.length > 0) this.finish(track, track.waiters[0]!, outcome);
  }

  private finish(track: TrackStore, waiter: Waiter, outcome: WaitOutcome | null): void {
    if (waiter.done) return;
    waiter.done = true;
    if (waiter.timer) clearTimeout(waiter.timer);
    const at = track.waiters.indexOf(waiter);
    if (at >= 0) track.waiters.splice(at, 1);
    this.parked--;
    if (outcome !== null) waiter.onDone(outcome);
  }
}
