import http from 'node:http';
import CircuitBreaker from 'opossum';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { SegmentStore } from '../store/segment-store.js';
import { FeedFrameReader, type FeedFrame } from './feed-frames.js';
import { alreadyHeld, applyFeedFrame } from './feed-apply.js';
import type { EdgeMetrics } from './edge-metrics.js';

/** Where a stream's origin answers internal requests. */
export interface OriginLocation {
  instanceId: string;
  /** base URL of its internal listener, e.g. http://10.0.0.7:8081 */
  url: string;
}

export type OriginLookup =
  | { kind: 'origin'; origin: OriginLocation }
  /** this instance ingests it */
  | { kind: 'here' }
  /** no live stream by that id */
  | { kind: 'not_live' }
  /** live on an instance that no longer advertises itself (it died; its publisher may come back elsewhere) */
  | { kind: 'unreachable'; instanceId: string };

/** Who ingests a stream now (shared state: PostgreSQL's record, Redis' live instances). */
export interface OriginDirectory {
  lookup(streamId: string): Promise<OriginLookup>;
}

export type AcquireOutcome = 'ready' | 'not_live' | 'unavailable';

export interface EdgeOptions {
  /** shared secret of internal requests */
  secret: string;
  /** a new replica's snapshot must start within this, or its waiting requests get 503 (2000) */
  syncTimeoutMs: number;
  /** a feed silent this long (the origin pings every 250 ms) is a lost origin (800): viewers hear of it within a second */
  silenceTimeoutMs: number;
  /** a lost origin's stream keeps being served as it was for this long, then its playlists answer 503 (3000) */
  lostGraceMs: number;
  /** a replica nobody asked for in this long is let go (30000) */
  idleMs: number;
  /** how often a lost stream's origin is looked up again (250) */
  lookupIntervalMs: number;
}

export const DEFAULT_EDGE_OPTIONS: Omit<EdgeOptions, 'secret'> = {
  syncTimeoutMs: 2000,
  silenceTimeoutMs: 800,
  lostGraceMs: 3000,
  idleMs: 30_000,
  lookupIntervalMs: 250,
};

type ReplicaState = 'syncing' | 'live' | 'lost' | 'ended';

/** how often an ended stream is looked up again while the store keeps it (a republish is followed) */
const ENDED_LOOKUP_MS = 2000;

interface Replica {
  readonly streamId: string;
  state: ReplicaState;
  origin: OriginLocation | null;
  request: http.ClientRequest | null;
  /** bumped per connection: callbacks of an older one are ignored */
  connection: number;
  waiters: Set<(outcome: AcquireOutcome) => void>;
  lastUsedAt: number;
  lastDataAt: number;
  /** when the origin was lost (0: it is not) */
  lostAt: number;
  interrupted: boolean;
  lookupDue: number;
  looking: boolean;
  tsWanted: boolean;
}

export interface EdgeReplicasDeps {
  store: SegmentStore;
  directory: OriginDirectory;
  metrics: EdgeMetrics;
  log: Logger;
  options: EdgeOptions;
  /** a stream's origin was lost (true) or is back (false): its WebSocket viewers here are told */
  onInterrupted?(streamId: string, interrupted: boolean): void;
}

class FeedRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The edge side of origin–edge delivery. A request for a stream this instance
 * does not ingest sets up a replica: one feed from the stream's origin (a
 * snapshot of its window, then every part as it is packaged) applied to this
 * instance's own segment store, which then serves every viewer here from
 * memory, LL-HLS waits included. However many viewers ask at once, there is
 * one feed per stream and each object crosses once.
 *
 * When the feed breaks (the origin died, drained or hangs) the replica keeps
 * serving what it has and looks the stream up again: a publisher that moved
 * to another instance is followed there, continuing the same playlists. Past
 * lostGraceMs its requests get 503 + Retry-After. A circuit per origin stops
 * new connections to one that keeps failing.
 */
export class EdgeReplicas {
  private readonly replicas = new Map<string, Replica>();
  private readonly breakers = new Map<string, CircuitBreaker<[Replica, OriginLocation], void>>();
  /** runs only while there are replicas: an instance nobody uses as an edge never wakes for it */
  private ticker: PeriodicTask | null = null;
  private closed = false;

  constructor(private readonly deps: EdgeReplicasDeps) {}

  /** Whether this instance serves the stream as a replica of another instance's. */
  isReplica(streamId: string): boolean {
    return this.replicas.has(streamId);
  }

  get replicaCount(): number {
    return this.replicas.size;
  }

  /**
   * The stream is not in this instance's store: replicate it from its origin.
   * `done` runs once the replica serves (ready), when no instance has the stream
   * live (not_live: 404) or when its origin cannot be reached in time
   * (unavailable: 503). Requests arriving meanwhile wait on the same replica.
   */
  acquire(streamId: string, done: (outcome: AcquireOutcome) => void): { cancel(): void } {
    let replica = this.replicas.get(streamId);
    if (replica) {
      this.deps.metrics.coalescedWaiters.inc();
    } else {
      replica = this.newReplica(streamId);
      this.deps.metrics.requests.inc({ result: 'miss' });
      void this.locate(replica);
    }
    const r = replica;
    r.lastUsedAt = Date.now();
    r.waiters.add(done);
    return { cancel: () => void r.waiters.delete(done) };
  }

  /**
   * A media request (or `requests` of them, a delivery thread's count since
   * its last report) for a stream in the store. 'local': not a replica (ingested
   * here). 'hit': a replica serving. 'unavailable': a replica whose origin has
   * been lost for longer than lostGraceMs (answer 503).
   */
  touch(streamId: string, requests = 1): 'local' | 'hit' | 'unavailable' {
    const replica = this.replicas.get(streamId);
    if (!replica) return 'local';
    replica.lastUsedAt = Date.now();
    this.deps.metrics.requestHits.inc(requests);
    return replica.interrupted ? 'unavailable' : 'hit';
  }

  /** A TS client asked for a replicated stream: its origin is asked to mux TS (idempotent). False when not a replica. */
  requestTs(streamId: string): boolean {
    const replica = this.replicas.get(streamId);
    if (!replica) return false;
    if (!replica.tsWanted) {
      replica.tsWanted = true;
      if (replica.origin) this.postTs(replica.origin, streamId);
    }
    return true;
  }

  /**
   * This instance starts ingesting the stream (its publisher moved here): the
   * replica stops following the old origin. True when it was a replica.
   */
  takeOver(streamId: string): boolean {
    const replica = this.replicas.get(streamId);
    if (!replica) return false;
    this.remove(replica, 'ready');
    return true;
  }

  close(): void {
    this.closed = true;
    this.ticker?.cancel();
    this.ticker = null;
    for (const replica of [...this.replicas.values()]) this.remove(replica, 'unavailable');
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }

  private newReplica(streamId: string): Replica {
    const now = Date.now();
    const replica: Replica = {
      streamId,
      state: 'syncing',
      origin: null,
      request: null,
      connection: 0,
      waiters: new Set(),
      lastUsedAt: now,
      lastDataAt: now,
      lostAt: 0,
      interrupted: false,
      lookupDue: Infinity,
      looking: false,
      tsWanted: false,
    };
    this.replicas.set(streamId, replica);
    this.deps.metrics.replicas.set(this.replicas.size);
    this.ticker ??= every(Math.min(250, this.deps.options.lookupIntervalMs), () => this.tick());
    return replica;
  }

  private answer(replica: Replica, outcome: AcquireOutcome): void {
    const waiters = [...replica.waiters];
    replica.waiters.clear();
    for (const done of waiters) done(outcome);
  }

  private remove(replica: Replica, outcome: AcquireOutcome): void {
    if (this.replicas.get(replica.streamId) !== replica) return;
    this.replicas.delete(replica.streamId);
    this.deps.metrics.replicas.set(this.replicas.size);
    if (this.replicas.size === 0) {
      this.ticker?.cancel();
      this.ticker = null;
    }
    replica.connection++;
    replica.request?.destroy();
    replica.request = null;
    this.answer(replica, outcome);
  }

  /** Finds the stream's origin and opens its feed; on a lost replica, keeps looking until it is back or gone. */
  private async locate(replica: Replica): Promise<void> {
    replica.looking = true;
    let lookup: OriginLookup;
    try {
      lookup = await this.deps.directory.lookup(replica.streamId);
    } catch (err) {
      this.deps.metrics.originLookups.inc({ result: 'error' });
      this.deps.log.warn({ err, stream: replica.streamId }, 'origin lookup failed');
      lookup = { kind: 'unreachable', instanceId: '' };
    } finally {
      replica.looking = false;
    }
    if (this.replicas.get(replica.streamId) !== replica || this.closed) return;
    this.deps.metrics.originLookups.inc({ result: lookup.kind });
    switch (lookup.kind) {
      case 'here':
        // ingested here now: the local store has it (or will at the next request)
        this.remove(replica, 'ready');
        return;
      case 'not_live':
      case 'unreachable':
        if (replica.state === 'syncing') {
          this.remove(replica, lookup.kind === 'not_live' ? 'not_live' : 'unavailable');
          return;
        }
        this.lookAgain(replica);
        return;
      case 'origin':
        break;
    }
    const origin = lookup.origin;
    if (replica.request !== null && replica.origin?.instanceId === origin.instanceId) {
      // still fed by the stream's origin: a publisher that dropped may yet move, keep looking while it is away
      this.lookAgain(replica);
      return;
    }
    if (replica.state !== 'syncing' && replica.origin !== null && replica.origin.instanceId !== origin.instanceId) {
      this.deps.metrics.streamMoves.inc({ kind: 'followed' });
      this.deps.log.info({ stream: replica.streamId, from: replica.origin.instanceId, to: origin.instanceId }, 'replica follows its stream to a new origin');
      // the old origin will never finish its segment in progress; the new one numbers on after it
      this.deps.store.sealPendingParts(replica.streamId);
    }
    try {
      await this.breakerFor(origin).fire(replica, origin);
    } catch (err) {
      if (this.replicas.get(replica.streamId) !== replica) return;
      const refused = err instanceof FeedRefused && err.status === 404;
      this.deps.log.debug({ err: (err as Error).message, stream: replica.streamId, origin: origin.instanceId }, 'edge feed did not open');
      if (replica.state === 'syncing' && (refused || !this.deps.store.getStream(replica.streamId))) {
        this.remove(replica, refused ? 'not_live' : 'unavailable');
        return;
      }
      this.lost(replica, refused ? 'refused' : 'connect');
    }
  }

  private breakerFor(origin: OriginLocation): CircuitBreaker<[Replica, OriginLocation], void> {
    let breaker = this.breakers.get(origin.instanceId);
    if (breaker) return breaker;
    breaker = new CircuitBreaker((replica: Replica, at: OriginLocation) => this.openFeed(replica, at), {
      timeout: false, // openFeed times itself out (and closes the socket)
      errorThresholdPercentage: 50,
      volumeThreshold: 3,
      resetTimeout: 5000,
      errorFilter: (err: Error) => err instanceof FeedRefused && err.status === 404, // a stream it does not have is not its failure
    });
    const gauge = this.deps.metrics.circuitOpen;
    breaker.on('open', () => {
      gauge.set({ origin: origin.instanceId }, 1);
      this.deps.log.warn({ origin: origin.instanceId }, 'circuit to origin open: its streams answer 503 at once');
    });
    breaker.on('close', () => gauge.remove({ origin: origin.instanceId }));
    breaker.on('halfOpen', () => gauge.set({ origin: origin.instanceId }, 0));
    this.breakers.set(origin.instanceId, breaker);
    return breaker;
  }

  /** Opens the feed; resolves when its first frame arrives, rejects when it cannot start. */
  private openFeed(replica: Replica, origin: OriginLocation): Promise<void> {
    const connection = ++replica.connection;
    replica.request?.destroy();
    const { options, metrics, store, log } = this.deps;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const fail = (err: Error, reason: string): void => {
        if (!started) {
          started = true;
          reject(err);
          return;
        }
        if (replica.connection !== connection) return;
        this.lost(replica, reason);
      };
      // thumbnails=1: this edge reads thumbnail frames (an origin sends them only to edges that ask, so older edges never see one)
      const url = `${origin.url}/internal/v1/streams/${encodeURIComponent(replica.streamId)}/feed?thumbnails=1${replica.tsWanted ? '&ts=1' : ''}`;
      const request = http.get(url, { headers: { authorization: `Bearer ${options.secret}` }, agent: false });
      replica.request = request;
      const timer = setTimeout(() => {
        request.destroy();
        fail(new Error(`no feed from ${origin.instanceId} within ${options.syncTimeoutMs} ms`), 'timeout');
      }, options.syncTimeoutMs);
      request.on('error', (err) => {
        clearTimeout(timer);
        fail(err, 'connect');
      });
      request.on('response', (response) => {
        if (response.statusCode !== 200) {
          clearTimeout(timer);
          response.resume();
          request.destroy();
          fail(new FeedRefused(response.statusCode ?? 0, `origin ${origin.instanceId} answered ${response.statusCode}`), 'refused');
          return;
        }
        const reader = new FeedFrameReader();
        const onFrame = (frame: FeedFrame): void => {
          if (replica.connection !== connection) return;
          const kind = frame.message.t;
          if (kind === 'init' || kind === 'part' || kind === 'segment') {
            metrics.upstreamObjects.inc({ kind });
            if (alreadyHeld(store, replica.streamId, frame.message)) metrics.upstreamDuplicates.inc({ kind });
          }
          applyFeedFrame(store, replica.streamId, frame);
          if (kind === 'begin') {
            replica.origin = origin;
            if (!started) {
              started = true;
              clearTimeout(timer);
              resolve();
            }
          } else if (kind === 'synced') {
            this.synced(replica);
          } else if (frame.message.t === 'end') {
            // ended: a republish is found by the periodic lookup; dropped: the publisher may already be
            // publishing on another instance (a drain's hand-off), so the stream is looked up at once
            if (frame.message.how === 'ended') replica.state = 'ended';
            this.scheduleLookup(replica, frame.message.how === 'ended' ? ENDED_LOOKUP_MS : 0);
          }
        };
        response.on('data', (chunk: Buffer) => {
          if (replica.connection !== connection) return;
          replica.lastDataAt = Date.now();
          metrics.upstreamBytes.inc(chunk.byteLength);
          try {
            reader.push(chunk, onFrame);
          } catch (err) {
            log.error({ err, stream: replica.streamId, origin: origin.instanceId }, 'edge feed malformed: resyncing');
            request.destroy();
            fail(err as Error, 'feed_error');
          }
        });
        response.on('end', () => fail(new Error('feed closed'), 'closed'));
        response.on('error', (err) => fail(err, 'closed'));
      });
    });
  }

  private synced(replica: Replica): void {
    const wasLost = replica.interrupted || replica.lostAt !== 0;
    replica.state = 'live';
    replica.lostAt = 0;
    replica.lookupDue = Infinity;
    if (replica.interrupted) {
      replica.interrupted = false;
      this.deps.store.resumeStream(replica.streamId);
    }
    if (wasLost) this.deps.onInterrupted?.(replica.streamId, false);
    this.answer(replica, 'ready');
  }

  /** The feed broke: serve what is there, tell viewers, and look for the stream's origin again. */
  private lost(replica: Replica, reason: string): void {
    if (this.replicas.get(replica.streamId) !== replica) return;
    replica.connection++;
    replica.request?.destroy();
    replica.request = null;
    if (replica.state === 'ended') {
      // a stream that ended cleanly: the store keeps it for its grace; a republish is found by the periodic lookup
      this.scheduleLookup(replica, ENDED_LOOKUP_MS);
      return;
    }
    this.deps.metrics.originFailures.inc({ reason });
    if (replica.state === 'syncing' && !this.deps.store.getStream(replica.streamId)) {
      this.remove(replica, 'unavailable');
      return;
    }
    if (replica.lostAt === 0) {
      replica.lostAt = Date.now();
      this.deps.log.warn({ stream: replica.streamId, origin: replica.origin?.instanceId, reason }, 'origin lost: serving the replica as it is while looking for the stream');
      this.deps.onInterrupted?.(replica.streamId, true);
    }
    replica.state = 'lost';
    this.answer(replica, this.deps.store.getStream(replica.streamId) ? 'ready' : 'unavailable');
    this.scheduleLookup(replica);
  }

  private scheduleLookup(replica: Replica, delayMs = this.deps.options.lookupIntervalMs): void {
    replica.lookupDue = Date.now() + delayMs;
  }

  /**
   * Another lookup while the stream is away from its replica's feed: lost (often), ended
   * (rarely: a republish), or dropped by its publisher (often, until the store ends it).
   */
  private lookAgain(replica: Replica): void {
    const stream = this.deps.store.getStream(replica.streamId);
    if (replica.state === 'ended' || stream === undefined) this.scheduleLookup(replica, ENDED_LOOKUP_MS);
    else if (replica.state === 'lost' || stream.reconnectTimer !== null) this.scheduleLookup(replica);
  }

  private tick(): void {
    const now = Date.now();
    const { options, store } = this.deps;
    for (const replica of [...this.replicas.values()]) {
      if (replica.state === 'live' && now - replica.lastDataAt > options.silenceTimeoutMs) {
        this.lost(replica, 'timeout');
      }
      if (replica.state === 'lost' && !replica.interrupted && now - replica.lostAt > options.lostGraceMs) {
        replica.interrupted = true;
        store.interruptStream(replica.streamId);
      }
      if (now - replica.lastUsedAt > options.idleMs && replica.waiters.size === 0) {
        this.remove(replica, 'unavailable');
        store.removeStream(replica.streamId);
        continue;
      }
      if (replica.state === 'live' && store.getStream(replica.streamId)?.ended === true) replica.state = 'ended';
      if (replica.state === 'ended' && !store.getStream(replica.streamId)) {
        this.remove(replica, 'not_live');
        continue;
      }
      if (!replica.looking && now >= replica.lookupDue) {
        replica.lookupDue = Infinity;
        void this.locate(replica);
      }
    }
  }

  private postTs(origin: OriginLocation, streamId: string): void {
    const request = http.request(`${origin.url}/internal/v1/streams/${encodeURIComponent(streamId)}/ts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.deps.options.secret}`, 'content-length': '0' },
      agent: false,
      timeout: this.deps.options.syncTimeoutMs,
    });
    request.on('response', (response) => response.resume());
    request.on('timeout', () => request.destroy());
    request.on('error', (err) => this.deps.log.warn({ err: err.message, stream: streamId }, 'asking the origin for MPEG-TS failed'));
    request.end();
  }
}
