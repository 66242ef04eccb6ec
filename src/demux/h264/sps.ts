import { NovaError } from '../../errors.js';
import { BitReader } from './bit-reader.js';

/** What the rest of the server needs from a sequence parameter set. */
export interface SpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** displayed size: coded macroblocks minus frame cropping */
  width: number;
  height: number;
  /** from VUI timing (time_scale / (2 * num_units_in_tick)); 0 when the SPS does not say */
  frameRate: number;
}

const NAL_TYPE_SPS = 7;
/** profiles that carry chroma_format_idc, bit depths and scaling matrices (H.264 7.3.2.1.1) */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** 8K-and-then-some: anything beyond is a corrupt header, not a real picture */
const MAX_DIMENSION = 16384;

/** Removes emulation prevention bytes: 00 00 03 xx → 00 00 xx. */
export function removeEmulationPrevention(nal: Uint8Array): Uint8Array {
  let zeros = 0;
  let needsCopy = false;
  for (let i = 0; i < nal.length; i++) {
    if (zeros >= 2 && nal[i] === 3) {
      needsCopy = true;
      break;
    }
    zeros = nal[i] === 0 ? zeros + 1 : 0;
  }
  if (!needsCopy) return nal;
  const out = new Uint8Array(nal.length);
  let length = 0;
  zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const byte = nal[i];
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out[length++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, length);
}

function skipScalingList(reader: BitReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) {
      const delta = reader.readSignedExpGolomb();
      if (delta < -128 || delta > 127) {
        throw new NovaError('NOVA_ERR_CODEC', 'SPS scaling list delta out of range');
      }
      nextScale = (lastScale + delta + 256) % 256;
    }
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/**
 * VUI is parsed only as far as timing_info. Encoders in the wild truncate or
 * mangle the tail of the VUI; a broken VUI costs us the frame rate, not the
 * stream, so a truncated VUI yields 0 instead of an error.
 */
function readVuiFrameRate(reader: BitReader): number {
  try {
    if (reader.readBit() === 1) {
      const aspectRatioIdc = reader.readBits(8);
      if (aspectRatioIdc === 255) reader.skipBits(32);
    }
    if (reader.readBit() === 1) reader.skipBits(1);
    if (reader.readBit() === 1) {
      reader.skipBits(4);
      if (reader.readBit() === 1) reader.skipBits(24);
    }
    if (reader.readBit() === 1) {
      reader.readUnsignedExpGolomb();
      reader.readUnsignedExpGolomb();
    }
    if (reader.readBit() === 0) return 0;
    const numUnitsInTick = reader.readBits(32);
    const timeScale = reader.readBits(32);
    if (numUnitsInTick === 0 || timeScale === 0) return 0;
    // Two ticks per frame (field-based clock); round to millis to hide 29.97 noise like 29.97002997.
    return Math.round((timeScale / (2 * numUnitsInTick)) * 1000) / 1000;
  } catch (err) {
    if (err instanceof NovaError) return 0;
    throw err;
  }
}

/** Parses an SPS NAL unit (with its one-byte NAL header). Malformed → NovaError NOVA_ERR_CODEC. */
export function parseSps(nal: Uint8Array): SpsInfo {
  if (nal.length < 4) {
    throw new NovaError('NOVA_ERR_CODEC', 'SPS too short');
  }
  if ((nal[0] & 0x80) !== 0 || (nal[0] & 0x1f) !== NAL_TYPE_SPS) {
    throw new NovaError('NOVA_ERR_CODEC', `not an SPS NAL unit (header 0x${nal[0].toString(16)})`);
  }
  const reader = new BitReader(removeEmulationPrevention(nal.subarray(1)));
  const profileIdc = reader.readBits(8);
  const constraintFlags = reader.readBits(8);
  const levelIdc = reader.readBits(8);
  const spsId = reader.readUnsignedExpGolomb();
  if (spsId > 31) throw new NovaError('NOVA_ERR_CODEC', 'SPS id out of range');

  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = reader.readUnsignedExpGolomb();
    if (chromaFormatIdc > 3) throw new NovaError('NOVA_ERR_CODEC', 'SPS chroma_format_idc out of range');
    if (chromaFormatIdc === 3) separateColourPlane = reader.readBit();
    const bitDepthLuma = reader.readUnsignedExpGolomb();
    const bitDepthChroma = reader.readUnsignedExpGolomb();
    if (bitDepthLuma > 6 || bitDepthChroma > 6) throw new NovaError('NOVA_ERR_CODEC', 'SPS bit depth out of range');
    reader.skipBits(1); // qpprime_y_zero_transform_bypass_flag
    if (reader.readBit() === 1) {
      const listCount = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < listCount; i++) {
        if (reader.readBit() === 1) skipScalingList(reader, i < 6 ? 16 : 64);
      }
    }
  }

  const log2MaxFrameNumMinus4 = reader.readUnsignedExpGolomb();
  if (log2MaxFrameNumMinus4 > 12) throw new NovaError('NOVA_ERR_CODEC', 'SPS log2_max_frame_num out of range');
  const picOrderCntType = reader.readUnsignedExpGolomb();
  if (picOrderCntType === 0) {
    if (reader.readUnsignedExpGolomb() > 12) throw new NovaError('NOVA_ERR_CODEC', 'SPS log2_max_poc_lsb out of range');
  } else if (picOrderCntType === 1) {
    reader.skipBits(1); // delta_pic_order_always_zero_flag
    reader.readSignedExpGolomb(); // offset_for_non_ref_pic
    reader.readSignedExpGolomb(); // offset_for_top_to_bottom_field
    const cycleLength = reader.readUnsignedExpGolomb();
    if (cycleLength > 255) throw new NovaError('NOVA_ERR_CODEC', 'SPS POC cycle too long');
    for (let i = 0; i < cycleLength; i++) reader.readSignedExpGolomb();
  } else if (picOrderCntType !== 2) {
    throw new NovaError('NOVA_ERR_CODEC', 'SPS pic_order_cnt_type out of range');
  }
  reader.readUnsignedExpGolomb(); // max_num_ref_frames
  reader.skipBits(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = reader.readUnsignedExpGolomb() + 1;
  const heightInMapUnits = reader.readUnsignedExpGolomb() + 1;
  const frameMbsOnly = reader.readBit();
  if (frameMbsOnly === 0) reader.skipBits(1); // mb_adaptive_frame_field_flag
  reader.skipBits(1); // direct_8x8_inference_flag

  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (reader.readBit() === 1) {
    cropLeft = reader.readUnsignedExpGolomb();
    cropRight = reader.readUnsignedExpGolomb();
    cropTop = reader.readUnsignedExpGolomb();
    cropBottom = reader.readUnsignedExpGolomb();
  }
  const frameRate = reader.readBit() === 1 ? readVuiFrameRate(reader) : 0;

  // H.264 7.4.2.1.1: crop units depend on chroma subsampling and field coding.
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);

  const width = widthInMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new NovaError('NOVA_ERR_CODEC', `SPS picture size out of range (${width}x${height})`);
  }
  return { profileIdc, constraintFlags, levelIdc, width, height, frameRate };
}

function hexByte(value: number): string {
  return (value < 16 ? '0' : '') + value.toString(16);
}

/** RFC 6381 codec string avc1.PPCCLL. */
export function avcCodecString(profileIdc: number, constraintFlags: number, levelIdc: number): string {
  return `avc1.${hexByte(profileIdc)}${hexByte(constraintFlags)}${hexByte(levelIdc)}`;
}
