/**
 * One CMAF track = one file (init + fragments). HLS and DASH address video
 * and audio separately, so every track is track_ID 1 in its own file.
 */
import type { AudioTrackConfig, VideoTrackConfig } from '../../stream/media-frame.js';

/** 90 kHz: the MPEG clock, so fMP4 and MPEG-TS decode times are the same integers. */
export const VIDEO_TIMESCALE = 90_000;
/** AAC frames always carry 1024 samples (LC and the core of HE-AAC). */
export const AAC_SAMPLES_PER_FRAME = 1024;

export type CmafTrack =
  | { kind: 'video'; trackId: number; timescale: number; config: VideoTrackConfig }
  | { kind: 'audio'; trackId: number; timescale: number; config: AudioTrackConfig };

export function videoCmafTrack(config: VideoTrackConfig, trackId = 1): CmafTrack {
  return { kind: 'video', trackId, timescale: VIDEO_TIMESCALE, config };
}

/** Audio timescale = sample rate, so every AAC frame lasts exactly 1024 ticks. */
export function audioCmafTrack(config: AudioTrackConfig, trackId = 1): CmafTrack {
  return { kind: 'audio', trackId, timescale: config.sampleRate, config };
}
