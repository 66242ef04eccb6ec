/**
 * LL-HLS viewers: each VU joins at the live edge (master → media playlist →
 * init → parts of the current segment from its last independent part), then
 * loops on blocking playlist reloads (_HLS_msn/_HLS_part of the next part,
 * RFC 8216bis 6.2.5.2) and fetches each new part once. The reload's wait is
 * the part-publication latency a player sees.
 *
 *   k6 run -e URL=http://host:8080/hls/<id>/master.m3u8 -e VUS=200 loadtest/k6/ll-hls-viewers.ts
 *
 * Env: URL (required), VUS (50), RAMP (30s), DURATION (2m), RENDITION (random|lowest|highest).
 * Node mirror: loadtest/http/ll-hls-viewers.ts.
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  chooseVariant,
  isMasterPlaylist,
  nextBlockingReload,
  parseMasterPlaylist,
  parseMediaPlaylist,
  partsAfter,
  withQuery,
  type HlsMediaPlaylist,
} from './lib/hls-playlist.ts';
import { rampingViewers, viewerParamsFrom } from './lib/scenario-params.ts';

const params = viewerParamsFrom(__ENV);

export const options = {
  scenarios: {
    ll_hls_viewers: rampingViewers(params),
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{kind:part}': ['p(99)<500'],
    // A blocking reload waits about one part duration; much longer means parts are late.
    ll_hls_blocking_reload_seconds: ['p(99)<2'],
    ll_hls_rejoins: ['count<10'],
  },
};

const blockingReload = new Trend('ll_hls_blocking_reload_seconds');
const partsFetched = new Counter('ll_hls_parts_fetched');
const rejoins = new Counter('ll_hls_rejoins');

let mediaUrl: string | null = null;
let lastPartMsn = -1;
let lastPartIndex = -1;
let playlist: HlsMediaPlaylist | null = null;

function parse(body: string | null | ArrayBuffer, url: string): HlsMediaPlaylist | null {
  return typeof body === 'string' ? parseMediaPlaylist(body, url) : null;
}

function fetchNewParts(current: HlsMediaPlaylist, limit: number): void {
  for (const part of partsAfter(current, lastPartMsn, lastPartIndex, limit)) {
    const response = http.get(part.uri, { tags: { kind: 'part' }, responseType: 'none' });
    if (check(response, { 'part 200': (r) => r.status === 200 })) partsFetched.add(1);
    lastPartMsn = part.msn;
    lastPartIndex = part.index;
  }
}

function join(): void {
  const master = http.get(params.url, { tags: { kind: 'playlist' } });
  if (!check(master, { 'master 200': (r) => r.status === 200 }) || typeof master.body !== 'string') {
    sleep(1);
    return;
  }
  const url = isMasterPlaylist(master.body)
    ? chooseVariant(parseMasterPlaylist(master.body, params.url), params.rendition, Math.random).uri
    : params.url;
  const response = http.get(url, { tags: { kind: 'playlist' } });
  const current = response.status === 200 ? parse(response.body, url) : null;
  if (current === null || current.partTarget === null) {
    check(current, { 'playlist has LL-HLS parts': (p) => p !== null && p.partTarget !== null });
    sleep(1);
    return;
  }
  if (current.mapUri !== null) http.get(current.mapUri, { tags: { kind: 'init' }, responseType: 'none' });
  // Start from the newest independent part, as a player would.
  let startAt = current.parts.length - 1;
  while (startAt > 0 && !current.parts[startAt]!.independent) startAt--;
  const start = current.parts[startAt];
  lastPartMsn = start === undefined ? -1 : start.msn;
  lastPartIndex = start === undefined ? -1 : start.index - 1;
  fetchNewParts(current, Number.MAX_SAFE_INTEGER);
  mediaUrl = url;
  playlist = current;
}

export default function (): void {
  if (mediaUrl === null || playlist === null) {
    join();
    return;
  }
  const next = nextBlockingReload(playlist);
  const reloadUrl = withQuery(mediaUrl, next.part === null ? { _HLS_msn: next.msn } : { _HLS_msn: next.msn, _HLS_part: next.part });
  const started = Date.now();
  const response = http.get(reloadUrl, { tags: { kind: 'blocking_reload' }, timeout: '30s' });
  const waited = (Date.now() - started) / 1000;
  const current = response.status === 200 ? parse(response.body, mediaUrl) : null;
  if (current === null) {
    // 400: our msn fell out of the window (we were too slow): join again at the live edge.
    rejoins.add(1);
    mediaUrl = null;
    playlist = null;
    return;
  }
  blockingReload.add(waited);
  fetchNewParts(current, 3 * Math.max(1, Math.ceil(current.targetDuration / (current.partTarget ?? current.targetDuration))));
  playlist = current;
  // A server that answers at once (no blocking support) must not be hammered.
  if (waited < 0.01 && current.partTarget !== null) sleep(current.partTarget / 2);
}
