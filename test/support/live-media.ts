/**
 * Reading a live stream's delivery output the way a player-like client
 * does: its URLs on the server, media playlists parsed just enough to know
 * which segments, parts and program date times are listed.
 */

export interface StreamMediaUrls {
  /** CMAF multivariant playlist (LL-HLS) */
  hlsMaster: string;
  /** MPEG-TS multivariant playlist */
  hlsTsMaster: string;
  /** the source rendition's media playlists */
  video: string;
  audio: string;
  ts: string;
  dash: string;
}

/**
 * Built from the server's own address rather than the API's hls_url, so
 * they are right whatever PUBLIC_URL says.
 */
export function streamMediaUrls(http: string, streamId: string, rendition = 'source'): StreamMediaUrls {
  const hls = `${http}/hls/${encodeURIComponent(streamId)}`;
  return {
    hlsMaster: `${hls}/master.m3u8`,
    hlsTsMaster: `${hls}/ts/master.m3u8`,
    video: `${hls}/${rendition}/video.m3u8`,
    audio: `${hls}/${rendition}/audio.m3u8`,
    ts: `${hls}/${rendition}/ts.m3u8`,
    dash: `${http}/dash/${encodeURIComponent(streamId)}/manifest.mpd`,
  };
}

export interface ListedSegment {
  msn: number;
  uri: string;
  /** EXTINF, seconds */
  duration: number;
  /** EXT-X-PROGRAM-DATE-TIME in epoch ms (carried forward from the last tag, as RFC 8216 says) */
  programDateTime: number | null;
  discontinuity: boolean;
}

export interface ListedPart {
  /** msn of the segment the part belongs to */
  msn: number;
  uri: string;
  duration: number;
  /** wall clock of the part's first frame, from the segment's program date time plus the parts before it */
  programDateTime: number | null;
  /** the part's segment follows an EXT-X-DISCONTINUITY */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  segments: ListedSegment[];
  /** every EXT-X-PART listed, in order (completed segments' and the in-progress one's) */
  parts: ListedPart[];
  ended: boolean;
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  const playlist: MediaPlaylist = { targetDuration: 0, mediaSequence: 0, segments: [], parts: [], ended: false };
  let msn = -1;
  let duration = 0;
  let programDateTime: number | null = null;
  let discontinuity = false;
  /** wall clock of the next part, advanced by each part's duration */
  let partClock: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-TARGETDURATION:')) playlist.targetDuration = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = playlist.mediaSequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) programDateTime = partClock = Date.parse(line.slice(25));
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line === '#EXT-X-ENDLIST') playlist.ended = true;
    else if (line.startsWith('#EXTINF:')) duration = Number(line.slice(8).split(',')[0]);
    else if (line.startsWith('#EXT-X-PART:')) {
      const partDuration = Number(/DURATION=([\d.]+)/.exec(line)?.[1] ?? 0);
      playlist.parts.push({ msn, uri: /URI="([^"]+)"/.exec(line)?.[1] ?? '', duration: partDuration, programDateTime: partClock, discontinuity });
      if (partClock !== null) partClock += partDuration * 1000;
    } else if (line !== '' && !line.startsWith('#')) {
      playlist.segments.push({ msn, uri: line, duration, programDateTime, discontinuity });
      if (programDateTime !== null) programDateTime += duration * 1000;
      partClock = programDateTime;
      msn++;
      discontinuity = false;
    }
  }
  return playlist;
}

export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text}`);
  return text;
}

export async function fetchMediaPlaylist(url: string): Promise<MediaPlaylist> {
  return parseMediaPlaylist(await fetchText(url));
}

/** Polls a media playlist until it holds at least `count` complete segments (404 while nothing is packaged counts as none). */
export async function waitForSegments(url: string, count: number, timeoutMs: number): Promise<MediaPlaylist> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url);
    const text = await response.text();
    if (response.status === 200) {
      const playlist = parseMediaPlaylist(text);
      if (playlist.segments.length >= count) return playlist;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not list ${count} segments within ${timeoutMs} ms: ${response.status} ${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
