import type { MessagePort } from 'node:worker_threads';
import uWS from 'uWebSockets.js';
import { Gauge, Registry } from 'prom-client';
import type { StreamEvent } from '../../control/events/stream-events.js';
import { createLogger } from '../../log.js';
import { every } from '../../ops/periodic.js';
import { clientKey } from '../http/client-key.js';
import { CmcdData, readCmcd } from '../http/cmcd.js';
import { HttpProblem, originUnavailable } from '../http/http-problem.js';
import type { ServedKind } from '../http/media-metrics.js';
import { registerMediaRoutes, type StreamLookup } from '../http/media-routes.js';
import type { PlaybackCheck, PlaybackGate } from '../playback-gate.js';
import type { SessionHandle, ViewerSessions } from '../sessions/viewer-session-tracker.js';
import { SegmentStore } from '../store/segment-store.js';
import { registerWebSocketHub, type HubViewers, type StreamInfo } from '../ws/ws-hub.js';
import type { RequestContext } from '../../http/uws-helpers.js';
import { MainForwarder } from './forward-to-main.js';
import type { DeliveryThreadSetup, LookupOutcome, MainToThread, SessionOp, ThreadToMain } from './delivery-thread-messages.js';
import { applyStoreChange } from './store-changes.js';
import { WatchedPlaylistCache } from './shared-playlists.js';

/** a thread's copy of the store never ends or removes a stream by itself: the main thread's timers do, and say so */
const NEVER_MS = 2 ** 31 - 1;
/** how often a stream a thread serves is reported in use (an edge's replica on the main thread stays while viewers watch) */
const TOUCH_INTERVAL_MS = 1000;

/** A request waiting for the main thread's answer, by id. */
class Pending<T> {
  private next = 1;
  private readonly waiting = new Map<number, (value: T) => void>();

  ask(send: (id: number) => void, done: (value: T) => void): void {
    const id = this.next++;
    this.waiting.set(id, done);
    send(id);
  }

  answer(id: number, value: T): void {
    const done = this.waiting.get(id);
    if (done === undefined) return;
    this.waiting.delete(id);
    done(value);
  }
}

/** A session as this thread knows it: the main thread's tracker holds the rest under the same number. */
interface RemoteSession extends SessionHandle {
  readonly handle: number;
}

/**
 * One delivery thread: a uWebSockets.js app on the shared public port serving
 * HLS, LL-HLS and DASH from its copy of the main thread's segment store (fed
 * by StoreChange batches; the bytes are the main thread's, in shared memory),
 * the WebSocket hub for the viewers whose connections the kernel gave it, and
 * everything else forwarded to the main thread. What only the main thread
 * knows (where a stream is live, viewer tokens, viewer counts, sessions) is
 * asked for or told by message; a request waiting for an answer is parked,
 * never the thread.
 */
export function runDeliveryThread(setup: DeliveryThreadSetup, port: MessagePort): void {
  const log = createLogger(setup.logLevel, { instance: setup.instanceId, thread: `delivery-${setup.index}` });
  const registry = new Registry();
  const post = (message: ThreadToMain): void => port.postMessage(message);
  const store = new SegmentStore({ ...setup.store, endedGraceMs: NEVER_MS, reconnectGraceMs: NEVER_MS, releaseBytes: () => {} });

  const lookups = new Pending<LookupOutcome>();
  const authorizations = new Pending<PlaybackCheck>();
  const streamInfos = new Pending<StreamInfo | null>();

  // requests per stream served since the last report, and the public playlists asked for
  const touched = new Map<string, number>();
  // made by the media routes (with their render metrics), below
  let playlists: WatchedPlaylistCache | undefined;
  const touchTimer = every(TOUCH_INTERVAL_MS, () => {
    if (touched.size === 0) return;
    const watched = new Map(playlists?.takeWatched());
    const streams: Array<[string, number, string[]]> = [];
    for (const [streamId, requests] of touched) streams.push([streamId, requests, watched.get(streamId) ?? []]);
    touched.clear();
    post({ t: 'touch', streams });
  });

  const lookupStream: StreamLookup = (streamId, found) => {
    const stream = store.getStream(streamId);
    if (stream !== undefined) {
      touched.set(streamId, (touched.get(streamId) ?? 0) + 1);
      found(stream.unavailable ? originUnavailable(streamId) : stream);
      return;
    }
    lookups.ask(
      (id) => post({ t: 'lookup', id, streamId }),
      (outcome) => {
        if (outcome.kind === 'found') found(store.getStream(streamId) ?? null);
        else if (outcome.kind === 'not_live') found(null);
        else found(new HttpProblem(outcome.status, outcome.code, outcome.message));
      },
    );
  };
  const playback: PlaybackGate = (streamId, token) =>
    new Promise<PlaybackCheck>((resolve) => authorizations.ask((id) => post({ t: 'authorize', id, streamId, token }), resolve));

  const { sessions, flushSessions } = remoteSessions(setup.sessions, post);
  const viewers = new RemoteViewers(setup.instanceId, post);
  const playbackRequested = remotePlayback(post);
  const busHandlers = new Set<(event: StreamEvent) => void>();

  const app = uWS.App();
  const hub = registerWebSocketHub(app, {
    bus: {
      subscribe(handler) {
        busHandlers.add(handler);
        return () => busHandlers.delete(handler);
      },
    },
    viewers,
    sessions: sessions ?? undefined,
    metrics: registry,
    log: log.child({ component: 'ws' }),
    config: { ...setup.ws, observeViewers: false },
    playback,
    streamInfo: (streamId) =>
      new Promise<StreamInfo>((resolve, reject) =>
        streamInfos.ask(
          (id) => post({ t: 'stream-info', id, streamId }),
          (info) => (info === null ? reject(new Error('stream lookup failed')) : resolve(info)),
        ),
      ),
  });
  registerMediaRoutes(app, {
    store,
    config: setup.media,
    metrics: registry,
    log: log.child({ component: 'media' }),
    lookupStream,
    playback,
    sessions: sessions ?? undefined,
    onPlaybackRequest: (streamId, _kind, key) => playbackRequested(streamId, key),
    onTsRequested: setup.tsOnDemand ? (streamId) => post({ t: 'ts', streamId }) : undefined,
    renderCache: (maxBytes, onLookup) => (playlists = new WatchedPlaylistCache(maxBytes, onLookup)),
  });
  // per thread, so an operator sees how the kernel spreads viewers (the rest of this registry is added up across threads)
  const thread = String(setup.index);
  new Gauge({
    name: 'nova_streaming_delivery_thread_websockets',
    help: 'Open WebSocket connections per delivery thread',
    labelNames: ['thread'] as const,
    registers: [registry],
    collect() {
      this.set({ thread }, hub.connectionCount());
    },
  });
  new Gauge({
    name: 'nova_streaming_delivery_thread_parked_reloads',
    help: 'LL-HLS blocking reloads parked per delivery thread',
    labelNames: ['thread'] as const,
    registers: [registry],
    collect() {
      this.set({ thread }, store.parkedCount);
    },
  });
  const forwarder = new MainForwarder(setup.forward, log.child({ component: 'forward' }), { registry });
  app.any('/*', (res, req) => forwarder.forward(res, req));

  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    touchTimer.cancel();
    flushSessions();
    hub.close();
    closeEverySocket(app);
    forwarder.close();
  };
  let failing = false;
  process.on('uncaughtException', (err) => {
    if (failing) return; // a handler that throws again while its sockets close
    failing = true;
    log.fatal({ err }, 'delivery thread failed: closing its connections (the main thread starts another)');
    try {
      close();
    } catch {
      closeEverySocket(app);
    }
    // the sockets' handles close on the loop's next turns; a thread exiting with one open aborts the process
    setTimeout(() => process.exit(1), 50);
  });

  port.on('message', (message: MainToThread) => {
    switch (message.t) {
      case 'changes':
        for (const entry of message.entries) applyStoreChange(store, entry, playlists);
        post({ t: 'applied', seq: message.seq });
        return;
      case 'lookup':
        lookups.answer(message.id, message.outcome);
        return;
      case 'authorized':
        authorizations.answer(message.id, message.check);
        return;
      case 'stream-info':
        streamInfos.answer(message.id, message.info);
        return;
      case 'event':
        for (const handler of busHandlers) handler(message.event);
        return;
      case 'interrupted':
        hub.streamInterrupted(message.streamId, message.interrupted);
        return;
      case 'viewers':
        viewers.update(message.counts, message.joinsSeen);
        return;
      case 'metrics':
        void registry.getMetricsAsJSON().then((metrics) => post({ t: 'metrics', id: message.id, metrics }));
        return;
      case 'fail':
        setImmediate(() => {
          throw new Error('fault injected by the main thread');
        });
        return;
      case 'close':
        close();
        post({ t: 'closed' });
        port.close();
        return;
    }
  });

  app.listen(setup.host, setup.port, (token) => {
    if (token) post({ t: 'listening' });
    else post({ t: 'listen-failed', message: `cannot listen on ${setup.host}:${setup.port}` });
  });
}

/**
 * Closes the app's listener and every connection (uWS 20.30 has app.close()
 * without declaring it). A worker whose loop still holds a uWS handle when it
 * exits aborts the whole process, so a close handler that throws midway does
 * not stop the rest from closing.
 */
function closeEverySocket(app: uWS.TemplatedApp): void {
  const closable = app as unknown as { close(): void };
  for (let attempt = 0; attempt < 10_000; attempt++) {
    try {
      closable.close();
      return;
    } catch {
      // a handler threw for one socket: close the others
    }
  }
}

/**
 * Viewer sessions kept by the main thread's tracker: this thread reads each
 * request (its key, its CMCD) and posts what happened, in order, once per
 * event-loop turn.
 */
function remoteSessions(on: boolean, post: (message: ThreadToMain) => void): { sessions: ViewerSessions | null; flushSessions: () => void } {
  let ops: SessionOp[] = [];
  // requests of this turn, by handle: a response served in the same turn rides on its request's op
  const thisTurn = new Map<number, Extract<SessionOp, { op: 'request' }>>();
  let scheduled = false;
  let nextHandle = 1;
  const flush = (): void => {
    scheduled = false;
    thisTurn.clear();
    if (ops.length === 0) return;
    post({ t: 'sessions', ops });
    ops = [];
  };
  const push = (op: SessionOp): void => {
    ops.push(op);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  if (!on) return { sessions: null, flushSessions: flush };
  const cmcd = new CmcdData();
  const sessions: ViewerSessions = {
    request(streamId: string, family: 'hls' | 'dash', ctx: RequestContext, params: URLSearchParams): RemoteSession {
      const hasCmcd = readCmcd(ctx, params, cmcd);
      const key = cmcd.sid ?? clientKey(ctx, params);
      const handle = nextHandle++;
      const op: SessionOp = { op: 'request', handle, streamId, family, key, cmcd: hasCmcd ? { ...cmcd } : null, served: null };
      thisTurn.set(handle, op);
      push(op);
      return { handle, clientKey: key };
    },
    served(session: SessionHandle, kind: ServedKind, bytes: number, rendition: string | null): void {
      const handle = (session as RemoteSession).handle;
      const request = thisTurn.get(handle);
      if (request !== undefined) request.served = { kind, bytes, rendition };
      else push({ op: 'served', handle, kind, bytes, rendition });
    },
    openWs(streamId: string, address: string): RemoteSession {
      const handle = nextHandle++;
      push({ op: 'ws-open', handle, streamId, address });
      return { handle, clientKey: '' };
    },
    closeWs(session: SessionHandle): void {
      push({ op: 'ws-close', handle: (session as RemoteSession).handle });
    },
  };
  return { sessions, flushSessions: flush };
}

/**
 * Playlist and MPD requests (the viewer counter's HLS/DASH viewers), told to
 * the main thread once per stream and client per event-loop turn.
 */
function remotePlayback(post: (message: ThreadToMain) => void): (streamId: string, clientKey: string) => void {
  let requests = new Map<string, [string, string]>();
  const flush = (): void => {
    post({ t: 'playback', requests: [...requests.values()] });
    requests = new Map();
  };
  return (streamId, key) => {
    if (requests.size === 0) setImmediate(flush);
    requests.set(`${streamId}\n${key}`, [streamId, key]);
  };
}

/**
 * Viewer counts as the main thread's counter has them, plus this thread's
 * WebSocket joins and leaves it has not counted yet (so a joining viewer's
 * snapshot counts itself). Joins and leaves go to the main thread numbered;
 * its answer says up to which number it counted them.
 */
class RemoteViewers implements HubViewers {
  private readonly counts = new Map<string, { count: number; peak: number }>();
  private uncounted: Array<{ n: number; streamId: string; delta: 1 | -1 }> = [];
  private changes: Array<[string, 1 | -1]> = [];
  private sent = 0;
  private scheduled = false;

  constructor(
    readonly instanceId: string,
    private readonly post: (message: ThreadToMain) => void,
  ) {}

  wsJoined(streamId: string): void {
    this.change(streamId, 1);
  }

  wsLeft(streamId: string): void {
    this.change(streamId, -1);
  }

  count(streamId: string): number {
    let count = this.counts.get(streamId)?.count ?? 0;
    for (const change of this.uncounted) if (change.streamId === streamId) count += change.delta;
    return Math.max(0, count);
  }

  peak(streamId: string): number {
    return Math.max(this.counts.get(streamId)?.peak ?? 0, this.count(streamId));
  }

  update(counts: Array<[string, number, number]>, joinsSeen: number): void {
    this.counts.clear();
    for (const [streamId, count, peak] of counts) this.counts.set(streamId, { count, peak });
    this.uncounted = this.uncounted.filter((change) => change.n > joinsSeen);
  }

  private change(streamId: string, delta: 1 | -1): void {
    this.uncounted.push({ n: ++this.sent, streamId, delta });
    this.changes.push([streamId, delta]);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.post({ t: 'ws-viewers', changes: this.changes, upTo: this.sent });
      this.changes = [];
    });
  }
}
