import { segmentBody, type StoredSegment } from '../store/segment-store.js';

/**
 * Live CMAF segments as one buffer each, for the segments asked for more
 * than once. A live segment is its parts back to back (segmentBody), ten or
 * so views of shared memory: sent as they are, each is a send of its own
 * (eleven syscalls for a ~800 KB segment), and a reader that stalls costs a
 * copy of what it has not taken (media-response.ts). Joined once into memory
 * of its own, the segment goes out in one send, and a stalled reader keeps a
 * view of it. A live segment is asked for by every viewer within a few
 * seconds, so the copy is made once and the sends saved on every request;
 * a segment asked for once (a viewer far behind, a segment of a stream
 * nobody else watches) is served in pieces and never copied.
 *
 * Bounded in bytes, oldest joined dropped first (live viewers ask for the
 * newest segments); a dropped or evicted segment's copy goes with it at the
 * latest when the bound pushes it out.
 */
export class JoinedSegments {
  /** joined copies, oldest first */
  private readonly joined = new Map<StoredSegment, Uint8Array>();
  /** segments asked for once, not joined yet */
  private readonly askedOnce = new WeakSet<StoredSegment>();
  private heldBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of joined copies held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** What to serve `segment` as: its own bytes, its joined copy, or its parts' views (the first time it is asked for). */
  body(segment: StoredSegment): Uint8Array | readonly Uint8Array[] {
    if (segment.bytes !== null) return segment.bytes;
    const copy = this.joined.get(segment);
    if (copy !== undefined) return copy;
    const parts = segmentBody(segment);
    if (parts.length <= 1 || segment.byteLength > this.maxBytes) return parts;
    if (!this.askedOnce.has(segment)) {
      this.askedOnce.add(segment);
      return parts;
    }
    return this.join(segment, parts);
  }

  private join(segment: StoredSegment, parts: readonly Uint8Array[]): Uint8Array {
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += parts[i]!.byteLength;
    // not zeroed: every byte is written below
    const copy = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      copy.set(parts[i]!, at);
      at += parts[i]!.byteLength;
    }
    this.askedOnce.delete(segment);
    this.joined.set(segment, copy);
    this.heldBytes += total;
    for (const [oldest, bytes] of this.joined) {
      if (this.heldBytes <= this.maxBytes) break;
      this.joined.delete(oldest);
      this.heldBytes -= bytes.byteLength;
    }
    return copy;
  }
}
