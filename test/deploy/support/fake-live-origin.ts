import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A clock-driven stand-in for a live origin, enough to drive the load-test
 * mirrors: an LL-HLS media playlist (parts of 200 ms, 5 per 1 s segment,
 * blocking reloads), a master playlist with two variants, a live DASH MPD with
 * a SegmentTimeline, and the streams API. Records every request path.
 */
export interface FakeOrigin {
  baseUrl: string;
  requests: string[];
  close(): Promise<void>;
}

const PART_MS = 200;
const PARTS_PER_SEGMENT = 5;
const WINDOW_SEGMENTS = 4;

export async function startFakeOrigin(): Promise<FakeOrigin> {
  const startedAt = Date.now() - 3000; // a few segments exist at once
  const requests: string[] = [];
  const completedParts = (): number => Math.floor((Date.now() - startedAt) / PART_MS);

  const mediaPlaylist = (variant: string): string => {
    const parts = completedParts();
    const segments = Math.floor(parts / PARTS_PER_SEGMENT);
    const first = Math.max(0, segments - WINDOW_SEGMENTS);
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:1',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.5',
      '#EXT-X-PART-INF:PART-TARGET=0.2',
      `#EXT-X-MEDIA-SEQUENCE:${first}`,
      `#EXT-X-MAP:URI="/hls/s/${variant}/init.mp4"`,
    ];
    for (let msn = first; msn < segments; msn++) {
      if (msn >= segments - 2) {
        for (let p = 0; p < PARTS_PER_SEGMENT; p++) lines.push(`#EXT-X-PART:DURATION=0.2,URI="${msn}.${p}.m4s"${p === 0 ? ',INDEPENDENT=YES' : ''}`);
      }
      lines.push('#EXTINF:1.0,', `${msn}.m4s`);
    }
    for (let p = 0; p < parts - segments * PARTS_PER_SEGMENT; p++) lines.push(`#EXT-X-PART:DURATION=0.2,URI="${segments}.${p}.m4s"${p === 0 ? ',INDEPENDENT=YES' : ''}`);
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${segments}.${parts - segments * PARTS_PER_SEGMENT}.m4s"`);
    return `${lines.join('\n')}\n`;
  };

  const mpd = (): string => {
    const segments = Math.floor(completedParts() / PARTS_PER_SEGMENT);
    const first = Math.max(0, segments - WINDOW_SEGMENTS);
    const timeline = `<SegmentTimeline><S t="${first * 1000}" d="1000" r="${Math.max(0, segments - first - 1)}"/></SegmentTimeline>`;
    return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT1S" availabilityStartTime="${new Date(startedAt).toISOString()}">
  <Period id="0" start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%05d$.m4s" startNumber="${first}">${timeline}</SegmentTemplate>
      <Representation id="v720" bandwidth="3000000"/>
      <Representation id="v360" bandwidth="800000"/>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4">
      <SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Time$.m4s" startNumber="${first}">${timeline}</SegmentTemplate>
      <Representation id="a0" bandwidth="128000"/>
    </AdaptationSet>
  </Period>
</MPD>
`;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const path = url.pathname;
    if (path === '/hls/s/master.m3u8') {
      send(200, 'application/vnd.apple.mpegurl', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\nv720/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv360/index.m3u8\n');
      return;
    }
    const media = /^\/hls\/s\/(v720|v360)\/index\.m3u8$/.exec(path);
    if (media !== null) {
      const msn = url.searchParams.get('_HLS_msn');
      const answer = (): void => send(200, 'application/vnd.apple.mpegurl', mediaPlaylist(media[1]!));
      if (msn === null) return answer();
      const wantedPart = Number(msn) * PARTS_PER_SEGMENT + Number(url.searchParams.get('_HLS_part') ?? '0');
      const lastPart = completedParts() - 1;
      if (wantedPart > lastPart + 3 * PARTS_PER_SEGMENT) return send(400, 'text/plain', 'msn too far ahead');
      // Block until the requested part is complete.
      const readyAt = startedAt + (wantedPart + 1) * PART_MS;
      setTimeout(answer, Math.max(0, readyAt - Date.now()));
      return;
    }
    if (/^\/hls\/s\/v\d+\/(init\.mp4|\d+(\.\d+)?\.m4s)$/.test(path)) return send(200, 'video/mp4', Buffer.alloc(4096));
    if (path === '/dash/s/manifest.mpd') return send(200, 'application/dash+xml', mpd());
    if (/^\/dash\/s\/(v720|v360|a0)\/(init\.mp4|\d+\.m4s)$/.test(path)) return send(200, 'video/mp4', Buffer.alloc(4096));
    if (path === '/health' || path === '/ready') return send(200, 'application/json', '{"ok":true}');
    if (path === '/metrics') return send(200, 'text/plain', 'nova_streaming_active_streams 0\n');
    if (path.startsWith('/api/v1/streams')) {
      if (req.headers.authorization !== 'Bearer test-token-0123456789') return send(401, 'application/json', '{}');
      if (req.method === 'POST') return send(201, 'application/json', JSON.stringify({ id: '00000000-0000-4000-8000-000000000001' }));
      return send(200, 'application/json', '{"items":[]}');
    }
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
