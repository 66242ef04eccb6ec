/**
 * MPEG-TS muxer for one rendition: H.264 (Annex B, AUD, SPS/PPS before each
 * keyframe) and AAC (ADTS) into 188-byte packets. Continuity counters live
 * here, so they run on across segments as players expect of one stream.
 *
 * Per frame the PES is built once in a reused scratch buffer and copied into
 * packets with Buffer#copy (no per-packet views or allocations).
 */
import type { AudioTrackConfig, VideoTrackConfig } from '../../stream/media-frame.js';
import { ADTS_HEADER_SIZE, adtsParamsFromAsc, writeAdtsHeader, type AdtsParams } from './adts.js';
import { avcParameterSets, type AvcParameterSets } from './avc-parameter-sets.js';
import { AUDIO_PID, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, VIDEO_PID, writePat, writePmt, type PmtStream } from './psi.js';
import type { TsPacketBuffer } from './ts-packet-buffer.js';
import { copyBytes } from '../../stream/shared-copy.js';

const TS_PAYLOAD_SIZE = 184;
const TIMESTAMP_MODULO = 2 ** 33;
const START_CODE_SIZE = 4;
const AUD_SIZE = 6; // start code + NAL header + primary_pic_type
const NAL_SPS = 7;
const NAL_AUD = 9;
const CC_PAT = 0;
const CC_PMT = 1;
const CC_VIDEO = 2;
const CC_AUDIO = 3;
/** PCR trails DTS so the decoder model has buffering time; 100 ms, as small muxers commonly do. */
const PCR_LEAD_90KHZ = 9000;

export class TsMuxer {
  private video: AvcParameterSets | null = null;
  private videoParameterBytes = 0;
  private audio: AdtsParams | null = null;
  private pmtVersion = 0;
  private pmtDirty = false;
  private readonly continuity = new Uint8Array(4);
  private scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  /** frames whose NAL lengths ran past the end (the tail was clamped, not dropped) */
  malformedFrames = 0;

  setVideoConfig(config: VideoTrackConfig | null): void {
    this.video = config ? avcParameterSets(config.avcC) : null;
    this.videoParameterBytes = 0;
    if (this.video) {
      for (const nal of this.video.sps) this.videoParameterBytes += START_CODE_SIZE + nal.byteLength;
      for (const nal of this.video.pps) this.videoParameterBytes += START_CODE_SIZE + nal.byteLength;
    }
    this.pmtDirty = true;
  }

  setAudioConfig(config: AudioTrackConfig | null): void {
    this.audio = config ? adtsParamsFromAsc(config.asc) : null;
    this.pmtDirty = true;
  }

  get hasVideo(): boolean {
    return this.video !== null;
  }

  /** PAT + PMT; every segment starts with them so it can be decoded alone. */
  writeTables(out: TsPacketBuffer): void {
    if (this.pmtDirty) {
      this.pmtVersion = (this.pmtVersion + 1) & 0x1f;
      this.pmtDirty = false;
    }
    const streams: PmtStream[] = [];
    if (this.video) streams.push({ streamType: STREAM_TYPE_H264, pid: VIDEO_PID });
    if (this.audio) streams.push({ streamType: STREAM_TYPE_AAC_ADTS, pid: AUDIO_PID });
    let at = out.reservePacket();
    writePat(out.bytes, at, this.nextContinuity(CC_PAT));
    at = out.reservePacket();
    writePmt(out.bytes, at, this.nextContinuity(CC_PMT), this.pmtVersion, this.video ? VIDEO_PID : AUDIO_PID, streams);
  }

  /** One H.264 access unit, AVCC framed (as in MediaFrame), with 90 kHz timestamps. */
  writeVideo(out: TsPacketBuffer, avcc: Uint8Array, dts90: number, pts90: number, keyframe: boolean): void {
    const params = this.video;
    if (!params) return;
    const lengthSize = params.lengthSize;
    const bound = 19 + AUD_SIZE + this.videoParameterBytes + avcc.byteLength * (lengthSize === 4 ? 1 : 4);
    const pes = this.ensureScratch(bound);
    let at = writePesHeader(pes, 0xe0, 0, pts90, dts90);

    pes[at] = 0; pes[at + 1] = 0; pes[at + 2] = 0; pes[at + 3] = 1;
    pes[at + 4] = NAL_AUD;
    pes[at + 5] = 0xf0; // primary_pic_type 7: any slice type
    at += AUD_SIZE;

    if (keyframe && !containsNalType(avcc, lengthSize, NAL_SPS)) {
      for (const nal of params.sps) at = writeNal(pes, at, nal, 0, nal.byteLength);
      for (const nal of params.pps) at = writeNal(pes, at, nal, 0, nal.byteLength);
    }

    let offset = 0;
    let clamped = false;
    while (offset + lengthSize <= avcc.byteLength) {
      let length = readLength(avcc, offset, lengthSize);
      offset += lengthSize;
      if (length > avcc.byteLength - offset) {
        length = avcc.byteLength - offset;
        clamped = true;
      }
      if (length > 0 && (avcc[offset] & 0x1f) !== NAL_AUD) at = writeNal(pes, at, avcc, offset, offset + length);
      offset += length;
    }
    if (clamped || offset !== avcc.byteLength) this.malformedFrames++;

    const pcr = dts90 > PCR_LEAD_90KHZ ? dts90 - PCR_LEAD_90KHZ : 0;
    this.packetize(out, VIDEO_PID, CC_VIDEO, pes, at, pcr, keyframe);
  }

  /** One raw AAC frame with its 90 kHz presentation time. */
  writeAudio(out: TsPacketBuffer, aac: Uint8Array, pts90: number): void {
    const params = this.audio;
    if (!params) return;
    const pesPayload = ADTS_HEADER_SIZE + aac.byteLength;
    const pes = this.ensureScratch(14 + pesPayload);
    // PES_packet_length counts the 8 header bytes after it plus the payload
    let at = writePesHeader(pes, 0xc0, 8 + pesPayload, pts90, -1);
    writeAdtsHeader(pes, at, params, aac.byteLength);
    at += ADTS_HEADER_SIZE;
    copyBytes(pes, at, aac);
    at += aac.byteLength;
    // Without video, the audio PID carries the clock.
    const pcr = this.video ? -1 : pts90 > PCR_LEAD_90KHZ ? pts90 - PCR_LEAD_90KHZ : 0;
    this.packetize(out, AUDIO_PID, CC_AUDIO, pes, at, pcr, false);
  }

  private nextContinuity(index: number): number {
    const value = this.continuity[index];
    this.continuity[index] = (value + 1) & 0x0f;
    return value;
  }

  private ensureScratch(size: number): Buffer {
    if (this.scratch.byteLength < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, this.scratch.byteLength * 2));
    return this.scratch;
  }

  /**
   * Splits one PES into packets. The first packet carries PCR / random
   * access in its adaptation field; the last is padded with adaptation-field
   * stuffing (never with payload 0xff, which would corrupt the PES).
   */
  private packetize(out: TsPacketBuffer, pid: number, ccIndex: number, pes: Buffer, length: number, pcr: number, randomAccess: boolean): void {
    let position = 0;
    let first = true;
    while (position < length) {
      const packet = out.reservePacket();
      const bytes = out.bytes;
      const remaining = length - position;
      const withPcr = first && pcr >= 0;
      const withRandomAccess = first && randomAccess;
      let adaptationBytes = withPcr ? 8 : withRandomAccess ? 2 : 0;
      let payload = TS_PAYLOAD_SIZE - adaptationBytes;
      if (remaining < payload) {
        adaptationBytes += payload - remaining;
        payload = remaining;
      }
      bytes[packet] = 0x47;
      bytes[packet + 1] = (first ? 0x40 : 0) | (pid >> 8);
      bytes[packet + 2] = pid & 0xff;
      bytes[packet + 3] = (adaptationBytes > 0 ? 0x30 : 0x10) | this.nextContinuity(ccIndex);
      let at = packet + 4;
      if (adaptationBytes > 0) {
        bytes[at] = adaptationBytes - 1;
        if (adaptationBytes > 1) {
          bytes[at + 1] = (withRandomAccess ? 0x40 : 0) | (withPcr ? 0x10 : 0);
          let fillFrom = at + 2;
          if (withPcr) {
            writePcr(bytes, fillFrom, pcr);
            fillFrom += 6;
          }
          bytes.fill(0xff, fillFrom, at + adaptationBytes);
        }
        at += adaptationBytes;
      }
      pes.copy(bytes, at, position, position + payload);
      position += payload;
      first = false;
    }
  }
}

function readLength(bytes: Uint8Array, offset: number, lengthSize: number): number {
  if (lengthSize === 4) return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
  if (lengthSize === 2) return (bytes[offset] << 8) | bytes[offset + 1];
  return bytes[offset];
}

function containsNalType(avcc: Uint8Array, lengthSize: number, nalType: number): boolean {
  let offset = 0;
  while (offset + lengthSize < avcc.byteLength) {
    const length = readLength(avcc, offset, lengthSize);
    offset += lengthSize;
    if ((avcc[offset] & 0x1f) === nalType) return true;
    offset += length;
  }
  return false;
}

function writeNal(target: Uint8Array, at: number, source: Uint8Array, start: number, end: number): number {
  target[at] = 0;
  target[at + 1] = 0;
  target[at + 2] = 0;
  target[at + 3] = 1;
  copyBytes(target, at + START_CODE_SIZE, end - start === source.byteLength ? source : source.subarray(start, end));
  return at + START_CODE_SIZE + end - start;
}

/** PES header with PTS, plus DTS when given (>= 0) and different; returns the offset after it. */
function writePesHeader(target: Uint8Array, streamId: number, packetLength: number, pts90: number, dts90: number): number {
  const withDts = dts90 >= 0 && dts90 !== pts90;
  target[0] = 0;
  target[1] = 0;
  target[2] = 1;
  target[3] = streamId;
  // 0 = unbounded, allowed for video only; callers pass 0 for video
  const length = withDts ? packetLength + 5 : packetLength;
  target[4] = packetLength === 0 ? 0 : (length >> 8) & 0xff;
  target[5] = packetLength === 0 ? 0 : length & 0xff;
  target[6] = 0x80; // marker bits '10', no scrambling, not aligned
  target[7] = withDts ? 0xc0 : 0x80;
  target[8] = withDts ? 10 : 5;
  writeTimestamp(target, 9, withDts ? 0x3 : 0x2, pts90);
  if (withDts) writeTimestamp(target, 14, 0x1, dts90);
  return withDts ? 19 : 14;
}

function writeTimestamp(target: Uint8Array, at: number, prefix: number, value90: number): void {
  const wrapped = ((Math.round(value90) % TIMESTAMP_MODULO) + TIMESTAMP_MODULO) % TIMESTAMP_MODULO;
  const high = Math.floor(wrapped / 0x4000_0000); // bits 32..30
  const low = wrapped - high * 0x4000_0000; // bits 29..0, safe for bitwise ops
  target[at] = (prefix << 4) | (high << 1) | 1;
  target[at + 1] = (low >> 22) & 0xff;
  target[at + 2] = ((low >> 14) & 0xfe) | 1;
  target[at + 3] = (low >> 7) & 0xff;
  target[at + 4] = ((low << 1) & 0xfe) | 1;
}

function writePcr(target: Uint8Array, at: number, value90: number): void {
  const base = ((Math.round(value90) % TIMESTAMP_MODULO) + TIMESTAMP_MODULO) % TIMESTAMP_MODULO;
  const high = Math.floor(base / 0x200_0000); // bits 32..25
  const low = base - high * 0x200_0000; // bits 24..0
  target[at] = high & 0xff;
  target[at + 1] = (low >> 17) & 0xff;
  target[at + 2] = (low >> 9) & 0xff;
  target[at + 3] = (low >> 1) & 0xff;
  target[at + 4] = ((low & 1) << 7) | 0x7e; // 6 reserved bits
  target[at + 5] = 0; // extension
}
