import { NovaError } from '../../errors.js';

/**
 * MSB-first bit reader over an RBSP (emulation prevention already removed).
 * Used for codec configs only (once per sequence header), not per frame.
 * Reading past the end raises NOVA_ERR_CODEC so truncated headers surface as
 * our coded error rather than as garbage dimensions.
 */
export class BitReader {
  private readonly bytes: Uint8Array;
  private bitOffset = 0;
  private readonly bitLength: number;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.bitLength = bytes.length * 8;
  }

  get bitsLeft(): number {
    return this.bitLength - this.bitOffset;
  }

  readBit(): number {
    if (this.bitOffset >= this.bitLength) {
      throw new NovaError('NOVA_ERR_CODEC', 'bitstream truncated');
    }
    const byte = this.bytes[this.bitOffset >>> 3];
    const bit = (byte >>> (7 - (this.bitOffset & 7))) & 1;
    this.bitOffset++;
    return bit;
  }

  /** Up to 32 bits, returned unsigned. */
  readBits(count: number): number {
    if (count > this.bitLength - this.bitOffset) {
      throw new NovaError('NOVA_ERR_CODEC', 'bitstream truncated');
    }
    let value = 0;
    for (let i = 0; i < count; i++) {
      value = value * 2 + this.readBit();
    }
    return value;
  }

  skipBits(count: number): void {
    if (count > this.bitLength - this.bitOffset) {
      throw new NovaError('NOVA_ERR_CODEC', 'bitstream truncated');
    }
    this.bitOffset += count;
  }

  /** ue(v): unsigned exp-Golomb. More than 31 leading zeros cannot be a legal H.264 value. */
  readUnsignedExpGolomb(): number {
    let leadingZeros = 0;
    while (this.readBit() === 0) {
      leadingZeros++;
      if (leadingZeros > 31) {
        throw new NovaError('NOVA_ERR_CODEC', 'exp-Golomb code too long');
      }
    }
    return 2 ** leadingZeros - 1 + this.readBits(leadingZeros);
  }

  /** se(v): signed exp-Golomb (1 → 1, 2 → -1, 3 → 2, ...). */
  readSignedExpGolomb(): number {
    const codeNum = this.readUnsignedExpGolomb();
    return codeNum % 2 === 1 ? (codeNum + 1) / 2 : -(codeNum / 2);
  }
}
