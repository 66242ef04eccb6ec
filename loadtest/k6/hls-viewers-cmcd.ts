/**
 * HLS viewers that report CMCD, as hls.js does with `cmcd: {}`: the viewer
 * loop of hls-viewers.ts (join with the newest JOIN_SEGMENTS segments, reload
 * the media playlist every target duration, fetch each new segment once) with
 * a `CMCD=` query on every request: sid (one per VU), ot, sf=h, br (the
 * variant's bitrate), bl (a buffer that drains and refills), mtp, d on
 * segments, and bs on a STALL_RATE share of them. For the server's viewer
 * session tracking under load (npm run bench:sessions runs the Node mirror).
 *
 *   k6 run -e URL=http://host:8080/hls/<id>/master.m3u8 -e VUS=5000 -e RAMP=20s -e DURATION=1m loadtest/k6/hls-viewers-cmcd.ts
 *
 * Env: URL (required), VUS (50), RAMP (30s), DURATION (2m), RENDITION (random|lowest|highest), JOIN_SEGMENTS (3), STALL_RATE (0.01).
 * Node mirror with the same parameters: loadtest/http/hls-viewers-cmcd.ts.
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { SimulatedPlayer, stallRateFrom } from './lib/cmcd-query.ts';
import {
  chooseVariant,
  isMasterPlaylist,
  parseMasterPlaylist,
  parseMediaPlaylist,
  segmentsAfter,
  type HlsMediaPlaylist,
} from './lib/hls-playlist.ts';
import { rampingViewers, viewerParamsFrom } from './lib/scenario-params.ts';

const params = viewerParamsFrom(__ENV);
const stallRate = stallRateFrom(__ENV);

export const options = {
  scenarios: {
    hls_viewers_cmcd: rampingViewers(params),
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{kind:playlist}': ['p(99)<500'],
    'http_req_duration{kind:segment}': ['p(99)<2000'],
  },
};

const segmentsFetched = new Counter('hls_segments_fetched');
const stallsReported = new Counter('cmcd_stalls_reported');

// Per-VU state: every VU has its own module instance.
let mediaUrl: string | null = null;
let player: SimulatedPlayer | null = null;
let lastMsn = -1;

function loadPlaylist(url: string, viewer: SimulatedPlayer): HlsMediaPlaylist | null {
  const response = http.get(viewer.playlist(url), { tags: { kind: 'playlist', name: 'media playlist' } });
  if (!check(response, { 'playlist 200': (r) => r.status === 200 }) || typeof response.body !== 'string') return null;
  return parseMediaPlaylist(response.body, url);
}

function fetchSegment(url: string, durationSeconds: number, viewer: SimulatedPlayer): void {
  const requestUrl = viewer.segment(url, durationSeconds * 1000);
  if (viewer.lastStalled) stallsReported.add(1);
  const response = http.get(requestUrl, { tags: { kind: 'segment', name: 'segment' }, responseType: 'none' });
  if (check(response, { 'segment 200': (r) => r.status === 200 })) segmentsFetched.add(1);
}

function join(): void {
  const sid = `k6-${__VU}-${Date.now().toString(36)}`;
  const master = http.get(params.url, { tags: { kind: 'playlist', name: 'master playlist' } });
  if (!check(master, { 'master 200': (r) => r.status === 200 }) || typeof master.body !== 'string') {
    sleep(1);
    return;
  }
  const variant = isMasterPlaylist(master.body)
    ? chooseVariant(parseMasterPlaylist(master.body, params.url), params.rendition, Math.random)
    : { uri: params.url, bandwidth: 1_000_000 };
  const viewer = new SimulatedPlayer(sid, variant.bandwidth / 1000, stallRate, Math.random);
  const playlist = loadPlaylist(variant.uri, viewer);
  if (playlist === null) {
    sleep(1);
    return;
  }
  if (playlist.mapUri !== null) http.get(viewer.init(playlist.mapUri), { tags: { kind: 'init', name: 'init' }, responseType: 'none' });
  for (const segment of segmentsAfter(playlist, -1, params.joinSegments)) fetchSegment(segment.uri, segment.duration, viewer);
  mediaUrl = variant.uri;
  player = viewer;
  lastMsn = playlist.mediaSequence + playlist.segments.length - 1;
  sleep(playlist.targetDuration);
}

export default function (): void {
  if (mediaUrl === null || player === null) {
    join();
    return;
  }
  const started = Date.now();
  const playlist = loadPlaylist(mediaUrl, player);
  if (playlist === null) {
    sleep(1);
    return;
  }
  const fresh = segmentsAfter(playlist, lastMsn, Number.MAX_SAFE_INTEGER);
  for (const segment of fresh) {
    fetchSegment(segment.uri, segment.duration, player);
    lastMsn = segment.msn;
  }
  if (playlist.endList) {
    mediaUrl = null;
    return;
  }
  const spentSeconds = (Date.now() - started) / 1000;
  sleep(Math.max(0.1, fresh.length > 0 ? playlist.targetDuration - spentSeconds : playlist.targetDuration / 2));
}
