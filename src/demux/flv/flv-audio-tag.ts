import { NovaError } from '../../errors.js';

/** FLV AudioTagHeader SoundFormat for AAC (FLV spec E.4.2.1). */
export const FLV_SOUND_FORMAT_AAC = 10;
/** Enhanced RTMP v2: SoundFormat 9 announces an ExAudioTagHeader with a FourCC. */
const SOUND_FORMAT_EX_HEADER = 9;

export type FlvAudioPacketKind = 'sequence-header' | 'raw' | 'unsupported';

/** Reused across tags by the caller; `payload` is a view into the tag body. */
export interface FlvAudioPacket {
  kind: FlvAudioPacketKind;
  soundFormat: number;
  /** enhanced-RTMP FourCC as a big-endian uint32 ('Opus', 'ac-3', ...); 0 for legacy tags */
  fourCc: number;
  /** sequence header: the AudioSpecificConfig; raw: one AAC frame; otherwise empty */
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function createFlvAudioPacket(): FlvAudioPacket {
  return { kind: 'unsupported', soundFormat: 0, fourCc: 0, payload: EMPTY };
}

/**
 * Parses an FLV audio tag body into `out`. Formats other than AAC are
 * reported as 'unsupported'; a body too short for its header → NOVA_ERR_FLV.
 */
export function parseFlvAudioTag(body: Uint8Array, out: FlvAudioPacket): FlvAudioPacket {
  if (body.length < 1) throw new NovaError('NOVA_ERR_FLV', 'empty audio tag');
  out.soundFormat = body[0] >>> 4;
  out.fourCc = 0;
  out.payload = EMPTY;
  if (out.soundFormat === SOUND_FORMAT_EX_HEADER) {
    if (body.length < 5) throw new NovaError('NOVA_ERR_FLV', 'enhanced audio tag shorter than its FourCC');
    out.fourCc = ((body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]) >>> 0;
    out.kind = 'unsupported';
    return out;
  }
  if (out.soundFormat !== FLV_SOUND_FORMAT_AAC) {
    out.kind = 'unsupported';
    return out;
  }
  if (body.length < 2) throw new NovaError('NOVA_ERR_FLV', 'AAC audio tag without AACPacketType');
  const packetType = body[1];
  out.payload = body.subarray(2);
  if (packetType === 0) {
    out.kind = 'sequence-header';
  } else if (packetType === 1) {
    out.kind = 'raw';
  } else {
    throw new NovaError('NOVA_ERR_FLV', `unknown AACPacketType ${packetType}`);
  }
  return out;
}
