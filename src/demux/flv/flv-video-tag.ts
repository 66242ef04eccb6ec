import { NovaError } from '../../errors.js';

/** FLV VideoTagHeader CodecID for AVC/H.264 (FLV spec 10.1, E.4.3.1). */
export const FLV_CODEC_AVC = 7;
const FRAME_TYPE_KEY = 1;
const FRAME_TYPE_COMMAND = 5;
/** Enhanced RTMP: the top bit of the first byte flags an ExVideoTagHeader with a FourCC. */
const EX_HEADER_FLAG = 0x80;

export type FlvVideoPacketKind =
  | 'sequence-header'
  | 'nalu'
  | 'end-of-sequence'
  /** frame type 5: video info / command frame, no picture */
  | 'command'
  /** a codec other than legacy AVC (including every enhanced-RTMP FourCC) */
  | 'unsupported';

/**
 * The parse result. One instance is reused by the caller across tags (hot
 * path); `payload` is a view into the tag body, valid while that body is.
 */
export interface FlvVideoPacket {
  kind: FlvVideoPacketKind;
  /** FLV frameType (1 key, 2 inter, 3 disposable, 4 generated key, 5 command) */
  frameType: number;
  keyframe: boolean;
  /** legacy CodecID; 0 for enhanced-RTMP tags */
  codecId: number;
  /** enhanced-RTMP FourCC as a big-endian uint32 (e.g. 0x68766331 'hvc1'); 0 for legacy tags */
  fourCc: number;
  /** signed composition time offset in ms (pts - dts) */
  compositionTime: number;
  /** sequence header: the avcC; nalu: length-prefixed NAL units; otherwise empty */
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function createFlvVideoPacket(): FlvVideoPacket {
  return { kind: 'unsupported', frameType: 0, keyframe: false, codecId: 0, fourCc: 0, compositionTime: 0, payload: EMPTY };
}

/** Renders a FourCC number for logs and stats ('hvc1'). */
export function fourCcToString(fourCc: number): string {
  return String.fromCharCode((fourCc >>> 24) & 0xff, (fourCc >>> 16) & 0xff, (fourCc >>> 8) & 0xff, fourCc & 0xff);
}

/**
 * Parses an FLV video tag body into `out`. Codecs other than AVC are reported
 * as kind 'unsupported' (the caller counts and decides); a body too short for
 * its own header is malformed → NovaError NOVA_ERR_FLV.
 */
export function parseFlvVideoTag(body: Uint8Array, out: FlvVideoPacket): FlvVideoPacket {
  if (body.length < 1) throw new NovaError('NOVA_ERR_FLV', 'empty video tag');
  const first = body[0];
  out.compositionTime = 0;
  out.payload = EMPTY;
  if ((first & EX_HEADER_FLAG) !== 0) {
    out.frameType = (first >>> 4) & 0x07;
    out.keyframe = out.frameType === FRAME_TYPE_KEY;
    out.codecId = 0;
    if (body.length < 5) throw new NovaError('NOVA_ERR_FLV', 'enhanced video tag shorter than its FourCC');
    out.fourCc = ((body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]) >>> 0;
    out.kind = 'unsupported';
    return out;
  }
  out.frameType = first >>> 4;
  out.codecId = first & 0x0f;
  out.fourCc = 0;
  out.keyframe = out.frameType === FRAME_TYPE_KEY;
  if (out.frameType === FRAME_TYPE_COMMAND) {
    out.kind = 'command';
    return out;
  }
  if (out.codecId !== FLV_CODEC_AVC) {
    out.kind = 'unsupported';
    return out;
  }
  if (body.length < 5) throw new NovaError('NOVA_ERR_FLV', 'AVC video tag shorter than its 5-byte header');
  const packetType = body[1];
  // SI24: shift into the top of an int32 and back to sign-extend.
  out.compositionTime = ((body[2] << 24) | (body[3] << 16) | (body[4] << 8)) >> 8;
  out.payload = body.subarray(5);
  switch (packetType) {
    case 0:
      out.kind = 'sequence-header';
      break;
    case 1:
      out.kind = 'nalu';
      break;
    case 2:
      out.kind = 'end-of-sequence';
      break;
    default:
      throw new NovaError('NOVA_ERR_FLV', `unknown AVCPacketType ${packetType}`);
  }
  return out;
}
