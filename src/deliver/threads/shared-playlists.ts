import type { Counter, Registry } from 'prom-client';
import { playlistRenders } from '../http/media-metrics.js';
import { PlaylistRenderCache } from '../http/playlist-render-cache.js';
import { mpdTimeUrl, renderMpd } from '../http/dash-manifest.js';
import { playlistOptions, renderPlaylist, type HlsPlaylistsConfig, type PlaylistKey } from '../http/hls-playlists.js';
import type { SegmentStore, StreamStore } from '../store/segment-store.js';
import type { StoreChangeEntry } from './store-changes.js';

/** a playlist no thread has asked for in this long is no longer rendered ahead for them */
const WATCHED_FOR_MS = 5000;
/**
 * MPD keys (one per /time URL, i.e. per Host a viewer named) rendered ahead per
 * stream: a deployment has a few hosts; made-up Host headers past this are
 * rendered by the thread that got them, per change, as any other miss.
 */
const MAX_SHARED_MPDS = 4;

/**
 * A delivery thread's playlist render cache: it notes which public playlists
 * and MPDs its viewers ask for (reported to the main thread every second) and
 * takes the texts the main thread renders for them, so each is rendered once
 * per change for all threads rather than once in each.
 */
export class WatchedPlaylistCache extends PlaylistRenderCache {
  private watched = new Map<string, Set<PlaylistKey>>();

  override get(stream: StreamStore, key: string, render: (previous: string | null) => string | null): string | null {
    // a private stream's keys carry a viewer's token: rendered here, per viewer
    if (!stream.private) {
      let keys = this.watched.get(stream.id);
      if (keys === undefined) this.watched.set(stream.id, (keys = new Set()));
      keys.add(key);
    }
    return super.get(stream, key, render);
  }

  /** The public playlists asked for since the last call, by stream. */
  takeWatched(): Array<[streamId: string, keys: PlaylistKey[]]> {
    const taken: Array<[string, PlaylistKey[]]> = [];
    for (const [streamId, keys] of this.watched) taken.push([streamId, [...keys]]);
    this.watched = new Map();
    return taken;
  }
}

/** A watched playlist or MPD: when a thread last asked for it, and its text as last rendered (an MPD's publishTime stays while its text does). */
interface Watched {
  seenAt: number;
  text: string | null;
}

/**
 * The main thread's side: the public playlists and MPDs some delivery thread
 * asked for lately, rendered once whenever their stream changes and sent to
 * every thread with the batch of changes (after them, so each thread's copy
 * of the stream is in the state the text was rendered from).
 */
export class SharedPlaylists {
  private readonly watched = new Map<string, Map<PlaylistKey, Watched>>();

  private readonly renders: Counter.Internal;

  constructor(
    private readonly store: SegmentStore,
    private readonly config: HlsPlaylistsConfig,
    registry: Registry,
    private readonly now: () => number = Date.now,
  ) {
    this.renders = playlistRenders(registry).labels('shared');
  }

  /** A thread's viewers asked for these playlists and MPDs of the stream. */
  watch(streamId: string, keys: readonly PlaylistKey[]): void {
    const now = this.now();
    let watched = this.watched.get(streamId);
    if (watched === undefined) this.watched.set(streamId, (watched = new Map()));
    for (const key of keys) {
      const entry = watched.get(key);
      if (entry !== undefined) entry.seenAt = now;
      else if (mpdTimeUrl(key) === null || mpdCount(watched) < MAX_SHARED_MPDS) watched.set(key, { seenAt: now, text: null });
    }
  }

  /** The texts of the watched playlists of streams that changed. */
  render(changed: ReadonlySet<string>): StoreChangeEntry[] {
    const entries: StoreChangeEntry[] = [];
    const now = this.now();
    for (const streamId of changed) {
      const watched = this.watched.get(streamId);
      if (watched === undefined) continue;
      const stream = this.store.getStream(streamId);
      if (stream === undefined || stream.private) {
        this.watched.delete(streamId);
        continue;
      }
      const options = playlistOptions(this.store, this.config, '');
      for (const [key, entry] of watched) {
        if (now - entry.seenAt > WATCHED_FOR_MS) {
          watched.delete(key);
          continue;
        }
        const timeUrl = mpdTimeUrl(key);
        entry.text =
          timeUrl === null
            ? renderPlaylist(stream, streamId, key, options)
            : renderMpd(stream, streamId, timeUrl, '', this.store.options.windowSegments, this.config, entry.text);
        entries.push([streamId, { t: 'rendered', key, text: entry.text }, null]);
        this.renders.inc();
      }
      if (watched.size === 0) this.watched.delete(streamId);
    }
    return entries;
  }
}

function mpdCount(watched: ReadonlyMap<PlaylistKey, Watched>): number {
  let count = 0;
  for (const key of watched.keys()) if (mpdTimeUrl(key) !== null) count++;
  return count;
}
