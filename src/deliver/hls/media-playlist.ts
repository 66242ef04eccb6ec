import { programDateTime, quoted, seconds3 } from './hls-format.js';

/**
 * A media playlist (RFC 8216bis), LL-HLS when `lowLatency` is given. A pure
 * function of its input: the caller decides the window and the URIs; the
 * store's records satisfy the view interfaces as they are (no copies).
 */

export interface PlaylistPartView {
  readonly index: number;
  readonly duration: number;
  readonly independent: boolean;
}

export interface PlaylistSegmentView {
  readonly msn: number;
  readonly duration: number;
  /** epoch ms */
  readonly programDateTime: number;
  readonly discontinuity: boolean;
  /** the init that decodes it: a change writes a new EXT-X-MAP */
  readonly initVersion: number;
  readonly parts: readonly PlaylistPartView[];
}

/**
 * URIs are `${prefix}${name}${suffix}`: prefix is relative ("video/") or the
 * CDN base; suffix carries the playback token ("?token=…") or is empty.
 */
export interface PlaylistUris {
  prefix: string;
  suffix: string;
  /** EXT-X-MAP; false for MPEG-TS */
  hasInit: boolean;
  /** ".m4s" or ".ts" */
  segmentExtension: string;
}

export interface RenditionReport {
  uri: string;
  lastMsn: number;
  /** -1 to omit LAST-PART (the rendition has no parts) */
  lastPart: number;
}

export interface LowLatencyInput {
  /** seconds, already rounded up to the millisecond */
  partTarget: number;
  partHoldBack: number;
  holdBack: number;
  /** the last this-many listed segments show their EXT-X-PART lines */
  partSegments: number;
  /** the in-progress segment */
  pendingMsn: number;
  pendingParts: readonly PlaylistPartView[];
  /** the in-progress segment follows a discontinuity: the tag goes before its parts, as it will before the segment */
  pendingDiscontinuity?: boolean;
  /** next part to hint; null once ended */
  preloadHint: { msn: number; part: number } | null;
  renditionReports: readonly RenditionReport[];
}

export interface MediaPlaylistInput {
  version: number;
  /** integer seconds */
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  uris: PlaylistUris;
  segments: readonly PlaylistSegmentView[];
  independentSegments: boolean;
  ended: boolean;
  /** init version for the EXT-X-MAP when no segment is listed yet (only parts) */
  pendingInitVersion: number;
  lowLatency: LowLatencyInput | null;
}

/** Version 0 is "init.mp4"; later versions (a reconnect with new decoder config) get their own immutable URL. */
export function initFileName(version: number): string {
  return version === 0 ? 'init.mp4' : `init-v${version}.mp4`;
}

function mapLine(uris: PlaylistUris, version: number): string {
  return `#EXT-X-MAP:URI="${uris.prefix}${initFileName(version)}${uris.suffix}"\n`;
}

function partLine(uris: PlaylistUris, msn: number, part: PlaylistPartView): string {
  let line = `#EXT-X-PART:DURATION=${seconds3(part.duration)},URI="${uris.prefix}part-${msn}-${part.index}.m4s${uris.suffix}"`;
  if (part.independent) line += ',INDEPENDENT=YES';
  return line + '\n';
}

export function writeMediaPlaylist(input: MediaPlaylistInput): string {
  const { uris, lowLatency } = input;
  let version = input.version;
  // EXT-X-GAP needs version 8 (RFC 8216bis)
  for (let i = 1; i < input.segments.length && version < 8; i++) if (input.segments[i]!.msn !== input.segments[i - 1]!.msn + 1) version = 8;
  let out = `#EXTM3U\n#EXT-X-VERSION:${version}\n#EXT-X-TARGETDURATION:${input.targetDuration}\n`;
  if (input.independentSegments) out += '#EXT-X-INDEPENDENT-SEGMENTS\n';
  if (lowLatency) {
    out += `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds3(lowLatency.partHoldBack)},HOLD-BACK=${seconds3(lowLatency.holdBack)}\n`;
    out += `#EXT-X-PART-INF:PART-TARGET=${seconds3(lowLatency.partTarget)}\n`;
  }
  out += `#EXT-X-MEDIA-SEQUENCE:${input.mediaSequence}\n`;
  out += `#EXT-X-DISCONTINUITY-SEQUENCE:${input.discontinuitySequence}\n`;
  const segments = input.segments;
  let mapVersion = -1;
  if (uris.hasInit) {
    mapVersion = segments.length > 0 ? segments[0]!.initVersion : input.pendingInitVersion;
    out += mapLine(uris, mapVersion);
  }
  const firstWithParts = lowLatency ? segments.length - lowLatency.partSegments : segments.length;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    // msns missing between two listed segments (a segment an origin that died never finished, in a
    // track that cannot be sealed from parts, as MPEG-TS) are listed as gaps: a player numbers
    // segments by position, so every msn needs its line
    const previous = i > 0 ? segments[i - 1]! : null;
    if (previous !== null) {
      for (let missing = previous.msn + 1; missing < segment.msn; missing++) {
        out += `\n#EXTINF:${seconds3(previous.duration)},\n#EXT-X-GAP\n${uris.prefix}seg-${missing}${uris.segmentExtension}${uris.suffix}\n`;
      }
    }
    out += '\n';
    if (segment.discontinuity) out += '#EXT-X-DISCONTINUITY\n';
    if (uris.hasInit && segment.initVersion !== mapVersion) {
      mapVersion = segment.initVersion;
      out += mapLine(uris, mapVersion);
    }
    out += `#EXT-X-PROGRAM-DATE-TIME:${programDateTime(segment.programDateTime)}\n`;
    if (i >= firstWithParts) {
      for (const part of segment.parts) out += partLine(uris, segment.msn, part);
    }
    out += `#EXTINF:${seconds3(segment.duration)},\n${uris.prefix}seg-${segment.msn}${uris.segmentExtension}${uris.suffix}\n`;
  }

  if (lowLatency && !input.ended) {
    if (lowLatency.pendingParts.length > 0) {
      out += '\n';
      if (lowLatency.pendingDiscontinuity) out += '#EXT-X-DISCONTINUITY\n';
      // a reconnect with new decoder settings: the parts need the new init before their segment lists it
      if (uris.hasInit && segments.length > 0 && input.pendingInitVersion !== mapVersion) out += mapLine(uris, input.pendingInitVersion);
    }
    for (const part of lowLatency.pendingParts) out += partLine(uris, lowLatency.pendingMsn, part);
    if (lowLatency.preloadHint) {
      const hint = lowLatency.preloadHint;
      out += `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${uris.prefix}part-${hint.msn}-${hint.part}.m4s${uris.suffix}"\n`;
    }
  }
  if (input.ended) out += '#EXT-X-ENDLIST\n';
  if (lowLatency && !input.ended && lowLatency.renditionReports.length > 0) {
    out += '\n';
    for (const report of lowLatency.renditionReports) {
      out += `#EXT-X-RENDITION-REPORT:URI=${quoted(report.uri)},LAST-MSN=${report.lastMsn}`;
      if (report.lastPart >= 0) out += `,LAST-PART=${report.lastPart}`;
      out += '\n';
    }
  }
  return out;
}
