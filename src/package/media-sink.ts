import type { PackagedMedia } from './packaged-media.js';
import type { RenditionInfo } from './rendition-info.js';

/**
 * Where a live stream's packaged media goes: the segment store implements it,
 * and anything that must see the media on its way (a tee to other instances,
 * an edge filling its store from an origin) stands in front of it with the
 * same shape. Ingest and the transcoder hand it media; whoever knows a
 * stream's renditions (the lifecycle, from track configs and the ladder)
 * tells it when the stream begins, what it carries, and when it ends.
 *
 * Calls for one stream come in order on one thread: beginStream before any
 * add, endStream after the last. Media for a stream the sink does not hold
 * (never begun, or ended) is dropped by the sink, which releases its part
 * bytes (see PartArena).
 */
/** Who may watch a stream: a private one needs a viewer token on every playback path. */
export interface StreamAccess {
  private: boolean;
}

export interface MediaSink {
  /**
   * A stream starts, or resumes after a publisher reconnect; renditions in
   * master-playlist order. `access` as the stream's record says when its
   * publisher was let in (absent: as it was, public for a new stream).
   */
  beginStream(streamId: string, renditions: readonly RenditionInfo[], access?: StreamAccess): void;
  /** The renditions' descriptions changed (quality_changed); media of one no longer listed stays until it ages out. */
  updateRenditions(streamId: string, renditions: readonly RenditionInfo[]): void;
  /** One init segment, part or segment. The hot path: one call per packaged object. */
  add(streamId: string, media: PackagedMedia): void;
  /** The stream's newest thumbnail (a whole JPEG, kept as given): replaces the one before. */
  thumbnail(streamId: string, jpeg: Uint8Array): void;
  /** A rendition left the stream (its transcoder is down): it leaves the playlists and its media goes. */
  removeRendition(streamId: string, rendition: string): void;
  /**
   * The publisher is gone. 'dropped' (the connection was lost without an
   * unpublish) may be followed by a beginStream within a grace, which
   * continues the same playlists across a discontinuity.
   */
  endStream(streamId: string, how: 'ended' | 'dropped'): void;
}
