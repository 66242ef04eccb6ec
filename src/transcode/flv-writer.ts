import { NovaError } from '../errors.js';

/** FLV tag types (FLV spec E.4.1). */
export const FLV_TAG_AUDIO = 8;
export const FLV_TAG_VIDEO = 9;
export const FLV_TAG_SCRIPT = 18;

const TAG_HEADER_BYTES = 11;
const PREVIOUS_TAG_SIZE_BYTES = 4;
/** AVC VideoTagHeader: frame type/codec, AVCPacketType, SI24 composition time */
const AVC_HEADER_BYTES = 5;
const MAX_TAG_BODY = 0xffffff;
const CODEC_AVC = 7;

/**
 * The FLV file header plus PreviousTagSize0: what FFmpeg's FLV demuxer
 * expects before the first tag. Flags say which tracks to look for, so a
 * video-only header keeps FFmpeg from waiting for audio that never comes.
 */
export function flvFileHeader(hasVideo: boolean, hasAudio: boolean): Uint8Array {
  const out = new Uint8Array(9 + PREVIOUS_TAG_SIZE_BYTES);
  out[0] = 0x46; // F
  out[1] = 0x4c; // L
  out[2] = 0x56; // V
  out[3] = 1;
  out[4] = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0);
  out[8] = 9; // DataOffset: header size
  return out;
}

function writeTagHeader(out: Uint8Array, type: number, bodySize: number, timestamp: number): void {
  if (bodySize > MAX_TAG_BODY) throw new NovaError('NOVA_ERR_FLV', `FLV tag body of ${bodySize} bytes exceeds 24 bits`);
  if (!Number.isInteger(timestamp) || timestamp < 0) {
    throw new NovaError('NOVA_ERR_FLV', `FLV timestamp ${timestamp} is not a non-negative integer`);
  }
  // 32-bit ms timestamps wrap like the RTMP clock does (~49.7 days).
  const ts = timestamp >>> 0;
  out[0] = type;
  out[1] = bodySize >>> 16;
  out[2] = (bodySize >>> 8) & 0xff;
  out[3] = bodySize & 0xff;
  out[4] = (ts >>> 16) & 0xff;
  out[5] = (ts >>> 8) & 0xff;
  out[6] = ts & 0xff;
  out[7] = ts >>> 24; // TimestampExtended: the high byte
  // StreamID (3 bytes) stays 0.
}

function writePreviousTagSize(out: Uint8Array, offset: number, tagSize: number): void {
  out[offset] = tagSize >>> 24;
  out[offset + 1] = (tagSize >>> 16) & 0xff;
  out[offset + 2] = (tagSize >>> 8) & 0xff;
  out[offset + 3] = tagSize & 0xff;
}

/**
 * One complete tag (header + body + PreviousTagSize) for an arbitrary body:
 * the generic form, used for script and audio tags and by tests.
 */
export function flvTag(type: number, timestamp: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(TAG_HEADER_BYTES + body.length + PREVIOUS_TAG_SIZE_BYTES);
  writeTagHeader(out, type, body.length, timestamp);
  out.set(body, TAG_HEADER_BYTES);
  writePreviousTagSize(out, TAG_HEADER_BYTES + body.length, TAG_HEADER_BYTES + body.length);
  return out;
}

/**
 * An AVC video tag: one allocation holding header, AVC packet header and the
 * payload. The bytes go into a pipe that keeps them until the child reads
 * them, so a fresh buffer per tag is needed anyway; this is the only copy.
 *
 * packetType 0 = sequence header (payload = avcC), 1 = NALUs (AVCC).
 */
export function flvAvcTag(
  packetType: 0 | 1 | 2,
  keyframe: boolean,
  dts: number,
  compositionTimeMs: number,
  payload: Uint8Array,
): Uint8Array {
  if (compositionTimeMs < -0x800000 || compositionTimeMs > 0x7fffff || !Number.isInteger(compositionTimeMs)) {
    throw new NovaError('NOVA_ERR_FLV', `composition time ${compositionTimeMs} ms does not fit SI24`);
  }
  const bodySize = AVC_HEADER_BYTES + payload.length;
  const out = new Uint8Array(TAG_HEADER_BYTES + bodySize + PREVIOUS_TAG_SIZE_BYTES);
  writeTagHeader(out, FLV_TAG_VIDEO, bodySize, dts);
  const body = TAG_HEADER_BYTES;
  out[body] = ((keyframe ? 1 : 2) << 4) | CODEC_AVC;
  out[body + 1] = packetType;
  const cts = compositionTimeMs & 0xffffff;
  out[body + 2] = cts >>> 16;
  out[body + 3] = (cts >>> 8) & 0xff;
  out[body + 4] = cts & 0xff;
  out.set(payload, body + AVC_HEADER_BYTES);
  writePreviousTagSize(out, body + bodySize, TAG_HEADER_BYTES + bodySize);
  return out;
}
