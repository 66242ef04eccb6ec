/**
 * bench:edge-transport's edge (a child process, so its CPU is its own): it
 * keeps a replica of each of the origin's streams in its own SegmentStore,
 *   push:  EdgeReplicas as nova runs it (one feed per stream, applyFeedFrame),
 *   pull:  a snapshot over HTTP, then per notification on the stream's Redis
 *          channel a GET of the object from the origin (keep-alive agent),
 *   redis: the same snapshot, then per notification a GET of the object's
 *          bytes from Redis.
 * pull and redis start each object's fetch as its notification arrives and
 * apply them in order per stream (a segment lists the parts before it).
 * Every object the store takes is stamped (CLOCK_MONOTONIC) right after.
 */
import http from 'node:http';
import { Registry } from 'prom-client';
import { RESP_TYPES, createClient } from 'redis';
import { createLogger } from '../../src/log.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { EdgeMetrics } from '../../src/deliver/edge/edge-metrics.js';
import { DEFAULT_EDGE_OPTIONS, EdgeReplicas, type AcquireOutcome } from '../../src/deliver/edge/edge-replicas.js';
import { FeedFrameReader, validateFeedMessage, type FeedMessage } from '../../src/deliver/edge/feed-frames.js';
import { applyFeedFrame } from '../../src/deliver/edge/feed-apply.js';
import type { PackagedMedia } from '../../src/package/packaged-media.js';
import { countClientSocketBytes } from './lib/wire-bytes.js';
import { channelOf, monotonicMs, objectKey, objectPath, onCommand, reply, streamIdOf, type EdgeSetup, type Stamp } from './edge-transport-protocol.js';

const wireBytes = countClientSocketBytes();
const log = createLogger('warn', { component: 'bench-edge' });
const stamps: Stamp[] = [];
let failures = 0;

/** The edge's store, stamping what it takes: the moment the edge "has" an object. */
class StampingStore extends SegmentStore {
  override add(streamId: string, media: PackagedMedia): boolean {
    const taken = super.add(streamId, media);
    if (media.kind !== 'init') stamps.push([objectKey(streamId, media), monotonicMs(), media.bytes.byteLength]);
    return taken;
  }
}

const store = new StampingStore();

/** push: the replicas' metrics, whose lost feeds (each a resync) count as failures */
let feedMetrics: EdgeMetrics | null = null;

async function followByFeed(options: EdgeSetup): Promise<void> {
  feedMetrics = new EdgeMetrics(new Registry());
  const replicas = new EdgeReplicas({
    store,
    directory: { lookup: async () => ({ kind: 'origin', origin: { instanceId: 'origin', url: options.originUrl } }) },
    metrics: feedMetrics,
    log,
    // no viewer touches the replicas here: idleness must not end them
    options: { ...DEFAULT_EDGE_OPTIONS, secret: options.secret, idleMs: 3_600_000 },
  });
  const outcomes = await Promise.all(
    Array.from({ length: options.streams }, (_, i) => new Promise<AcquireOutcome>((resolve) => void replicas.acquire(streamIdOf(i), resolve))),
  );
  if (outcomes.some((outcome) => outcome !== 'ready')) throw new Error(`edge replicas: ${outcomes.join(', ')}`);
}

/** GET of a whole body into one buffer sized by its content-length. */
function get(agent: http.Agent, url: string, secret: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers: { authorization: `Bearer ${secret}` } }, (response) => {
      const length = Number(response.headers['content-length']);
      if (response.statusCode !== 200 || !Number.isSafeInteger(length)) {
        response.resume();
        reject(new Error(`${url}: ${response.statusCode}`));
        return;
      }
      const body = Buffer.allocUnsafe(length);
      let at = 0;
      response.on('data', (chunk: Buffer) => {
        if (at + chunk.byteLength <= length) chunk.copy(body, at);
        at += chunk.byteLength;
      });
      response.on('end', () => (at === length ? resolve(body) : reject(new Error(`${url}: ${at} of ${length} bytes`))));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function followByNotification(options: EdgeSetup): Promise<void> {
  const agent = new http.Agent({ keepAlive: true });
  const subscriber = createClient({ url: options.redisUrl });
  subscriber.on('error', (err: Error) => log.warn({ err: err.message }, 'redis subscriber'));
  await subscriber.connect();
  let fetchBody: (streamId: string, m: FeedMessage) => Promise<Uint8Array>;
  if (options.transport === 'pull') {
    fetchBody = (streamId, m) => {
      if (m.t !== 'part') return Promise.reject(new Error(`a ${m.t} with a body`));
      return get(agent, `${options.originUrl}/pull/v1/${objectPath(streamId, m.rendition, m.track, m.msn, m.index)}`, options.secret);
    };
  } else {
    const client = createClient({ url: options.redisUrl }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    client.on('error', (err: Error) => log.warn({ err: err.message }, 'redis client'));
    await client.connect();
    fetchBody = async (streamId, m) => {
      if (m.t !== 'part' && m.t !== 'segment') throw new Error(`a ${m.t} with a body`);
      const bytes = await client.get(`${options.prefix}:${objectPath(streamId, m.rendition, m.track, m.msn, m.t === 'part' ? m.index : -1)}`);
      if (bytes === null) throw new Error('gone from the hot window');
      return bytes;
    };
  }
  // a replica starts from the origin's snapshot, as a push feed does: notifications that come
  // meanwhile queue behind it (the origin is idle while the bench sets up; a real edge is not so lucky)
  const tails = new Map<string, Promise<void>>();
  const snapshotsApplied: Array<() => void> = [];
  for (let i = 0; i < options.streams; i++) tails.set(streamIdOf(i), new Promise<void>((resolve) => snapshotsApplied.push(resolve)));
  const empty = new Uint8Array(0);
  const channels = Array.from({ length: options.streams }, (_, i) => channelOf(options.prefix, streamIdOf(i)));
  await subscriber.subscribe(channels, (text: string, channel: string) => {
    const streamId = channel.slice(options.prefix.length + 1);
    const { n, m } = JSON.parse(text) as { n: number; m: unknown };
    const message = validateFeedMessage(m);
    // the fetch starts now; the store takes the objects in the order they were announced
    const body = n > 0 ? fetchBody(streamId, message) : empty;
    const applied = tails
      .get(streamId)!
      .then(() => body)
      .then(
        (bytes) => void applyFeedFrame(store, streamId, { message, body: bytes, owned: true }),
        (err: unknown) => {
          failures++;
          log.warn({ err: (err as Error).message, stream: streamId }, 'object not fetched');
        },
      );
    tails.set(streamId, applied);
  });
  for (let i = 0; i < options.streams; i++) {
    const streamId = streamIdOf(i);
    const bytes = await get(agent, `${options.originUrl}/pull/v1/${streamId}/snapshot`, options.secret);
    new FeedFrameReader().push(bytes, (frame) => void applyFeedFrame(store, streamId, frame));
    snapshotsApplied[i]!();
  }
}

onCommand(async (command) => {
  switch (command.cmd) {
    case 'setup':
      if (!('originUrl' in command)) throw new Error('an origin setup sent to the edge');
      if (command.transport === 'push') await followByFeed(command);
      else await followByNotification(command);
      reply({ kind: 'ready', port: 0 });
      break;
    case 'wire':
      reply({ kind: 'wire', bytes: wireBytes() });
      break;
    case 'report': {
      const lostFeeds = feedMetrics ? (await feedMetrics.originFailures.get()).values.reduce((sum, v) => sum + v.value, 0) : 0;
      reply({ kind: 'report', stamps, failures: failures + lostFeeds });
      break;
    }
    case 'exit':
      process.exit(0);
  }
});
