/**
 * bench:edge-transport's origin (a child process, so its CPU is its own):
 * N streams of synthetic packaged media emitted in real time, a video and
 * an audio part every 200 ms per stream (the streams' clocks spread over the
 * 200 ms) and the two segments after every tenth, into a SegmentStore through
 *   none:  OriginFeeds with nobody following (what an origin without edges does),
 *   push:  OriginFeeds + the internal listener's feed route (nova's own),
 *   pull:  the store, then a notification per object on Redis pub/sub; the
 *          internal listener serves objects by name from the store,
 *   redis: the store, then SET of the object's bytes (PX) and a notification.
 * Every object is stamped (CLOCK_MONOTONIC) just before the sink takes it.
 */
import { timingSafeEqual } from 'node:crypto';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import uWS from 'uWebSockets.js';
import { createLogger } from '../../src/log.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { EdgeMetrics } from '../../src/deliver/edge/edge-metrics.js';
import { OriginFeeds } from '../../src/deliver/edge/origin-feeds.js';
import { registerInternalRoutes } from '../../src/deliver/edge/internal-routes.js';
import { encodeFrameHead } from '../../src/deliver/edge/feed-frames.js';
import { feedMessageOf } from '../../src/deliver/edge/feed-apply.js';
import { writeSnapshot } from '../../src/deliver/edge/feed-snapshot.js';
import type { MediaSink } from '../../src/package/media-sink.js';
import type { PackagedMedia, PackagedPart, PackagedSegment } from '../../src/package/packaged-media.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { AUDIO_TIMESCALE, SOURCE, T0, VIDEO_TIMESCALE, fill, initOf, segmentMedia } from '../../test/deliver/synthetic-media.js';
import { countClientSocketBytes } from './lib/wire-bytes.js';
import {
  PARTS_PER_SEGMENT,
  PART_MS,
  channelOf,
  monotonicMs,
  objectKey,
  objectPath,
  onCommand,
  reply,
  streamIdOf,
  type OriginSetup,
  type Stamp,
} from './edge-transport-protocol.js';

const AUDIO_BITRATE = 128_000;
const wireBytes = countClientSocketBytes();
const log = createLogger('warn', { component: 'bench-origin' });

function redisClient(url: string) {
  return createClient({ url });
}
type RedisClient = ReturnType<typeof redisClient>;

interface Templates {
  video: PackagedPart[];
  audio: PackagedPart[];
  segments: PackagedSegment[];
}

/**
 * One segment's media, built once (filling bytes costs more than moving them):
 * every msn reuses its bytes. A video segment's first part (the keyframe) is
 * three times the size of the others, as an encoder's are.
 */
function templates(bitrate: number): Templates {
  const audioPartBytes = Math.round((AUDIO_BITRATE / 8) * (PART_MS / 1000));
  const videoSegmentBytes = ((bitrate - AUDIO_BITRATE) / 8) * ((PART_MS * PARTS_PER_SEGMENT) / 1000);
  const unit = videoSegmentBytes / (PARTS_PER_SEGMENT + 2);
  const shape = { partsPerSegment: PARTS_PER_SEGMENT, partDuration: PART_MS / 1000, segmentBytes: false };
  const video = segmentMedia(0, { ...shape, tracks: ['video'], partBytes: 1 });
  const audio = segmentMedia(0, { ...shape, tracks: ['audio'], partBytes: audioPartBytes });
  const parts = (media: PackagedMedia[]): PackagedPart[] => media.filter((m): m is PackagedPart => m.kind === 'part');
  return {
    video: parts(video).map((p) => ({ ...p, bytes: fill(Math.round(p.part.index === 0 ? 3 * unit : unit), 'video', 0, p.part.index) })),
    audio: parts(audio),
    segments: [...video, ...audio].filter((m): m is PackagedSegment => m.kind === 'segment'),
  };
}

/** pull and redis: the store takes the object, then the edges hear of it on the stream's channel (and, redis, find its bytes there). */
class NotifyingSink implements MediaSink {
  failures = 0;
  private readonly onFailure = (): void => {
    this.failures++;
  };

  constructor(
    private readonly store: SegmentStore,
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** redis: objects are SET with this TTL (ms); pull: null */
    private readonly hotWindowTtlMs: number | null,
  ) {}

  beginStream(streamId: string, renditions: readonly RenditionInfo[]): void {
    this.store.beginStream(streamId, renditions);
  }
  updateRenditions(streamId: string, renditions: readonly RenditionInfo[]): void {
    this.store.updateRenditions(streamId, renditions);
  }
  removeRendition(streamId: string, rendition: string): void {
    this.store.removeRendition(streamId, rendition);
  }
  endStream(streamId: string, how: 'ended' | 'dropped'): void {
    this.store.endStream(streamId, how);
  }
  thumbnail(streamId: string, jpeg: Uint8Array): void {
    this.store.thumbnail(streamId, jpeg);
  }

  add(streamId: string, media: PackagedMedia): void {
    const stream = this.store.getStream(streamId);
    if (!stream) return;
    const message = feedMessageOf(media, stream.generation);
    this.store.add(streamId, media);
    const n = media.bytes.byteLength;
    if (this.hotWindowTtlMs !== null && n > 0 && media.kind !== 'init') {
      const key = `${this.prefix}:${objectPath(streamId, media.rendition, media.track, media.msn, media.kind === 'part' ? media.part.index : -1)}`;
      // one connection: Redis runs the SET before the PUBLISH, so a notified edge finds the bytes
      this.redis.set(key, Buffer.from(media.bytes.buffer, media.bytes.byteOffset, n), { expiration: { type: 'PX', value: this.hotWindowTtlMs } }).catch(this.onFailure);
    }
    this.redis.publish(channelOf(this.prefix, streamId), JSON.stringify({ n, m: message })).catch(this.onFailure);
  }
}

function authorized(header: string, secret: Buffer): boolean {
  if (!header.startsWith('Bearer ')) return false;
  const presented = Buffer.from(header.slice(7));
  return presented.length === secret.length && timingSafeEqual(presented, secret);
}

/** pull's origin side: a new edge's snapshot (feed frames, as the push feed starts) and each object by name. */
function registerPullRoutes(app: uWS.TemplatedApp, store: SegmentStore, secretText: string): void {
  const secret = Buffer.from(secretText);
  const refuse = (res: uWS.HttpResponse, status: string): void => void res.cork(() => res.writeStatus(status).end());
  app.get('/pull/v1/:stream/snapshot', (res, req) => {
    if (!authorized(req.getHeader('authorization'), secret)) return refuse(res, '401 Unauthorized');
    const stream = store.getStream(req.getParameter(0) ?? '');
    if (!stream) return refuse(res, '404 Not Found');
    const chunks: Uint8Array[] = [];
    writeSnapshot(stream, (message, body) => {
      chunks.push(encodeFrameHead(message, body?.byteLength ?? 0));
      if (body !== undefined && body.byteLength > 0) chunks.push(body);
    });
    const bytes = Buffer.concat(chunks);
    res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/vnd.nova.feed').end(bytes));
  });
  app.get('/pull/v1/:stream/:rendition/:track/:msn/:index', (res, req) => {
    if (!authorized(req.getHeader('authorization'), secret)) return refuse(res, '401 Unauthorized');
    const track = store
      .getStream(req.getParameter(0) ?? '')
      ?.renditions.get(req.getParameter(1) ?? '')
      ?.tracks.get((req.getParameter(2) ?? '') as 'video');
    const bytes = track?.findPart(Number(req.getParameter(3)), Number(req.getParameter(4)))?.bytes;
    if (!bytes) return refuse(res, '404 Not Found');
    res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'video/mp4').end(bytes));
  });
}

let clocks: NodeJS.Timeout[] = [];
const stamps: Stamp[] = [];
let sink: MediaSink | null = null;
let notifying: NotifyingSink | null = null;
let media: Templates | null = null;
let streamCount = 0;

function emit(streamId: string, m: PackagedMedia): void {
  stamps.push([objectKey(streamId, m), monotonicMs(), m.bytes.byteLength]);
  sink!.add(streamId, m);
}

/** Part `k` of a stream (and, after the tenth of a segment, the segments). */
function tick(streamId: string, k: number): void {
  const msn = Math.floor(k / PARTS_PER_SEGMENT);
  const index = k % PARTS_PER_SEGMENT;
  emit(streamId, { ...media!.video[index]!, msn });
  emit(streamId, { ...media!.audio[index]!, msn });
  if (index !== PARTS_PER_SEGMENT - 1) return;
  for (const segment of media!.segments) {
    const timescale = segment.track === 'audio' ? AUDIO_TIMESCALE : VIDEO_TIMESCALE;
    emit(streamId, {
      ...segment,
      msn,
      baseMediaDecodeTime: Math.round(msn * segment.duration * timescale),
      startPts: Math.round(msn * segment.duration * 1000),
      programDateTime: T0 + Math.round(msn * segment.duration * 1000),
    });
  }
}

/** Each stream on its own 200 ms clock, anchored (no drift), the streams spread over the period as real publishers are. */
function startClocks(streams: number): number {
  const start = monotonicMs() + 20;
  for (let i = 0; i < streams; i++) {
    const streamId = streamIdOf(i);
    const offset = (i * PART_MS) / streams;
    let k = 0;
    const next = (): void => {
      const due = start + offset + k * PART_MS;
      clocks[i] = setTimeout(() => {
        tick(streamId, k++);
        next();
      }, Math.max(0, due - monotonicMs()));
    };
    next();
  }
  return start;
}

async function setup(options: OriginSetup): Promise<void> {
  media = templates(options.bitrate);
  streamCount = options.streams;
  const store = new SegmentStore();
  const feeds = new OriginFeeds(store, new EdgeMetrics(new Registry()), log);
  const app = uWS.App();
  if (options.transport === 'none' || options.transport === 'push') {
    sink = feeds;
    registerInternalRoutes(app, { feeds, secret: options.secret, maxFeedBacklogBytes: 32 * 1024 * 1024, log });
  } else {
    const redis = redisClient(options.redisUrl);
    redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis'));
    await redis.connect();
    notifying = new NotifyingSink(store, redis, options.prefix, options.transport === 'redis' ? options.ttlMs : null);
    sink = notifying;
    registerPullRoutes(app, store, options.secret);
  }
  const port = await new Promise<number>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token) => (token ? resolve(uWS.us_socket_local_port(token)) : reject(new Error('origin cannot listen'))));
  });
  for (let i = 0; i < options.streams; i++) {
    const streamId = streamIdOf(i);
    sink.beginStream(streamId, [SOURCE]);
    for (const track of ['video', 'audio'] as const) sink.add(streamId, initOf(track));
  }
  reply({ kind: 'ready', port });
}

onCommand(async (command) => {
  switch (command.cmd) {
    case 'setup':
      if ('originUrl' in command) throw new Error('an edge setup sent to the origin');
      await setup(command);
      break;
    case 'start':
      reply({ kind: 'started', atMs: startClocks(streamCount) });
      break;
    case 'stop':
      for (const clock of clocks) clearTimeout(clock);
      clocks = [];
      break;
    case 'wire':
      reply({ kind: 'wire', bytes: wireBytes() });
      break;
    case 'report':
      reply({ kind: 'report', stamps, failures: notifying?.failures ?? 0 });
      break;
    case 'exit':
      process.exit(0);
  }
});
