/**
 * Node mirror of loadtest/k6/dash-viewers.ts: MPD reloads, init once, each
 * newer segment of one video and one audio representation once; same parameters.
 *
 *   node --import tsx loadtest/http/dash-viewers.ts --url http://host:8080/dash/<id>/manifest.mpd \
 *     [--vus 50] [--ramp 30s] [--duration 2m] [--rendition random|lowest|highest] [--json]
 */
import { chooseVariant, resolveUri } from '../k6/lib/hls-playlist.js';
import { parseDashManifest, type DashManifest, type DashRepresentation } from '../k6/lib/dash-manifest.js';
import type { ViewerScenarioParams } from '../k6/lib/scenario-params.js';
import type { LoadStats } from './lib/load-stats.js';
import { timedGet } from './lib/timed-fetch.js';
import { pause, runViewerScenario } from './lib/viewer-run.js';

function choose(manifest: DashManifest, params: ViewerScenarioParams): DashRepresentation[] {
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

export async function dashViewer(params: ViewerScenarioParams, stats: LoadStats, signal: AbortSignal): Promise<void> {
  let chosen: string[] | null = null;
  const lastNumber = new Map<string, number>();
  while (!signal.aborted) {
    const response = await timedGet(stats, 'manifest', params.url, { asText: true, signal });
    if (response.status !== 200 || response.text === null) {
      await pause(1, signal);
      continue;
    }
    const manifest = parseDashManifest(response.text, params.url, Date.now(), resolveUri);
    if (chosen === null) {
      const picked = choose(manifest, params);
      for (const representation of picked) {
        if (representation.initUrl !== null) await timedGet(stats, 'init', representation.initUrl, { asText: false, signal });
      }
      chosen = picked.map((r) => r.id);
    }
    let segmentSeconds = 2;
    for (const representation of manifest.representations) {
      if (!chosen.includes(representation.id) || representation.newestSegment === null) continue;
      const newest = representation.newestSegment;
      segmentSeconds = newest.durationSeconds;
      if ((lastNumber.get(representation.id) ?? -1) >= newest.number) continue;
      const segment = await timedGet(stats, 'segment', newest.url, { asText: false, signal });
      if (segment.status === 200) stats.count('dash_segments_fetched');
      lastNumber.set(representation.id, newest.number);
    }
    await pause(Math.max(0.2, Math.min(manifest.minimumUpdatePeriodSeconds ?? segmentSeconds, segmentSeconds)), signal);
  }
}

await runViewerScenario('dash-viewers', dashViewer, process.argv.slice(2));
