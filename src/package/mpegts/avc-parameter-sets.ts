/**
 * SPS/PPS out of an AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1),
 * for repeating them in-band before each Annex B keyframe.
 */
import { NovaError } from '../../errors.js';

export interface AvcParameterSets {
  /** NAL length field size of the samples (1, 2 or 4) */
  lengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

export function avcParameterSets(avcC: Uint8Array): AvcParameterSets {
  if (avcC.byteLength < 7 || avcC[0] !== 1) throw new NovaError('NOVA_ERR_CODEC', 'not an AVCDecoderConfigurationRecord');
  const lengthSize = (avcC[4] & 0x03) + 1;
  if (lengthSize === 3) throw new NovaError('NOVA_ERR_CODEC', 'NAL length size 3 is not allowed');
  const sps: Uint8Array[] = [];
  const pps: Uint8Array[] = [];
  let offset = readList(avcC, 6, avcC[5] & 0x1f, sps);
  if (offset >= avcC.byteLength) throw new NovaError('NOVA_ERR_CODEC', 'avcC truncated before PPS count');
  offset = readList(avcC, offset + 1, avcC[offset], pps);
  return { lengthSize, sps, pps };
}

/** Appends `count` length-prefixed parameter sets starting at `offset` to `list`; returns the offset after them. */
function readList(avcC: Uint8Array, offset: number, count: number, list: Uint8Array[]): number {
  for (let i = 0; i < count; i++) {
    if (offset + 2 > avcC.byteLength) throw new NovaError('NOVA_ERR_CODEC', 'avcC truncated in parameter set length');
    const length = (avcC[offset] << 8) | avcC[offset + 1];
    offset += 2;
    if (offset + length > avcC.byteLength) throw new NovaError('NOVA_ERR_CODEC', 'avcC truncated in parameter set');
    list.push(avcC.slice(offset, offset + length));
    offset += length;
  }
  return offset;
}
