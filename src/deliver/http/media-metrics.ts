import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SegmentStore } from '../store/segment-store.js';
import type { PlaybackRefusal } from '../playback-gate.js';
import type { HeldKind } from './request-hold.js';

/** What a media response served: the label of the served counters. */
export type ServedKind = 'playlist' | 'init' | 'segment' | 'part' | 'mpd';

function metricOnce<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * What a route set served since the counters last read it: plain numbers
 * added per response, moved into prom-client's counters when they are
 * scraped (their collect). prom-client's inc finds the labelled series by
 * its hash on every call, three calls per media response, about a
 * microsecond per request on the hot path; a field update costs nothing.
 */
class ServedTally {
  /** responses and body bytes by kind, in SERVED_KINDS order */
  readonly served = new Float64Array(SERVED_KINDS.length);
  readonly bytes = new Float64Array(SERVED_KINDS.length);
  /** seconds of media by rendition */
  readonly seconds = new Map<string, number>();
}

const SERVED_KINDS: readonly ServedKind[] = ['playlist', 'init', 'segment', 'part', 'mpd'];
const KIND_INDEX: Readonly<Record<ServedKind, number>> = { playlist: 0, init: 1, segment: 2, part: 3, mpd: 4 };

/** Every route set's tally of one registry: its counters' collect drains them all (two route sets may share a registry). */
const talliesOf = new WeakMap<Registry, ServedTally[]>();

function drainTallies(registry: Registry, served: Counter<'kind'>, bytes: Counter<'kind'>, seconds: Counter<'rendition'>): void {
  for (const tally of talliesOf.get(registry) ?? []) {
    for (let i = 0; i < SERVED_KINDS.length; i++) {
      if (tally.served[i]! > 0) served.inc({ kind: SERVED_KINDS[i]! }, tally.served[i]!);
      if (tally.bytes[i]! > 0) bytes.inc({ kind: SERVED_KINDS[i]! }, tally.bytes[i]!);
      tally.served[i] = 0;
      tally.bytes[i] = 0;
    }
    for (const [rendition, value] of tally.seconds) if (value > 0) seconds.inc({ rendition }, value);
    tally.seconds.clear();
  }
}

/**
 * Playlist renders: requests answered from the render cache (hit) or
 * rendered for them (miss), and playlists the main thread rendered once for
 * every delivery thread (shared).
 */
export function playlistRenders(registry: Registry): Counter<'result'> {
  return metricOnce(
    registry,
    'nova_streaming_playlist_renders_total',
    () =>
      new Counter({
        name: 'nova_streaming_playlist_renders_total',
        help: 'Playlist and MPD requests answered from the render cache (hit) or rendered (miss); playlists and MPDs rendered once by the main thread for every delivery thread (shared)',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
  );
}

/**
 * The media plane's metrics: what was served (count and bytes by kind), the
 * store's memory and parked requests, the playlist render cache, and how long
 * a completed segment took to be listed. Registered once per registry (two
 * route sets on one registry share them).
 */
export class MediaMetrics {
  private readonly tally = new ServedTally();
  private readonly renderHits: Counter.Internal;
  private readonly renderMisses: Counter.Internal;
  private readonly refused: Counter<'protocol' | 'reason'>;
  private readonly holdTimeouts: Counter<'kind'>;

  constructor(
    registry: Registry,
    store: SegmentStore,
    /** bytes the playlist render cache holds, read at scrape time */
    renderCacheBytes: () => number,
  ) {
    let tallies = talliesOf.get(registry);
    if (tallies === undefined) {
      tallies = [];
      talliesOf.set(registry, tallies);
    }
    tallies.push(this.tally);
    // whichever of the three is scraped first moves every tally into all three
    const drain = (): void => drainTallies(registry, served, bytesServed, renditionSeconds);
    const served = metricOnce(
      registry,
      'nova_streaming_segments_served_total',
      () =>
        new Counter({
          name: 'nova_streaming_segments_served_total',
          help: 'Playlists, MPDs, inits, segments and parts served (200/206)',
          labelNames: ['kind'] as const,
          registers: [registry],
          collect: drain,
        }),
    );
    const bytesServed = metricOnce(
      registry,
      'nova_streaming_bytes_served_total',
      () =>
        new Counter({
          name: 'nova_streaming_bytes_served_total',
          help: 'Body bytes served by kind',
          labelNames: ['kind'] as const,
          registers: [registry],
          collect: drain,
        }),
    );
    // Each viewer fetches about one second of media a second: the rate by rendition is the quality distribution.
    const renditionSeconds = metricOnce(
      registry,
      'nova_streaming_rendition_media_seconds_served_total',
      () =>
        new Counter({
          name: 'nova_streaming_rendition_media_seconds_served_total',
          help: 'Seconds of media served in segments and parts by rendition (its video track, or audio of an audio-only stream): its rate is viewers per rendition',
          labelNames: ['rendition'] as const,
          registers: [registry],
          collect: drain,
        }),
    );
    this.holdTimeouts = metricOnce(
      registry,
      'nova_streaming_held_requests_timed_out_total',
      () =>
        new Counter({
          name: 'nova_streaming_held_requests_timed_out_total',
          help: 'Held requests answered 503 because what they waited for did not come in time, by kind (playlist: LL-HLS blocking reload; part: preload hint; segment: the one in progress; ts: the first MPEG-TS segment)',
          labelNames: ['kind'] as const,
          registers: [registry],
        }),
    );
    this.refused = metricOnce(
      registry,
      'nova_streaming_playback_refused_total',
      () =>
        new Counter({
          name: 'nova_streaming_playback_refused_total',
          help: 'Requests for a private stream refused for want of a good viewer token, by protocol and reason (401: missing/invalid/expired/revoked; 403: wrong_stream)',
          labelNames: ['protocol', 'reason'] as const,
          registers: [registry],
        }),
    );
    metricOnce(
      registry,
      'nova_streaming_segment_store_bytes',
      () =>
        new Gauge({
          name: 'nova_streaming_segment_store_bytes',
          help: 'Bytes of packaged media held in memory',
          registers: [registry],
          // every delivery thread's copy of the store holds the same (shared) bytes: not added up
          aggregator: 'max',
          collect() {
            this.set(store.memoryBytes);
          },
        }),
    );
    metricOnce(
      registry,
      'nova_streaming_blocking_reloads_parked',
      () =>
        new Gauge({
          name: 'nova_streaming_blocking_reloads_parked',
          help: 'Requests parked on an LL-HLS blocking reload or preload hint',
          registers: [registry],
          collect() {
            this.set(store.parkedCount);
          },
        }),
    );
    metricOnce(
      registry,
      'nova_streaming_playlist_render_cache_bytes',
      () =>
        new Gauge({
          name: 'nova_streaming_playlist_render_cache_bytes',
          help: 'Bytes of rendered playlists kept for reuse until their stream changes',
          registers: [registry],
          collect() {
            this.set(renderCacheBytes());
          },
        }),
    );
    const renders = playlistRenders(registry);
    this.renderHits = renders.labels('hit');
    this.renderMisses = renders.labels('miss');
    const segmentGeneration = metricOnce(
      registry,
      'nova_streaming_hls_segment_generation_seconds',
      () =>
        new Histogram({
          name: 'nova_streaming_hls_segment_generation_seconds',
          help: 'Arrival of the bytes that completed a segment (the next keyframe) to the segment listed in playlists and MPDs',
          labelNames: ['track'] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers: [registry],
        }),
    );
    store.onSegmentListed((_streamId, _rendition, segment) => {
      if (segment.completedReceivedAt === undefined) return;
      // the same clock the ingest side stamped arrival with (performance.timeOrigin based epoch ms)
      const seconds = (performance.timeOrigin + performance.now() - segment.completedReceivedAt) / 1000;
      segmentGeneration.observe({ track: segment.track }, Math.max(0, seconds));
    });
  }

  /** A playlist request was answered from the render cache (hit) or rendered. */
  countRender(hit: boolean): void {
    if (hit) this.renderHits.inc();
    else this.renderMisses.inc();
  }

  /** A whole segment or part of `rendition`'s main track went out: `seconds` of media to a viewer. */
  countMediaSeconds(rendition: string, seconds: number): void {
    const tally = this.tally.seconds;
    tally.set(rendition, (tally.get(rendition) ?? 0) + seconds);
  }

  /** A held request (blocking reload, hinted part, segment in progress, first TS segment) waited its whole timeout. */
  countHoldTimeout(kind: HeldKind): void {
    this.holdTimeouts.inc({ kind });
  }

  /** A request for a private stream was refused (see playback-gate.ts). */
  countRefused(protocol: 'hls' | 'dash', reason: PlaybackRefusal): void {
    this.refused.inc({ protocol, reason });
  }

  /** A response went out (not aborted); `bodyBytes` null for a HEAD. */
  countServed(kind: ServedKind, bodyBytes: number | null): void {
    const index = KIND_INDEX[kind];
    this.tally.served[index]++;
    if (bodyBytes !== null) this.tally.bytes[index] += bodyBytes;
  }
}
