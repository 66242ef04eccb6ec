/**
 * The one internal model of a live stream (hub and spoke): ingest converts
 * into it, every output (packager, transcoder feeder) converts out of it.
 *
 * Timestamps are integer milliseconds on the stream's repaired, monotonic
 * timeline (FLV's unit). Packagers derive media timescales from them.
 */

export type TrackKind = 'video' | 'audio';

/** One access unit: an H.264 picture (AVCC, 4-byte length-prefixed NAL units) or one raw AAC frame. */
export interface MediaFrame {
  track: TrackKind;
  /** decode timestamp, ms */
  dts: number;
  /** presentation timestamp, ms (dts + composition offset for B-frames) */
  pts: number;
  keyframe: boolean;
  data: Uint8Array;
}

export interface VideoTrackConfig {
  codec: 'h264';
  /** AVCDecoderConfigurationRecord exactly as the FLV sequence header carried it */
  avcC: Uint8Array;
  width: number;
  height: number;
  /** RFC 6381 string, e.g. avc1.64001f */
  codecString: string;
  /** frames per second from onMetaData when the encoder said, else 0 */
  frameRate: number;
}

export interface AudioTrackConfig {
  codec: 'aac';
  /** AudioSpecificConfig exactly as the FLV sequence header carried it */
  asc: Uint8Array;
  sampleRate: number;
  channels: number;
  /** mp4a.40.x */
  codecString: string;
}

export interface StreamMetadata {
  /** onMetaData as the encoder sent it, values flattened to primitives */
  [key: string]: string | number | boolean | null;
}

/**
 * Where a demuxer delivers a stream. Calls are synchronous and the objects
 * passed may be reused by the caller after the call returns (hot path: no
 * per-frame allocation): copy what you keep.
 */
export interface FrameSink {
  videoConfig(config: VideoTrackConfig): void;
  audioConfig(config: AudioTrackConfig): void;
  metadata(meta: StreamMetadata): void;
  frame(frame: MediaFrame): void;
}
