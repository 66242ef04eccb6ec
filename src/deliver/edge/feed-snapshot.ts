import type { StoredPart, StoredSegment, StreamStore, TrackStore } from '../store/segment-store.js';
import type { FeedMessage } from './feed-frames.js';

/** Writes one feed frame: a message and the media bytes that go with it (none for most). */
export type FeedEmit = (message: FeedMessage, body?: Uint8Array) => void;

/**
 * Replays what the store holds of a stream as feed messages, in an order that
 * rebuilds the same state at an edge: the stream, each track's running state,
 * its inits interleaved with the segments that use them (so init-vN and each
 * segment's init match the origin's), each segment's parts before it, then the
 * parts of the segment in progress. Synchronous: the bytes are valid while
 * this runs (parts may live in a PartArena the packager reuses once released).
 */
export function writeSnapshot(stream: StreamStore, emit: FeedEmit, options: { thumbnails?: boolean } = {}): void {
  emit(beginMessage(stream));
  if (options.thumbnails === true && stream.thumbnail !== null) emit({ t: 'thumbnail' }, stream.thumbnail.bytes);
  for (const rendition of stream.renditions.values()) {
    for (const track of rendition.tracks.values()) writeTrack(rendition.info.name, track, emit);
  }
  emit({ t: 'synced' });
  if (stream.ended) emit({ t: 'end', how: 'ended' });
}

/** What a follower needs to begin (or resume) the stream as the origin holds it now. */
export function beginMessage(stream: StreamStore): FeedMessage {
  return {
    t: 'begin',
    generation: stream.generation,
    renditions: [...stream.renditions.values()].map((r) => r.info),
    timelineOriginMs: stream.timelineOriginMs,
    discontinuitySequence: stream.baseDiscontinuities,
    firstInitVersion: stream.firstInitVersion,
    private: stream.private,
  };
}

function partMessage(rendition: string, track: 'video' | 'audio', msn: number, part: StoredPart, discontinuity: boolean): FeedMessage {
  return { t: 'part', g: part.generation, rendition, track, msn, index: part.index, duration: part.duration, independent: part.independent, discontinuity };
}

function writeTrack(rendition: string, track: TrackStore, emit: FeedEmit): void {
  const name = track.track;
  emit({
    t: 'track',
    rendition,
    track: name,
    droppedDiscontinuities: track.droppedDiscontinuities,
    maxSegmentDuration: track.maxSegmentDuration,
    maxPartDuration: track.maxPartDuration,
  });
  let initsSent = 0;
  const sendInitsUpTo = (version: number): void => {
    while (initsSent < track.inits.length && track.inits[initsSent]!.version <= version) {
      const init = track.inits[initsSent++]!;
      if (name === 'ts') continue;
      emit({ t: 'init', g: init.generation, rendition, track: name, codecs: init.codecs, timescale: init.timescale, version: init.version }, init.bytes);
    }
  };
  for (const segment of track.segments) {
    sendInitsUpTo(segment.initVersion);
    writeSegment(rendition, track, segment, emit);
  }
  sendInitsUpTo(Number.POSITIVE_INFINITY);
  if (name === 'ts') return;
  for (const part of track.pendingParts) {
    if (part.bytes !== null) emit(partMessage(rendition, name, track.pendingMsn, part, track.pendingDiscontinuity), part.bytes);
  }
}

function writeSegment(rendition: string, track: TrackStore, segment: StoredSegment, emit: FeedEmit): void {
  const name = track.track;
  if (name !== 'ts') {
    for (const part of segment.parts) {
      if (part.bytes !== null) emit(partMessage(rendition, name, segment.msn, part, segment.discontinuity), part.bytes);
    }
  }
  emit(
    {
      t: 'segment',
      g: segment.generation,
      rendition,
      track: name,
      msn: segment.msn,
      duration: segment.duration,
      baseMediaDecodeTime: segment.baseMediaDecodeTime,
      startPts: segment.startPts,
      programDateTime: segment.programDateTime,
      discontinuity: segment.discontinuity,
      parts: segment.parts.map((p) => [p.index, p.duration, p.independent]),
    },
    segment.bytes ?? undefined,
  );
}
