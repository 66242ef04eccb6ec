import { createHash } from 'node:crypto';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { EventBus, StreamEvent } from '../events/stream-events.js';
import type { ViewerCountStore } from './redis-viewer-store.js';

/**
 * Per-stream viewer counts: WebSocket subscribers plus HLS/DASH playback
 * sessions. A playback session is a client key (explicit `?sid=` or a hash of
 * IP + user agent) seen within the idle timeout; playlists stay identical for
 * everyone, so a CDN can cache them.
 *
 * Changes are coalesced: at most one `viewer_count_changed` per stream per
 * tick (500 ms), published only when the global count moved, never one per
 * join. With a store (Redis), the global count is this instance's count plus
 * every other live instance's last heartbeat.
 */

export interface ViewerCounterOptions {
  instanceId: string;
  bus: EventBus;
  log?: Logger;
  /** Clock (ms); tests inject one. */
  now?: () => number;
  /** A playback session not seen for this long stops counting (30 s: a few segment durations). */
  sessionIdleMs?: number;
  /** Coalescing period of viewer_count_changed (500 ms). */
  tickMs?: number;
  /** Cross-instance counts; null = this instance only. */
  store?: ViewerCountStore | null;
  /** Heartbeat period towards the store (2000 ms; must be well under the store's TTL). */
  syncIntervalMs?: number;
  /** Start the timers now (true). Tests drive tick() and syncRemote() by hand. */
  autoStart?: boolean;
}

/** A stable, non-reversible key for a playback client: the explicit session id when given, else IP + user agent. */
export function playbackClientKey(ip: string, userAgent: string, sessionId?: string | null): string {
  if (sessionId) return `sid:${sessionId.slice(0, 128)}`;
  return createHash('sha1').update(ip).update('\0').update(userAgent).digest('base64url');
}

export class ViewerCounter {
  readonly instanceId: string;
  private readonly bus: EventBus;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly sessionIdleMs: number;
  private readonly tickMs: number;
  private readonly syncIntervalMs: number;
  private readonly store: ViewerCountStore | null;
  private readonly wsViewers = new Map<string, number>();
  /** stream → client key → last seen (ms). */
  private readonly sessions = new Map<string, Map<string, number>>();
  /** Other instances' counts from the last successful exchange. */
  private remote = new Map<string, number>();
  private remoteAt = 0;
  private readonly lastPublished = new Map<string, number>();
  private readonly peaks = new Map<string, number>();
  private tickTimer: PeriodicTask | null = null;
  private syncTimer: PeriodicTask | null = null;
  private syncing = false;
  private readonly unsubscribe: () => void;
  /** Counters for tests and metrics. */
  readonly stats = { eventsPublished: 0, syncFailures: 0 };

  constructor(options: ViewerCounterOptions) {
    this.instanceId = options.instanceId;
    this.bus = options.bus;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.sessionIdleMs = options.sessionIdleMs ?? 30_000;
    this.tickMs = options.tickMs ?? 500;
    this.syncIntervalMs = options.syncIntervalMs ?? 2000;
    this.store = options.store ?? null;
    this.unsubscribe = this.bus.subscribe((event) => this.onStreamEvent(event));
    if (options.autoStart ?? true) this.start();
  }

  start(): void {
    if (this.tickTimer) return;
    this.tickTimer = every(this.tickMs, () => this.tick());
    if (this.store) {
      this.syncTimer = every(this.syncIntervalMs, () => void this.syncRemote());
      void this.syncRemote();
    }
  }

  wsJoined(streamId: string): void {
    this.wsViewers.set(streamId, (this.wsViewers.get(streamId) ?? 0) + 1);
  }

  wsLeft(streamId: string): void {
    const count = (this.wsViewers.get(streamId) ?? 0) - 1;
    if (count > 0) this.wsViewers.set(streamId, count);
    else this.wsViewers.delete(streamId);
  }

  /** Called per playlist/segment request; cheap (one map write). */
  touchPlayback(streamId: string, clientKey: string, now: number = this.now()): void {
    let perStream = this.sessions.get(streamId);
    if (!perStream) {
      perStream = new Map();
      this.sessions.set(streamId, perStream);
    }
    perStream.set(clientKey, now);
  }

  /**
   * Viewers of `streamId` on this instance. O(1): idle sessions leave at the
   * next tick's sweep, so the figure may include ones idle for up to one tick
   * more than the timeout (cheap matters: every join's snapshot asks).
   */
  localCount(streamId: string): number {
    return (this.wsViewers.get(streamId) ?? 0) + (this.sessions.get(streamId)?.size ?? 0);
  }

  /** Viewers across all live instances. */
  count(streamId: string, now: number = this.now()): number {
    return this.localCount(streamId) + this.remoteCount(streamId, now);
  }

  peak(streamId: string): number {
    return Math.max(this.peaks.get(streamId) ?? 0, this.lastPublished.get(streamId) ?? 0);
  }

  /** Expires idle sessions and publishes one viewer_count_changed per stream whose global count moved. */
  tick(now: number = this.now()): void {
    const cutoff = now - this.sessionIdleMs;
    for (const [streamId, perStream] of this.sessions) {
      for (const [key, seen] of perStream) if (seen <= cutoff) perStream.delete(key);
      if (perStream.size === 0) this.sessions.delete(streamId);
    }
    const streams = new Set<string>([...this.wsViewers.keys(), ...this.sessions.keys(), ...this.lastPublished.keys()]);
    if (this.remoteFresh(now)) for (const streamId of this.remote.keys()) streams.add(streamId);
    for (const streamId of streams) {
      const viewers = this.count(streamId, now);
      const previous = this.lastPublished.get(streamId) ?? 0;
      if (viewers === previous) continue;
      const peak = Math.max(this.peaks.get(streamId) ?? 0, viewers);
      this.peaks.set(streamId, peak);
      if (viewers === 0) this.lastPublished.delete(streamId);
      else this.lastPublished.set(streamId, viewers);
      this.stats.eventsPublished++;
      this.bus.publish({ type: 'viewer_count_changed', streamId, instanceId: this.instanceId, at: now, viewers, peak });
    }
  }

  /** One heartbeat: writes local counts, reads the others'. Failures keep the last remote view until it is a TTL old. */
  async syncRemote(): Promise<void> {
    if (!this.store || this.syncing) return;
    this.syncing = true;
    const now = this.now();
    const local = new Map<string, number>();
    const streams = new Set<string>([...this.wsViewers.keys(), ...this.sessions.keys()]);
    for (const streamId of streams) local.set(streamId, this.localCount(streamId));
    try {
      this.remote = await this.store.exchange(local);
      this.remoteAt = this.now();
    } catch (err) {
      this.stats.syncFailures++;
      this.log?.debug({ err }, 'viewer count exchange failed');
    } finally {
      this.syncing = false;
    }
  }

  /** Streams with any viewer known to this instance (for per-second metrics). */
  streamsWithViewers(): string[] {
    return [...this.lastPublished.keys()];
  }

  async close(): Promise<void> {
    this.tickTimer?.cancel();
    this.syncTimer?.cancel();
    this.tickTimer = null;
    this.syncTimer = null;
    this.unsubscribe();
    if (this.store) await this.store.close();
  }

  private remoteCount(streamId: string, now: number): number {
    return this.remoteFresh(now) ? (this.remote.get(streamId) ?? 0) : 0;
  }

  /** A remote view older than a few heartbeats (Redis gone) is dropped rather than trusted forever. */
  private remoteFresh(now: number): boolean {
    return this.remote.size > 0 && now - this.remoteAt <= this.syncIntervalMs * 5;
  }

  private onStreamEvent(event: StreamEvent): void {
    // The peak belongs to one broadcast (the ingesting instance wrote it with ENDED, see StreamLifecycle.ended): a new start begins a new peak.
    if (event.type === 'stream_ended' || event.type === 'stream_started') this.peaks.delete(event.streamId);
  }
}
