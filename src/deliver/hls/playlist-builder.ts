import type { PackagedTrack } from '../../package/packaged-media.js';
import type { RenditionStore, StreamStore, TrackStore } from '../store/segment-store.js';
import { ceilToMillis } from './hls-format.js';
import { writeMasterPlaylist, type MasterAudioRendition, type MasterVariant } from './master-playlist.js';
import { writeMediaPlaylist, type RenditionReport } from './media-playlist.js';

/**
 * Turns the store's state of a stream into playlist writer inputs: which
 * segments are listed, targets, URIs, rendition reports. Kept apart from
 * the writers so those stay pure and golden-testable.
 */

export interface PlaylistBuildOptions {
  windowSegments: number;
  /** completed segments that show their parts */
  partSegments: number;
  /** configured part target (ms); the playlist never advertises less than the longest part seen */
  partTargetMs: number;
  /** configured target duration (ms) */
  targetDurationMs: number;
  /** appended to every URI ("?token=…") or "" */
  uriSuffix: string;
  /** "https://cdn.example" (no trailing slash) or null for relative segment URIs */
  cdnBaseUrl: string | null;
}

export const AUDIO_GROUP_ID = 'aud';

export type CmafTrack = 'video' | 'audio';

export function listedSegments(track: TrackStore, windowSegments: number): TrackStore['segments'] {
  const segments = track.segments;
  return segments.length <= windowSegments ? segments : segments.slice(segments.length - windowSegments);
}

export function targetDurationSeconds(track: TrackStore, configuredMs: number): number {
  // tolerate float noise: a 2.0000001 s segment must not make the target 3
  return Math.max(1, Math.ceil(configuredMs / 1000 - 1e-3), Math.ceil(track.maxSegmentDuration - 1e-3));
}

export function partTargetSeconds(track: TrackStore, configuredMs: number): number {
  return ceilToMillis(Math.max(configuredMs / 1000, track.maxPartDuration));
}

/** Whether a playlist for this track has anything to say yet. */
export function trackIsPlayable(track: TrackStore | undefined): track is TrackStore {
  if (!track) return false;
  if (track.track !== 'ts' && !track.init) return false;
  return track.segments.length > 0 || track.pendingParts.length > 0;
}

/** Newest (msn, part) a rendition report names; lastPart -1 when the track has no parts. */
export function lastPosition(track: TrackStore): { lastMsn: number; lastPart: number } | null {
  if (track.pendingParts.length > 0) {
    return { lastMsn: track.pendingMsn, lastPart: track.pendingParts[track.pendingParts.length - 1]!.index };
  }
  const last = track.lastSegment();
  if (!last) return null;
  return { lastMsn: last.msn, lastPart: last.parts.length > 0 ? last.parts[last.parts.length - 1]!.index : -1 };
}

/** The first rendition carrying audio serves the audio group of every variant (renditions share one audio encode). */
export function audioRenditionOf(stream: StreamStore): RenditionStore | null {
  for (const rendition of stream.renditions.values()) {
    if (trackIsPlayable(rendition.tracks.get('audio'))) return rendition;
  }
  return null;
}

interface Bitrates {
  peak: number;
  average: number | null;
}

/** Peak (summed per msn) and mean (summed per track) bits per second over the stored segments of the given tracks. */
export function measureBitrates(tracks: readonly (TrackStore | undefined)[]): Bitrates {
  const bitsByMsn = new Map<number, number>();
  const durationByMsn = new Map<number, number>();
  let average: number | null = null;
  for (const track of tracks) {
    if (!track) continue;
    let trackBits = 0;
    let trackDuration = 0;
    for (const segment of track.segments) {
      const bits = segment.byteLength * 8;
      trackBits += bits;
      trackDuration += segment.duration;
      bitsByMsn.set(segment.msn, (bitsByMsn.get(segment.msn) ?? 0) + bits);
      durationByMsn.set(segment.msn, Math.max(durationByMsn.get(segment.msn) ?? 0, segment.duration));
    }
    if (trackDuration > 0) average = (average ?? 0) + trackBits / trackDuration;
  }
  let peak = 0;
  for (const [msn, bits] of bitsByMsn) {
    const duration = durationByMsn.get(msn)!;
    if (duration > 0) peak = Math.max(peak, bits / duration);
  }
  return { peak, average };
}

function joinCodecs(...codecs: (string | undefined)[]): string {
  return codecs.filter((c): c is string => c !== undefined && c !== '').join(',');
}

export function buildMasterPlaylist(stream: StreamStore, options: Pick<PlaylistBuildOptions, 'uriSuffix'>): string | null {
  const audioRendition = audioRenditionOf(stream);
  const audioTrack = audioRendition?.tracks.get('audio');
  const audio: MasterAudioRendition[] = [];
  if (audioRendition) {
    audio.push({
      groupId: AUDIO_GROUP_ID,
      name: 'audio',
      uri: `${audioRendition.info.name}/audio.m3u8${options.uriSuffix}`,
      channels: null,
      isDefault: true,
    });
  }
  const variants: MasterVariant[] = [];
  for (const rendition of stream.renditions.values()) {
    const video = rendition.tracks.get('video');
    if (!trackIsPlayable(video) || video.segments.length === 0) continue;
    const rates = measureBitrates([video, audioTrack]);
    variants.push({
      uri: `${rendition.info.name}/video.m3u8${options.uriSuffix}`,
      bandwidth: Math.max(rendition.info.bandwidth, rates.peak),
      averageBandwidth: rates.average,
      width: rendition.info.width,
      height: rendition.info.height,
      frameRate: rendition.info.frameRate,
      codecs: joinCodecs(video.init?.codecs, audioTrack?.init?.codecs),
      audioGroup: audioRendition ? AUDIO_GROUP_ID : null,
    });
  }
  if (variants.length === 0) {
    // audio-only stream: the audio playlist is the variant
    if (!audioRendition || !audioTrack || audioTrack.segments.length === 0) return null;
    const rates = measureBitrates([audioTrack]);
    variants.push({
      uri: `${audioRendition.info.name}/audio.m3u8${options.uriSuffix}`,
      bandwidth: Math.max(audioRendition.info.bandwidth, rates.peak),
      averageBandwidth: rates.average,
      width: 0,
      height: 0,
      frameRate: 0,
      codecs: audioTrack.init?.codecs ?? '',
      audioGroup: null,
    });
    return writeMasterPlaylist({ version: 9, independentSegments: true, audio: [], variants });
  }
  return writeMasterPlaylist({ version: 9, independentSegments: true, audio, variants });
}

/** The MPEG-TS multivariant playlist, served at /hls/:stream/ts/master.m3u8. */
export function buildTsMasterPlaylist(stream: StreamStore, options: Pick<PlaylistBuildOptions, 'uriSuffix'>): string | null {
  const variants: MasterVariant[] = [];
  // A transcoded rendition has no CMAF audio of its own (it shares the source's) but its TS muxes that audio in.
  const sharedAudioCodecs = audioRenditionOf(stream)?.tracks.get('audio')?.init?.codecs;
  for (const rendition of stream.renditions.values()) {
    const ts = rendition.tracks.get('ts');
    if (!trackIsPlayable(ts)) continue;
    const rates = measureBitrates([ts]);
    variants.push({
      uri: `../${rendition.info.name}/ts.m3u8${options.uriSuffix}`,
      bandwidth: Math.max(rendition.info.bandwidth, rates.peak),
      averageBandwidth: rates.average,
      width: rendition.info.width,
      height: rendition.info.height,
      frameRate: rendition.info.frameRate,
      codecs: joinCodecs(rendition.tracks.get('video')?.init?.codecs, rendition.tracks.get('audio')?.init?.codecs ?? sharedAudioCodecs),
      audioGroup: null,
    });
  }
  if (variants.length === 0) return null;
  return writeMasterPlaylist({ version: 3, independentSegments: true, audio: [], variants });
}

function renditionReports(stream: StreamStore, self: RenditionStore, selfTrack: CmafTrack, uriSuffix: string): RenditionReport[] {
  const reports: RenditionReport[] = [];
  const audioRendition = audioRenditionOf(stream);
  for (const rendition of stream.renditions.values()) {
    const video = rendition.tracks.get('video');
    if (!(rendition === self && selfTrack === 'video') && trackIsPlayable(video)) {
      const position = lastPosition(video);
      const uri = rendition === self ? 'video.m3u8' : `../${rendition.info.name}/video.m3u8`;
      if (position) reports.push({ uri: uri + uriSuffix, ...position });
    }
  }
  if (audioRendition && !(audioRendition === self && selfTrack === 'audio')) {
    const audio = audioRendition.tracks.get('audio')!;
    const position = lastPosition(audio);
    const uri = audioRendition === self ? 'audio.m3u8' : `../${audioRendition.info.name}/audio.m3u8`;
    if (position) reports.push({ uri: uri + uriSuffix, ...position });
  }
  return reports;
}

export function buildMediaPlaylist(
  stream: StreamStore,
  streamPath: string,
  rendition: RenditionStore,
  trackName: PackagedTrack,
  options: PlaylistBuildOptions,
): string | null {
  const track = rendition.tracks.get(trackName);
  if (!trackIsPlayable(track)) return null;
  const listed = listedSegments(track, options.windowSegments);
  const first = listed[0];
  const mediaSequence = first ? first.msn : Math.max(0, track.pendingMsn);
  let discontinuitySequence = track.droppedDiscontinuities;
  for (const segment of track.segments) {
    if (segment === first) break;
    if (segment.discontinuity) discontinuitySequence++;
  }
  const folder = trackName === 'ts' ? 'ts' : trackName;
  const prefix = options.cdnBaseUrl
    ? `${options.cdnBaseUrl}/hls/${streamPath}/${encodeURIComponent(rendition.info.name)}/${folder}/`
    : `${folder}/`;
  const targetDuration = targetDurationSeconds(track, options.targetDurationMs);
  let lowLatency = null;
  if (trackName !== 'ts') {
    const partTarget = partTargetSeconds(track, options.partTargetMs);
    let preloadHint: { msn: number; part: number } | null = null;
    if (!stream.ended) {
      if (track.pendingParts.length > 0) {
        preloadHint = { msn: track.pendingMsn, part: track.pendingParts[track.pendingParts.length - 1]!.index + 1 };
      } else {
        const last = track.lastSegment();
        preloadHint = { msn: last ? last.msn + 1 : 0, part: 0 };
      }
    }
    lowLatency = {
      partTarget,
      // RFC 8216bis: PART-HOLD-BACK at least 2x, SHOULD 3x PART-TARGET; HOLD-BACK at least 3x target duration
      partHoldBack: ceilToMillis(partTarget * 3),
      holdBack: targetDuration * 3,
      partSegments: options.partSegments,
      pendingMsn: track.pendingMsn,
      pendingParts: track.pendingParts,
      pendingDiscontinuity: track.pendingDiscontinuity,
      preloadHint,
      renditionReports: renditionReports(stream, rendition, trackName, options.uriSuffix),
    };
  }
  return writeMediaPlaylist({
    version: trackName === 'ts' ? 3 : 9,
    targetDuration,
    mediaSequence,
    discontinuitySequence,
    uris: { prefix, suffix: options.uriSuffix, hasInit: trackName !== 'ts', segmentExtension: trackName === 'ts' ? '.ts' : '.m4s' },
    segments: listed,
    // every segment starts with a keyframe (the packager cuts there)
    independentSegments: true,
    ended: stream.ended,
    pendingInitVersion: track.init ? track.init.version : 0,
    lowLatency,
  });
}
