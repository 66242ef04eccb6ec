/**
 * Node mirror of loadtest/k6/hls-viewers.ts: same viewer loop, same parameters.
 *
 *   node --import tsx loadtest/http/hls-viewers.ts --url http://host:8080/hls/<id>/master.m3u8 \
 *     [--vus 50] [--ramp 30s] [--duration 2m] [--rendition random|lowest|highest] [--join-segments 3] [--json]
 *
 * Prints req/s, errors, p50/p99 latency per kind; exits 1 when any request failed.
 */
import {
  chooseVariant,
  isMasterPlaylist,
  parseMasterPlaylist,
  parseMediaPlaylist,
  segmentsAfter,
  type HlsMediaPlaylist,
} from '../k6/lib/hls-playlist.js';
import type { ViewerScenarioParams } from '../k6/lib/scenario-params.js';
import type { LoadStats } from './lib/load-stats.js';
import { timedGet } from './lib/timed-fetch.js';
import { pause, runViewerScenario } from './lib/viewer-run.js';

async function loadPlaylist(stats: LoadStats, url: string, signal: AbortSignal): Promise<HlsMediaPlaylist | null> {
  const response = await timedGet(stats, 'playlist', url, { asText: true, signal });
  return response.status === 200 && response.text !== null ? parseMediaPlaylist(response.text, url) : null;
}

async function fetchSegment(stats: LoadStats, url: string, signal: AbortSignal): Promise<void> {
  const response = await timedGet(stats, 'segment', url, { asText: false, signal });
  if (response.status === 200) stats.count('hls_segments_fetched');
}

export async function hlsViewer(params: ViewerScenarioParams, stats: LoadStats, signal: AbortSignal): Promise<void> {
  let mediaUrl: string | null = null;
  let lastMsn = -1;
  let lastChangeAt = 0;
  while (!signal.aborted) {
    if (mediaUrl === null) {
      const master = await timedGet(stats, 'playlist', params.url, { asText: true, signal });
      if (master.status !== 200 || master.text === null) {
        await pause(1, signal);
        continue;
      }
      const url = isMasterPlaylist(master.text) ? chooseVariant(parseMasterPlaylist(master.text, params.url), params.rendition, Math.random).uri : params.url;
      const playlist = await loadPlaylist(stats, url, signal);
      if (playlist === null) {
        await pause(1, signal);
        continue;
      }
      if (playlist.mapUri !== null) await timedGet(stats, 'init', playlist.mapUri, { asText: false, signal });
      for (const segment of segmentsAfter(playlist, -1, params.joinSegments)) await fetchSegment(stats, segment.uri, signal);
      mediaUrl = url;
      lastMsn = playlist.mediaSequence + playlist.segments.length - 1;
      lastChangeAt = Date.now();
      await pause(playlist.targetDuration, signal);
      continue;
    }
    const started = Date.now();
    const playlist = await loadPlaylist(stats, mediaUrl, signal);
    if (playlist === null) {
      await pause(1, signal);
      continue;
    }
    const fresh = segmentsAfter(playlist, lastMsn, Number.MAX_SAFE_INTEGER);
    for (const segment of fresh) {
      await fetchSegment(stats, segment.uri, signal);
      lastMsn = segment.msn;
    }
    if (fresh.length > 0) lastChangeAt = started;
    else if (started - lastChangeAt > 1500 * playlist.targetDuration) stats.count('hls_stale_playlist_reloads');
    if (playlist.endList) {
      mediaUrl = null;
      continue;
    }
    const spentSeconds = (Date.now() - started) / 1000;
    await pause(Math.max(0.1, fresh.length > 0 ? playlist.targetDuration - spentSeconds : playlist.targetDuration / 2), signal);
  }
}

await runViewerScenario('hls-viewers', hlsViewer, process.argv.slice(2));
