import { NovaError } from '../errors.js';

/** Receives each complete tag. `body` is a view valid only during the call: copy what you keep. */
export interface FlvTagHandler {
  tag(type: number, timestamp: number, body: Uint8Array): void;
}

export interface FlvReaderStats {
  bytes: number;
  tags: number;
}

const STATE_HEADER = 0;
const STATE_HEADER_PADDING = 1;
const STATE_PREVIOUS_TAG_SIZE = 2;
const STATE_TAG_HEADER = 3;
const STATE_TAG_BODY = 4;

const FILE_HEADER_BYTES = 9;
const TAG_HEADER_BYTES = 11;
/** what the 24-bit DataSize field can say: the natural bound of one tag */
const MAX_TAG_BODY = 0xffffff;
/** FLV headers are 9 bytes in every version written so far; allow a little room, not a gigabyte skip */
const MAX_HEADER_PADDING = 1024;

/**
 * Streaming FLV container parser (9-byte header, PreviousTagSize0, then
 * 11-byte tag headers each followed by the body and its PreviousTagSize).
 *
 * Chunks may split anywhere. Each step needs a known number of bytes: when
 * the chunk holds them all the step reads a view of the chunk directly (no
 * copy, the common case for small tags); otherwise the bytes gather in one
 * reused scratch buffer, so a tag split over many chunks is copied once.
 *
 * Strict where FFmpeg is consistent (signature, version, PreviousTagSize,
 * StreamID 0, no encryption filter): anything else is NovaError NOVA_ERR_FLV
 * and the reader stays failed, since a desynchronised FLV cannot be resumed.
 */
export class FlvReader {
  readonly stats: FlvReaderStats = { bytes: 0, tags: 0 };
  private readonly handler: FlvTagHandler;
  private state = STATE_HEADER;
  private need = FILE_HEADER_BYTES;
  private scratch = new Uint8Array(4096);
  private gathered = 0;
  private tagType = 0;
  private tagTimestamp = 0;
  private lastTagSize = 0;
  private failure: NovaError | null = null;

  constructor(handler: FlvTagHandler) {
    this.handler = handler;
  }

  /** true once the header and every complete tag so far have been consumed with nothing pending */
  get atTagBoundary(): boolean {
    return this.gathered === 0 && this.state === STATE_TAG_HEADER;
  }

  push(chunk: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    this.stats.bytes += chunk.length;
    let offset = 0;
    const length = chunk.length;
    try {
      while (offset < length) {
        const need = this.need;
        if (this.gathered === 0 && length - offset >= need) {
          this.step(chunk.subarray(offset, offset + need));
          offset += need;
          continue;
        }
        if (this.scratch.length < need) this.scratch = new Uint8Array(Math.max(need, this.scratch.length * 2));
        const take = Math.min(need - this.gathered, length - offset);
        this.scratch.set(chunk.subarray(offset, offset + take), this.gathered);
        this.gathered += take;
        offset += take;
        if (this.gathered === need) {
          this.gathered = 0;
          this.step(this.scratch.subarray(0, need));
        }
      }
    } catch (err) {
      if (err instanceof NovaError) this.failure = err;
      throw err;
    }
  }

  private step(bytes: Uint8Array): void {
    switch (this.state) {
      case STATE_HEADER: {
        if (bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x56) {
          throw new NovaError('NOVA_ERR_FLV', 'FLV signature missing');
        }
        if (bytes[3] !== 1) throw new NovaError('NOVA_ERR_FLV', `FLV version ${bytes[3]} is not 1`);
        const dataOffset = ((bytes[5] << 24) | (bytes[6] << 16) | (bytes[7] << 8) | bytes[8]) >>> 0;
        if (dataOffset < FILE_HEADER_BYTES || dataOffset > FILE_HEADER_BYTES + MAX_HEADER_PADDING) {
          throw new NovaError('NOVA_ERR_FLV', `FLV DataOffset ${dataOffset} out of range`);
        }
        if (dataOffset > FILE_HEADER_BYTES) {
          this.state = STATE_HEADER_PADDING;
          this.need = dataOffset - FILE_HEADER_BYTES;
        } else {
          this.state = STATE_PREVIOUS_TAG_SIZE;
          this.need = 4;
        }
        return;
      }
      case STATE_HEADER_PADDING:
        this.state = STATE_PREVIOUS_TAG_SIZE;
        this.need = 4;
        return;
      case STATE_PREVIOUS_TAG_SIZE: {
        const size = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
        if (size !== this.lastTagSize) {
          throw new NovaError('NOVA_ERR_FLV', `PreviousTagSize ${size} does not match the tag before it (${this.lastTagSize})`);
        }
        this.state = STATE_TAG_HEADER;
        this.need = TAG_HEADER_BYTES;
        return;
      }
      case STATE_TAG_HEADER: {
        if ((bytes[0] & 0xe0) !== 0) {
          throw new NovaError('NOVA_ERR_FLV', 'FLV tag with reserved or encryption (Filter) bits set');
        }
        if (bytes[8] !== 0 || bytes[9] !== 0 || bytes[10] !== 0) {
          throw new NovaError('NOVA_ERR_FLV', 'FLV tag StreamID is not 0');
        }
        const bodySize = (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
        this.tagType = bytes[0] & 0x1f;
        this.tagTimestamp = ((bytes[7] << 24) | (bytes[4] << 16) | (bytes[5] << 8) | bytes[6]) >>> 0;
        this.lastTagSize = TAG_HEADER_BYTES + bodySize;
        if (bodySize > MAX_TAG_BODY) throw new NovaError('NOVA_ERR_FLV', 'FLV tag too large');
        if (bodySize === 0) {
          this.deliver(bytes.subarray(0, 0));
          return;
        }
        this.state = STATE_TAG_BODY;
        this.need = bodySize;
        return;
      }
      case STATE_TAG_BODY:
        this.deliver(bytes);
        return;
    }
  }

  private deliver(body: Uint8Array): void {
    // Advance first: a handler that throws must not leave the reader mid-tag.
    this.state = STATE_PREVIOUS_TAG_SIZE;
    this.need = 4;
    this.stats.tags++;
    this.handler.tag(this.tagType, this.tagTimestamp, body);
  }
}
