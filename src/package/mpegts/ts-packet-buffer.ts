/**
 * A growable run of 188-byte TS packets for one segment. Packets are
 * reserved and written in place; the buffer is reused across segments.
 */
export const TS_PACKET_SIZE = 188;

export class TsPacketBuffer {
  bytes: Uint8Array;
  length = 0;

  constructor(initialPackets = 512) {
    this.bytes = new Uint8Array(initialPackets * TS_PACKET_SIZE);
  }

  /** Reserves one packet and returns its offset; bytes are not cleared. */
  reservePacket(): number {
    const offset = this.length;
    if (offset + TS_PACKET_SIZE > this.bytes.byteLength) {
      const grown = new Uint8Array(this.bytes.byteLength * 2);
      grown.set(this.bytes.subarray(0, offset));
      this.bytes = grown;
    }
    this.length = offset + TS_PACKET_SIZE;
    return offset;
  }

  /** Copies the packets out into their own ArrayBuffer (transferable) and empties the buffer. */
  take(): Uint8Array {
    const out = this.bytes.slice(0, this.length);
    this.length = 0;
    return out;
  }
}
