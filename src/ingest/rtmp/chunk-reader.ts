/**
 * Incremental RTMP chunk stream demuxer: chunks in (any split, down to one
 * byte at a time), whole messages out.
 *
 * - Basic header 1–3 bytes, message header types 0–3, extended timestamps
 *   (also on type-3 chunks after a header that had one, as FFmpeg and
 *   librtmp send them).
 * - Timestamps are delivered absolute, 32-bit (0..2^32-1), wrapping modulo
 *   2^32; repairing wraps and jumps is the timeline's job, not this layer's.
 *   A type-3 header that starts a new message adds the previous header's
 *   timestamp field (its delta, or for a type-0 header its absolute value)
 *   exactly as FFmpeg's reader does, which is what FFmpeg's writer assumes.
 * - Set Chunk Size and Abort are consumed here (they change how the next
 *   bytes are read); every other message goes to the callback.
 * - Bounded: message length <= maxMessageBytes, chunk size <= maxChunkSize,
 *   at most maxChunkStreams chunk streams, and the reassembly buffers held
 *   across all chunk streams <= maxBufferedBytes (2 × maxMessageBytes by
 *   default), so a peer cannot make us hold unbounded memory.
 *
 * Payload lifetime: the payload passed to the callback is a view that is
 * valid only during the call: either a subarray of the bytes given to push()
 * (a single-chunk message that arrived whole, no copy) or of a reassembly
 * buffer that is reused for the next message on the same chunk stream.
 * Copy what you keep.
 */
import { NovaError } from '../../errors.js';
import { MessageType } from './message-types.js';
import { copyBytes } from '../../stream/shared-copy.js';

export type ChunkMessageCallback = (typeId: number, streamId: number, timestamp: number, payload: Uint8Array) => void;

export interface ChunkReaderLimits {
  maxMessageBytes: number;
  maxChunkSize: number;
  /** distinct chunk stream ids a connection may use (encoders use < 10); default 64 */
  maxChunkStreams?: number;
  /** reassembly memory across chunk streams; default 2 × maxMessageBytes */
  maxBufferedBytes?: number;
}

export const DEFAULT_CHUNK_SIZE = 128;
/** basic header (3) + type-0 message header (11) + extended timestamp (4) */
const MAX_HEADER_BYTES = 18;
const MESSAGE_HEADER_BYTES = [11, 7, 3, 0] as const;

class ChunkStreamState {
  timestamp = 0;
  /** the last type 0/1/2 timestamp field, reapplied by a type-3 header that starts a message */
  timestampDelta = 0;
  messageLength = 0;
  typeId = 0;
  streamId = 0;
  hasExtendedTimestamp = false;
  inMessage = false;
  received = 0;
  buffer: Uint8Array | null = null;
}

const enum Phase {
  Header,
  Payload,
}

export class ChunkReader {
  private readonly onMessage: ChunkMessageCallback;
  private readonly maxMessageBytes: number;
  private readonly maxChunkSize: number;
  private readonly maxChunkStreams: number;
  private readonly maxBufferedBytes: number;

  private readonly streams = new Map<number, ChunkStreamState>();
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private phase = Phase.Header;
  private current: ChunkStreamState | null = null;
  private chunkRemaining = 0;
  private heldBytes = 0;

  private readonly stash = new Uint8Array(MAX_HEADER_BYTES);
  private stashLength = 0;

  // The header being parsed (fields instead of an object: no allocation per chunk).
  private hFormat = 0;
  private hChunkStreamId = 0;
  private hTimestampField = 0;
  private hMessageLength = 0;
  private hTypeId = 0;
  private hStreamId = 0;
  private hExtended = false;

  constructor(onMessage: ChunkMessageCallback, limits: ChunkReaderLimits) {
    this.onMessage = onMessage;
    this.maxMessageBytes = limits.maxMessageBytes;
    this.maxChunkSize = limits.maxChunkSize;
    this.maxChunkStreams = limits.maxChunkStreams ?? 64;
    this.maxBufferedBytes = limits.maxBufferedBytes ?? limits.maxMessageBytes * 2;
  }

  /** The peer's current chunk size. */
  get chunkSize(): number {
    return this.inChunkSize;
  }

  /** Bytes held in reassembly buffers (capacity), bounded by maxBufferedBytes. */
  get bufferedBytes(): number {
    return this.heldBytes + this.stashLength;
  }

  push(src: Uint8Array): void {
    let pos = 0;
    const end = src.length;
    while (pos < end) {
      if (this.phase === Phase.Header) {
        if (this.stashLength === 0) {
          const headerLength = this.parseHeader(src, pos, end);
          if (headerLength < 0) {
            this.stash.set(src.subarray(pos, end), 0);
            this.stashLength = end - pos;
            return;
          }
          pos += headerLength;
        } else {
          const take = Math.min(MAX_HEADER_BYTES - this.stashLength, end - pos);
          this.stash.set(src.subarray(pos, pos + take), this.stashLength);
          const headerLength = this.parseHeader(this.stash, 0, this.stashLength + take);
          if (headerLength < 0) {
            this.stashLength += take;
            pos += take;
            continue;
          }
          pos += headerLength - this.stashLength;
          this.stashLength = 0;
        }
        this.beginChunk();
      } else {
        pos = this.readPayload(src, pos, end);
      }
    }
  }

  /** Parses a chunk header at buf[p..end) into the h* fields; -1 when more bytes are needed. */
  private parseHeader(buf: Uint8Array, p: number, end: number): number {
    const available = end - p;
    const b0 = buf[p];
    const format = b0 >> 6;
    let chunkStreamId = b0 & 0x3f;
    let n = 1;
    if (chunkStreamId === 0) {
      if (available < 2) return -1;
      chunkStreamId = 64 + buf[p + 1];
      n = 2;
    } else if (chunkStreamId === 1) {
      if (available < 3) return -1;
      chunkStreamId = 64 + buf[p + 1] + buf[p + 2] * 256;
      n = 3;
    }
    const state = this.streams.get(chunkStreamId);
    if (format !== 0 && state === undefined) {
      throw new NovaError('NOVA_ERR_RTMP_CHUNK', `type-${format} chunk header on unknown chunk stream ${chunkStreamId}`);
    }
    const messageHeaderBytes = MESSAGE_HEADER_BYTES[format];
    if (available < n + messageHeaderBytes) return -1;
    const h = p + n;
    let extended: boolean;
    let timestampField = 0;
    if (format <= 2) {
      timestampField = (buf[h] << 16) | (buf[h + 1] << 8) | buf[h + 2];
      extended = timestampField === 0xffffff;
    } else {
      extended = (state as ChunkStreamState).hasExtendedTimestamp;
    }
    const total = n + messageHeaderBytes + (extended ? 4 : 0);
    if (available < total) return -1;
    if (format <= 1) {
      this.hMessageLength = (buf[h + 3] << 16) | (buf[h + 4] << 8) | buf[h + 5];
      this.hTypeId = buf[h + 6];
    }
    if (format === 0) {
      // message stream id is little-endian
      this.hStreamId = (buf[h + 7] | (buf[h + 8] << 8) | (buf[h + 9] << 16) | (buf[h + 10] << 24)) >>> 0;
    }
    if (extended && format <= 2) {
      const e = h + messageHeaderBytes;
      timestampField = ((buf[e] << 24) | (buf[e + 1] << 16) | (buf[e + 2] << 8) | buf[e + 3]) >>> 0;
    }
    this.hFormat = format;
    this.hChunkStreamId = chunkStreamId;
    this.hTimestampField = timestampField;
    this.hExtended = extended;
    return total;
  }

  /** Applies the parsed header to its chunk stream and sets up the payload read. */
  private beginChunk(): void {
    const format = this.hFormat;
    let state = this.streams.get(this.hChunkStreamId);
    if (state === undefined) {
      if (this.streams.size >= this.maxChunkStreams) {
        throw new NovaError('NOVA_ERR_RTMP_LIMIT', `more than ${this.maxChunkStreams} chunk streams`);
      }
      state = new ChunkStreamState();
      this.streams.set(this.hChunkStreamId, state);
    }
    if (state.inMessage) {
      if (format !== 3) {
        throw new NovaError(
          'NOVA_ERR_RTMP_CHUNK',
          `type-${format} header on chunk stream ${this.hChunkStreamId} in the middle of a message`,
        );
      }
    } else {
      switch (format) {
        case 0:
          state.timestamp = this.hTimestampField;
          state.timestampDelta = this.hTimestampField;
          state.messageLength = this.hMessageLength;
          state.typeId = this.hTypeId;
          state.streamId = this.hStreamId;
          state.hasExtendedTimestamp = this.hExtended;
          break;
        case 1:
        case 2:
          if (format === 1) {
            state.messageLength = this.hMessageLength;
            state.typeId = this.hTypeId;
          }
          state.timestampDelta = this.hTimestampField;
          state.timestamp = (state.timestamp + this.hTimestampField) >>> 0;
          state.hasExtendedTimestamp = this.hExtended;
          break;
        default:
          state.timestamp = (state.timestamp + state.timestampDelta) >>> 0;
          break;
      }
      if (state.messageLength > this.maxMessageBytes) {
        throw new NovaError(
          'NOVA_ERR_RTMP_LIMIT',
          `message of ${state.messageLength} bytes on chunk stream ${this.hChunkStreamId} exceeds ${this.maxMessageBytes}`,
        );
      }
      state.received = 0;
      if (state.messageLength === 0) {
        this.deliver(state, new Uint8Array(0));
        return;
      }
      state.inMessage = true;
    }
    this.current = state;
    this.chunkRemaining = Math.min(this.inChunkSize, state.messageLength - state.received);
    this.phase = Phase.Payload;
  }

  private readPayload(src: Uint8Array, pos: number, end: number): number {
    const state = this.current as ChunkStreamState;
    const available = end - pos;
    if (state.received === 0 && this.chunkRemaining === state.messageLength && available >= this.chunkRemaining) {
      // Whole message in one chunk, all here: hand out a view, no copy.
      const next = pos + this.chunkRemaining;
      this.phase = Phase.Header;
      this.deliver(state, src.subarray(pos, next));
      return next;
    }
    const take = Math.min(this.chunkRemaining, available);
    const buffer = this.bufferFor(state);
    copyBytes(buffer, state.received, src.subarray(pos, pos + take));
    state.received += take;
    this.chunkRemaining -= take;
    if (this.chunkRemaining === 0) {
      this.phase = Phase.Header;
      if (state.received === state.messageLength) this.deliver(state, buffer.subarray(0, state.messageLength));
    }
    return pos + take;
  }

  private bufferFor(state: ChunkStreamState): Uint8Array {
    const needed = state.messageLength;
    const current = state.buffer;
    if (current !== null && current.length >= needed) return current;
    const oldCapacity = current === null ? 0 : current.length;
    // Grow with headroom so a stream of slowly growing frames does not reallocate each time.
    const capacity = Math.min(this.maxMessageBytes, Math.max(needed, oldCapacity + (oldCapacity >> 1), 4096));
    if (this.heldBytes - oldCapacity + capacity > this.maxBufferedBytes) this.releaseIdleBuffers(state);
    if (this.heldBytes - oldCapacity + capacity > this.maxBufferedBytes) {
      throw new NovaError(
        'NOVA_ERR_RTMP_LIMIT',
        `partial messages across chunk streams would hold ${this.heldBytes - oldCapacity + capacity} bytes (limit ${this.maxBufferedBytes})`,
      );
    }
    const next = new Uint8Array(capacity);
    if (current !== null && state.received > 0) next.set(current.subarray(0, state.received));
    this.heldBytes += capacity - oldCapacity;
    state.buffer = next;
    return next;
  }

  private releaseIdleBuffers(except: ChunkStreamState): void {
    for (const state of this.streams.values()) {
      if (state !== except && !state.inMessage && state.buffer !== null) {
        this.heldBytes -= state.buffer.length;
        state.buffer = null;
      }
    }
  }

  private deliver(state: ChunkStreamState, payload: Uint8Array): void {
    state.inMessage = false;
    state.received = 0;
    switch (state.typeId) {
      case MessageType.setChunkSize:
        this.applySetChunkSize(payload);
        return;
      case MessageType.abort:
        this.applyAbort(payload);
        return;
      default:
        this.onMessage(state.typeId, state.streamId, state.timestamp, payload);
    }
  }

  private applySetChunkSize(payload: Uint8Array): void {
    if (payload.length < 4) throw new NovaError('NOVA_ERR_RTMP_CHUNK', `Set Chunk Size payload of ${payload.length} bytes`);
    const size = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    if (size === 0 || size > this.maxChunkSize) {
      throw new NovaError('NOVA_ERR_RTMP_CHUNK', `Set Chunk Size ${size} outside 1..${this.maxChunkSize}`);
    }
    this.inChunkSize = size;
  }

  private applyAbort(payload: Uint8Array): void {
    if (payload.length < 4) throw new NovaError('NOVA_ERR_RTMP_CHUNK', `Abort payload of ${payload.length} bytes`);
    const chunkStreamId = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    const state = this.streams.get(chunkStreamId);
    if (state !== undefined) {
      state.inMessage = false;
      state.received = 0;
    }
  }
}
