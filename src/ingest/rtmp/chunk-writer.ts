/**
 * RTMP message → chunks, with header compression per chunk stream:
 * type 0 for the first message on a chunk stream (or a new message stream
 * id, or a timestamp going backwards), type 1 when length or type changed,
 * type 2 otherwise, type 3 only for continuation chunks. Type 3 is never
 * used to start a message, so readers that disagree about what a type-3
 * header after a type-0 header means (see chunk-reader.ts) read us alike.
 * Extended timestamps are repeated on continuation chunks (FFmpeg/librtmp
 * behaviour, and what the spec's readers expect).
 */
import { NovaError } from '../../errors.js';
import { DEFAULT_CHUNK_SIZE } from './chunk-reader.js';

class OutgoingChunkStream {
  started = false;
  timestamp = 0;
  messageLength = 0;
  typeId = 0;
  streamId = 0;
}

/** Largest chunk size the spec allows (the field is 31 bits, messages are <= 0xffffff). */
export const MAX_CHUNK_SIZE = 0xffffff;

export class ChunkWriter {
  private outChunkSize = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, OutgoingChunkStream>();

  get chunkSize(): number {
    return this.outChunkSize;
  }

  /**
   * Changes the chunk size used for later messages. The caller must send
   * the Set Chunk Size message (with the old size in effect) first.
   */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
      throw new NovaError('NOVA_ERR_RTMP_CHUNK', `chunk size ${size} outside 1..${MAX_CHUNK_SIZE}`);
    }
    this.outChunkSize = size;
  }

  /** Encodes one message into a fresh buffer of chunks (safe to hand to a socket). */
  writeMessage(chunkStreamId: number, typeId: number, streamId: number, timestamp: number, payload: Uint8Array): Uint8Array {
    if (chunkStreamId < 2 || chunkStreamId > 65599) {
      throw new NovaError('NOVA_ERR_RTMP_CHUNK', `chunk stream id ${chunkStreamId} outside 2..65599`);
    }
    if (payload.length > 0xffffff) {
      throw new NovaError('NOVA_ERR_RTMP_LIMIT', `message of ${payload.length} bytes does not fit a 24-bit length`);
    }
    timestamp = timestamp >>> 0;
    let state = this.streams.get(chunkStreamId);
    if (state === undefined) {
      state = new OutgoingChunkStream();
      this.streams.set(chunkStreamId, state);
    }
    let format: number;
    if (!state.started || state.streamId !== streamId || timestamp < state.timestamp) format = 0;
    else if (state.messageLength !== payload.length || state.typeId !== typeId) format = 1;
    else format = 2;
    const timestampField = format === 0 ? timestamp : timestamp - state.timestamp;
    const extended = timestampField >= 0xffffff;
    state.started = true;
    state.timestamp = timestamp;
    state.messageLength = payload.length;
    state.typeId = typeId;
    state.streamId = streamId;

    const basicLength = chunkStreamId < 64 ? 1 : chunkStreamId < 320 ? 2 : 3;
    const messageHeaderLength = format === 0 ? 11 : format === 1 ? 7 : 3;
    const extendedLength = extended ? 4 : 0;
    const chunkCount = Math.max(1, Math.ceil(payload.length / this.outChunkSize));
    const total =
      basicLength + messageHeaderLength + extendedLength + payload.length + (chunkCount - 1) * (basicLength + extendedLength);
    const out = new Uint8Array(total);
    let p = writeBasicHeader(out, 0, format, chunkStreamId);
    const field = extended ? 0xffffff : timestampField;
    out[p] = field >>> 16;
    out[p + 1] = (field >>> 8) & 0xff;
    out[p + 2] = field & 0xff;
    if (format <= 1) {
      out[p + 3] = payload.length >>> 16;
      out[p + 4] = (payload.length >>> 8) & 0xff;
      out[p + 5] = payload.length & 0xff;
      out[p + 6] = typeId;
    }
    if (format === 0) {
      out[p + 7] = streamId & 0xff;
      out[p + 8] = (streamId >>> 8) & 0xff;
      out[p + 9] = (streamId >>> 16) & 0xff;
      out[p + 10] = (streamId >>> 24) & 0xff;
    }
    p += messageHeaderLength;
    if (extended) p = writeU32(out, p, timestampField);
    let offset = 0;
    for (;;) {
      const size = Math.min(this.outChunkSize, payload.length - offset);
      out.set(payload.subarray(offset, offset + size), p);
      p += size;
      offset += size;
      if (offset >= payload.length) break;
      p = writeBasicHeader(out, p, 3, chunkStreamId);
      if (extended) p = writeU32(out, p, timestampField);
    }
    return out;
  }
}

function writeBasicHeader(out: Uint8Array, p: number, format: number, chunkStreamId: number): number {
  if (chunkStreamId < 64) {
    out[p] = (format << 6) | chunkStreamId;
    return p + 1;
  }
  if (chunkStreamId < 320) {
    out[p] = format << 6;
    out[p + 1] = chunkStreamId - 64;
    return p + 2;
  }
  out[p] = (format << 6) | 1;
  out[p + 1] = (chunkStreamId - 64) & 0xff;
  out[p + 2] = (chunkStreamId - 64) >>> 8;
  return p + 3;
}

function writeU32(out: Uint8Array, p: number, value: number): number {
  out[p] = value >>> 24;
  out[p + 1] = (value >>> 16) & 0xff;
  out[p + 2] = (value >>> 8) & 0xff;
  out[p + 3] = value & 0xff;
  return p + 4;
}
