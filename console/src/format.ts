/** Numbers and times as the pages show them. */

export function bitrate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(2)} Mb/s`;
  if (bitsPerSecond >= 1e3) return `${Math.round(bitsPerSecond / 1e3)} kb/s`;
  return `${Math.round(bitsPerSecond)} b/s`;
}

export function since(iso: string | null): string {
  if (iso === null) return '–';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export function dateTime(iso: string | null): string {
  return iso === null ? '–' : new Date(iso).toLocaleString();
}

/** The WebSocket URL of a stream on the server that served this page. */
export function wsUrlFor(streamId: string, token: string | null): string {
  const base = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1/streams/${encodeURIComponent(streamId)}/ws`;
  return token ? `${base}?token=${encodeURIComponent(token)}` : base;
}

/** The LL-HLS multivariant playlist on the server that served this page (private streams: with the viewer token). */
export function hlsUrlFor(streamId: string, token: string | null): string {
  const base = `/hls/${encodeURIComponent(streamId)}/master.m3u8`;
  return token ? `${base}?token=${encodeURIComponent(token)}` : base;
}
