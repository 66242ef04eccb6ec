/**
 * What a load-test viewer needs from HLS playlists: variants of a master
 * playlist, segments and LL-HLS parts of a media playlist, and the next
 * blocking-reload position. Pure code with no runtime imports, shared by the
 * k6 scripts (which import it as ./lib/hls-playlist.ts) and the Node mirrors in
 * loadtest/http (as ../k6/lib/hls-playlist.js), so both drive the same scenario.
 */

export interface HlsVariant {
  uri: string;
  bandwidth: number;
}

export interface HlsSegment {
  uri: string;
  duration: number;
  /** media sequence number */
  msn: number;
}

export interface HlsPart {
  uri: string;
  duration: number;
  /** media sequence number of the segment this part belongs to */
  msn: number;
  /** index of the part inside its segment, from 0 */
  index: number;
  independent: boolean;
}

export interface HlsMediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  segments: HlsSegment[];
  /** LL-HLS: EXT-X-PART-INF PART-TARGET, null without parts */
  partTarget: number | null;
  parts: HlsPart[];
  canBlockReload: boolean;
  preloadHintUri: string | null;
  /** EXT-X-MAP URI (fMP4 init segment), null for MPEG-TS */
  mapUri: string | null;
  endList: boolean;
}

/** An RFC 3986 reference resolved against an absolute http(s) URL (k6 has no WHATWG URL). */
export function resolveUri(base: string, reference: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) return reference;
  const originMatch = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)/i.exec(base);
  if (originMatch === null) throw new Error(`not an absolute URL: ${base}`);
  const origin = originMatch[1]!;
  if (reference.startsWith('//')) return `${origin.slice(0, origin.indexOf('//'))}${reference}`;
  if (reference.startsWith('/')) return origin + normalisePath(reference);
  const basePath = originMatch[2] === '' ? '/' : originMatch[2]!;
  if (reference.startsWith('?')) return origin + basePath + reference;
  const directory = basePath.slice(0, basePath.lastIndexOf('/') + 1);
  return origin + normalisePath(directory + reference);
}

function normalisePath(pathAndQuery: string): string {
  const queryAt = pathAndQuery.search(/[?#]/);
  const path = queryAt < 0 ? pathAndQuery : pathAndQuery.slice(0, queryAt);
  const rest = queryAt < 0 ? '' : pathAndQuery.slice(queryAt);
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '..') {
      if (out.length > 1) out.pop();
    } else if (segment !== '.') {
      out.push(segment);
    }
  }
  const last = segments[segments.length - 1];
  if ((last === '.' || last === '..') && out[out.length - 1] !== '') out.push('');
  return out.join('/') + rest;
}

/** Appends query parameters to a URL that may already carry a query. */
export function withQuery(url: string, params: Record<string, string | number>): string {
  const pairs = Object.keys(params).map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(String(params[key]))}`);
  if (pairs.length === 0) return url;
  return url + (url.includes('?') ? '&' : '?') + pairs.join('&');
}

/** Attribute list of a tag line (`KEY=value,KEY="quoted, value"`). */
export function parseAttributes(list: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  const pattern = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(list)) !== null) {
    const raw = match[2]!;
    attributes[match[1]!] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  }
  return attributes;
}

export function isMasterPlaylist(text: string): boolean {
  return text.includes('#EXT-X-STREAM-INF');
}

/** Variants with their URIs resolved against the master playlist's URL, in playlist order. */
export function parseMasterPlaylist(text: string, masterUrl: string): HlsVariant[] {
  const lines = splitLines(text);
  const variants: HlsVariant[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('#EXT-X-STREAM-INF:')) continue;
    const attributes = parseAttributes(line.slice('#EXT-X-STREAM-INF:'.length));
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j]!.startsWith('#'))) j++;
    if (j >= lines.length) break;
    variants.push({ uri: resolveUri(masterUrl, lines[j]!), bandwidth: Number(attributes['BANDWIDTH'] ?? '0') });
    i = j;
  }
  return variants;
}

export type RenditionChoice = 'lowest' | 'highest' | 'random';

export function chooseVariant(variants: readonly HlsVariant[], choice: RenditionChoice, random: () => number): HlsVariant {
  if (variants.length === 0) throw new Error('master playlist has no variants');
  if (choice === 'random') return variants[Math.floor(random() * variants.length)]!;
  let best = variants[0]!;
  for (let i = 1; i < variants.length; i++) {
    const candidate = variants[i]!;
    if (choice === 'lowest' ? candidate.bandwidth < best.bandwidth : candidate.bandwidth > best.bandwidth) best = candidate;
  }
  return best;
}

/** A media playlist with segment, part and hint URIs resolved against its URL. */
export function parseMediaPlaylist(text: string, playlistUrl: string): HlsMediaPlaylist {
  const lines = splitLines(text);
  const playlist: HlsMediaPlaylist = {
    targetDuration: 0,
    mediaSequence: 0,
    segments: [],
    partTarget: null,
    parts: [],
    canBlockReload: false,
    preloadHintUri: null,
    mapUri: null,
    endList: false,
  };
  let pendingDuration = -1;
  let partIndex = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if (line.startsWith('#EXT-X-TARGETDURATION:')) {
      playlist.targetDuration = Number(line.slice('#EXT-X-TARGETDURATION:'.length));
    } else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      playlist.mediaSequence = Number(line.slice('#EXT-X-MEDIA-SEQUENCE:'.length));
    } else if (line.startsWith('#EXT-X-PART-INF:')) {
      playlist.partTarget = Number(parseAttributes(line.slice('#EXT-X-PART-INF:'.length))['PART-TARGET'] ?? 'NaN');
    } else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      playlist.canBlockReload = parseAttributes(line.slice('#EXT-X-SERVER-CONTROL:'.length))['CAN-BLOCK-RELOAD'] === 'YES';
    } else if (line.startsWith('#EXT-X-PART:')) {
      const attributes = parseAttributes(line.slice('#EXT-X-PART:'.length));
      playlist.parts.push({
        uri: resolveUri(playlistUrl, attributes['URI'] ?? ''),
        duration: Number(attributes['DURATION'] ?? '0'),
        msn: playlist.mediaSequence + playlist.segments.length,
        index: partIndex++,
        independent: attributes['INDEPENDENT'] === 'YES',
      });
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) {
      const attributes = parseAttributes(line.slice('#EXT-X-PRELOAD-HINT:'.length));
      if (attributes['TYPE'] === 'PART' && attributes['URI'] !== undefined) playlist.preloadHintUri = resolveUri(playlistUrl, attributes['URI']);
    } else if (line.startsWith('#EXT-X-MAP:')) {
      const uri = parseAttributes(line.slice('#EXT-X-MAP:'.length))['URI'];
      if (uri !== undefined) playlist.mapUri = resolveUri(playlistUrl, uri);
    } else if (line.startsWith('#EXTINF:')) {
      pendingDuration = Number.parseFloat(line.slice('#EXTINF:'.length));
    } else if (line.startsWith('#EXT-X-ENDLIST')) {
      playlist.endList = true;
    } else if (!line.startsWith('#')) {
      if (pendingDuration < 0) throw new Error(`segment URI without #EXTINF: ${line}`);
      playlist.segments.push({ uri: resolveUri(playlistUrl, line), duration: pendingDuration, msn: playlist.mediaSequence + playlist.segments.length });
      pendingDuration = -1;
      partIndex = 0;
    }
  }
  if (!(playlist.targetDuration > 0)) throw new Error('media playlist has no EXT-X-TARGETDURATION');
  return playlist;
}

/**
 * The `_HLS_msn`/`_HLS_part` of the next blocking reload: the part after the
 * last one listed (RFC 8216bis 6.2.5.2). Without parts, the next segment.
 */
export function nextBlockingReload(playlist: HlsMediaPlaylist): { msn: number; part: number | null } {
  const nextMsn = playlist.mediaSequence + playlist.segments.length;
  if (playlist.partTarget === null) return { msn: nextMsn, part: null };
  const last = playlist.parts[playlist.parts.length - 1];
  if (last === undefined || last.msn < nextMsn) return { msn: nextMsn, part: 0 };
  return { msn: last.msn, part: last.index + 1 };
}

/** Segments with a sequence number above `afterMsn`, at most the newest `limit` of them (a viewer joins at the live edge). */
export function segmentsAfter(playlist: HlsMediaPlaylist, afterMsn: number, limit: number): HlsSegment[] {
  const fresh = playlist.segments.filter((segment) => segment.msn > afterMsn);
  return fresh.slice(Math.max(0, fresh.length - limit));
}

/** Parts newer than (msn, index), at most the newest `limit`. */
export function partsAfter(playlist: HlsMediaPlaylist, afterMsn: number, afterIndex: number, limit: number): HlsPart[] {
  const fresh = playlist.parts.filter((part) => part.msn > afterMsn || (part.msn === afterMsn && part.index > afterIndex));
  return fresh.slice(Math.max(0, fresh.length - limit));
}

function splitLines(text: string): string[] {
  return text.split(/\r?\n/).map((line) => line.trim());
}
