import { NovaError } from '../../errors.js';

/** MPEG-4 Audio sampling frequency table (ISO/IEC 14496-3 1.6.3.4); index 15 means "24-bit explicit". */
export const AAC_SAMPLE_RATES: readonly number[] = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

const OBJECT_TYPE_SBR = 5;
const OBJECT_TYPE_PS = 29;
const SAMPLE_RATE_INDEX_EXPLICIT = 15;
const ADTS_HEADER_SIZE = 7;
const ADTS_MAX_FRAME_LENGTH = 0x1fff;

export interface AudioSpecificConfigInfo {
  /** audioObjectType as signalled first (5 = SBR/HE-AAC, 29 = PS/HE-AACv2 when explicit) */
  objectType: number;
  /** the AAC core under SBR/PS (2 for HE-AAC); equals objectType otherwise. ADTS carries this one. */
  coreObjectType: number;
  /** the core's sampling frequency in Hz */
  sampleRate: number;
  /** index into AAC_SAMPLE_RATES, or 15 when the rate was explicit (not expressible in ADTS) */
  sampleRateIndex: number;
  /** SBR output rate for explicit HE-AAC, else equal to sampleRate */
  outputSampleRate: number;
  /** channelConfiguration; 0 means "defined by a program config element" */
  channelConfiguration: number;
  /** speaker count (config 7 is 7.1 = 8); 0 when defined by a PCE */
  channels: number;
  /** mp4a.40.<objectType> */
  codecString: string;
}

/** MSB-first reader over the few bits of an ASC; the record is tiny, so no reuse worth having. */
class AscBits {
  private bitOffset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  read(count: number): number {
    if (this.bitOffset + count > this.bytes.length * 8) {
      throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig truncated');
    }
    let value = 0;
    for (let i = 0; i < count; i++) {
      const byte = this.bytes[this.bitOffset >>> 3];
      value = value * 2 + ((byte >>> (7 - (this.bitOffset & 7))) & 1);
      this.bitOffset++;
    }
    return value;
  }
}

function readObjectType(bits: AscBits): number {
  const objectType = bits.read(5);
  return objectType === 31 ? 32 + bits.read(6) : objectType;
}

function readSampleRate(bits: AscBits): { index: number; rate: number } {
  const index = bits.read(4);
  if (index === SAMPLE_RATE_INDEX_EXPLICIT) {
    const rate = bits.read(24);
    if (rate === 0) throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig sample rate 0');
    return { index, rate };
  }
  if (index >= AAC_SAMPLE_RATES.length) {
    throw new NovaError('NOVA_ERR_CODEC', `AudioSpecificConfig reserved sample rate index ${index}`);
  }
  return { index, rate: AAC_SAMPLE_RATES[index] };
}

/**
 * Parses the head of an AudioSpecificConfig: object type (with the escape
 * for types ≥ 32), sampling frequency (table index or explicit 24-bit) and
 * channel configuration, plus the explicit hierarchical SBR/PS extension.
 * The GASpecificConfig that follows is not interpreted. Malformed → NOVA_ERR_CODEC.
 */
export function parseAudioSpecificConfig(asc: Uint8Array): AudioSpecificConfigInfo {
  const bits = new AscBits(asc);
  const objectType = readObjectType(bits);
  if (objectType === 0) throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig object type 0 (null)');
  const core = readSampleRate(bits);
  const channelConfiguration = bits.read(4);
  // 8-10 and 15 are reserved; 11-14 are the later 6.1/7.1/22.2 layouts (ISO/IEC 14496-3 Amd 4)
  if (channelConfiguration === 15 || (channelConfiguration >= 8 && channelConfiguration <= 10)) {
    throw new NovaError('NOVA_ERR_CODEC', `AudioSpecificConfig reserved channel configuration ${channelConfiguration}`);
  }
  let coreObjectType = objectType;
  let sampleRate = core.rate;
  let sampleRateIndex = core.index;
  let outputSampleRate = core.rate;
  if (objectType === OBJECT_TYPE_SBR || objectType === OBJECT_TYPE_PS) {
    const extension = readSampleRate(bits);
    outputSampleRate = extension.rate;
    coreObjectType = readObjectType(bits);
    if (coreObjectType === 0 || coreObjectType === OBJECT_TYPE_SBR || coreObjectType === OBJECT_TYPE_PS) {
      throw new NovaError('NOVA_ERR_CODEC', `AudioSpecificConfig SBR core object type ${coreObjectType}`);
    }
    sampleRate = core.rate;
    sampleRateIndex = core.index;
  }
  return {
    objectType,
    coreObjectType,
    sampleRate,
    sampleRateIndex,
    outputSampleRate,
    channelConfiguration,
    channels: channelsOf(channelConfiguration),
    codecString: `mp4a.40.${objectType}`,
  };
}

function channelsOf(channelConfiguration: number): number {
  switch (channelConfiguration) {
    case 7:
      return 8;
    case 11:
      return 7;
    case 12:
    case 14:
      return 8;
    case 13:
      return 24;
    default:
      return channelConfiguration;
  }
}

/** MSB-first bit writer for the tiny ASC encoder. */
class BitWriter {
  private readonly bytes: number[] = [];
  private bitCount = 0;

  write(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      const bit = Math.floor(value / 2 ** i) & 1;
      const byteIndex = this.bitCount >>> 3;
      if (byteIndex === this.bytes.length) this.bytes.push(0);
      this.bytes[byteIndex] |= bit << (7 - (this.bitCount & 7));
      this.bitCount++;
    }
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function writeObjectType(writer: BitWriter, objectType: number): void {
  if (objectType >= 31) {
    writer.write(31, 5);
    writer.write(objectType - 32, 6);
  } else {
    writer.write(objectType, 5);
  }
}

function writeSampleRate(writer: BitWriter, rate: number, forceExplicit: boolean): void {
  const index = forceExplicit ? -1 : AAC_SAMPLE_RATES.indexOf(rate);
  if (index >= 0) {
    writer.write(index, 4);
  } else {
    writer.write(SAMPLE_RATE_INDEX_EXPLICIT, 4);
    writer.write(rate, 24);
  }
}

/**
 * Encodes the fields parseAudioSpecificConfig reads, followed by a
 * GASpecificConfig of zero flags (1024-sample frames, no core coder, no
 * extension). A table rate is written as its index unless `sampleRateIndex`
 * is 15, which keeps an explicit 24-bit rate explicit.
 */
export function encodeAudioSpecificConfig(
  info: Pick<AudioSpecificConfigInfo, 'objectType' | 'coreObjectType' | 'sampleRate' | 'outputSampleRate' | 'channelConfiguration'> & {
    sampleRateIndex?: number;
  },
): Uint8Array {
  if (info.objectType < 1 || info.objectType > 95 || info.sampleRate <= 0 || info.sampleRate >= 2 ** 24) {
    throw new NovaError('NOVA_ERR_CODEC', 'AudioSpecificConfig fields out of range');
  }
  const writer = new BitWriter();
  writeObjectType(writer, info.objectType);
  writeSampleRate(writer, info.sampleRate, info.sampleRateIndex === SAMPLE_RATE_INDEX_EXPLICIT);
  writer.write(info.channelConfiguration, 4);
  if (info.objectType === OBJECT_TYPE_SBR || info.objectType === OBJECT_TYPE_PS) {
    writeSampleRate(writer, info.outputSampleRate, false);
    writeObjectType(writer, info.coreObjectType);
  }
  writer.write(0, 3);
  return writer.finish();
}

/**
 * Writes a 7-byte ADTS header (MPEG-4, no CRC) at target[offset] for one raw
 * AAC frame of `rawFrameLength` bytes; the header's frame_length field
 * counts the header too. HE-AAC is signalled the implicit way ADTS requires:
 * the core object type at the core rate.
 */
export function writeAdtsHeader(
  target: Uint8Array,
  offset: number,
  asc: Pick<AudioSpecificConfigInfo, 'coreObjectType' | 'sampleRateIndex' | 'channelConfiguration'>,
  rawFrameLength: number,
): void {
  const profile = asc.coreObjectType - 1;
  if (profile < 0 || profile > 3) {
    throw new NovaError('NOVA_ERR_CODEC', `object type ${asc.coreObjectType} cannot be carried in ADTS`);
  }
  if (asc.sampleRateIndex >= AAC_SAMPLE_RATES.length) {
    throw new NovaError('NOVA_ERR_CODEC', 'explicit sample rates cannot be carried in ADTS');
  }
  if (asc.channelConfiguration > 7) {
    throw new NovaError('NOVA_ERR_CODEC', `channel configuration ${asc.channelConfiguration} cannot be carried in ADTS`);
  }
  const frameLength = rawFrameLength + ADTS_HEADER_SIZE;
  if (rawFrameLength < 0 || frameLength > ADTS_MAX_FRAME_LENGTH) {
    throw new NovaError('NOVA_ERR_CODEC', `AAC frame of ${rawFrameLength} bytes does not fit ADTS`);
  }
  if (offset < 0 || offset + ADTS_HEADER_SIZE > target.length) {
    throw new NovaError('NOVA_ERR_INTERNAL', 'ADTS header does not fit the target buffer');
  }
  const bufferFullness = 0x7ff; // VBR
  target[offset] = 0xff;
  target[offset + 1] = 0xf1; // sync, MPEG-4, layer 0, protection absent
  target[offset + 2] = (profile << 6) | (asc.sampleRateIndex << 2) | (asc.channelConfiguration >>> 2);
  target[offset + 3] = ((asc.channelConfiguration & 3) << 6) | (frameLength >>> 11);
  target[offset + 4] = (frameLength >>> 3) & 0xff;
  target[offset + 5] = ((frameLength & 7) << 5) | (bufferFullness >>> 6);
  target[offset + 6] = (bufferFullness & 0x3f) << 2; // one raw data block
}

export const ADTS_HEADER_LENGTH = ADTS_HEADER_SIZE;
