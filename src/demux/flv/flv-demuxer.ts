import { NovaError } from '../../errors.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../../stream/media-frame.js';
import { TimestampRepair, type TimestampRepairCounters, type TimestampRepairOptions } from '../../stream/timestamp-repair.js';
import { parseAudioSpecificConfig } from '../aac/audio-specific-config.js';
import { parseAvcConfig } from '../h264/avc-config.js';
import { avcCodecString, parseSps } from '../h264/sps.js';
import { createFlvAudioPacket, parseFlvAudioTag } from './flv-audio-tag.js';
import { createFlvVideoPacket, fourCcToString, parseFlvVideoTag } from './flv-video-tag.js';

export interface FlvDemuxerOptions {
  timestampRepair?: TimestampRepairOptions;
}

export interface FlvDemuxerStats {
  videoFrames: number;
  audioFrames: number;
  keyframes: number;
  videoConfigs: number;
  audioConfigs: number;
  /** identical sequence headers sent again (OBS does on reconnect of its output) and not re-emitted */
  repeatedConfigs: number;
  /** frames that arrived before their track's sequence header */
  droppedBeforeConfig: number;
  unsupportedVideoTags: number;
  unsupportedAudioTags: number;
  /** last unsupported codec seen: FLV CodecID / SoundFormat number or enhanced-RTMP FourCC text */
  lastUnsupportedCodec: string;
  /** end-of-sequence packets and video command frames (no picture) */
  ignoredVideoTags: number;
  /** tags that raised a NovaError (counted here, then rethrown for the caller) */
  malformedTags: number;
  /** payload bytes delivered in frames */
  bytesOut: number;
  timestamps: TimestampRepairCounters;
  /** cumulative sum of the timestamp repair counters (wraps + jumps + repeats) */
  readonly timestampRepairs: number;
}

const EMPTY = new Uint8Array(0);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * FLV tag bodies (as RTMP audio/video messages carry them) → the media model.
 *
 * - Timestamps go through TimestampRepair (one shared offset for A/V);
 *   sequence headers do not, since encoders stamp them 0 mid-stream.
 * - Frames before their track's config are dropped and counted.
 * - The MediaFrame handed to the sink is one reused object and its `data`
 *   is a view into the tag body (or into a reused scratch buffer when NAL
 *   length prefixes had to be widened): valid only during the sink call.
 * - Malformed tags raise NovaError (NOVA_ERR_FLV / NOVA_ERR_CODEC) after
 *   being counted; unsupported codecs are counted and skipped. The caller
 *   decides whether either ends the session.
 */
export class FlvDemuxer {
  readonly stats: FlvDemuxerStats;
  private readonly sink: FrameSink;
  private readonly timestamps: TimestampRepair;
  private readonly videoPacket = createFlvVideoPacket();
  private readonly audioPacket = createFlvAudioPacket();
  private readonly frameOut: MediaFrame = { track: 'video', dts: 0, pts: 0, keyframe: false, data: EMPTY };
  private videoConfig: VideoTrackConfig | null = null;
  private audioConfig: AudioTrackConfig | null = null;
  /** avcC NAL length size; frames with less than 4 are widened (the model promises 4-byte prefixes) */
  private nalLengthSize = 4;
  private widenScratch = new Uint8Array(0);
  private metadataFrameRate = 0;
  private spsFrameRate = 0;

  constructor(sink: FrameSink, options: FlvDemuxerOptions = {}) {
    this.sink = sink;
    this.timestamps = new TimestampRepair(options.timestampRepair);
    this.stats = {
      videoFrames: 0,
      audioFrames: 0,
      keyframes: 0,
      videoConfigs: 0,
      audioConfigs: 0,
      repeatedConfigs: 0,
      droppedBeforeConfig: 0,
      unsupportedVideoTags: 0,
      unsupportedAudioTags: 0,
      lastUnsupportedCodec: '',
      ignoredVideoTags: 0,
      malformedTags: 0,
      bytesOut: 0,
      timestamps: this.timestamps.counters,
      get timestampRepairs(): number {
        const c = this.timestamps;
        return c.wraps + c.backwardJumps + c.forwardJumps + c.repeats;
      },
    };
  }

  /** The current configs (null before the sequence header); for late joiners such as a packager restart. */
  get currentVideoConfig(): VideoTrackConfig | null {
    return this.videoConfig;
  }

  get currentAudioConfig(): AudioTrackConfig | null {
    return this.audioConfig;
  }

  /** One FLV video tag body with its RTMP/FLV timestamp (uint32 ms). */
  video(timestamp: number, body: Uint8Array): void {
    let packet;
    try {
      packet = parseFlvVideoTag(body, this.videoPacket);
    } catch (err) {
      this.stats.malformedTags++;
      throw err;
    }
    switch (packet.kind) {
      case 'nalu': {
        if (this.videoConfig === null) {
          this.stats.droppedBeforeConfig++;
          return;
        }
        if (packet.payload.length === 0) {
          this.stats.ignoredVideoTags++;
          return;
        }
        const dts = this.timestamps.repair('video', timestamp);
        const frame = this.frameOut;
        frame.track = 'video';
        frame.dts = dts;
        frame.pts = dts + packet.compositionTime;
        frame.keyframe = packet.keyframe;
        frame.data = this.nalLengthSize === 4 ? packet.payload : this.widenNalLengths(packet.payload);
        this.stats.videoFrames++;
        if (packet.keyframe) this.stats.keyframes++;
        this.stats.bytesOut += frame.data.length;
        this.sink.frame(frame);
        frame.data = EMPTY;
        return;
      }
      case 'sequence-header':
        this.onAvcSequenceHeader(packet.payload);
        return;
      case 'end-of-sequence':
      case 'command':
        this.stats.ignoredVideoTags++;
        return;
      case 'unsupported':
        this.stats.unsupportedVideoTags++;
        this.stats.lastUnsupportedCodec =
          packet.fourCc !== 0 ? fourCcToString(packet.fourCc) : `flv-video-codec-${packet.codecId}`;
        return;
    }
  }

  /** One FLV audio tag body with its RTMP/FLV timestamp (uint32 ms). */
  audio(timestamp: number, body: Uint8Array): void {
    let packet;
    try {
      packet = parseFlvAudioTag(body, this.audioPacket);
    } catch (err) {
      this.stats.malformedTags++;
      throw err;
    }
    switch (packet.kind) {
      case 'raw': {
        if (this.audioConfig === null) {
          this.stats.droppedBeforeConfig++;
          return;
        }
        if (packet.payload.length === 0) return;
        const dts = this.timestamps.repair('audio', timestamp);
        const frame = this.frameOut;
        frame.track = 'audio';
        frame.dts = dts;
        frame.pts = dts;
        frame.keyframe = true;
        frame.data = packet.payload;
        this.stats.audioFrames++;
        this.stats.bytesOut += packet.payload.length;
        this.sink.frame(frame);
        frame.data = EMPTY;
        return;
      }
      case 'sequence-header':
        this.onAacSequenceHeader(packet.payload);
        return;
      case 'unsupported':
        this.stats.unsupportedAudioTags++;
        this.stats.lastUnsupportedCodec =
          packet.fourCc !== 0 ? fourCcToString(packet.fourCc) : `flv-sound-format-${packet.soundFormat}`;
        return;
    }
  }

  /** onMetaData (already decoded from AMF by the RTMP layer); `framerate` feeds the video config. */
  metadata(meta: StreamMetadata): void {
    const frameRate = meta.framerate ?? meta.videoframerate;
    if (typeof frameRate === 'number' && Number.isFinite(frameRate) && frameRate > 0 && frameRate <= 1000) {
      this.metadataFrameRate = frameRate;
      this.timestamps.setFrameDuration('video', 1000 / frameRate);
      if (this.videoConfig !== null && this.videoConfig.frameRate !== frameRate) {
        this.videoConfig = { ...this.videoConfig, frameRate };
        this.sink.videoConfig(this.videoConfig);
      }
    }
    this.sink.metadata(meta);
  }

  private onAvcSequenceHeader(avcC: Uint8Array): void {
    if (this.videoConfig !== null && sameBytes(this.videoConfig.avcC, avcC)) {
      this.stats.repeatedConfigs++;
      return;
    }
    let config: VideoTrackConfig;
    try {
      const record = parseAvcConfig(avcC);
      const sps = parseSps(record.sps[0]);
      this.nalLengthSize = record.nalLengthSize;
      this.spsFrameRate = sps.frameRate;
      const stored = avcC.slice();
      // The model promises 4-byte NAL length prefixes; frames are widened, so the record must say so.
      if (record.nalLengthSize !== 4) stored[4] |= 0x03;
      config = {
        codec: 'h264',
        avcC: stored,
        width: sps.width,
        height: sps.height,
        codecString: avcCodecString(record.profileIdc, record.constraintFlags, record.levelIdc),
        frameRate: this.metadataFrameRate || this.spsFrameRate,
      };
    } catch (err) {
      this.stats.malformedTags++;
      throw err;
    }
    if (config.frameRate > 0) this.timestamps.setFrameDuration('video', 1000 / config.frameRate);
    this.videoConfig = config;
    this.stats.videoConfigs++;
    this.sink.videoConfig(config);
  }

  private onAacSequenceHeader(asc: Uint8Array): void {
    if (this.audioConfig !== null && sameBytes(this.audioConfig.asc, asc)) {
      this.stats.repeatedConfigs++;
      return;
    }
    let config: AudioTrackConfig;
    try {
      const info = parseAudioSpecificConfig(asc);
      config = {
        codec: 'aac',
        asc: asc.slice(),
        sampleRate: info.sampleRate,
        channels: info.channels,
        codecString: info.codecString,
      };
      this.timestamps.setFrameDuration('audio', (1024 * 1000) / info.outputSampleRate);
    } catch (err) {
      this.stats.malformedTags++;
      throw err;
    }
    this.audioConfig = config;
    this.stats.audioConfigs++;
    this.sink.audioConfig(config);
  }

  /** Rewrites 1- or 2-byte NAL length prefixes as 4-byte ones into a reused scratch buffer. */
  private widenNalLengths(payload: Uint8Array): Uint8Array {
    const size = this.nalLengthSize;
    let count = 0;
    let offset = 0;
    while (offset < payload.length) {
      if (offset + size > payload.length) throw this.malformed('NAL length prefix truncated');
      const length = size === 1 ? payload[offset] : (payload[offset] << 8) | payload[offset + 1];
      offset += size + length;
      if (offset > payload.length) throw this.malformed('NAL unit overruns the tag');
      count++;
    }
    const needed = payload.length + count * (4 - size);
    if (this.widenScratch.length < needed) this.widenScratch = new Uint8Array(Math.max(needed, this.widenScratch.length * 2));
    const out = this.widenScratch;
    let read = 0;
    let write = 0;
    while (read < payload.length) {
      const length = size === 1 ? payload[read] : (payload[read] << 8) | payload[read + 1];
      read += size;
      out[write] = 0;
      out[write + 1] = 0;
      out[write + 2] = length >>> 8;
      out[write + 3] = length & 0xff;
      write += 4;
      out.set(payload.subarray(read, read + length), write);
      read += length;
      write += length;
    }
    return out.subarray(0, write);
  }

  private malformed(message: string): NovaError {
    this.stats.malformedTags++;
    return new NovaError('NOVA_ERR_FLV', message);
  }
}
