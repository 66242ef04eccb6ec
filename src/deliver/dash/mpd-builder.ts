import type { RenditionStore, StreamStore, TrackStore } from '../store/segment-store.js';
import { audioRenditionOf, listedSegments, measureBitrates, targetDurationSeconds, trackIsPlayable } from '../hls/playlist-builder.js';
import { initFileName } from '../hls/media-playlist.js';
import { writeMpd, type MpdRepresentation, type MpdUtcTiming } from './mpd-writer.js';

/** Maps the store's state of a stream onto the MPD writer's input. */

export interface MpdBuildOptions {
  windowSegments: number;
  targetDurationMs: number;
  /** "?token=…" or "" */
  uriSuffix: string;
  /** absolute BaseURL ("https://cdn.example/dash/<stream>/") or null: segment URLs resolve against the MPD's own URL */
  baseUrl: string | null;
  utcTimings: readonly MpdUtcTiming[];
  /** epoch ms: when the stream last changed what this MPD says (dynamic only) */
  publishTime: number;
}

/** Audio bandwidth when nothing is measured yet (AAC-LC stereo at the usual encoder default). */
const DEFAULT_AUDIO_BANDWIDTH = 128_000;

function representation(rendition: RenditionStore, track: TrackStore, kind: 'video' | 'audio', options: MpdBuildOptions): MpdRepresentation | null {
  const segments = listedSegments(track, options.windowSegments);
  if (segments.length === 0 || !track.init) return null;
  const measured = measureBitrates([track]).peak;
  const fallback = kind === 'video' ? rendition.info.bandwidth : DEFAULT_AUDIO_BANDWIDTH;
  const name = encodeURIComponent(rendition.info.name);
  return {
    id: `${rendition.info.name}-${kind}`,
    bandwidth: measured > 0 ? measured : fallback,
    codecs: track.init.codecs,
    timescale: track.init.timescale,
    // one Period has one init: the one decoding the newest segments (a changed decoder config mid-window needs a new Period, not done)
    initialization: `${name}/${kind}/${initFileName(track.init.version)}${options.uriSuffix}`,
    media: `${name}/${kind}/seg-$Number$.m4s${options.uriSuffix}`,
    startNumber: segments[0]!.msn,
    segments,
    width: kind === 'video' ? rendition.info.width : 0,
    height: kind === 'video' ? rendition.info.height : 0,
    frameRate: kind === 'video' ? rendition.info.frameRate : 0,
  };
}

export function buildMpd(stream: StreamStore, options: MpdBuildOptions): string | null {
  const video: MpdRepresentation[] = [];
  let reference: TrackStore | null = null;
  for (const rendition of stream.renditions.values()) {
    const track = rendition.tracks.get('video');
    if (!trackIsPlayable(track)) continue;
    const rep = representation(rendition, track, 'video', options);
    if (rep) {
      video.push(rep);
      reference ??= track;
    }
  }
  const audio: MpdRepresentation[] = [];
  const audioRendition = audioRenditionOf(stream);
  if (audioRendition) {
    const track = audioRendition.tracks.get('audio')!;
    const rep = representation(audioRendition, track, 'audio', options);
    if (rep) {
      audio.push(rep);
      reference ??= track;
    }
  }
  if (!reference) return null;
  const targetDuration = targetDurationSeconds(reference, options.targetDurationMs);
  let windowDuration = 0;
  for (const segment of listedSegments(reference, options.windowSegments)) windowDuration += segment.duration;
  return writeMpd({
    publishTime: options.publishTime,
    availabilityStartTime: stream.timelineOriginMs ?? stream.startedAt,
    ended: stream.ended,
    baseUrl: options.baseUrl,
    minimumUpdatePeriod: targetDuration,
    // never shorter than what is listed, so dash.js does not request what the window no longer holds
    timeShiftBufferDepth: Math.max(windowDuration, targetDuration * 2),
    suggestedPresentationDelay: targetDuration * 3,
    minBufferTime: targetDuration,
    utcTimings: options.utcTimings,
    video,
    audio,
  });
}
