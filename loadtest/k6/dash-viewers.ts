/**
 * DASH viewers: each VU joins (MPD → init segments of one video and one audio
 * representation → the newest segment of each), then reloads the MPD every
 * minimumUpdatePeriod (or segment duration) and fetches each newer segment once.
 *
 *   k6 run -e URL=http://host:8080/dash/<id>/manifest.mpd -e VUS=200 loadtest/k6/dash-viewers.ts
 *
 * Env: URL (required), VUS (50), RAMP (30s), DURATION (2m), RENDITION (random|lowest|highest).
 * Node mirror: loadtest/http/dash-viewers.ts.
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { chooseVariant, resolveUri } from './lib/hls-playlist.ts';
import { parseDashManifest, type DashManifest, type DashRepresentation } from './lib/dash-manifest.ts';
import { rampingViewers, viewerParamsFrom } from './lib/scenario-params.ts';

const params = viewerParamsFrom(__ENV);

export const options = {
  scenarios: {
    dash_viewers: rampingViewers(params),
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{kind:manifest}': ['p(99)<500'],
    'http_req_duration{kind:segment}': ['p(99)<2000'],
  },
};

const segmentsFetched = new Counter('dash_segments_fetched');

let chosen: string[] | null = null;
const lastNumber: Record<string, number> = {};

function loadManifest(): DashManifest | null {
  const response = http.get(params.url, { tags: { kind: 'manifest' } });
  if (!check(response, { 'manifest 200': (r) => r.status === 200 }) || typeof response.body !== 'string') return null;
  return parseDashManifest(response.body, params.url, Date.now(), resolveUri);
}

/** One video representation (by the rendition choice) and the first audio one. */
function choose(manifest: DashManifest): DashRepresentation[] {
  const videos = manifest.representations.filter((r) => r.contentType === 'video');
  const audio = manifest.representations.find((r) => r.contentType === 'audio');
  const picked: DashRepresentation[] = [];
  if (videos.length > 0) {
    const variant = chooseVariant(videos.map((v) => ({ uri: v.id, bandwidth: v.bandwidth })), params.rendition, Math.random);
    picked.push(videos.find((v) => v.id === variant.uri)!);
  }
  if (audio !== undefined) picked.push(audio);
  if (picked.length === 0 && manifest.representations[0] !== undefined) picked.push(manifest.representations[0]);
  return picked;
}

export default function (): void {
  const manifest = loadManifest();
  if (manifest === null) {
    sleep(1);
    return;
  }
  if (chosen === null) {
    const picked = choose(manifest);
    for (const representation of picked) {
      if (representation.initUrl !== null) http.get(representation.initUrl, { tags: { kind: 'init' }, responseType: 'none' });
    }
    chosen = picked.map((r) => r.id);
  }
  let segmentSeconds = 2;
  for (const representation of manifest.representations) {
    if (!chosen.includes(representation.id) || representation.newestSegment === null) continue;
    const newest = representation.newestSegment;
    segmentSeconds = newest.durationSeconds;
    if ((lastNumber[representation.id] ?? -1) >= newest.number) continue;
    const response = http.get(newest.url, { tags: { kind: 'segment' }, responseType: 'none' });
    if (check(response, { 'segment 200': (r) => r.status === 200 })) segmentsFetched.add(1);
    lastNumber[representation.id] = newest.number;
  }
  sleep(Math.max(0.2, Math.min(manifest.minimumUpdatePeriodSeconds ?? segmentSeconds, segmentSeconds)));
}
