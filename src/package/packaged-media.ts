/**
 * What the packager hands to delivery: per rendition and per track, CMAF
 * init segments, parts and segments, plus the MPEG-TS segments of the muxed
 * variant. Bytes arrive on the main thread as transferred ArrayBuffers.
 *
 * Numbering: media sequence numbers (msn) start at 0 for a stream and never
 * repeat within it, across publisher reconnects (a reconnect sets
 * `discontinuity` on the first segment after it).
 */

/** 'video' and 'audio' are CMAF tracks (one track per file, shared by HLS and DASH); 'ts' is the muxed MPEG-TS variant. */
export type PackagedTrack = 'video' | 'audio' | 'ts';

export interface PartInfo {
  /** index of the part within its segment, from 0 */
  index: number;
  duration: number; // seconds
  /** starts with a keyframe (video) or is audio (always independent) */
  independent: boolean;
}

export interface PackagedInit {
  kind: 'init';
  rendition: string;
  track: Exclude<PackagedTrack, 'ts'>;
  bytes: Uint8Array;
  /** RFC 6381 codec string of the track */
  codecs: string;
  timescale: number;
  /** the init's version as its origin numbered it (an edge replicating a stream); absent: the store numbers it */
  version?: number;
}

export interface PackagedPart {
  kind: 'part';
  rendition: string;
  track: Exclude<PackagedTrack, 'ts'>;
  msn: number;
  part: PartInfo;
  bytes: Uint8Array;
  /**
   * The part's segment starts after a discontinuity (a reconnect). Known from
   * the first part on: LL-HLS lists parts before their segment completes, and
   * the tag must be there from the first listing, or players see the
   * discontinuity sequence of an already-listed segment change.
   */
  discontinuity?: boolean;
}

export interface PackagedSegment {
  kind: 'segment';
  rendition: string;
  track: PackagedTrack;
  msn: number;
  /** seconds */
  duration: number;
  /** decode time of the first sample, in the track's timescale (DASH SegmentTimeline t) */
  baseMediaDecodeTime: number;
  /** presentation start, ms on the stream timeline */
  startPts: number;
  /** wall clock (epoch ms) of the segment's first frame: EXT-X-PROGRAM-DATE-TIME */
  programDateTime: number;
  discontinuity: boolean;
  /** all the parts of this segment, in order (empty for 'ts') */
  parts: PartInfo[];
  /**
   * The segment. Empty for a CMAF track packaged with segment bytes off
   * (SegmenterOptions.cmafSegmentBytes): its body is then its parts' bytes
   * back to back, all emitted before it.
   */
  bytes: Uint8Array;
  /**
   * Live ingest only: epoch ms at which the bytes that completed this
   * segment (the next segment's keyframe, or the publisher's unpublish)
   * reached the server's socket. Delivery measures segment generation time
   * from it; absent when packaging offline or when the stream was ended
   * by a timeout rather than by bytes.
   */
  completedReceivedAt?: number;
}

export type PackagedMedia = PackagedInit | PackagedPart | PackagedSegment;

export interface PackagedMediaSink {
  (media: PackagedMedia): void;
}
