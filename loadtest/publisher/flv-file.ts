/**
 * Minimal FLV *file* reader: the 9-byte header, then tags (11-byte header,
 * body, 4-byte previous tag size). Tag bodies are returned as views, not
 * parsed; only the codec bytes a publisher needs are looked at.
 */
import { NovaError } from '../../src/errors.js';

export interface FlvTag {
  /** 8 audio, 9 video, 18 script data */
  type: number;
  /** decode timestamp, ms (24 bits + 8-bit extension) */
  timestamp: number;
  /** the tag body as RTMP carries it (a view into the file bytes) */
  body: Uint8Array;
}

export function readFlvTags(file: Uint8Array): FlvTag[] {
  if (file.length < 13 || file[0] !== 0x46 || file[1] !== 0x4c || file[2] !== 0x56) {
    throw new NovaError('NOVA_ERR_FLV', 'not an FLV file (no "FLV" signature)');
  }
  const headerSize = ((file[5] << 24) | (file[6] << 16) | (file[7] << 8) | file[8]) >>> 0;
  let pos = headerSize + 4; // header, then PreviousTagSize0
  const tags: FlvTag[] = [];
  while (pos + 11 <= file.length) {
    const type = file[pos] & 0x1f;
    const size = (file[pos + 1] << 16) | (file[pos + 2] << 8) | file[pos + 3];
    const timestamp = ((file[pos + 7] << 24) | (file[pos + 4] << 16) | (file[pos + 5] << 8) | file[pos + 6]) >>> 0;
    const bodyStart = pos + 11;
    if (bodyStart + size > file.length) throw new NovaError('NOVA_ERR_FLV', `tag at ${pos} of ${size} bytes runs past the end`);
    tags.push({ type, timestamp, body: file.subarray(bodyStart, bodyStart + size) });
    pos = bodyStart + size + 4;
  }
  return tags;
}

/** AVC sequence header: keyframe/AVC byte then AVCPacketType 0. */
export const isAvcSequenceHeader = (body: Uint8Array): boolean => body.length > 1 && (body[0] & 0x0f) === 7 && body[1] === 0;
/** AAC sequence header: sound format 10 then AACPacketType 0. */
export const isAacSequenceHeader = (body: Uint8Array): boolean => body.length > 1 && body[0] >> 4 === 10 && body[1] === 0;
/** AVC NALU packet (a picture). */
export const isAvcPicture = (body: Uint8Array): boolean => body.length > 5 && (body[0] & 0x0f) === 7 && body[1] === 1;
export const isVideoKeyframe = (body: Uint8Array): boolean => body.length > 0 && body[0] >> 4 === 1;
