/**
 * Node mirror of loadtest/k6/ll-hls-viewers.ts: blocking reloads with
 * _HLS_msn/_HLS_part, each new part fetched once; same parameters.
 *
 *   node --import tsx loadtest/http/ll-hls-viewers.ts --url http://host:8080/hls/<id>/master.m3u8 \
 *     [--vus 50] [--ramp 30s] [--duration 2m] [--rendition random|lowest|highest] [--json]
 *
 * The "blocking_reload" latency is the part-publication wait a player sees.
 */
import {
  chooseVariant,
  isMasterPlaylist,
  nextBlockingReload,
  parseMasterPlaylist,
  parseMediaPlaylist,
  partsAfter,
  withQuery,
  type HlsMediaPlaylist,
} from '../k6/lib/hls-playlist.js';
import type { ViewerScenarioParams } from '../k6/lib/scenario-params.js';
import type { LoadStats } from './lib/load-stats.js';
import { timedGet } from './lib/timed-fetch.js';
import { pause, runViewerScenario } from './lib/viewer-run.js';

export async function llHlsViewer(params: ViewerScenarioParams, stats: LoadStats, signal: AbortSignal): Promise<void> {
  let mediaUrl: string | null = null;
  let playlist: HlsMediaPlaylist | null = null;
  let lastPartMsn = -1;
  let lastPartIndex = -1;

  const fetchNewParts = async (current: HlsMediaPlaylist, limit: number): Promise<void> => {
    for (const part of partsAfter(current, lastPartMsn, lastPartIndex, limit)) {
      const response = await timedGet(stats, 'part', part.uri, { asText: false, signal });
      if (response.status === 200) stats.count('ll_hls_parts_fetched');
      lastPartMsn = part.msn;
      lastPartIndex = part.index;
    }
  };

  while (!signal.aborted) {
    if (mediaUrl === null || playlist === null) {
      const master = await timedGet(stats, 'playlist', params.url, { asText: true, signal });
      if (master.status !== 200 || master.text === null) {
        await pause(1, signal);
        continue;
      }
      const url = isMasterPlaylist(master.text) ? chooseVariant(parseMasterPlaylist(master.text, params.url), params.rendition, Math.random).uri : params.url;
      const response = await timedGet(stats, 'playlist', url, { asText: true, signal });
      const current = response.status === 200 && response.text !== null ? parseMediaPlaylist(response.text, url) : null;
      if (current === null || current.partTarget === null) {
        if (current !== null) stats.count('ll_hls_playlist_without_parts');
        await pause(1, signal);
        continue;
      }
      if (current.mapUri !== null) await timedGet(stats, 'init', current.mapUri, { asText: false, signal });
      let startAt = current.parts.length - 1;
      while (startAt > 0 && !current.parts[startAt]!.independent) startAt--;
      const start = current.parts[startAt];
      lastPartMsn = start === undefined ? -1 : start.msn;
      lastPartIndex = start === undefined ? -1 : start.index - 1;
      await fetchNewParts(current, Number.MAX_SAFE_INTEGER);
      mediaUrl = url;
      playlist = current;
      continue;
    }
    const next = nextBlockingReload(playlist);
    const reloadUrl = withQuery(mediaUrl, next.part === null ? { _HLS_msn: next.msn } : { _HLS_msn: next.msn, _HLS_part: next.part });
    const response = await timedGet(stats, 'blocking_reload', reloadUrl, { asText: true, signal });
    if (signal.aborted) break;
    const current = response.status === 200 && response.text !== null ? parseMediaPlaylist(response.text, mediaUrl) : null;
    if (current === null) {
      stats.count('ll_hls_rejoins');
      mediaUrl = null;
      playlist = null;
      continue;
    }
    await fetchNewParts(current, 3 * Math.max(1, Math.ceil(current.targetDuration / (current.partTarget ?? current.targetDuration))));
    playlist = current;
    if (response.ms < 10 && current.partTarget !== null) await pause(current.partTarget / 2, signal);
  }
}

await runViewerScenario('ll-hls-viewers', llHlsViewer, process.argv.slice(2));
