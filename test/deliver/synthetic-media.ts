import type { RenditionInfo } from '../../src/package/rendition-info.js';
import type { PackagedMedia, PackagedTrack } from '../../src/package/packaged-media.js';
import type { SegmentStore } from '../../src/deliver/store/segment-store.js';
import type { PartArena } from '../../src/stream/part-arena.js';

/**
 * Synthetic packaged media for delivery tests: arbitrary but deterministic
 * bytes (each byte says which track/msn/part it belongs to), 2 s segments
 * of ten 200 ms parts, wall clock and decode times that agree.
 */

export const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 0);
export const VIDEO_TIMESCALE = 90_000;
export const AUDIO_TIMESCALE = 48_000;

export const SOURCE: RenditionInfo = {
  name: 'source',
  width: 1280,
  height: 720,
  bandwidth: 3_000_000,
  codecs: 'avc1.64001f,mp4a.40.2',
  frameRate: 30,
};

export interface FeedOptions {
  rendition?: string;
  partsPerSegment?: number;
  partDuration?: number;
  /** bytes per part (a segment is parts × this) */
  partBytes?: number;
  tracks?: readonly PackagedTrack[];
  discontinuityAt?: number;
  /** false: CMAF segments come without bytes, as the live packager sends them (their parts are their body) */
  segmentBytes?: boolean;
}

const TRACK_CODE: Record<PackagedTrack, number> = { video: 0x10, audio: 0x20, ts: 0x30 };

export function fill(size: number, track: PackagedTrack, msn: number, part: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (TRACK_CODE[track] + msn * 7 + part * 3 + i) & 0xff;
  return bytes;
}

export function initOf(track: 'video' | 'audio', rendition = 'source', marker = 0): PackagedMedia {
  const bytes = fill(64, track, 1000 + marker, 0);
  return {
    kind: 'init',
    rendition,
    track,
    bytes,
    codecs: track === 'video' ? 'avc1.64001f' : 'mp4a.40.2',
    timescale: track === 'video' ? VIDEO_TIMESCALE : AUDIO_TIMESCALE,
  };
}

/** Every PackagedMedia of segment `msn` (parts first, then the segments) for the given tracks. */
export function segmentMedia(msn: number, options: FeedOptions = {}): PackagedMedia[] {
  const rendition = options.rendition ?? 'source';
  const partsPerSegment = options.partsPerSegment ?? 10;
  const partDuration = options.partDuration ?? 0.2;
  const partBytes = options.partBytes ?? 100;
  const tracks = options.tracks ?? ['video', 'audio', 'ts'];
  const duration = partsPerSegment * partDuration;
  const out: PackagedMedia[] = [];
  const partInfos = Array.from({ length: partsPerSegment }, (_, index) => ({
    index,
    duration: partDuration,
    independent: index === 0 || index % 5 === 0,
  }));
  for (const track of tracks) {
    if (track === 'ts') continue;
    for (const info of partInfos) {
      out.push({
        kind: 'part',
        rendition,
        track,
        msn,
        part: track === 'audio' ? { ...info, independent: true } : info,
        bytes: fill(partBytes, track, msn, info.index),
        // as the packager does: a segment's parts know from the first that it follows a discontinuity
        ...(options.discontinuityAt === msn ? { discontinuity: true } : {}),
      });
    }
  }
  for (const track of tracks) {
    const timescale = track === 'audio' ? AUDIO_TIMESCALE : VIDEO_TIMESCALE;
    out.push({
      kind: 'segment',
      rendition,
      track,
      msn,
      duration,
      baseMediaDecodeTime: Math.round(msn * duration * timescale),
      startPts: Math.round(msn * duration * 1000),
      programDateTime: T0 + Math.round(msn * duration * 1000),
      discontinuity: options.discontinuityAt === msn,
      parts: track === 'ts' ? [] : track === 'audio' ? partInfos.map((p) => ({ ...p, independent: true })) : partInfos,
      bytes:
        track !== 'ts' && options.segmentBytes === false
          ? new Uint8Array(0)
          : fill(track === 'ts' ? partBytes * partsPerSegment + 50 : partBytes * partsPerSegment, track, msn, 99),
    });
  }
  return out;
}

/** Begins `streamId` (if needed), adds inits and segments [from, to). */
export function feed(store: SegmentStore, streamId: string, from: number, to: number, options: FeedOptions = {}): void {
  if (!store.getStream(streamId)) store.beginStream(streamId, [SOURCE]);
  const tracks = options.tracks ?? ['video', 'audio', 'ts'];
  const rendition = options.rendition ?? 'source';
  for (const track of tracks) {
    if (track !== 'ts' && !store.getStream(streamId)!.renditions.get(rendition)?.tracks.get(track)?.init) {
      store.add(streamId, initOf(track, rendition));
    }
  }
  for (let msn = from; msn < to; msn++) for (const media of segmentMedia(msn, options)) store.add(streamId, media);
}

/** Only the first `count` parts of segment `msn` (the in-progress segment). */
export function feedParts(store: SegmentStore, streamId: string, msn: number, count: number, options: FeedOptions = {}): void {
  const media = segmentMedia(msn, options).filter((m) => m.kind === 'part' && m.part.index < count);
  for (const m of media) store.add(streamId, m);
}

/**
 * The media as the main thread gets it from an ingest worker: a part's bytes
 * copied into a region of the producer's arena and taken by the consumer
 * (PartArena.attach of the same buffer); anything else unchanged.
 */
export function inPartArena(producer: PartArena, consumer: PartArena, media: PackagedMedia): PackagedMedia {
  if (media.kind !== 'part') return media;
  const region = producer.allocate(media.bytes.byteLength);
  if (region === null) throw new Error(`no room in the arena for part ${media.msn}.${media.part.index} of ${media.track}: something was not released`);
  region.set(media.bytes);
  return { ...media, bytes: consumer.take(producer.positionOf(region), region.byteLength) };
}
