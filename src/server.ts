import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Piscina } from 'piscina';
import uWS from 'uWebSockets.js';
import type { Config } from './config.js';
import { NovaError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { createMetricsRegistry, type Registry } from './ops/metrics.js';
import { EventLoopDelayMonitor } from './ops/event-loop-delay.js';
import { registerOpsRoutes } from './ops/ops-routes.js';
import { openDatabase, type Database } from './control/db/database.js';
import { StreamRepository } from './control/db/stream-repository.js';
import { resolveAdminToken } from './control/auth/admin-token.js';
import type { StreamWarning } from './control/api/streams-routes.js';
import { startControlApi, type ControlApi } from './control/api/control-api.js';
import { createEventBus } from './control/events/create-event-bus.js';
import { startEventPipeline, type EventPipeline } from './control/events/event-pipeline.js';
import { RedisEventBus } from './control/events/redis-bus.js';
import { startWebhooks, type Webhooks } from './control/webhooks/webhooks.js';
import { breakerName } from './control/webhooks/webhook-dispatcher.js';
import { WebhookRepository } from './control/webhooks/webhook-repository.js';
import { recordRoutes, type RegisteredRoute } from './http/route-table.js';
import { Breakers } from './ops/breakers.js';
import type { EventBus } from './control/events/stream-events.js';
import { StreamLifecycle } from './control/stream-lifecycle.js';
import { createStreamDurationHistogram } from './control/stream-duration-metric.js';
import { ViewerQoeMetrics } from './control/viewers/viewer-qoe-metrics.js';
import { ViewerCounter } from './control/viewers/viewer-counter.js';
import { RedisViewerStore } from './control/viewers/redis-viewer-store.js';
import { SegmentStore } from './deliver/store/segment-store.js';
import type { MediaSink } from './package/media-sink.js';
import { EdgeMetrics } from './deliver/edge/edge-metrics.js';
import { OriginFeeds } from './deliver/edge/origin-feeds.js';
import { DEFAULT_EDGE_OPTIONS, EdgeReplicas, type OriginDirectory } from './deliver/edge/edge-replicas.js';
import { registerInternalRoutes } from './deliver/edge/internal-routes.js';
import { edgeStreamLookup } from './deliver/edge/edge-access.js';
import { InstanceRegistry, type SharedContinuity } from './control/instances/instance-registry.js';
import type { StreamResumeState } from './ingest/ingest-messages.js';
import { registerMediaRoutes, type StreamLookup } from './deliver/http/media-routes.js';
import { MirroredSegmentStore } from './deliver/threads/mirrored-segment-store.js';
import { DeliveryThreads } from './deliver/threads/delivery-threads.js';
import { portForSharing } from './deliver/threads/shared-port.js';
import { ViewerSessionTracker } from './deliver/sessions/viewer-session-tracker.js';
import { registerWebSocketHub, type StreamInfo, type WebSocketHub, type WebSocketHubConfig } from './deliver/ws/ws-hub.js';
import { REFUSE_PRIVATE, type PlaybackGate } from './deliver/playback-gate.js';
import { captureRequest, sendJson } from './http/uws-helpers.js';
import { trustForwardedRequests } from './http/forwarded-address.js';
import { IngestMetrics } from './ingest/ingest-metrics.js';
import { ingestLimits } from './ingest/ingest-messages.js';
import { warmStart, type WarmStartResult } from './warm-start.js';
import { RtmpIngestServer, type IngestLifecycle } from './ingest/rtmp-ingest-server.js';
import { nativeIngressReader, type NativeIngressReader } from './ingest/native-ingress-reader.js';
import { TranscodeService } from './transcode/transcode-service.js';
import { startWorker, workerFile } from './worker-file.js';
import { LogRateLimiter } from './ops/log-rate-limiter.js';
import { MetricsRepository } from './control/db/metrics-repository.js';
import { StreamMetricsRecorder } from './control/stream-metrics-recorder.js';
import { MetricsRollupRepository } from './control/db/metrics-rollup-repository.js';
import { StreamMetricsRollups } from './control/stream-metrics-rollups.js';
import { StreamHealthGauge } from './control/stream-health-gauge.js';
import { DeferredWrites } from './control/db/deferred-writes.js';
import { PublishKeyCache } from './control/publish-key-cache.js';
import { defaultConsoleDir, registerConsoleRoutes } from './control/console/console-routes.js';

export interface NovaServer {
  readonly rtmpPort: number;
  readonly httpPort: number;
  readonly adminToken: string;
  readonly databaseKind: Database['kind'];
  readonly config: Config;
  readonly registry: Registry;
  readonly repo: StreamRepository;
  readonly bus: EventBus;
  /** durable events: outbox relay, event log, this instance's consumer */
  readonly events: EventPipeline;
  readonly webhooks: Webhooks;
  /** every route registered on the public HTTP app (the route-coverage test compares it with the OpenAPI document) */
  readonly routes: readonly RegisteredRoute[];
  /** circuit breakers around PostgreSQL, Redis and webhook targets */
  readonly breakers: Breakers;
  readonly ingest: RtmpIngestServer;
  readonly store: SegmentStore;
  readonly lifecycle: StreamLifecycle;
  /** writes each live stream's per-second history to stream_metrics */
  readonly streamMetrics: StreamMetricsRecorder;
  /** the one-minute roll-ups and the retention of both metrics tables (rollUp()/prune() run a round now) */
  readonly streamMetricsRollups: StreamMetricsRollups;
  readonly viewers: ViewerCounter;
  /** watch and rebuffer seconds for the QoE alert and panels: fed by CMCD session tracking once it exists */
  readonly viewerQoe: ViewerQoeMetrics;
  /** viewer sessions of the media routes and the WebSocket hub (flush() writes them now); null with VIEWER_SESSIONS=off */
  readonly sessions: ViewerSessionTracker | null;
  /** the threads serving the public port (DELIVERY_THREADS); null when the main thread serves it */
  readonly deliveryThreads: DeliveryThreads | null;
  readonly hub: WebSocketHub;
  /** the ABR ladder: encoder in use, per-stream FFmpeg status (PID, speed, lag) */
  readonly transcode: TranscodeService;
  /** what the start-up warm-up of the ingest path did (WARM_START), null when off or it could not run */
  readonly warmStart: WarmStartResult | null;
  /**
   * Drain (SIGTERM, before stop): the RTMP listener closes, publishers that support it are asked
   * to reconnect elsewhere, and after graceMs (DRAIN_GRACE_MS) the connections left are closed;
   * their streams end 'disconnected'. See RtmpIngestServer.drain.
   */
  drain(graceMs?: number): Promise<void>;
  /** the REST API's auth services: clients, tokens, signing keys, and the viewer-token check for private streams */
  readonly api: ControlApi;
  /** Graceful stop: no new connections, streams ended cleanly (ENDED), everything closed. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** an already-open database (tests share one PGlite per process) */
  database?: Database;
}

/** RTMP_NATIVE_READER: the native socket reader when wanted and built (see src/ingest/native-ingress-reader.ts). */
function chooseNativeReader(setting: Config['rtmp']['nativeReader'], pacingMs: number, log: Logger): NativeIngressReader | null {
  if (setting === 'off') return null;
  const { reader, reason } = nativeIngressReader(pacingMs);
  if (reader === null && setting === 'on') throw new NovaError('NOVA_ERR_CONFIG', `RTMP_NATIVE_READER=on but ${reason}`);
  if (reader === null) log.warn({ reason }, 'native RTMP socket reader unavailable: reading sockets in JavaScript (more CPU per GB ingested)');
  else log.info('RTMP sockets read by the native reader thread');
  return reader;
}

/** Where a stream whose publisher moved here continues: numbering after the old origin's newest msn, timeline moved on by the time since. */
function resumeFrom(shared: SharedContinuity): StreamResumeState {
  return { nextMsn: shared.nextMsn, timelineStartMs: shared.endPtsMs + Math.max(0, Date.now() - shared.at) + 40, discontinuity: true };
}

/** Listens on host:port; resolves with the port it got. */
function listen(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token) => {
      if (token) resolve(token);
      else reject(new Error(`cannot listen on ${host}:${port}`));
    });
  });
}

function hostForUrls(host: string): string {
  return host === '0.0.0.0' || host === '::' ? 'localhost' : host;
}

/** The composition root: builds every component from the config and starts the listeners. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<NovaServer> {
  const log = options.log ?? createLogger(config.logLevel, { instance: config.instanceId });
  const registry = createMetricsRegistry();
  const loopDelay = new EventLoopDelayMonitor(registry);
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, log.child({ component: 'db' }), { poolSize: config.databasePoolSize }));
  const breakers = new Breakers(registry, log.child({ component: 'breakers' }));
  const bus = createEventBus(config, log.child({ component: 'bus' }));
  const events = await startEventPipeline(
    { ...config, databaseUrl: database.url },
    database,
    bus,
    registry,
    log.child({ component: 'events' }),
    breakers,
  );
  const repo = new StreamRepository(database.db, undefined, events.outboxSettings, database.urgent);
  const adminToken = await resolveAdminToken(config, log);

  // A previous run of this instance that died without a clean stop left its streams ACTIVE.
  const recovered = await repo.endAllActiveForInstance(config.instanceId, 'error');
  if (recovered.length > 0) log.warn({ streams: recovered.length }, 'ended streams left ACTIVE by a previous run of this instance');

  const viewerStore = config.redisUrl ? new RedisViewerStore({ url: config.redisUrl, instanceId: config.instanceId, log: log.child({ component: 'viewer-store' }) }) : null;
  const viewers = new ViewerCounter({
    instanceId: config.instanceId,
    bus,
    log: log.child({ component: 'viewers' }),
    store: viewerStore,
    sessionIdleMs: config.ws.playbackSessionIdleMs,
  });

  const storeOptions = {
    windowSegments: config.delivery.playlistWindow,
    keepAfterWindow: config.delivery.keepAfterWindow,
    maxBytes: config.delivery.storeMaxBytes,
  };
  // With delivery threads each keeps a copy of the store, fed from this one (deliver/threads/).
  const mirrored = config.delivery.threads > 0 ? new MirroredSegmentStore(storeOptions) : null;
  const store = mirrored ?? new SegmentStore(storeOptions);
  let deliveryThreads: DeliveryThreads | null = null;
  // Origin–edge: on when instances can find each other (Redis) and trust each other (the secret).
  const edgeLog = log.child({ component: 'edge' });
  const edgeMetrics = new EdgeMetrics(registry);
  const edgeOn = config.redisUrl !== null && config.edge.secret !== null;
  if (config.redisUrl !== null && !edgeOn) edgeLog.warn('REDIS_URL without INTERNAL_SECRET: origin–edge delivery is off (a stream ingested on another instance answers 404 here)');
  let instances: InstanceRegistry | null = null;
  let edge: EdgeReplicas | null = null;
  // Feeds every stream ingested here to the edges that follow it, in front of the store.
  const feeds = new OriginFeeds(store, edgeMetrics, edgeLog, (streamId) => {
    if (instances === null || edge?.isReplica(streamId)) return;
    const continuity = feeds.continuity(streamId);
    if (continuity !== null) instances.writeContinuity(streamId, continuity);
  });
  // Packaged media goes from ingest and the transcoder to this sink, never through the control
  // plane; the lifecycle tells it only a stream's begin, renditions and end.
  const mediaSink: MediaSink = feeds;
  const lifecycle = new StreamLifecycle(
    repo,
    bus,
    mediaSink,
    config.instanceId,
    log.child({ component: 'lifecycle' }),
    Date.now,
    (streamId) => viewers.peak(streamId),
    createStreamDurationHistogram(registry),
    {
      writes: new DeferredWrites(log.child({ component: 'lifecycle' }), registry, breakers),
      keys: new PublishKeyCache(config.publishKeyCacheMs),
    },
  );

  const viewerQoe = new ViewerQoeMetrics(registry);
  const metricsRepo = new MetricsRepository(database.db);
  // The delivery layer tracks sessions where it serves them; the database and the QoE counters are injected here.
  // VIEWER_SESSIONS=off: no tracker at all, so the media routes and the hub skip it on every request.
  const sessions = config.viewerSessions
    ? new ViewerSessionTracker({
        instanceId: config.instanceId,
        registry,
        log: log.child({ component: 'viewer-sessions' }),
        sink: {
          write: (records) => breakers.run('postgres', () => metricsRepo.upsertViewerSessions(records)),
          qoe: (watchSeconds, rebufferSeconds) => viewerQoe.record(watchSeconds, rebufferSeconds),
        },
      })
    : null;
  const healthGauge = new StreamHealthGauge(registry);
  const metricsRecorder = new StreamMetricsRecorder(metricsRepo, bus, registry, log.child({ component: 'stream-metrics' }), {
    instanceId: config.instanceId,
    viewers: (streamId) => viewers.count(streamId),
    rebufferRatio: (streamId) => sessions?.rebufferRatio(streamId) ?? null,
    // measured by the session tracker alone (delivery threads' sessions included): without it, not at all (null)
    bytesServed: sessions === null ? undefined : (streamId) => sessions.takeBytesServed(streamId),
    viewersByRendition: sessions === null ? undefined : (streamId) => sessions.viewersByRendition(streamId),
    observe: (sample) => healthGauge.observe(sample),
  });
  const metricsRollups = new StreamMetricsRollups(new MetricsRollupRepository(database.db), registry, log.child({ component: 'stream-metrics-rollups' }), {
    retentionMs: config.streamMetricsRetentionDays * 86_400_000,
    rollupRetentionMs: config.streamMetricsRollupRetentionDays * 86_400_000,
  });

  const pool = new Piscina({
    filename: workerFile('ingest-connection.worker'),
    // started with the first connection: an idle server holds no worker (each ~10 MB of heap and code)
    minThreads: 0,
    maxThreads: config.workerThreads,
    // A task is a whole connection that mostly waits (Atomics.waitAsync): many share a thread.
    concurrentTasksPerWorker: 256,
    idleTimeout: 60_000,
  });
  const limits = ingestLimits(config);
  // Runs in the pool while the rest starts; awaited before the HTTP listener opens (and so /ready).
  const warming =
    config.warmStart === 'on'
      ? warmStart(
          pool,
          { limits, store: { windowSegments: config.delivery.playlistWindow, maxBytes: config.delivery.storeMaxBytes } },
          registry,
          log.child({ component: 'warm-start' }),
        )
      : Promise.resolve(null);
  // Probed before the RTMP port opens: the first publisher already gets its ladder.
  const transcode = await TranscodeService.start(
    {
      ...config.transcode,
      targetDurationMs: config.delivery.targetDurationMs,
      partTargetMs: config.delivery.partTargetMs,
      logLevel: config.logLevel,
    },
    registry,
    mediaSink,
    (streamId, renditions) => lifecycle.transcodedRenditions(streamId, renditions),
    log.child({ component: 'transcode' }),
  );
  const ingestMetrics = new IngestMetrics(registry);
  // Ingest tells the lifecycle a stream started; the transcoder starts with it, on the stream's frame queue.
  /** shared continuity of streams whose publisher moved here, from authorize until their start */
  const arriving = new Map<string, SharedContinuity>();
  const ingestLifecycle: IngestLifecycle = {
    authorize: async (app, streamName) => {
      const target = await lifecycle.authorize(app, streamName);
      if (target === null || instances === null) return target;
      const shared = await instances.readContinuity(target.streamId).catch(() => null);
      // this instance's own last session, when it remembers it, is exact; the shared record skips an msn to be safe
      if (shared === null || (shared.instanceId === config.instanceId && ingest.hasResumeState(target.streamId))) return target;
      arriving.set(target.streamId, shared);
      return { ...target, resume: resumeFrom(shared) };
    },
    started: (streamId) => {
      // a replica of this stream (its publisher moved here) stops following the old origin; what is produced here is new
      if (edge?.takeOver(streamId)) {
        store.sealPendingParts(streamId); // the old origin's segment in progress: this instance numbers on after it
        store.renewGeneration(streamId);
      }
      const shared = arriving.get(streamId);
      arriving.delete(streamId);
      if (shared !== undefined && shared.instanceId !== config.instanceId) {
        edgeMetrics.streamMoves.inc({ kind: 'arrived' });
        edgeLog.info({ stream: streamId, from: shared.instanceId, nextMsn: shared.nextMsn }, 'publisher moved here: the stream continues');
      }
      if (shared !== undefined && !store.getStream(streamId)) {
        store.beginStream(streamId, [], {
          discontinuitySequence: shared.discontinuitySequence,
          timelineOriginMs: shared.timelineOriginMs,
          firstInitVersion: shared.nextInitVersion ?? 0,
        });
      }
      const marked = lifecycle.started(streamId); // registers the live stream synchronously, then awaits the database
      // a stream has a frame queue only when the transcoder reads it (or a tool watches it: then not for the transcoder)
      const frameQueue = transcode.encoder !== null && config.transcode.ladder.length > 0 ? ingest.frameQueueOf(streamId) : null;
      if (frameQueue !== null) transcode.startStream(streamId, frameQueue);
      return marked;
    },
    tracksChanged: (streamId, video, audio) => lifecycle.tracksChanged(streamId, video, audio),
    handingOff: (streamId, openMsn) => {
      // the store learns of a segment with its first part, 200+ ms after its keyframe: the worker knows now
      const continuity = instances === null ? null : feeds.continuity(streamId);
      if (continuity !== null) instances!.writeContinuity(streamId, { ...continuity, nextMsn: Math.max(continuity.nextMsn, openMsn + 1) });
    },
    longGop: (streamId, observedMs) => lifecycle.longGop(streamId, observedMs),
    stats: (streamId, bytes, videoFrames) => lifecycle.stats(streamId, bytes, videoFrames),
    ended: (streamId, reason) => lifecycle.ended(streamId, reason),
  };
  const rtmpLog = log.child({ component: 'rtmp' });
  const ingestLogLimiter = new LogRateLimiter(rtmpLog, registry);
  const tsOnDemand = config.delivery.tsMuxing === 'on-demand';
  const ingest = new RtmpIngestServer(
    {
      nativeReader: chooseNativeReader(config.rtmp.nativeReader, limits.pollTickMs, log),
      host: config.host,
      port: config.rtmpPort,
      limits,
      ingressRingBytes: config.rtmp.ingressRingBytes,
      frameQueueBytes: config.rtmp.frameQueueBytes,
      maxConnections: config.rtmp.maxConnections,
      onDuplicatePublish: config.rtmp.onDuplicatePublish,
      // the transcoder reads a stream's frame queue when it has a ladder to make: no queue for the others
      frameQueueWanted: () => transcode.encoder !== null && config.transcode.ladder.length > 0,
      tsOnDemand,
    },
    pool,
    ingestLifecycle,
    mediaSink,
    ingestMetrics,
    rtmpLog,
    ingestLogLimiter,
  );
  let internalSocket: uWS.us_listen_socket | null = null;
  if (edgeOn) {
    const internalApp = uWS.App();
    registerInternalRoutes(internalApp, {
      feeds,
      secret: config.edge.secret!,
      onTsRequested: tsOnDemand ? (streamId) => ingest.requestTs(streamId) : undefined,
      maxFeedBacklogBytes: config.edge.feedBacklogBytes,
      log: edgeLog,
    });
    internalApp.any('/*', (res, req) => {
      const ctx = captureRequest(res, req);
      sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.url}` } });
    });
    internalSocket = await listen(internalApp, config.edge.internalHost, config.edge.internalPort);
    const internalPort = uWS.us_socket_local_port(internalSocket);
    const advertisedHost = process.env.POD_IP || (config.edge.internalHost === '0.0.0.0' || config.edge.internalHost === '::' ? os.hostname() : config.edge.internalHost);
    const registry_ = new InstanceRegistry({
      url: config.redisUrl!,
      instanceId: config.instanceId,
      internalUrl: config.edge.internalUrl ?? `http://${advertisedHost}:${internalPort}`,
      log: edgeLog,
    });
    await registry_.start();
    instances = registry_;
    const directory: OriginDirectory = {
      async lookup(streamId) {
        const record = await repo.get(streamId);
        if (record === null || record.status !== 'ACTIVE' || record.instanceId === null) return { kind: 'not_live' };
        if (record.instanceId === config.instanceId) return { kind: 'here' };
        const url = await registry_.address(record.instanceId);
        return url === null ? { kind: 'unreachable', instanceId: record.instanceId } : { kind: 'origin', origin: { instanceId: record.instanceId, url } };
      },
    };
    edge = new EdgeReplicas({
      store,
      directory,
      metrics: edgeMetrics,
      log: edgeLog,
      options: {
        ...DEFAULT_EDGE_OPTIONS,
        secret: config.edge.secret!,
        syncTimeoutMs: config.edge.syncTimeoutMs,
        lostGraceMs: config.edge.lostGraceMs,
        idleMs: config.edge.idleMs,
      },
      onInterrupted: (streamId, interrupted) => {
        hub.streamInterrupted(streamId, interrupted);
        deliveryThreads?.streamInterrupted(streamId, interrupted);
      },
    });
    edgeLog.info({ internalUrl: config.edge.internalUrl ?? `http://${advertisedHost}:${internalPort}` }, 'origin–edge delivery on: streams ingested elsewhere are replicated here on demand');
  }
  const rtmpPort = await ingest.listen();
  if (bus instanceof RedisEventBus) bus.reportLiveStreams(() => ingest.liveStreamIds);

  const app = uWS.App();
  const routes = recordRoutes(app);
  const urlHost = hostForUrls(config.host);
  const httpBaseFor = (port: number): string => config.publicHttpUrl?.replace(/\/+$/, '') ?? `http://${urlHost}:${port}`;
  const rtmpBase = (config.publicRtmpUrl?.replace(/\/+$/, '') ?? `rtmp://${urlHost}:${rtmpPort}`) + '/live';

  // Private streams' viewer tokens are checked by the control plane's PlaybackAuthorizer, which
  // the REST API builds below; nothing is served before listen, by when it exists.
  let api: ControlApi | null = null;
  const playback: PlaybackGate = (streamId, token) => (api === null ? REFUSE_PRIVATE(streamId, token) : api.playback.verify(streamId, token));
  const wsConfig: WebSocketHubConfig = {
    idleTimeoutSec: config.ws.idleTimeoutSec,
    maxBackpressureBytes: config.ws.maxBackpressureBytes,
    maxPayloadBytes: 4096,
    maxConnectionsPerIp: config.ws.maxConnectionsPerIp,
  };
  const hub = registerWebSocketHub(app, {
    bus,
    viewers,
    sessions: sessions ?? undefined,
    metrics: registry,
    log: log.child({ component: 'ws' }),
    config: wsConfig,
    playback,
    streamInfo: (streamId) => streamInfo(streamId),
  });
  async function streamInfo(streamId: string): Promise<StreamInfo> {
    const stream = await repo.get(streamId);
    if (!stream) return { exists: false, private: false, state: {} };
    const live = lifecycle.liveInfo(streamId);
    return {
      exists: true,
      private: stream.private,
      state: {
        status: stream.status,
        viewers: viewers.count(streamId),
        peak_viewers: Math.max(stream.peakViewers, viewers.peak(streamId)),
        renditions: live?.renditions ?? stream.renditions,
        started_at: stream.startedAt?.toISOString() ?? null,
      },
    };
  }
  const mediaConfig = {
    corsOrigins: config.delivery.corsOrigins,
    cdnBaseUrl: config.delivery.cdnBaseUrl,
    partTargetMs: config.delivery.partTargetMs,
    targetDurationMs: config.delivery.targetDurationMs,
    renderCacheBytes: config.delivery.playlistCacheBytes,
    thumbnailMaxAgeSec: Math.max(1, config.transcode.thumbnailIntervalSec),
  };
  const onTsRequested = tsOnDemand
    ? (streamId: string): void => {
        if (!edge?.requestTs(streamId)) ingest.requestTs(streamId);
      }
    : undefined;
  const lookupStream: StreamLookup = edge === null ? (streamId, found) => found(store.getStream(streamId) ?? null) : edgeStreamLookup(store, edge);
  registerMediaRoutes(app, {
    store,
    config: mediaConfig,
    metrics: registry,
    log: log.child({ component: 'media' }),
    onPlaybackRequest: (streamId, _kind, clientKey) => viewers.touchPlayback(streamId, clientKey),
    playback,
    sessions: sessions ?? undefined,
    onTsRequested,
    lookupStream,
  });
  let httpPort = config.httpPort;
  const webhookRepo = new WebhookRepository(database.db, events.outboxSettings);
  const controlApi = await startControlApi({
    app,
    database,
    config,
    adminToken,
    registry,
    log: log.child({ component: 'api' }),
    repo,
    urls: {
      rtmpBase,
      get httpBase() {
        return httpBaseFor(httpPort);
      },
    },
    onDelete: (streamId) => void ingest.stopStream(streamId, 'deleted'),
    webhooks: {
      repo: webhookRepo,
      allowInternal: config.webhooks.allowPrivate,
      onDeleted: (id) => breakers.remove(breakerName(id)),
      // the dispatcher starts after the API is built; an enable before that has nothing to wake
      onEnabled: () => webhooks?.dispatcher.wake(),
    },
    eventLog: events.log,
    viewers: (streamId) => viewers.count(streamId),
    // Here: whether this instance holds one. A stream ingested elsewhere: an edge serves its origin's
    // (fetched with the replica), so the URL is listed when thumbnails are on; it may answer 404 until the first.
    hasThumbnail: (streamId) => {
      const held = store.getStream(streamId);
      if (held !== undefined) return held.thumbnail !== null;
      return edge !== null && config.transcode.enabled && config.transcode.thumbnailIntervalSec > 0;
    },
    liveInfo: (streamId) => {
      const live = lifecycle.liveInfo(streamId);
      if (!live) return null;
      const warnings: StreamWarning[] =
        live.keyframeIntervalWarningMs > 0
          ? [
              {
                code: 'long_keyframe_interval',
                message: `the encoder sends a keyframe every ${live.keyframeIntervalWarningMs} ms, longer than the ${config.delivery.targetDurationMs} ms segment target: set its keyframe interval to ${config.delivery.targetDurationMs / 1000} s`,
                keyframe_interval_ms: live.keyframeIntervalWarningMs,
              },
            ]
          : [];
      return { viewers: viewers.count(streamId), peakViewers: viewers.peak(streamId), renditions: live.renditions, warnings };
    },
  });
  api = controlApi;
  const webhooks = startWebhooks(config, webhookRepo, database.kind, events, breakers, registry, log.child({ component: 'webhooks' }));
  registerOpsRoutes(app, {
    registry,
    checks: [{ name: 'rtmp', check: () => ({ ok: true, detail: `${ingest.liveStreamIds.length} live` }) }],
    // through the breaker: while it is open the probe fails at once instead of waiting out a dead database
    dependencies: [{ name: 'database', probe: () => breakers.run('postgres', () => database.ping()), detail: database.kind }],
    // balancers that check /ready stop sending publishers to a draining instance
    accepting: () => !ingest.draining,
    warnings: () => (transcode.warning !== null ? [transcode.warning] : []),
    // the delivery threads' metrics added to this thread's
    collect: () => deliveryThreads?.metrics() ?? registry.metrics(),
  });
  await registerConsoleRoutes(app, { dir: config.consoleDir ?? defaultConsoleDir(), log: log.child({ component: 'console' }) });
  app.any('/*', (res, req) => {
    const ctx = captureRequest(res, req);
    sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.url}` } });
  });

  // A publisher that came meanwhile was served (the worker interleaves it between warm-up connections).
  const warmed = await warming;
  let listenSocket: uWS.us_listen_socket;
  if (mirrored === null) {
    listenSocket = await listen(app, config.host, config.httpPort);
    httpPort = uWS.us_socket_local_port(listenSocket);
  } else {
    // The delivery threads share the public port; this app answers on loopback what they forward to it.
    listenSocket = await listen(app, '127.0.0.1', 0);
    const forward = { port: uWS.us_socket_local_port(listenSocket), secret: randomBytes(32).toString('base64url') };
    trustForwardedRequests(forward.secret);
    const publicPort = await portForSharing(config.host, config.httpPort);
    deliveryThreads = await DeliveryThreads.start(
      config.delivery.threads,
      {
        store: mirrored,
        playlistConfig: mediaConfig,
        spawn: (setup) => startWorker(workerFile('delivery-thread.worker'), { workerData: setup }),
        lookupStream,
        playback,
        streamInfo,
        sessions,
        viewers,
        bus,
        liveStreams: () => hub.liveStreams(),
        instanceId: config.instanceId,
        onTsRequested,
        touch: edge === null ? undefined : (streamId, requests) => void edge!.touch(streamId, requests),
        registry,
        log: log.child({ component: 'delivery-threads' }),
      },
      {
        host: config.host,
        port: publicPort,
        forward,
        store: storeOptions,
        media: mediaConfig,
        ws: wsConfig,
        sessions: sessions !== null,
        tsOnDemand,
        instanceId: config.instanceId,
        logLevel: config.logLevel,
      },
    );
    httpPort = publicPort;
  }

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await ingest.close(config.shutdownGraceMs);
      // Streams ended above stop their transcoders; this waits for them and kills any FFmpeg left.
      await transcode.close();
      await deliveryThreads?.close();
      edge?.close();
      feeds.close();
      if (internalSocket !== null) uWS.us_listen_socket_close(internalSocket);
      await instances?.close();
      hub.close();
      uWS.us_listen_socket_close(listenSocket);
      lifecycle.close();
      loopDelay.close();
      ingestLogLimiter.close();
      await viewers.close();
      await pool.destroy();
      // after the streams ended (their last seconds are in), before the database closes
      await sessions?.close();
      await metricsRecorder.close();
      await metricsRollups.close();
      await webhooks.close();
      await events.close();
      await controlApi.close();
      await bus.close();
      if (ownsDatabase) await database.close();
      breakers.close();
    })();
    return stopped;
  };

  return {
    rtmpPort,
    httpPort,
    adminToken,
    databaseKind: database.kind,
    config,
    registry,
    repo,
    bus,
    events,
    webhooks,
    routes,
    breakers,
    ingest,
    store,
    lifecycle,
    streamMetrics: metricsRecorder,
    streamMetricsRollups: metricsRollups,
    viewers,
    viewerQoe,
    sessions,
    get deliveryThreads() {
      return deliveryThreads;
    },
    hub,
    transcode,
    warmStart: warmed,
    drain: (graceMs = config.drainGraceMs) => ingest.drain(graceMs),
    api: controlApi,
    stop,
  };
}
