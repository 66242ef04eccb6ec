import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { EventBus, StreamEvent } from './stream-events.js';

/**
 * The cross-instance bus for what may be lost: one Redis pub/sub channel per
 * deployment carrying ephemeral events (viewer counts, per-second metrics) and
 * the instances' heartbeats. Lifecycle events travel durably through the
 * outbox and the event log (event-pipeline.ts), whose consumer on this
 * instance hands them to `receive`.
 *
 * - An event published here reaches local subscribers at once (synchronously,
 *   like LocalEventBus) and other instances through Redis; this instance's own
 *   echoes are recognised by `origin` and dropped.
 * - Redis going away never stops local delivery. Events published while it is
 *   away are not queued (a stale "viewer_count_changed" replayed later is worse
 *   than none); the durable ones wait in the outbox instead.
 * - An instance that dies (kill -9) says no goodbye. Every instance sends the
 *   list of streams it ingests every heartbeatMs; a peer silent for
 *   peerTimeoutMs while this bus is connected is presumed dead and its
 *   streams end here with reason "disconnected", so viewers elsewhere are not
 *   left watching a stream that no longer exists (its durable stream_ended,
 *   written when it restarts, is then not told twice).
 */

export type BusStatus = 'connected' | 'disconnected';

export interface RedisEventBusOptions {
  url: string;
  instanceId: string;
  /** Channel name; one per deployment ("nova:events"). Tests use a unique one per run. */
  channel?: string;
  log: Logger;
  /** Reconnect backoff ceiling (2000 ms): 50 ms doubling, plus jitter. */
  maxReconnectDelayMs?: number;
  /** Called for every handler exception (counted by the caller). */
  onHandlerError?: (err: unknown) => void;
  /** How often this instance re-states its live streams (2000 ms). */
  heartbeatMs?: number;
  /** A peer not heard from for this long is presumed dead and its streams end (10000 ms: several heartbeats). */
  peerTimeoutMs?: number;
}

/** What travels on the channel. `origin` is the publishing bus's instanceId. */
type Envelope =
  | { kind: 'event'; origin: string; event: StreamEvent }
  | { kind: 'sync_request'; origin: string }
  /** The full list of streams live on `origin` (its heartbeat): teaches late joiners who ingests what. */
  | { kind: 'sync_state'; origin: string; streams: string[] };

export function reconnectDelay(retries: number, maxDelayMs: number): number {
  const base = Math.min(50 * 2 ** Math.min(retries, 16), maxDelayMs);
  return base + Math.floor(Math.random() * 100);
}

export class RedisEventBus implements EventBus {
  readonly instanceId: string;
  readonly channel: string;
  private readonly handlers = new Set<(event: StreamEvent) => void>();
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  /** Streams live on this instance, as its own lifecycle events said. */
  private readonly liveHere = new Set<string>();
  /** What this instance ingests now (the ingest server's list), when the server gave one: heartbeats state it. */
  private liveProvider: () => readonly string[] = () => [];
  /** Streams this bus ended because their instance went silent: their durable stream_ended, when it comes, is not news. */
  private readonly endedBySilence = new Set<string>();
  /** stream → when its durable stream_ended came: a heartbeat sent just before that end must not make it live again */
  private readonly recentlyEnded = new Map<string, number>();
  /** Streams live on other instances, with their origin: what the origin's death ends here. */
  private readonly liveElsewhere = new Map<string, string>();
  private readonly publisher: RedisClientType;
  private readonly subscriber: RedisClientType;
  private readonly log: Logger;
  private readonly onHandlerError: (err: unknown) => void;
  private connected = false;
  private closed = false;
  private subscribed = false;
  /** origin → when we last heard anything from it (ms). */
  private readonly peerSeenAt = new Map<string, number>();
  private readonly heartbeatTimer: PeriodicTask;
  private readonly peerTimeoutMs: number;
  /** Counters for tests and metrics. */
  readonly stats = { published: 0, received: 0, publishFailures: 0, resyncs: 0, malformed: 0 };

  constructor(options: RedisEventBusOptions) {
    this.instanceId = options.instanceId;
    this.channel = options.channel ?? 'nova:events';
    this.log = options.log;
    this.onHandlerError = options.onHandlerError ?? ((err) => this.log.error({ err }, 'event handler threw'));
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    this.peerTimeoutMs = options.peerTimeoutMs ?? 10_000;
    this.heartbeatTimer = every(options.heartbeatMs ?? 2000, () => this.heartbeat());
    const socket = { reconnectStrategy: (retries: number) => reconnectDelay(retries, maxDelay), connectTimeout: 2000 };
    // disableOfflineQueue: a publish while disconnected fails fast instead of piling up.
    this.publisher = createClient({ url: options.url, socket, disableOfflineQueue: true }) as RedisClientType;
    this.subscriber = this.publisher.duplicate() as RedisClientType;
    for (const client of [this.publisher, this.subscriber]) {
      // node-redis emits 'error' on every failed reconnect; without a listener it would crash the process.
      client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'redis bus connection error'));
      client.on('ready', () => this.updateStatus());
      client.on('end', () => this.updateStatus());
      client.on('reconnecting', () => this.updateStatus());
    }
    void this.publisher.connect().catch((err: unknown) => this.log.warn({ err }, 'redis bus publisher did not connect'));
    void this.subscriber
      .connect()
      .then(() => this.subscriber.subscribe(this.channel, (message) => this.onMessage(message)))
      .then(() => {
        this.subscribed = true;
        this.updateStatus();
      })
      .catch((err: unknown) => this.log.warn({ err }, 'redis bus subscriber did not connect'));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Listens to connection changes; returns the unsubscribe function. */
  onStatus(listener: (status: BusStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  publish(event: StreamEvent): void {
    this.trackLocalState(event);
    this.deliver(event);
    this.send({ kind: 'event', origin: this.instanceId, event });
  }

  receive(event: StreamEvent): void {
    if (event.type === 'stream_ended' && this.endedBySilence.delete(event.streamId)) {
      this.liveHere.delete(event.streamId);
      this.liveElsewhere.delete(event.streamId);
      return;
    }
    if (event.instanceId === this.instanceId) this.trackLocalState(event);
    else this.trackRemoteState(event.instanceId, event);
    if (event.type === 'stream_ended') {
      // whoever wrote it (the ingesting instance, or an API call elsewhere): the stream is over everywhere
      this.liveHere.delete(event.streamId);
      this.liveElsewhere.delete(event.streamId);
      this.recentlyEnded.set(event.streamId, Date.now());
    } else if (event.type === 'stream_started') {
      this.recentlyEnded.delete(event.streamId);
    }
    this.deliver(event);
  }

  /** The streams this instance ingests right now: heartbeats list them (with those its own events announced). */
  reportLiveStreams(provider: () => readonly string[]): void {
    this.liveProvider = provider;
  }

  subscribe(handler: (event: StreamEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Resolves once both connections are ready (tests; start-up readiness). */
  async waitConnected(timeoutMs = 5000): Promise<void> {
    if (this.connected) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`redis bus not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onStatus((status) => {
        if (status !== 'connected') return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.heartbeatTimer.cancel();
    this.handlers.clear();
    for (const client of [this.subscriber, this.publisher]) {
      try {
        if (client.isOpen) client.destroy();
      } catch {
        // already closed
      }
    }
    this.connected = false;
    this.statusListeners.clear();
  }

  private trackLocalState(event: StreamEvent): void {
    if (event.instanceId !== this.instanceId) return;
    if (event.type === 'stream_started' || event.type === 'quality_changed') {
      this.liveHere.add(event.streamId);
      // its publisher moved here: the instance it left no longer speaks for it (its silence must not end it)
      this.liveElsewhere.delete(event.streamId);
    } else if (event.type === 'stream_ended') {
      this.liveHere.delete(event.streamId);
    }
  }

  private deliver(event: StreamEvent): void {
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }

  private send(envelope: Envelope): void {
    if (!this.connected) return;
    this.stats.published++;
    this.publisher.publish(this.channel, JSON.stringify(envelope)).catch((err: unknown) => {
      this.stats.publishFailures++;
      this.log.debug({ err }, 'redis bus publish failed');
    });
  }

  private onMessage(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      this.stats.malformed++;
      return;
    }
    if (typeof envelope !== 'object' || envelope === null || envelope.origin === this.instanceId) return;
    this.stats.received++;
    this.peerSeenAt.set(envelope.origin, Date.now());
    if (envelope.kind === 'sync_request') {
      this.sendState();
      return;
    }
    if (envelope.kind === 'sync_state') {
      if (Array.isArray(envelope.streams)) this.learn(envelope.origin, new Set(envelope.streams));
      return;
    }
    if (envelope.kind === 'event' && typeof envelope.event === 'object' && envelope.event !== null) {
      this.trackRemoteState(envelope.origin, envelope.event);
      this.deliver(envelope.event);
    } else {
      this.stats.malformed++;
    }
  }

  private trackRemoteState(origin: string, event: StreamEvent): void {
    if (event.type === 'stream_started' || event.type === 'quality_changed') {
      this.liveElsewhere.set(event.streamId, origin);
      this.endedBySilence.delete(event.streamId);
    } else if (event.type === 'stream_ended') this.liveElsewhere.delete(event.streamId);
  }

  /**
   * Learns the streams `origin` lists: an instance that started after their
   * stream_started learns here who ingests them, to end them should that
   * instance die. One it no longer lists is not ended here: its durable
   * stream_ended is on its way through the event log (only a dead instance
   * cannot write one: see heartbeat()).
   */
  private learn(origin: string, live: Set<string>): void {
    for (const streamId of live) {
      if (this.liveElsewhere.has(streamId) || this.liveHere.has(streamId) || this.recentlyEnded.has(streamId)) continue;
      this.liveElsewhere.set(streamId, origin);
    }
  }

  private heartbeat(): void {
    if (!this.connected) return;
    this.sendState();
    const now = Date.now();
    for (const [streamId, endedAt] of this.recentlyEnded) if (now - endedAt > this.peerTimeoutMs) this.recentlyEnded.delete(streamId);
    for (const [streamId, owner] of this.liveElsewhere) {
      if (now - (this.peerSeenAt.get(owner) ?? now) <= this.peerTimeoutMs) continue;
      this.liveElsewhere.delete(streamId);
      this.log.warn({ stream: streamId, instance: owner }, 'instance silent past the peer timeout: ending its stream here');
      this.endedBySilence.add(streamId);
      this.deliver({ type: 'stream_ended', streamId, instanceId: owner, at: now, reason: 'disconnected' });
    }
  }

  private sendState(): void {
    const streams = new Set<string>(this.liveHere);
    for (const streamId of this.liveProvider()) streams.add(streamId);
    this.send({ kind: 'sync_state', origin: this.instanceId, streams: [...streams] });
  }

  private updateStatus(): void {
    const now = !this.closed && this.publisher.isReady && this.subscriber.isReady && this.subscribed;
    if (now === this.connected) return;
    this.connected = now;
    if (now) {
      this.stats.resyncs++;
      this.log.info({ channel: this.channel }, 'redis bus connected; exchanging live streams');
      // We could not hear anyone while away: peers get a whole timeout from now to speak up.
      const now = Date.now();
      for (const origin of this.peerSeenAt.keys()) this.peerSeenAt.set(origin, now);
      this.sendState();
      this.send({ kind: 'sync_request', origin: this.instanceId });
    } else {
      this.log.warn({ channel: this.channel }, 'redis bus disconnected; local delivery continues');
    }
    const status: BusStatus = now ? 'connected' : 'disconnected';
    for (const listener of this.statusListeners) {
      try {
        listener(status);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }
}
