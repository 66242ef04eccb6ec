import { copyBytes } from '../stream/shared-copy.js';

/**
 * The samples of one CMAF track that are not yet in a finished part, as
 * parallel typed arrays plus one payload buffer: frame bytes are copied in
 * once on arrival and written out once per part. Grows by doubling and is
 * compacted from the front when a part leaves, so steady state allocates
 * nothing per frame.
 */
export class SampleQueue {
  count = 0;
  /** stream timeline, ms */
  dts = new Float64Array(0);
  pts = new Float64Array(0);
  /** track timescale */
  decodeTime = new Float64Array(0);
  durations = new Uint32Array(0);
  sizes = new Uint32Array(0);
  /** payload offset of each sample */
  offsets = new Uint32Array(0);
  compositionOffsets = new Int32Array(0);
  keyframes = new Uint8Array(0);
  payload: Uint8Array;
  payloadLength = 0;

  constructor(initialSamples = 256, initialPayloadBytes = 512 * 1024) {
    this.resize(initialSamples);
    this.payload = new Uint8Array(initialPayloadBytes);
  }

  push(dts: number, pts: number, decodeTime: number, compositionOffset: number, keyframe: boolean, data: Uint8Array): void {
    const index = this.count;
    if (index === this.sizes.length) this.resize(index * 2);
    const needed = this.payloadLength + data.byteLength;
    if (needed > this.payload.byteLength) {
      const grown = new Uint8Array(Math.max(needed, this.payload.byteLength * 2));
      grown.set(this.payload.subarray(0, this.payloadLength));
      this.payload = grown;
    }
    this.dts[index] = dts;
    this.pts[index] = pts;
    this.decodeTime[index] = decodeTime;
    this.durations[index] = 0;
    this.sizes[index] = data.byteLength;
    this.offsets[index] = this.payloadLength;
    this.compositionOffsets[index] = compositionOffset;
    this.keyframes[index] = keyframe ? 1 : 0;
    copyBytes(this.payload, this.payloadLength, data);
    this.payloadLength = needed;
    this.count = index + 1;
  }

  /** Forgets the first `n` samples (they went out in a part). */
  dropFront(n: number): void {
    if (n >= this.count) {
      this.count = 0;
      this.payloadLength = 0;
      return;
    }
    const rest = this.count;
    const byteStart = this.offsets[n];
    this.dts.copyWithin(0, n, rest);
    this.pts.copyWithin(0, n, rest);
    this.decodeTime.copyWithin(0, n, rest);
    this.durations.copyWithin(0, n, rest);
    this.sizes.copyWithin(0, n, rest);
    this.offsets.copyWithin(0, n, rest);
    this.compositionOffsets.copyWithin(0, n, rest);
    this.keyframes.copyWithin(0, n, rest);
    this.count = rest - n;
    for (let i = 0; i < this.count; i++) this.offsets[i] -= byteStart;
    this.payload.copyWithin(0, byteStart, this.payloadLength);
    this.payloadLength -= byteStart;
  }

  private resize(capacity: number): void {
    const keep = this.count;
    this.dts = grow(this.dts, new Float64Array(capacity), keep);
    this.pts = grow(this.pts, new Float64Array(capacity), keep);
    this.decodeTime = grow(this.decodeTime, new Float64Array(capacity), keep);
    this.durations = grow(this.durations, new Uint32Array(capacity), keep);
    this.sizes = grow(this.sizes, new Uint32Array(capacity), keep);
    this.offsets = grow(this.offsets, new Uint32Array(capacity), keep);
    this.compositionOffsets = grow(this.compositionOffsets, new Int32Array(capacity), keep);
    this.keyframes = grow(this.keyframes, new Uint8Array(capacity), keep);
  }
}

function grow<T extends Float64Array | Uint32Array | Int32Array | Uint8Array>(from: T, to: T, keep: number): T {
  to.set(from.subarray(0, keep) as never);
  return to;
}
