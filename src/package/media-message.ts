import { PartArena, type PartArenaWriter } from '../stream/part-arena.js';
import type { PackagedMedia } from './packaged-media.js';

/*
 * Packaged media crossing from a packager thread (an ingest connection, a
 * stream's transcoder) to the main thread: a part whose bytes lie in the
 * producer's PartArena travels as the region's position and length, anything
 * else with bytes of its own (moved, not copied). The producer builds the
 * message with mediaMessageOf and its transfer list with mediaTransferList;
 * the consumer's PartArenaReader gives the media its bytes back.
 */

/** A media message as producers send it: a part in an arena names its region, and its own bytes are empty. */
export interface MediaMessage {
  media: PackagedMedia;
  arenaPosition?: number;
  arenaLength?: number;
}

/** The media message fields for a packaged media from `writer`: its region when its bytes are in the arena. */
export function mediaMessageOf(writer: PartArenaWriter, media: PackagedMedia): MediaMessage {
  const position = media.kind === 'part' ? writer.positionOf(media.bytes) : -1;
  if (position < 0) return { media };
  return { media: { ...media, bytes: NO_BYTES }, arenaPosition: position, arenaLength: media.bytes.byteLength };
}

const NO_BYTES = new Uint8Array(0);

/**
 * What to transfer with a media message: bytes of their own (a fresh buffer the packager no
 * longer uses) move, not copy; a part in an arena sends none.
 */
export function mediaTransferList(message: MediaMessage): ArrayBuffer[] | undefined {
  if (message.arenaPosition !== undefined) return undefined;
  const bytes = message.media.bytes;
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? [buffer] : undefined;
}

/**
 * The consumer's side for one producer's output: attaches the arenas it
 * announces and gives each part message its bytes back. A failure is a
 * producer bug, not input: it is reported and the part is dropped (its
 * segment is then not served), never thrown at the message loop.
 */
export class PartArenaReader {
  private arena: PartArena | null = null;
  /** arenas the producer moved on from that still held parts when it did (their memory is returned as they drain) */
  private retired: PartArena[] = [];

  constructor(private readonly onError: (reason: string) => void) {}

  attach(buffer: SharedArrayBuffer): void {
    this.retireCurrent();
    try {
      this.arena = PartArena.attach(buffer);
    } catch (err) {
      this.arena = null;
      this.onError(`part arena refused: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The producer wrote its last part: every arena is retired (see PartArena.retire). */
  close(): void {
    this.retireCurrent();
  }

  /** Bytes of this producer's arenas resident in memory (see PartArena.residentBytes). */
  get residentBytes(): number {
    let total = this.arena?.residentBytes ?? 0;
    let kept = 0;
    for (const arena of this.retired) {
      const bytes = arena.residentBytes;
      total += bytes;
      if (bytes > 0) this.retired[kept++] = arena;
    }
    this.retired.length = kept;
    return total;
  }

  private retireCurrent(): void {
    if (this.arena === null) return;
    this.arena.retire();
    this.retired.push(this.arena);
    this.arena = null;
  }

  /**
   * The message's media with its bytes (a view of its region when it names one), or null when the
   * region cannot be taken. `kept`: whether anyone will store the media; when not (no stream for it
   * yet, a replaced producer) its region is released here and null returned, so no region is
   * ever taken without being released.
   */
  received(message: MediaMessage, kept: boolean): PackagedMedia | null {
    const media = message.media;
    if (message.arenaPosition === undefined || media.kind !== 'part') return kept ? media : null;
    try {
      if (this.arena === null) throw new RangeError('no part arena was announced');
      media.bytes = this.arena.take(message.arenaPosition, message.arenaLength ?? 0);
    } catch (err) {
      this.onError(`part in a part arena dropped: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
    if (kept) return media;
    PartArena.release(media.bytes);
    return null;
  }
}
