/**
 * Writes ISO BMFF boxes into a caller-provided buffer by offset. Box sizes
 * are patched on close, so nesting costs nothing but a small offset stack;
 * callers size the buffer first (exactly for fragments, by bound for init).
 */
import { NovaError } from '../../errors.js';

const MAX_DEPTH = 16;

export class BoxWriter {
  readonly bytes: Uint8Array;
  offset: number;
  private readonly view: DataView;
  private readonly openStarts = new Int32Array(MAX_DEPTH);
  private depth = 0;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(value: number): void {
    this.bytes[this.offset++] = value;
  }

  u16(value: number): void {
    this.view.setUint16(this.offset, value);
    this.offset += 2;
  }

  u24(value: number): void {
    this.bytes[this.offset] = (value >>> 16) & 0xff;
    this.bytes[this.offset + 1] = (value >>> 8) & 0xff;
    this.bytes[this.offset + 2] = value & 0xff;
    this.offset += 3;
  }

  u32(value: number): void {
    this.view.setUint32(this.offset, value >>> 0);
    this.offset += 4;
  }

  i32(value: number): void {
    this.view.setInt32(this.offset, value | 0);
    this.offset += 4;
  }

  /** Unsigned 64-bit from a non-negative safe integer (decode times exceed 2^32 after ~13 h at 90 kHz). */
  u64(value: number): void {
    const high = Math.floor(value / 0x1_0000_0000);
    this.view.setUint32(this.offset, high);
    this.view.setUint32(this.offset + 4, value - high * 0x1_0000_0000);
    this.offset += 8;
  }

  /** Four ASCII characters (box types, brands, handler types). */
  fourcc(code: string): void {
    this.bytes[this.offset] = code.charCodeAt(0);
    this.bytes[this.offset + 1] = code.charCodeAt(1);
    this.bytes[this.offset + 2] = code.charCodeAt(2);
    this.bytes[this.offset + 3] = code.charCodeAt(3);
    this.offset += 4;
  }

  write(source: Uint8Array): void {
    this.bytes.set(source, this.offset);
    this.offset += source.byteLength;
  }

  zeros(count: number): void {
    this.bytes.fill(0, this.offset, this.offset + count);
    this.offset += count;
  }

  /** Starts a box; its 32-bit size is filled in by the matching close(). */
  open(type: string): void {
    if (this.depth === MAX_DEPTH) throw new NovaError('NOVA_ERR_INTERNAL', `box nesting deeper than ${MAX_DEPTH}`);
    this.openStarts[this.depth++] = this.offset;
    this.offset += 4;
    this.fourcc(type);
  }

  /** Starts a full box (version + 24-bit flags after the header). */
  openFull(type: string, version: number, flags: number): void {
    this.open(type);
    this.u8(version);
    this.u24(flags);
  }

  close(): void {
    if (this.depth === 0) throw new NovaError('NOVA_ERR_INTERNAL', 'close() without open box');
    const start = this.openStarts[--this.depth];
    this.view.setUint32(start, this.offset - start);
  }

  /** Number of boxes still open (0 when the writer is balanced). */
  get openDepth(): number {
    return this.depth;
  }
}
