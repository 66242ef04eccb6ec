import { NovaError } from '../../errors.js';
import type { RenditionInfo } from '../../package/rendition-info.js';
import type { PackagedTrack } from '../../package/packaged-media.js';

/**
 * The origin → edge feed: what an origin's segment store receives for one
 * stream, replayed to an edge that keeps a replica of it. A frame is
 *
 *   u32 header length | u32 body length | header (UTF-8 JSON) | body
 *
 * (big endian). The header says what happened, the body carries the media
 * bytes of an init, part or segment. JSON keeps the rare messages readable;
 * the bytes, which are nearly all of the traffic, go as they are.
 */

export type FeedMessage =
  | {
      t: 'begin';
      /** the origin's generation when the edge subscribed (ETags of what follows) */
      generation: string;
      renditions: RenditionInfo[];
      timelineOriginMs: number | null;
      discontinuitySequence: number;
      firstInitVersion: number;
      /** viewers need a token for this stream (see StreamStore.private); absent from origins older than it */
      private?: boolean;
    }
  | { t: 'renditions'; renditions: RenditionInfo[] }
  /** a track's running state, sent before its media in a snapshot, so its playlists read the same as the origin's */
  | { t: 'track'; rendition: string; track: PackagedTrack; droppedDiscontinuities: number; maxSegmentDuration: number; maxPartDuration: number }
  /** version: the origin's numbering, which a replica keeps */
  | { t: 'init'; g: string; rendition: string; track: 'video' | 'audio'; codecs: string; timescale: number; version: number }
  | { t: 'part'; g: string; rendition: string; track: 'video' | 'audio'; msn: number; index: number; duration: number; independent: boolean; discontinuity: boolean }
  | {
      t: 'segment';
      g: string;
      rendition: string;
      track: PackagedTrack;
      msn: number;
      duration: number;
      baseMediaDecodeTime: number;
      startPts: number;
      programDateTime: number;
      discontinuity: boolean;
      /** [index, duration, independent] per part */
      parts: Array<[number, number, boolean]>;
    }
  | { t: 'remove'; rendition: string }
  /** the stream's newest thumbnail, the JPEG as the body (sent only to a follower that asked for them: thumbnails=1) */
  | { t: 'thumbnail' }
  | { t: 'end'; how: 'ended' | 'dropped' }
  /** the snapshot is complete: what follows is live */
  | { t: 'synced' }
  /** sent when nothing else was for a while: silence means the origin is gone */
  | { t: 'ping' };

export interface FeedFrame {
  message: FeedMessage;
  /** empty for messages without media */
  body: Uint8Array;
  /**
   * The body is a view of a buffer made for this frame alone (it arrived in
   * several reads): the caller may keep it as it is. Otherwise it is a view of
   * a network chunk that other frames share, to be copied if kept.
   */
  owned: boolean;
}

const PREFIX_BYTES = 8;
/** JSON headers are a few hundred bytes; a rendition list of a big ladder a few KiB */
export const MAX_HEADER_BYTES = 64 * 1024;
/** a whole segment of a high-bitrate rendition, with margin */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

/** The frame's prefix and header as one buffer; the body goes after it unchanged (no copy). */
export function encodeFrameHead(message: FeedMessage, bodyLength = 0): Uint8Array {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.allocUnsafe(PREFIX_BYTES + json.byteLength);
  head.writeUInt32BE(json.byteLength, 0);
  head.writeUInt32BE(bodyLength, 4);
  json.copy(head, PREFIX_BYTES);
  return head;
}

function feedError(message: string): NovaError {
  return new NovaError('NOVA_ERR_EDGE_FEED', message);
}

const TRACKS: ReadonlySet<string> = new Set(['video', 'audio', 'ts']);

function isString(value: unknown, max = 256): value is string {
  return typeof value === 'string' && value.length <= max;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isRenditions(value: unknown): value is RenditionInfo[] {
  return (
    Array.isArray(value) &&
    value.length <= 64 &&
    value.every(
      (r: unknown) =>
        typeof r === 'object' &&
        r !== null &&
        isString((r as RenditionInfo).name, 64) &&
        isFiniteNumber((r as RenditionInfo).width) &&
        isFiniteNumber((r as RenditionInfo).height) &&
        isFiniteNumber((r as RenditionInfo).bandwidth) &&
        isString((r as RenditionInfo).codecs) &&
        isFiniteNumber((r as RenditionInfo).frameRate),
    )
  );
}

function isPartList(value: unknown): value is Array<[number, number, boolean]> {
  return (
    Array.isArray(value) &&
    value.length <= 10_000 &&
    value.every((p: unknown) => Array.isArray(p) && p.length === 3 && isCount(p[0]) && isFiniteNumber(p[1]) && typeof p[2] === 'boolean')
  );
}

/** Checks a decoded header field by field: a feed is internal, but a bug or a wrong peer must not reach the store. */
export function validateFeedMessage(value: unknown): FeedMessage {
  if (typeof value !== 'object' || value === null) throw feedError('feed header is not an object');
  const m = value as Record<string, unknown>;
  const media = (): boolean => isString(m.g, 64) && isString(m.rendition, 64) && typeof m.track === 'string' && TRACKS.has(m.track);
  switch (m.t) {
    case 'begin':
      if (
        isString(m.generation, 64) &&
        isRenditions(m.renditions) &&
        (m.timelineOriginMs === null || isFiniteNumber(m.timelineOriginMs)) &&
        isCount(m.discontinuitySequence) &&
        isCount(m.firstInitVersion) &&
        (m.private === undefined || typeof m.private === 'boolean')
      )
        return m as FeedMessage;
      break;
    case 'renditions':
      if (isRenditions(m.renditions)) return m as FeedMessage;
      break;
    case 'track':
      if (isString(m.rendition, 64) && typeof m.track === 'string' && TRACKS.has(m.track) && isCount(m.droppedDiscontinuities) && isFiniteNumber(m.maxSegmentDuration) && isFiniteNumber(m.maxPartDuration))
        return m as FeedMessage;
      break;
    case 'init':
      if (media() && m.track !== 'ts' && isString(m.codecs) && isCount(m.timescale) && isCount(m.version)) return m as FeedMessage;
      break;
    case 'part':
      if (media() && m.track !== 'ts' && isCount(m.msn) && isCount(m.index) && isFiniteNumber(m.duration) && typeof m.independent === 'boolean' && typeof m.discontinuity === 'boolean')
        return m as FeedMessage;
      break;
    case 'segment':
      if (
        media() &&
        isCount(m.msn) &&
        isFiniteNumber(m.duration) &&
        isFiniteNumber(m.baseMediaDecodeTime) &&
        isFiniteNumber(m.startPts) &&
        isFiniteNumber(m.programDateTime) &&
        typeof m.discontinuity === 'boolean' &&
        isPartList(m.parts)
      )
        return m as FeedMessage;
      break;
    case 'remove':
      if (isString(m.rendition, 64)) return m as FeedMessage;
      break;
    case 'end':
      if (m.how === 'ended' || m.how === 'dropped') return m as FeedMessage;
      break;
    case 'synced':
    case 'ping':
    case 'thumbnail':
      return m as FeedMessage;
  }
  throw feedError(`malformed feed message${typeof m.t === 'string' ? ` '${m.t.slice(0, 32)}'` : ''}`);
}

/**
 * Reassembles frames from the chunks of an HTTP body. Bytes of a frame split
 * across chunks are joined once per frame; a body arriving whole in one
 * chunk is handed on as a view of it (the caller copies what it keeps).
 * Throws NovaError NOVA_ERR_EDGE_FEED on anything malformed; the reader is
 * then unusable (the connection is dropped and a new one resyncs).
 */
export class FeedFrameReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** length of the frame being gathered in `pending`, -1 until its prefix is in */
  private need = -1;

  /** Feeds one chunk; calls onFrame for every frame it completes, in order. */
  push(chunk: Uint8Array, onFrame: (frame: FeedFrame) => void): void {
    let rest = chunk;
    if (this.pendingBytes > 0) {
      this.keep(chunk);
      if (this.need < 0) {
        if (this.pendingBytes < PREFIX_BYTES) return;
        if (this.pending[0]!.byteLength < PREFIX_BYTES) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
        this.need = this.frameLength(this.pending[0]!)!;
      }
      if (this.pendingBytes < this.need) return;
      // the frame's bytes, copied once into a buffer of its own; what follows it stays in the last chunk
      const frame = Buffer.allocUnsafeSlow(this.need); // not from the shared pool: the store may keep the body for seconds
      let at = 0;
      for (const piece of this.pending) {
        const take = Math.min(piece.byteLength, this.need - at);
        frame.set(piece.subarray(0, take), at);
        at += take;
        if (at === this.need) {
          rest = piece.subarray(take);
          break;
        }
      }
      this.pending = [];
      this.pendingBytes = 0;
      this.need = -1;
      this.drain(frame, true, onFrame);
    }
    const used = this.drain(rest, false, onFrame);
    if (used < rest.byteLength) this.keep(rest.subarray(used));
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.pendingBytes;
  }

  private keep(bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
  }

  /** Total length of the frame at the start of `bytes`, or null when the prefix is incomplete. */
  private frameLength(bytes: Uint8Array): number | null {
    if (bytes.byteLength < PREFIX_BYTES) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES);
    const headerLength = view.getUint32(0);
    const bodyLength = view.getUint32(4);
    if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw feedError(`feed header of ${headerLength} bytes`);
    if (bodyLength > MAX_BODY_BYTES) throw feedError(`feed body of ${bodyLength} bytes`);
    return PREFIX_BYTES + headerLength + bodyLength;
  }

  /** Decodes the whole frames at the start of `bytes`; returns how many bytes they took. */
  private drain(bytes: Uint8Array, owned: boolean, onFrame: (frame: FeedFrame) => void): number {
    let offset = 0;
    for (;;) {
      const rest = bytes.subarray(offset);
      const length = this.frameLength(rest);
      if (length === null || rest.byteLength < length) return offset;
      const headerLength = new DataView(rest.buffer, rest.byteOffset, 4).getUint32(0);
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(rest.buffer, rest.byteOffset + PREFIX_BYTES, headerLength).toString('utf8'));
      } catch {
        throw feedError('feed header is not JSON');
      }
      const message = validateFeedMessage(parsed);
      const body = length > PREFIX_BYTES + headerLength ? rest.subarray(PREFIX_BYTES + headerLength, length) : EMPTY;
      offset += length;
      onFrame({ message, body, owned });
    }
  }
}
