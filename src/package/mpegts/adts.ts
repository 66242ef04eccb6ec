/**
 * ADTS framing for raw AAC frames (ISO 14496-3 1.A.2): MPEG-TS carries AAC
 * as ADTS, FLV and MP4 carry it raw with the AudioSpecificConfig aside.
 */
import { NovaError } from '../../errors.js';

export const ADTS_HEADER_SIZE = 7;
const MAX_ADTS_FRAME = 0x1fff;

/** What an ADTS header needs from the AudioSpecificConfig. */
export interface AdtsParams {
  /** ADTS profile = audioObjectType - 1, for LC = 1 */
  profile: number;
  samplingFrequencyIndex: number;
  channelConfiguration: number;
}

const SAMPLING_FREQUENCIES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/**
 * Reads the ADTS fields from an AudioSpecificConfig. ADTS has only two bits
 * of profile: HE-AAC (5) and HE-AACv2 (29) are signalled as their LC core,
 * which is how implicit SBR signalling works in ADTS.
 */
export function adtsParamsFromAsc(asc: Uint8Array): AdtsParams {
  if (asc.byteLength < 2) throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig shorter than 2 bytes');
  let objectType = asc[0] >> 3;
  let frequencyIndex = ((asc[0] & 0x07) << 1) | (asc[1] >> 7);
  let bitPosition = 9;
  if (objectType === 31) throw new NovaError('NOVA_ERR_CODEC', 'escaped audioObjectType is not AAC');
  if (frequencyIndex === 15) {
    if (asc.byteLength < 5) throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig truncated in explicit frequency');
    // An explicit 24-bit frequency cannot be said in ADTS: map it to the nearest table entry.
    const frequency = readBits(asc, bitPosition, 24);
    bitPosition += 24;
    frequencyIndex = nearestFrequencyIndex(frequency);
  }
  if (frequencyIndex > 12) throw new NovaError('NOVA_ERR_CODEC', `reserved sampling frequency index ${frequencyIndex}`);
  if (asc.byteLength * 8 < bitPosition + 4) throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig truncated before channel configuration');
  const channelConfiguration = readBits(asc, bitPosition, 4);
  if (objectType === 5 || objectType === 29) objectType = 2;
  if (objectType < 1 || objectType > 4) throw new NovaError('NOVA_ERR_CODEC', `audioObjectType ${objectType} cannot be carried in ADTS`);
  return { profile: objectType - 1, samplingFrequencyIndex: frequencyIndex, channelConfiguration };
}

/** Writes the 7-byte header (no CRC) for a raw frame of `aacLength` bytes at `offset`. */
export function writeAdtsHeader(target: Uint8Array, offset: number, params: AdtsParams, aacLength: number): void {
  const frameLength = aacLength + ADTS_HEADER_SIZE;
  if (frameLength > MAX_ADTS_FRAME) throw new NovaError('NOVA_ERR_CODEC', `AAC frame of ${aacLength} bytes exceeds ADTS limit`);
  target[offset] = 0xff;
  target[offset + 1] = 0xf1; // sync, MPEG-4, layer 0, protection_absent
  target[offset + 2] = (params.profile << 6) | (params.samplingFrequencyIndex << 2) | (params.channelConfiguration >> 2);
  target[offset + 3] = ((params.channelConfiguration & 0x03) << 6) | (frameLength >> 11);
  target[offset + 4] = (frameLength >> 3) & 0xff;
  target[offset + 5] = ((frameLength & 0x07) << 5) | 0x1f; // buffer fullness 0x7ff: VBR
  target[offset + 6] = 0xfc; // buffer fullness low bits, one raw data block
}

function readBits(bytes: Uint8Array, bitPosition: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const bit = bitPosition + i;
    value = value * 2 + ((bytes[bit >> 3] >> (7 - (bit & 7))) & 1);
  }
  return value;
}

function nearestFrequencyIndex(frequency: number): number {
  let best = 0;
  for (let i = 1; i < SAMPLING_FREQUENCIES.length; i++) {
    if (Math.abs(SAMPLING_FREQUENCIES[i] - frequency) < Math.abs(SAMPLING_FREQUENCIES[best] - frequency)) best = i;
  }
  return best;
}
