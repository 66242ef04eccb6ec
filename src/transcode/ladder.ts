import { NovaError } from '../errors.js';
import type { VideoTrackConfig } from '../stream/media-frame.js';

/** One configured step of the ladder: a target height and bitrate. */
export interface LadderRung {
  /** e.g. "720p": also the rendition's name in URLs */
  name: string;
  height: number;
  bitrateKbps: number;
}

export interface PlannedRendition {
  /** "source" for the passthrough rendition, else the rung name */
  name: string;
  width: number;
  height: number;
  /** target for transcoded renditions; for "source" the configured estimate is unknown: 0 */
  bitrateKbps: number;
  /** true for "source": the ingest frames go to the packager untouched */
  passthrough: boolean;
}

export interface LadderPlan {
  /** every rendition a viewer can pick, highest first: "source" then the transcoded ones */
  renditions: PlannedRendition[];
  /** the renditions FFmpeg has to produce (renditions minus "source") */
  transcoded: PlannedRendition[];
}

export const SOURCE_RENDITION = 'source';
export const DEFAULT_LADDER_SPEC = '1080p:8000k,720p:5000k,480p:2000k';

/**
 * Parses "1080p:8000k,720p:5000k,480p:2000k" (TRANSCODE_LADDER). Bitrates in
 * k (kb/s) or M (Mb/s); a bare number is kb/s. Sorted highest first, heights
 * must be distinct and even (4:2:0 chroma needs even dimensions).
 */
export function parseLadderSpec(spec: string): LadderRung[] {
  const rungs: LadderRung[] = [];
  const trimmed = spec.trim();
  if (trimmed === '') return rungs;
  for (const part of trimmed.split(',')) {
    const match = /^\s*(\d{2,4})p\s*:\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(part);
    if (match === null) {
      throw new NovaError('NOVA_ERR_CONFIG', `invalid TRANSCODE_LADDER entry ${JSON.stringify(part)}: expected like 720p:5000k`);
    }
    const height = Number(match[1]);
    const bitrateKbps = Math.round(Number(match[2]) * (match[3].toLowerCase() === 'm' ? 1000 : 1));
    if (height < 64 || height > 4320 || height % 2 !== 0) {
      throw new NovaError('NOVA_ERR_CONFIG', `invalid TRANSCODE_LADDER height ${height}: expected an even number from 64 to 4320`);
    }
    if (bitrateKbps < 50 || bitrateKbps > 100_000) {
      throw new NovaError('NOVA_ERR_CONFIG', `invalid TRANSCODE_LADDER bitrate in ${JSON.stringify(part)}: expected 50k to 100M`);
    }
    if (rungs.some((rung) => rung.height === height)) {
      throw new NovaError('NOVA_ERR_CONFIG', `TRANSCODE_LADDER names ${height}p twice`);
    }
    rungs.push({ name: `${height}p`, height, bitrateKbps });
  }
  return rungs.sort((a, b) => b.height - a.height);
}

/** Width for a height at the source's aspect ratio, rounded to the nearest even number. */
export function scaledWidth(sourceWidth: number, sourceHeight: number, height: number): number {
  return Math.max(2, 2 * Math.round((sourceWidth * height) / sourceHeight / 2));
}

/**
 * The renditions for one stream. The source is always offered as is
 * ("source", passthrough); a rung is transcoded only when it is strictly
 * smaller than the source (never upscale: a 1080p rung on a 1080p source
 * would spend a full encode to offer the same picture worse). Audio is the
 * source's AAC, shared by all renditions, so an audio-only stream (no
 * video config) gets no ladder.
 */
export function planLadder(video: VideoTrackConfig | null, rungs: readonly LadderRung[]): LadderPlan {
  if (video === null || video.width <= 0 || video.height <= 0) return { renditions: [], transcoded: [] };
  const source: PlannedRendition = {
    name: SOURCE_RENDITION,
    width: video.width,
    height: video.height,
    bitrateKbps: 0,
    passthrough: true,
  };
  const transcoded: PlannedRendition[] = [];
  for (const rung of rungs) {
    if (rung.height >= video.height) continue;
    transcoded.push({
      name: rung.name,
      width: scaledWidth(video.width, video.height, rung.height),
      height: rung.height,
      bitrateKbps: rung.bitrateKbps,
      passthrough: false,
    });
  }
  return { renditions: [source, ...transcoded], transcoded };
}
