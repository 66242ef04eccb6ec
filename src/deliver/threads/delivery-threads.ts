import type { Worker } from 'node:worker_threads';
import { AggregatorRegistry, Counter, Gauge, type Registry } from 'prom-client';
import type { EventBus } from '../../control/events/stream-events.js';
import type { RenditionInfo } from '../../package/rendition-info.js';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import { CmcdData } from '../http/cmcd.js';
import { HttpProblem } from '../http/http-problem.js';
import type { StreamLookup } from '../http/media-routes.js';
import type { PlaybackGate } from '../playback-gate.js';
import type { ViewerSession, ViewerSessionTracker } from '../sessions/viewer-session-tracker.js';
import type { StreamInfo } from '../ws/ws-hub.js';
import type { DeliveryThreadSetup, LookupOutcome, MainToThread, SessionOp, ThreadToMain } from './delivery-thread-messages.js';
import type { MirroredSegmentStore } from './mirrored-segment-store.js';
import { SharedPlaylists } from './shared-playlists.js';
import type { HlsPlaylistsConfig } from '../http/hls-playlists.js';

/** One registry's metrics as JSON (what AggregatorRegistry adds up). */
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** What the main thread's viewer counter does for the threads' viewers. */
export interface ThreadViewers {
  wsJoined(streamId: string): void;
  wsLeft(streamId: string): void;
  touchPlayback(streamId: string, clientKey: string): void;
  count(streamId: string): number;
  peak(streamId: string): number;
  streamsWithViewers(): string[];
}

export interface DeliveryThreadsDeps {
  store: MirroredSegmentStore;
  /** how playlists are built: the main thread renders the public ones threads watch, once for all */
  playlistConfig: HlsPlaylistsConfig;
  /** starts one thread running deliver/threads/delivery-thread.ts with this setup */
  spawn(setup: DeliveryThreadSetup): Worker;
  lookupStream: StreamLookup;
  playback: PlaybackGate;
  streamInfo(streamId: string): Promise<StreamInfo>;
  sessions: ViewerSessionTracker | null;
  viewers: ThreadViewers;
  bus: Pick<EventBus, 'subscribe'>;
  /** streams live now with their renditions: a thread started later (a replacement) begins from them */
  liveStreams(): Array<{ streamId: string; renditions: RenditionInfo[] }>;
  instanceId: string;
  onTsRequested?(streamId: string): void;
  /** a thread served the stream `requests` times lately: an edge keeps its replica */
  touch?(streamId: string, requests: number): void;
  registry: Registry;
  log: Logger;
}

interface ThreadState {
  readonly index: number;
  worker: Worker;
  /** WebSocket joins and leaves of this thread counted so far */
  joinsSeen: number;
  /** its media requests waiting for their response, by the thread's handle numbers */
  sessions: Map<number, ViewerSession>;
  /** its WebSocket viewers' sessions, by handle */
  wsSessions: Map<number, ViewerSession>;
  /** its WebSocket viewers per stream, as counted by the viewer counter */
  wsViewers: Map<string, number>;
}

/** handles of requests a thread never reported served (an error answer) are forgotten past this many */
const MAX_SESSION_HANDLES = 100_000;
/** how often threads hear every stream's viewer count (HLS/DASH sessions change it without a WebSocket join) */
const VIEWERS_INTERVAL_MS = 500;
/** a thread that does not close within this is terminated */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * The main thread's side of delivery on every core: starts the delivery
 * threads (each a uWebSockets.js app on the shared public port, see
 * delivery-thread.ts), feeds each a copy of the segment store, answers what
 * they ask (where a stream is live, viewer tokens, stream state), takes their
 * viewer sessions and WebSocket joins into the one tracker and counter,
 * passes bus events on, adds their metrics to /metrics, and replaces a
 * thread that dies.
 */
export class DeliveryThreads {
  private readonly threads = new Map<number, ThreadState>();
  private readonly unsubscribe: () => void;
  private readonly viewersTimer: PeriodicTask;
  private readonly restarts: Counter;
  private closing = false;
  private nextMetricsId = 1;
  private readonly metricsWaiting = new Map<number, (metrics: MetricsJson | null) => void>();
  private readonly scratchCmcd = new CmcdData();
  private readonly playlists: SharedPlaylists;

  private constructor(
    private readonly deps: DeliveryThreadsDeps,
    private readonly setup: Omit<DeliveryThreadSetup, 'index'>,
  ) {
    this.unsubscribe = deps.bus.subscribe((event) => this.broadcast({ t: 'event', event }));
    this.playlists = new SharedPlaylists(deps.store, deps.playlistConfig, deps.registry);
    deps.store.appendToBatches((changed) => this.playlists.render(changed));
    this.viewersTimer = every(VIEWERS_INTERVAL_MS, () => {
      for (const thread of this.threads.values()) this.sendViewers(thread);
    });
    this.restarts = new Counter({ name: 'nova_streaming_delivery_thread_restarts_total', help: 'delivery threads that died and were replaced', registers: [deps.registry] });
    const threads = this.threads;
    new Gauge({
      name: 'nova_streaming_delivery_threads',
      help: 'delivery threads serving the public port',
      registers: [deps.registry],
      collect() {
        this.set(threads.size);
      },
    });
  }

  /** Starts `count` threads; resolves once each listens on the public port. */
  static async start(count: number, deps: DeliveryThreadsDeps, setup: Omit<DeliveryThreadSetup, 'index'>): Promise<DeliveryThreads> {
    const threads = new DeliveryThreads(deps, setup);
    try {
      await Promise.all(Array.from({ length: count }, (_, index) => threads.startThread(index)));
    } catch (err) {
      await threads.close();
      throw err;
    }
    return threads;
  }

  get size(): number {
    return this.threads.size;
  }

  /** An edge lost (or got back) a stream's origin: every thread's WebSocket viewers are told. */
  streamInterrupted(streamId: string, interrupted: boolean): void {
    this.broadcast({ t: 'interrupted', streamId, interrupted });
  }

  /** Fault injection (tests): the thread throws as a bug would; it closes its connections, exits, and another takes its place. */
  injectFault(index: number): void {
    this.threads.get(index)?.worker.postMessage({ t: 'fail' } satisfies MainToThread);
  }

  /** The Prometheus exposition of the main thread's registry and every thread's, added up. */
  async metrics(): Promise<string> {
    const own = await this.deps.registry.getMetricsAsJSON();
    const theirs = await Promise.all([...this.threads.values()].map((thread) => this.threadMetrics(thread)));
    const all = [own, ...theirs.filter((m): m is MetricsJson => m !== null)];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** Closes every thread's connections and ends the threads. */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    this.viewersTimer.cancel();
    await Promise.all(
      [...this.threads.values()].map(async (thread) => {
        const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
        thread.worker.postMessage({ t: 'close' } satisfies MainToThread);
        const timer = setTimeout(() => void thread.worker.terminate(), CLOSE_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.threads.clear();
  }

  private startThread(index: number): Promise<void> {
    const worker = this.deps.spawn({ ...this.setup, index });
    const thread: ThreadState = { index, worker, joinsSeen: 0, sessions: new Map(), wsSessions: new Map(), wsViewers: new Map() };
    this.threads.set(index, thread);
    const post = (message: MainToThread): void => worker.postMessage(message);
    this.deps.store.follow(index, (seq, entries) => post({ t: 'changes', seq, entries }));
    // its hub's channels start as the main thread's hub has them (events from now on follow)
    for (const { streamId, renditions } of this.deps.liveStreams()) {
      post({ t: 'event', event: { type: 'stream_started', streamId, instanceId: this.deps.instanceId, at: Date.now(), renditions } });
    }
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: ThreadToMain) => {
        if (message.t === 'listening') {
          listening = true;
          resolve();
          return;
        }
        if (message.t === 'listen-failed') {
          reject(new Error(message.message));
          return;
        }
        this.onMessage(thread, message);
      });
      worker.on('error', (err) => this.deps.log.error({ err, thread: index }, 'delivery thread failed'));
      worker.on('exit', (code) => {
        this.deps.store.unfollow(index);
        // its WebSocket viewers are gone with it (they reconnect to another thread)
        for (const session of thread.wsSessions.values()) this.deps.sessions?.closeWs(session);
        for (const [streamId, count] of thread.wsViewers) for (let i = 0; i < count; i++) this.deps.viewers.wsLeft(streamId);
        if (this.threads.get(index) === thread) this.threads.delete(index);
        if (!listening) {
          reject(new Error(`delivery thread ${index} exited (${code}) before it listened`));
          return;
        }
        if (this.closing) return;
        this.restarts.inc();
        this.deps.log.error({ thread: index, code }, 'delivery thread exited: starting another (its viewers reconnect)');
        this.startThread(index).catch((err: unknown) => this.deps.log.error({ err, thread: index }, 'delivery thread could not be replaced'));
      });
    });
  }

  private onMessage(thread: ThreadState, message: ThreadToMain): void {
    const post = (reply: MainToThread): void => thread.worker.postMessage(reply);
    switch (message.t) {
      case 'applied':
        this.deps.store.applied(thread.index, message.seq);
        return;
      case 'lookup':
        this.deps.lookupStream(message.streamId, (found) => {
          // the stream's changes go first, so the thread's copy holds it when the answer arrives
          this.deps.store.flushChanges();
          post({ t: 'lookup', id: message.id, outcome: outcomeOf(found) });
        });
        return;
      case 'authorize':
        void Promise.resolve()
          .then(() => this.deps.playback(message.streamId, message.token))
          .then(
            (check) => post({ t: 'authorized', id: message.id, check }),
            () => post({ t: 'authorized', id: message.id, check: { ok: false, reason: 'invalid' } }),
          );
        return;
      case 'stream-info':
        this.deps.streamInfo(message.streamId).then(
          (info) => post({ t: 'stream-info', id: message.id, info }),
          () => post({ t: 'stream-info', id: message.id, info: null }),
        );
        return;
      case 'ts':
        this.deps.onTsRequested?.(message.streamId);
        return;
      case 'touch':
        for (const [streamId, requests, playlists] of message.streams) {
          this.deps.touch?.(streamId, requests);
          if (playlists.length > 0) this.playlists.watch(streamId, playlists);
        }
        return;
      case 'playback':
        for (const [streamId, clientKey] of message.requests) this.deps.viewers.touchPlayback(streamId, clientKey);
        return;
      case 'sessions':
        for (const op of message.ops) this.applySession(thread, op);
        return;
      case 'ws-viewers':
        for (const [streamId, delta] of message.changes) {
          if (delta === 1) this.deps.viewers.wsJoined(streamId);
          else this.deps.viewers.wsLeft(streamId);
          const count = (thread.wsViewers.get(streamId) ?? 0) + delta;
          if (count > 0) thread.wsViewers.set(streamId, count);
          else thread.wsViewers.delete(streamId);
        }
        thread.joinsSeen = message.upTo;
        this.sendViewers(thread);
        return;
      case 'metrics':
        this.metricsWaiting.get(message.id)?.(message.metrics as MetricsJson);
        return;
      case 'listening':
      case 'listen-failed':
      case 'closed':
        return;
    }
  }

  private applySession(thread: ThreadState, op: SessionOp): void {
    const tracker = this.deps.sessions;
    if (tracker === null) return;
    switch (op.op) {
      case 'request': {
        const cmcd = op.cmcd === null ? null : Object.assign(this.scratchCmcd, op.cmcd);
        const session = tracker.requestKeyed(op.streamId, op.family, op.key, cmcd);
        if (session === null) return;
        if (op.served !== null) {
          tracker.served(session, op.served.kind, op.served.bytes, op.served.rendition);
          return;
        }
        // answered later (a blocking reload): kept until then; a request never answered is forgotten past the bound
        if (thread.sessions.size >= MAX_SESSION_HANDLES) thread.sessions.delete(thread.sessions.keys().next().value!);
        thread.sessions.set(op.handle, session);
        return;
      }
      case 'served': {
        const session = thread.sessions.get(op.handle);
        thread.sessions.delete(op.handle);
        if (session) tracker.served(session, op.kind, op.bytes, op.rendition);
        return;
      }
      case 'ws-open': {
        const session = tracker.openWs(op.streamId, op.address);
        if (session) thread.wsSessions.set(op.handle, session);
        return;
      }
      case 'ws-close': {
        const session = thread.wsSessions.get(op.handle);
        thread.wsSessions.delete(op.handle);
        if (session) tracker.closeWs(session);
        return;
      }
    }
  }

  private sendViewers(thread: ThreadState): void {
    const { viewers } = this.deps;
    const counts: Array<[string, number, number]> = viewers.streamsWithViewers().map((streamId) => [streamId, viewers.count(streamId), viewers.peak(streamId)]);
    thread.worker.postMessage({ t: 'viewers', counts, joinsSeen: thread.joinsSeen } satisfies MainToThread);
  }

  private threadMetrics(thread: ThreadState): Promise<MetricsJson | null> {
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), 2000);
      const done = (metrics: MetricsJson | null): void => {
        clearTimeout(timer);
        this.metricsWaiting.delete(id);
        resolve(metrics);
      };
      this.metricsWaiting.set(id, done);
      thread.worker.postMessage({ t: 'metrics', id } satisfies MainToThread);
    });
  }

  private broadcast(message: MainToThread): void {
    for (const thread of this.threads.values()) thread.worker.postMessage(message);
  }
}

function outcomeOf(found: Parameters<Parameters<StreamLookup>[1]>[0]): LookupOutcome {
  if (found === null) return { kind: 'not_live' };
  if (found instanceof HttpProblem) {
    return { kind: 'problem', status: found.status, code: found.code, message: found.message };
  }
  return { kind: 'found' };
}
