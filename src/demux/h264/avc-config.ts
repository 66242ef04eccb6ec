import { NovaError } from '../../errors.js';

/** AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), the FLV AVC sequence header body. */
export interface AvcConfig {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** bytes in each NAL unit length prefix of the frames: 1, 2 or 4 */
  nalLengthSize: number;
  /** views into the parsed buffer: copy to keep beyond the buffer's lifetime */
  sps: Uint8Array[];
  pps: Uint8Array[];
}

function truncated(): NovaError {
  return new NovaError('NOVA_ERR_CODEC', 'avcC truncated');
}

/**
 * Parses an avcC record. The high-profile trailer (chroma format, bit depths,
 * SPS extensions) is not needed here and is ignored; reserved bits are not
 * checked because encoders differ on them.
 */
export function parseAvcConfig(record: Uint8Array): AvcConfig {
  if (record.length < 7) throw truncated();
  if (record[0] !== 1) {
    throw new NovaError('NOVA_ERR_CODEC', `avcC configurationVersion ${record[0]} is not 1`);
  }
  const lengthSizeMinusOne = record[4] & 0x03;
  if (lengthSizeMinusOne === 2) {
    throw new NovaError('NOVA_ERR_CODEC', 'avcC NAL length size 3 is not allowed');
  }
  const spsCount = record[5] & 0x1f;
  if (spsCount === 0) throw new NovaError('NOVA_ERR_CODEC', 'avcC carries no SPS');
  let offset = 6;
  const sps: Uint8Array[] = [];
  for (let i = 0; i < spsCount; i++) {
    if (offset + 2 > record.length) throw truncated();
    const length = (record[offset] << 8) | record[offset + 1];
    offset += 2;
    if (length === 0 || offset + length > record.length) throw truncated();
    sps.push(record.subarray(offset, offset + length));
    offset += length;
  }
  if (offset + 1 > record.length) throw truncated();
  const ppsCount = record[offset++];
  const pps: Uint8Array[] = [];
  for (let i = 0; i < ppsCount; i++) {
    if (offset + 2 > record.length) throw truncated();
    const length = (record[offset] << 8) | record[offset + 1];
    offset += 2;
    if (length === 0 || offset + length > record.length) throw truncated();
    pps.push(record.subarray(offset, offset + length));
    offset += length;
  }
  return {
    profileIdc: record[1],
    constraintFlags: record[2],
    levelIdc: record[3],
    nalLengthSize: lengthSizeMinusOne + 1,
    sps,
    pps,
  };
}

/** Writes a minimal avcC (no high-profile trailer) for the given fields. */
export function encodeAvcConfig(config: AvcConfig): Uint8Array {
  if (config.sps.length === 0 || config.sps.length > 31 || config.pps.length > 255) {
    throw new NovaError('NOVA_ERR_CODEC', 'avcC needs 1..31 SPS and at most 255 PPS');
  }
  if (config.nalLengthSize !== 1 && config.nalLengthSize !== 2 && config.nalLengthSize !== 4) {
    throw new NovaError('NOVA_ERR_CODEC', 'avcC NAL length size must be 1, 2 or 4');
  }
  let size = 7;
  for (const nal of config.sps) size += 2 + nal.length;
  for (const nal of config.pps) size += 2 + nal.length;
  const out = new Uint8Array(size);
  out[0] = 1;
  out[1] = config.profileIdc;
  out[2] = config.constraintFlags;
  out[3] = config.levelIdc;
  out[4] = 0xfc | (config.nalLengthSize - 1);
  out[5] = 0xe0 | config.sps.length;
  let offset = 6;
  for (const nal of config.sps) {
    if (nal.length === 0 || nal.length > 0xffff) throw new NovaError('NOVA_ERR_CODEC', 'avcC SPS size out of range');
    out[offset] = nal.length >>> 8;
    out[offset + 1] = nal.length & 0xff;
    out.set(nal, offset + 2);
    offset += 2 + nal.length;
  }
  out[offset++] = config.pps.length;
  for (const nal of config.pps) {
    if (nal.length === 0 || nal.length > 0xffff) throw new NovaError('NOVA_ERR_CODEC', 'avcC PPS size out of range');
    out[offset] = nal.length >>> 8;
    out[offset + 1] = nal.length & 0xff;
    out.set(nal, offset + 2);
    offset += 2 + nal.length;
  }
  return out;
}
