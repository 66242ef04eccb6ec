/**
 * HLS viewers: each VU joins like a player (master → media playlist → init →
 * the newest JOIN_SEGMENTS segments), then reloads the media playlist as RFC
 * 8216 asks (a target duration after a change, half of one when unchanged) and
 * fetches each new segment once.
 *
 *   k6 run -e URL=http://host:8080/hls/<id>/master.m3u8 -e VUS=200 -e DURATION=5m loadtest/k6/hls-viewers.ts
 *
 * Env: URL (required), VUS (50), RAMP (30s), DURATION (2m), RENDITION (random|lowest|highest), JOIN_SEGMENTS (3).
 * Node mirror with the same parameters: loadtest/http/hls-viewers.ts.
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
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

export const options = {
  scenarios: {
    hls_viewers: rampingViewers(params),
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{kind:playlist}': ['p(99)<500'],
    'http_req_duration{kind:segment}': ['p(99)<2000'],
    hls_stale_playlist_reloads: ['count<10'],
  },
};

const segmentTtfb = new Trend('hls_segment_ttfb', true);
const staleReloads = new Counter('hls_stale_playlist_reloads');
const segmentsFetched = new Counter('hls_segments_fetched');

// Per-VU state: every VU has its own module instance.
let mediaUrl: string | null = null;
let lastMsn = -1;
let lastChangeAt = 0;

function loadPlaylist(url: string): HlsMediaPlaylist | null {
  const response = http.get(url, { tags: { kind: 'playlist' } });
  if (!check(response, { 'playlist 200': (r) => r.status === 200 }) || typeof response.body !== 'string') return null;
  return parseMediaPlaylist(response.body, url);
}

function fetchSegment(url: string): void {
  const response = http.get(url, { tags: { kind: 'segment' }, responseType: 'none' });
  if (check(response, { 'segment 200': (r) => r.status === 200 })) {
    segmentTtfb.add(response.timings.waiting);
    segmentsFetched.add(1);
  }
}

function join(): void {
  const master = http.get(params.url, { tags: { kind: 'playlist' } });
  if (!check(master, { 'master 200': (r) => r.status === 200 }) || typeof master.body !== 'string') {
    sleep(1);
    return;
  }
  mediaUrl = isMasterPlaylist(master.body)
    ? chooseVariant(parseMasterPlaylist(master.body, params.url), params.rendition, Math.random).uri
    : params.url;
  const playlist = loadPlaylist(mediaUrl);
  if (playlist === null) {
    mediaUrl = null;
    sleep(1);
    return;
  }
  if (playlist.mapUri !== null) http.get(playlist.mapUri, { tags: { kind: 'init' }, responseType: 'none' });
  for (const segment of segmentsAfter(playlist, -1, params.joinSegments)) fetchSegment(segment.uri);
  lastMsn = playlist.mediaSequence + playlist.segments.length - 1;
  lastChangeAt = Date.now();
  sleep(playlist.targetDuration);
}

export default function (): void {
  if (mediaUrl === null) {
    join();
    return;
  }
  const started = Date.now();
  const playlist = loadPlaylist(mediaUrl);
  if (playlist === null) {
    sleep(1);
    return;
  }
  const fresh = segmentsAfter(playlist, lastMsn, Number.MAX_SAFE_INTEGER);
  for (const segment of fresh) {
    fetchSegment(segment.uri);
    lastMsn = segment.msn;
  }
  if (fresh.length > 0) lastChangeAt = started;
  else if (started - lastChangeAt > 1500 * playlist.targetDuration) staleReloads.add(1);
  if (playlist.endList) {
    mediaUrl = null;
    return;
  }
  const spentSeconds = (Date.now() - started) / 1000;
  const wait = fresh.length > 0 ? playlist.targetDuration - spentSeconds : playlist.targetDuration / 2;
  sleep(Math.max(0.1, wait));
}
