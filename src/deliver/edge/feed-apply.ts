import type { PackagedMedia } from '../../package/packaged-media.js';
import type { SegmentStore } from '../store/segment-store.js';
import type { FeedFrame, FeedMessage } from './feed-frames.js';

/** The feed message announcing packaged media as it reaches an origin's store. */
export function feedMessageOf(media: PackagedMedia, generation: string): FeedMessage {
  switch (media.kind) {
    case 'init':
      return { t: 'init', g: generation, rendition: media.rendition, track: media.track, codecs: media.codecs, timescale: media.timescale, version: media.version ?? 0 };
    case 'part':
      return {
        t: 'part',
        g: generation,
        rendition: media.rendition,
        track: media.track,
        msn: media.msn,
        index: media.part.index,
        duration: media.part.duration,
        independent: media.part.independent,
        discontinuity: media.discontinuity === true,
      };
    case 'segment':
      return {
        t: 'segment',
        g: generation,
        rendition: media.rendition,
        track: media.track,
        msn: media.msn,
        duration: media.duration,
        baseMediaDecodeTime: media.baseMediaDecodeTime,
        startPts: media.startPts,
        programDateTime: media.programDateTime,
        discontinuity: media.discontinuity,
        parts: media.parts.map((p) => [p.index, p.duration, p.independent]),
      };
  }
}

/** Whether the store holds this object already (a snapshot after a reconnect repeats what a replica had). */
export function alreadyHeld(store: SegmentStore, streamId: string, m: FeedMessage): boolean {
  if (m.t !== 'init' && m.t !== 'part' && m.t !== 'segment') return false;
  const track = store.getStream(streamId)?.renditions.get(m.rendition)?.tracks.get(m.track);
  if (!track) return false;
  if (m.t === 'init') return track.findInit(m.version) !== undefined;
  if (m.t === 'part') return track.findPart(m.msn, m.index)?.bytes != null;
  return track.findSegment(m.msn) !== undefined;
}

/** Copies a body out of the network chunk it arrived in: the store keeps it for seconds, the chunk should not live that long. */
function own(body: Uint8Array): Uint8Array {
  return body.byteLength === 0 ? new Uint8Array(0) : Uint8Array.prototype.slice.call(body);
}

/**
 * Applies an origin's feed to this instance's store: the replica of one
 * stream is built by the same SegmentStore calls the origin's ingest made, so
 * its playlists, MPDs and LL-HLS waits work unchanged. Returns what kind of
 * message it applied, for the caller's state (synced, ended) and metrics.
 */
export function applyFeedFrame(store: SegmentStore, streamId: string, frame: FeedFrame): FeedMessage['t'] {
  const m = frame.message;
  switch (m.t) {
    case 'begin':
      store.beginStream(streamId, m.renditions, {
        generation: m.generation,
        discontinuitySequence: m.discontinuitySequence,
        timelineOriginMs: m.timelineOriginMs,
        firstInitVersion: m.firstInitVersion,
        // an origin of an older version says nothing: the stream is as that origin served it, public
        private: m.private === true,
      });
      break;
    case 'renditions':
      store.updateRenditions(streamId, m.renditions);
      break;
    case 'track':
      store.restoreTrack(streamId, m.rendition, m.track, m);
      break;
    case 'init':
    case 'part':
    case 'segment': {
      const stream = store.getStream(streamId);
      if (!stream) break;
      stream.generation = m.g;
      store.add(streamId, mediaOf(m, frame.owned ? frame.body : own(frame.body)));
      break;
    }
    case 'remove':
      store.removeRendition(streamId, m.rendition);
      break;
    case 'thumbnail':
      if (frame.body.byteLength > 0) store.thumbnail(streamId, own(frame.body));
      break;
    case 'end':
      store.endStream(streamId, m.how);
      break;
    case 'synced':
    case 'ping':
      break;
  }
  return m.t;
}

function mediaOf(m: Extract<FeedMessage, { t: 'init' | 'part' | 'segment' }>, bytes: Uint8Array): PackagedMedia {
  switch (m.t) {
    case 'init':
      return { kind: 'init', rendition: m.rendition, track: m.track, bytes, codecs: m.codecs, timescale: m.timescale, version: m.version };
    case 'part':
      return {
        kind: 'part',
        rendition: m.rendition,
        track: m.track,
        msn: m.msn,
        part: { index: m.index, duration: m.duration, independent: m.independent },
        bytes,
        discontinuity: m.discontinuity,
      };
    case 'segment':
      return {
        kind: 'segment',
        rendition: m.rendition,
        track: m.track,
        msn: m.msn,
        duration: m.duration,
        baseMediaDecodeTime: m.baseMediaDecodeTime,
        startPts: m.startPts,
        programDateTime: m.programDateTime,
        discontinuity: m.discontinuity,
        parts: m.parts.map(([index, duration, independent]) => ({ index, duration, independent })),
        bytes,
      };
  }
}
