import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from '../../../src/stream/media-frame.js';

export interface RecordedFrame {
  track: MediaFrame['track'];
  dts: number;
  pts: number;
  keyframe: boolean;
  data: Uint8Array;
}

/** A FrameSink that copies what it is given (the demuxer reuses its objects). */
export class RecordingSink implements FrameSink {
  readonly frames: RecordedFrame[] = [];
  readonly videoConfigs: VideoTrackConfig[] = [];
  readonly audioConfigs: AudioTrackConfig[] = [];
  readonly metadatas: StreamMetadata[] = [];
  readonly frameObjects = new Set<MediaFrame>();
  ends: string[] = [];

  videoConfig(config: VideoTrackConfig): void {
    this.videoConfigs.push({ ...config, avcC: config.avcC.slice() });
  }
  audioConfig(config: AudioTrackConfig): void {
    this.audioConfigs.push({ ...config, asc: config.asc.slice() });
  }
  metadata(meta: StreamMetadata): void {
    this.metadatas.push({ ...meta });
  }
  frame(frame: MediaFrame): void {
    this.frameObjects.add(frame);
    this.frames.push({ track: frame.track, dts: frame.dts, pts: frame.pts, keyframe: frame.keyframe, data: frame.data.slice() });
  }
  end(reason: string): void {
    this.ends.push(reason);
  }
}
