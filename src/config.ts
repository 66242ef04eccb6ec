import { NovaError } from './errors.js';
import { ENCODER_CANDIDATES, type RenditionEncodeSettings } from './transcode/encoder-flags.js';
import { DEFAULT_LADDER_SPEC, parseLadderSpec, type LadderRung } from './transcode/ladder.js';

/**
 * The one configuration object. Every field: its environment variable, its
 * default and why. Validated once at start; a bad value stops the process
 * with a message naming the variable.
 */
export interface Config {
  /** HOST: address both listeners bind. */
  host: string;
  /** RTMP_PORT (1935, RTMP's registered port; 0 = pick a free one, as tests do). */
  rtmpPort: number;
  /** HTTP_PORT (8080): HLS, DASH, REST API, WebSocket, /metrics. 0 = pick a free one. */
  httpPort: number;
  /** PUBLIC_URL: base written into rtmp_url/hls_url…; default derived from host and ports. */
  publicHttpUrl: string | null;
  /** PUBLIC_RTMP_URL: base of rtmp_url handed to broadcasters. */
  publicRtmpUrl: string | null;
  /** DATA_DIR (./data): PGlite files and the generated admin token. */
  dataDir: string;
  /** DATABASE_URL: PostgreSQL when set; embedded PGlite under DATA_DIR otherwise. "memory://" = PGlite in memory. */
  databaseUrl: string | null;
  /** DATABASE_POOL_SIZE (10): PostgreSQL connections per instance (the relay's lock and LISTEN session is one more). */
  databasePoolSize: number;
  /** PUBLISH_KEY_CACHE_MS (600000): while PostgreSQL is unreachable, a stream key found good this recently still publishes; 0: none does. */
  publishKeyCacheMs: number;
  /** REDIS_URL: cross-instance event bus when set; in-process otherwise. */
  redisUrl: string | null;
  /** REDIS_KEY_PREFIX (nova:): the event log's keys start with it; one per deployment sharing a Redis (tests use a unique one). */
  redisKeyPrefix: string;
  /** ADMIN_TOKEN: bearer token for admin routes; generated at first start and kept in DATA_DIR when unset. */
  adminToken: string | null;
  /** LOG_LEVEL (info). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** INSTANCE_ID: names this instance in logs and cross-instance counts; default hostname-pid. */
  instanceId: string;
  /** CONSOLE_DIR (dist/console in the repository): the built web console served at / (npm run build writes it). */
  consoleDir: string | null;
  /** STREAM_METRICS_RETENTION_DAYS (7): per-second stream metrics rows older than this are deleted (once rolled up); 0 keeps them. */
  streamMetricsRetentionDays: number;
  /** STREAM_METRICS_ROLLUP_RETENTION_DAYS (30): one-minute roll-ups of the stream metrics older than this are deleted; 0 keeps them. */
  streamMetricsRollupRetentionDays: number;
  /** VIEWER_SESSIONS (on): track viewer sessions (CMCD, bytes, renditions) into viewer_sessions; "off" puts no tracker on the request path at all. */
  viewerSessions: boolean;
  /** Durable events: outbox → relay → event log (Redis Streams, or in-process) → consumers. */
  events: {
    /**
     * EVENT_PARTITIONS (16): a stream's events keep their order within its partition; partitions are
     * relayed and consumed concurrently. Fixed for a deployment: changing it reorders events across the change.
     */
    partitions: number;
    /** EVENT_MAX_ATTEMPTS (5): a consumer's attempts at one event before it goes to the dead letters. */
    maxAttempts: number;
    /** EVENT_STREAM_MAXLEN (100000): entries each partition keeps in the event log (about a day of a busy deployment's lifecycle events). */
    streamMaxLength: number;
    /** OUTBOX_RETENTION_MINUTES (60): published outbox rows are kept this long, to publish again what a Redis without persistence lost. */
    outboxRetentionMs: number;
    /** OUTBOX_BATCH_SIZE (500): rows the relay moves per round (one read and one update of the database). */
    outboxBatchSize: number;
  };
  webhooks: {
    /** WEBHOOK_ALLOW_PRIVATE (off): allow targets on private, loopback and link-local addresses (refused by default: a URL is user input). */
    allowPrivate: boolean;
    /** WEBHOOK_TIMEOUT_MS (5000): one attempt, connection to answer. */
    timeoutMs: number;
    /** WEBHOOK_RETRY_WINDOW_S (86400): a delivery is retried for this long, then failed and its webhook disabled with a notice. */
    retryWindowMs: number;
    /** WEBHOOK_RETRY_BASE_MS (1000): the first retry's delay; each next doubles (±25 % jitter), at most an hour. */
    retryBaseMs: number;
    /** WEBHOOK_CONCURRENCY (16): attempts in flight per instance; one webhook holds at most 2 of them. */
    concurrency: number;
    /** WEBHOOK_BREAKER_RESET_MS (30000): a webhook whose breaker opened (half its recent attempts failed) waits this long before one attempt. */
    breakerResetMs: number;
  };
  rtmp: {
    /** RTMP_MAX_MESSAGE_BYTES (8 MiB): a larger declared message closes the connection (a 1080p keyframe is well under 1 MiB). */
    maxMessageBytes: number;
    /** RTMP_MAX_CHUNK_SIZE (16 MiB): largest Set Chunk Size accepted (the spec's maximum is 2^31-1; nobody needs it). */
    maxChunkSize: number;
    /**
     * RTMP_INGRESS_RING_BYTES (512 KiB): per-connection shared ring between the socket and the demux worker; when full the
     * socket is paused. It holds what arrives between two looks of the worker (at most 250 ms: ~190 KB at 6 Mb/s).
     */
    ingressRingBytes: number;
    /** RTMP_FRAME_QUEUE_BYTES (16 MiB): shared frame queue of a stream the transcoder reads (about 20 s of 6 Mb/s); none for other streams. */
    frameQueueBytes: number;
    /** RTMP_HANDSHAKE_TIMEOUT_MS (5000). */
    handshakeTimeoutMs: number;
    /** RTMP_IDLE_TIMEOUT_MS (30000): a publisher silent this long is ended. */
    idleTimeoutMs: number;
    /** RTMP_ON_DUPLICATE (takeover): a second publisher on a live key replaces the first ("takeover") or is refused ("refuse"). */
    onDuplicatePublish: 'takeover' | 'refuse';
    /** RTMP_MAX_CONNECTIONS (1000). */
    maxConnections: number;
    /**
     * RTMP_NATIVE_READER (auto): read publishers' sockets on the native reader thread (native/ingress-reader)
     * straight into the ingress rings; "auto" uses it when built, "on" refuses to start without it, "off" reads in JavaScript.
     */
    nativeReader: 'auto' | 'on' | 'off';
  };
  delivery: {
    /** SEGMENT_TARGET_MS (2000): segments are cut at the first keyframe after this; encoders should send a keyframe every 2 s. */
    targetDurationMs: number;
    /** PART_TARGET_MS (200): LL-HLS part duration (gohlslib and Apple use 200–333 ms). */
    partTargetMs: number;
    /**
     * TS_MUXING (on-demand): MPEG-TS for a live stream is muxed once a client asks for a TS playlist
     * (the first one waits for the first TS segment, 4–6 s with 2 s segments); "always" muxes it from the start.
     */
    tsMuxing: 'on-demand' | 'always';
    /** PLAYLIST_WINDOW (6): segments listed in a live playlist. */
    playlistWindow: number;
    /**
     * SEGMENT_KEEP_AFTER_WINDOW (1): segments still served after leaving the playlist, for a player one reload
     * behind. With the window, what a stream holds in memory: its part arena is sized to it (docs/operations.md).
     */
    keepAfterWindow: number;
    /** SEGMENT_STORE_BYTES (512 MiB): all streams' segments in memory together; oldest evicted first. */
    storeMaxBytes: number;
    /**
     * PLAYLIST_CACHE_BYTES (16 MiB): rendered playlists kept until their stream changes, all streams
     * together, the entry written longest ago evicted first: a few thousand LL-HLS playlists of a few KB
     * (a private stream's token-carrying playlists make one per viewer). 0 renders every request.
     */
    playlistCacheBytes: number;
    /**
     * DELIVERY_THREADS (cores): threads serving the public port (HLS, LL-HLS, DASH, the WebSocket), each a
     * uWebSockets.js app sharing the port; everything else they forward to the main thread. 0: the main
     * thread serves it all itself (deliver/threads/, docs/operations.md).
     */
    threads: number;
    /** CORS_ORIGINS (*): comma-separated origins allowed to fetch playlists and segments. */
    corsOrigins: string[] | '*';
    /** CDN_BASE_URL: written into playlists as the base of segment URIs. */
    cdnBaseUrl: string | null;
  };
  ws: {
    /** WS_MAX_CONNECTIONS_PER_IP (100). */
    maxConnectionsPerIp: number;
    /** WS_MAX_BACKPRESSURE_BYTES (65536): a client whose unsent backlog exceeds this is dropped as a slow consumer. */
    maxBackpressureBytes: number;
    /** WS_IDLE_TIMEOUT_SEC (60). */
    idleTimeoutSec: number;
    /** PLAYBACK_SESSION_IDLE_MS (30000): an HLS/DASH client whose playlist requests stop for this long no longer counts as a viewer (a few segment durations, so a stall is not a leave). */
    playbackSessionIdleMs: number;
  };
  transcode: {
    /** TRANSCODE (on): build the ABR ladder with FFmpeg; "off" serves the source rendition only and never runs FFmpeg (tests that need no ladder save the CPU). When on but FFmpeg is missing, passthrough only with a warning in the log and /health. */
    enabled: boolean;
    /** FFMPEG_PATH (ffmpeg, found on PATH). */
    ffmpegPath: string;
    /** TRANSCODE_ENCODER: skip the probe order (NVENC → QSV → VAAPI → VideoToolbox → libx264) and try this one first; "none" = off. */
    encoderOverride: string;
    /** TRANSCODE_LADDER (1080p:8000k,720p:5000k,480p:2000k): rungs by height and video bitrate; a rung at or above the source's height is skipped (never upscaled). */
    ladder: LadderRung[];
    /** TRANSCODE_PRESET (veryfast): encoder speed preset in x264's names; hardware encoders map it to their own scale (encoder-flags.ts). */
    preset: RenditionEncodeSettings['preset'];
    /** TRANSCODE_STALL_MS (5000): FFmpeg silent this long while fed is killed and restarted. */
    stallTimeoutMs: number;
    /** TRANSCODE_MAX_LAG_MS (3000): encoder backlog beyond which source frames are dropped for the ladder (whole GOPs), never blocking ingest. */
    maxLagMs: number;
    /** TRANSCODE_THREADS (cores): size of the transcode task pool (one task per stream feeds its FFmpeg and packages the ladder). */
    threads: number;
    /** THUMBNAIL_INTERVAL_SEC (5): a JPEG of each transcoded stream from the ladder's FFmpeg, taken at the first keyframe this long after the last one; 0 = no thumbnails. */
    thumbnailIntervalSec: number;
    /** THUMBNAIL_WIDTH (320): the thumbnail's width in pixels (even), its height at the source's aspect ratio. */
    thumbnailWidth: number;
  };
  /**
   * Origin–edge delivery: any instance plays any live stream. On when REDIS_URL and
   * INTERNAL_SECRET are both set (instances find each other through Redis); off, a
   * stream ingested elsewhere answers 404 here.
   */
  edge: {
    /** INTERNAL_SECRET: shared by all instances, at least 16 characters; every internal request carries it. */
    secret: string | null;
    /** INTERNAL_PORT (8081): the internal listener (feeds to other instances), kept off the public port; 0 = any free port. */
    internalPort: number;
    /** INTERNAL_HOST (HOST): address the internal listener binds. */
    internalHost: string;
    /** INTERNAL_URL: base URL other instances reach this one at; default http://<POD_IP or hostname>:<INTERNAL_PORT>. */
    internalUrl: string | null;
    /** EDGE_SYNC_TIMEOUT_MS (2000): a stream's origin must start its feed within this, or the viewers waiting get 503 + Retry-After. */
    syncTimeoutMs: number;
    /** EDGE_ORIGIN_LOST_GRACE_MS (3000): a lost origin's stream is served as it was this long (its publisher reconnecting elsewhere is followed), then answers 503. */
    lostGraceMs: number;
    /** EDGE_IDLE_MS (30000): a replica nobody watched this long is let go. */
    idleMs: number;
    /** EDGE_FEED_BACKLOG_BYTES (32 MiB): how far an edge may fall behind on a feed before it is dropped (it resyncs). */
    feedBacklogBytes: number;
  };
  auth: {
    /** AUTH_KEY_RELOAD_MS (10000): how often an instance reloads the shared signing keys; a rotated key is published 3× this long before it signs. */
    keyReloadMs: number;
    /** TOKEN_REVOCATION_POLL_MS (250): how often an instance reads new token revocations; a revocation counts everywhere within about this. */
    revocationPollMs: number;
  };
  rateLimit: {
    /** RATE_LIMIT (on): per-client and per-address limits on the REST API ("off": none). The admin token is never limited. */
    enabled: boolean;
    /** RATE_LIMIT_WRITES_PER_MIN (60): POST and DELETE requests a minute per client. */
    writesPerMinute: number;
    /** RATE_LIMIT_READS_PER_MIN (600): GET requests a minute per client. */
    readsPerMinute: number;
    /** RATE_LIMIT_ANONYMOUS_PER_MIN (120): requests a minute per source address without a valid client token (token endpoint, failed authentication, public documents). */
    anonymousPerMinute: number;
    /** RATE_LIMIT_REDIS_PREFIX (nova:rl): key prefix of the counters in Redis (one per deployment). */
    redisPrefix: string;
  };
  /** WORKER_THREADS (cores, at least 1): size of the demux/package pool. */
  workerThreads: number;
  /**
   * WARM_START (on): at start, run the ingest path over a recorded publish session until V8 has
   * optimized it (src/ingest/warm-start.ts), so the first publishers cost what later ones do.
   */
  warmStart: 'on' | 'off';
  /** SHUTDOWN_GRACE_MS (5000): how long shutdown waits for streams to finish cleanly. */
  shutdownGraceMs: number;
  /**
   * DRAIN_GRACE_MS (5000): on SIGTERM, how long publishers asked to reconnect (Enhanced RTMP v2
   * Reconnect Request) have to move before every RTMP connection left is closed. An encoder that
   * honours the request moves at its next keyframe (every 2 s as we recommend, 4 s at worst in
   * common setups) plus a reconnect; the others are closed at its end and reconnect on their own.
   * Separate from SHUTDOWN_GRACE_MS, which bounds the clean stop that follows. 0: close at once.
   */
  drainGraceMs: number;
}

type Env = Record<string, string | undefined>;

function fail(variable: string, value: string, expected: string): never {
  throw new NovaError('NOVA_ERR_CONFIG', `invalid ${variable}=${JSON.stringify(value)}: expected ${expected}`);
}

function int(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) fail(variable, raw, `an integer between ${min} and ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) fail(variable, raw, `an integer between ${min} and ${max}`);
  return value;
}

function evenInt(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const value = int(env, variable, fallback, min, max);
  if (value % 2 !== 0) fail(variable, String(value), `an even integer between ${min} and ${max}`);
  return value;
}

function oneOf<T extends string>(env: Env, variable: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) fail(variable, raw, `one of ${allowed.join(', ')}`);
  return raw as T;
}

function url(env: Env, variable: string, protocols: readonly string[]): string | null {
  const raw = env[variable];
  if (raw === undefined || raw === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    fail(variable, raw, `a URL (${protocols.join(' or ')})`);
  }
  if (!protocols.includes(parsed.protocol)) fail(variable, raw, `a URL (${protocols.join(' or ')})`);
  return raw;
}

function keyPrefix(env: Env, variable: string, fallback: string): string {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[A-Za-z0-9:._-]{1,100}$/.test(raw)) fail(variable, raw, 'up to 100 letters, digits or :._-');
  return raw;
}

function secret(env: Env, variable: string): string | null {
  const raw = env[variable];
  if (raw === undefined || raw === '') return null;
  if (raw.length < 16) fail(variable, '<hidden>', 'at least 16 characters');
  return raw;
}

function origins(env: Env, variable: string): string[] | '*' {
  const raw = env[variable];
  if (raw === undefined || raw === '' || raw.trim() === '*') return '*';
  const list = raw.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const origin of list) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      fail(variable, raw, 'a comma-separated list of origins like https://example.com, or *');
    }
    if (parsed.origin !== origin) fail(variable, raw, 'origins without paths or trailing slashes');
  }
  return list;
}

function ladder(env: Env, variable: string): LadderRung[] {
  const raw = env[variable];
  try {
    return parseLadderSpec(raw === undefined || raw === '' ? DEFAULT_LADDER_SPEC : raw);
  } catch (err) {
    fail(variable, raw ?? '', `comma-separated rungs like ${DEFAULT_LADDER_SPEC} (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Settings that no longer exist and whose silent disappearance would open
 * what they closed: the server refuses to start while one is set.
 */
const RETIRED: Record<string, string> = {
  PLAYBACK_SIGNING_KEY:
    'retired: mark streams that need protecting private ("private": true) and give viewers a token from POST /api/v1/streams/{id}/playback-tokens (docs/api.md, Private streams)',
  WS_JWT_SECRET: 'retired: a private stream\'s WebSocket takes the same viewer token as its HLS and DASH (POST /api/v1/streams/{id}/playback-tokens)',
};

function refuseRetired(env: Env): void {
  for (const [variable, instead] of Object.entries(RETIRED)) {
    const raw = env[variable];
    if (raw !== undefined && raw !== '') throw new NovaError('NOVA_ERR_CONFIG', `${variable} is ${instead}; unset it`);
  }
}

export function loadConfig(env: Env = process.env, cores = 1): Config {
  refuseRetired(env);
  const host = env.HOST && env.HOST !== '' ? env.HOST : '0.0.0.0';
  const adminToken = env.ADMIN_TOKEN && env.ADMIN_TOKEN !== '' ? env.ADMIN_TOKEN : null;
  if (adminToken !== null && adminToken.length < 16) fail('ADMIN_TOKEN', '<hidden>', 'at least 16 characters');
  return {
    host,
    rtmpPort: int(env, 'RTMP_PORT', 1935, 0, 65535),
    httpPort: int(env, 'HTTP_PORT', 8080, 0, 65535),
    publicHttpUrl: url(env, 'PUBLIC_URL', ['http:', 'https:']),
    publicRtmpUrl: url(env, 'PUBLIC_RTMP_URL', ['rtmp:', 'rtmps:']),
    dataDir: env.DATA_DIR && env.DATA_DIR !== '' ? env.DATA_DIR : './data',
    databaseUrl: env.DATABASE_URL === 'memory://' ? 'memory://' : url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    publishKeyCacheMs: int(env, 'PUBLISH_KEY_CACHE_MS', 600_000, 0, 86_400_000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: keyPrefix(env, 'REDIS_KEY_PREFIX', 'nova:'),
    adminToken,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    instanceId: env.INSTANCE_ID && env.INSTANCE_ID !== '' ? env.INSTANCE_ID : `${process.env.HOSTNAME ?? 'nova'}-${process.pid}`,
    consoleDir: env.CONSOLE_DIR && env.CONSOLE_DIR !== '' ? env.CONSOLE_DIR : null,
    streamMetricsRetentionDays: int(env, 'STREAM_METRICS_RETENTION_DAYS', 7, 0, 3650),
    streamMetricsRollupRetentionDays: int(env, 'STREAM_METRICS_ROLLUP_RETENTION_DAYS', 30, 0, 36500),
    viewerSessions: oneOf(env, 'VIEWER_SESSIONS', 'on', ['on', 'off'] as const) === 'on',
    events: {
      partitions: int(env, 'EVENT_PARTITIONS', 16, 1, 1024),
      maxAttempts: int(env, 'EVENT_MAX_ATTEMPTS', 5, 1, 100),
      streamMaxLength: int(env, 'EVENT_STREAM_MAXLEN', 100_000, 100, 100_000_000),
      outboxRetentionMs: int(env, 'OUTBOX_RETENTION_MINUTES', 60, 1, 525_600) * 60_000,
      outboxBatchSize: int(env, 'OUTBOX_BATCH_SIZE', 500, 1, 10_000),
    },
    webhooks: {
      allowPrivate: oneOf(env, 'WEBHOOK_ALLOW_PRIVATE', 'off', ['on', 'off'] as const) === 'on',
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 5000, 100, 120_000),
      retryWindowMs: int(env, 'WEBHOOK_RETRY_WINDOW_S', 86_400, 1, 30 * 86_400) * 1000,
      retryBaseMs: int(env, 'WEBHOOK_RETRY_BASE_MS', 1000, 10, 3_600_000),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 16, 1, 1000),
      breakerResetMs: int(env, 'WEBHOOK_BREAKER_RESET_MS', 30_000, 100, 3_600_000),
    },
    rtmp: {
      maxMessageBytes: int(env, 'RTMP_MAX_MESSAGE_BYTES', 8 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxChunkSize: int(env, 'RTMP_MAX_CHUNK_SIZE', 16 * 1024 * 1024, 128, 0x7fffffff),
      ingressRingBytes: int(env, 'RTMP_INGRESS_RING_BYTES', 512 * 1024, 64 * 1024, 256 * 1024 * 1024),
      frameQueueBytes: int(env, 'RTMP_FRAME_QUEUE_BYTES', 16 * 1024 * 1024, 256 * 1024, 1024 * 1024 * 1024),
      handshakeTimeoutMs: int(env, 'RTMP_HANDSHAKE_TIMEOUT_MS', 5000, 100, 600_000),
      idleTimeoutMs: int(env, 'RTMP_IDLE_TIMEOUT_MS', 30_000, 100, 3_600_000),
      onDuplicatePublish: oneOf(env, 'RTMP_ON_DUPLICATE', 'takeover', ['takeover', 'refuse'] as const),
      maxConnections: int(env, 'RTMP_MAX_CONNECTIONS', 1000, 1, 1_000_000),
      nativeReader: oneOf(env, 'RTMP_NATIVE_READER', 'auto', ['auto', 'on', 'off'] as const),
    },
    delivery: {
      targetDurationMs: int(env, 'SEGMENT_TARGET_MS', 2000, 500, 30_000),
      partTargetMs: int(env, 'PART_TARGET_MS', 200, 50, 2000),
      playlistWindow: int(env, 'PLAYLIST_WINDOW', 6, 3, 100),
      keepAfterWindow: int(env, 'SEGMENT_KEEP_AFTER_WINDOW', 1, 0, 100),
      tsMuxing: oneOf(env, 'TS_MUXING', 'on-demand', ['on-demand', 'always'] as const),
      storeMaxBytes: int(env, 'SEGMENT_STORE_BYTES', 512 * 1024 * 1024, 8 * 1024 * 1024, 64 * 1024 * 1024 * 1024),
      playlistCacheBytes: int(env, 'PLAYLIST_CACHE_BYTES', 16 * 1024 * 1024, 0, 1024 * 1024 * 1024),
      threads: int(env, 'DELIVERY_THREADS', cores, 0, 256),
      corsOrigins: origins(env, 'CORS_ORIGINS'),
      cdnBaseUrl: url(env, 'CDN_BASE_URL', ['http:', 'https:'])?.replace(/\/+$/, '') ?? null,
    },
    ws: {
      maxConnectionsPerIp: int(env, 'WS_MAX_CONNECTIONS_PER_IP', 100, 1, 1_000_000),
      maxBackpressureBytes: int(env, 'WS_MAX_BACKPRESSURE_BYTES', 64 * 1024, 1024, 64 * 1024 * 1024),
      idleTimeoutSec: int(env, 'WS_IDLE_TIMEOUT_SEC', 60, 8, 960),
      playbackSessionIdleMs: int(env, 'PLAYBACK_SESSION_IDLE_MS', 30_000, 1000, 600_000),
    },
    transcode: {
      enabled: oneOf(env, 'TRANSCODE', 'on', ['on', 'off'] as const) === 'on',
      ffmpegPath: env.FFMPEG_PATH && env.FFMPEG_PATH !== '' ? env.FFMPEG_PATH : 'ffmpeg',
      encoderOverride: oneOf(env, 'TRANSCODE_ENCODER', '', ['', 'none', ...ENCODER_CANDIDATES] as const),
      ladder: ladder(env, 'TRANSCODE_LADDER'),
      preset: oneOf(env, 'TRANSCODE_PRESET', 'veryfast', ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const),
      stallTimeoutMs: int(env, 'TRANSCODE_STALL_MS', 5000, 500, 600_000),
      maxLagMs: int(env, 'TRANSCODE_MAX_LAG_MS', 3000, 500, 600_000),
      threads: int(env, 'TRANSCODE_THREADS', Math.max(1, cores), 1, 256),
      thumbnailIntervalSec: int(env, 'THUMBNAIL_INTERVAL_SEC', 5, 0, 600),
      thumbnailWidth: evenInt(env, 'THUMBNAIL_WIDTH', 320, 64, 1920),
    },
    edge: {
      secret: secret(env, 'INTERNAL_SECRET'),
      internalPort: int(env, 'INTERNAL_PORT', 8081, 0, 65535),
      internalHost: env.INTERNAL_HOST && env.INTERNAL_HOST !== '' ? env.INTERNAL_HOST : host,
      internalUrl: url(env, 'INTERNAL_URL', ['http:'])?.replace(/\/+$/, '') ?? null,
      syncTimeoutMs: int(env, 'EDGE_SYNC_TIMEOUT_MS', 2000, 100, 60_000),
      lostGraceMs: int(env, 'EDGE_ORIGIN_LOST_GRACE_MS', 3000, 0, 600_000),
      idleMs: int(env, 'EDGE_IDLE_MS', 30_000, 1000, 3_600_000),
      feedBacklogBytes: int(env, 'EDGE_FEED_BACKLOG_BYTES', 32 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024),
    },
    auth: {
      keyReloadMs: int(env, 'AUTH_KEY_RELOAD_MS', 10_000, 100, 600_000),
      revocationPollMs: int(env, 'TOKEN_REVOCATION_POLL_MS', 250, 50, 60_000),
    },
    rateLimit: {
      enabled: oneOf(env, 'RATE_LIMIT', 'on', ['on', 'off'] as const) === 'on',
      writesPerMinute: int(env, 'RATE_LIMIT_WRITES_PER_MIN', 60, 1, 1_000_000),
      readsPerMinute: int(env, 'RATE_LIMIT_READS_PER_MIN', 600, 1, 1_000_000),
      anonymousPerMinute: int(env, 'RATE_LIMIT_ANONYMOUS_PER_MIN', 120, 1, 1_000_000),
      redisPrefix: env.RATE_LIMIT_REDIS_PREFIX && env.RATE_LIMIT_REDIS_PREFIX !== '' ? env.RATE_LIMIT_REDIS_PREFIX : 'nova:rl',
    },
    workerThreads: int(env, 'WORKER_THREADS', Math.max(1, cores), 1, 256),
    warmStart: oneOf(env, 'WARM_START', 'on', ['on', 'off'] as const),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 5000, 0, 600_000),
    drainGraceMs: int(env, 'DRAIN_GRACE_MS', 5000, 0, 600_000),
  };
}
