/**
 * npm run bench:events — durable events end to end. Every peer raises the
 * same events by the same state change (StreamRepository.setRenditions, the
 * write behind quality_changed, on one of 100 streams): the outbox writes the
 * event in that statement, the relay moves it to Redis Streams, this
 * instance's consumer hands it to its bus; plain Redis pub/sub (the path
 * lifecycle events took before: the floor) publishes it after the write;
 * BullMQ queues it after the write.
 *
 *   node --import tsx loadtest/bench/events-bench.ts [--rates 100,1000] [--seconds 10]
 *        [--warm-up 2] [--peers outbox,pubsub,bullmq]
 *
 * A private PostgreSQL cluster and a private redis-server are started for the
 * run (never the shared ones), so their CPU is the run's alone: CPU per event
 * is this process (producer, relay, consumers) plus redis-server plus every
 * PostgreSQL process, over the measured window and the drain after it.
 * Latency is from the moment the producer raised an event to the moment the
 * consumer had it (high-resolution clock, one process), the write included.
 * Each event is a quality_changed with a three-rendition ladder (~600 bytes).
 * Lost = raised − received after a 15 s drain. The PostgreSQL pool is the
 * default 10 connections, shared by the writes and the relay.
 * Run alone: `flock /tmp/nova-bench.lock npm run bench:events`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import { Queue, Worker } from 'bullmq';
import { openDatabase } from '../../src/control/db/database.js';
import { DEFAULT_OUTBOX_SETTINGS } from '../../src/control/db/outbox-append.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import type { Database } from '../../src/control/db/database.js';
import { startEventPipeline } from '../../src/control/events/event-pipeline.js';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { OwnPostgres } from '../../test/support/own-postgres.js';
import { freePort, waitForPort } from '../peers/ports.js';
import { cpuSeconds } from './lib/measure.js';
import { numberFlag, numberListFlag } from './lib/number-flag.js';

type Peer = 'outbox' | 'pubsub' | 'bullmq';

interface Options {
  rates: number[];
  seconds: number;
  warmUp: number;
  peers: Peer[];
}

function parseOptions(argv: string[]): Options {
  const get = (name: string, fallback: string): string => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 && argv[index + 1] !== undefined ? argv[index + 1]! : fallback;
  };
  const peers = get('peers', 'outbox,pubsub,bullmq').split(',') as Peer[];
  for (const peer of peers) if (!['outbox', 'pubsub', 'bullmq'].includes(peer)) throw new Error(`--peers takes outbox, pubsub, bullmq; got '${peer}'`);
  return {
    rates: numberListFlag('rates', get('rates', '100,1000'), { integer: true }),
    seconds: numberFlag('seconds', get('seconds', '10')),
    warmUp: numberFlag('warm-up', get('warm-up', '2'), { min: 0 }),
    peers,
  };
}

const now = (): number => performance.timeOrigin + performance.now();
const silent = pino({ level: 'silent' });
const STREAM_COUNT = 100;
/** one event log for every outbox run: a new one would be given again all the outbox still holds */
const LOG_PREFIX = `bench-${randomUUID()}:`;
const LADDER: RenditionInfo[] = [
  { name: 'source', width: 1920, height: 1080, bandwidth: 6_000_000, codecs: 'avc1.640028,mp4a.40.2', frameRate: 30 },
  { name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30 },
  { name: '480p', width: 854, height: 480, bandwidth: 1_200_000, codecs: 'avc1.64001e,mp4a.40.2', frameRate: 30 },
];

/** event n's renditions: the ladder, its first rendition named after n (how a receiver knows which event it got) */
function ladder(n: number): RenditionInfo[] {
  return [{ ...LADDER[0]!, name: `n${n}` }, ...LADDER.slice(1)];
}

/** The state change every peer makes for event n (the outbox adds the event to its statement). */
class Writes {
  readonly streams: string[] = [];
  private constructor(readonly database: Database) {}

  static async open(url: string): Promise<Writes> {
    const writes = new Writes(await openDatabase({ databaseUrl: url, dataDir: '/nonexistent' }, silent));
    const repo = new StreamRepository(writes.database.db);
    for (let i = 0; i < STREAM_COUNT; i++) writes.streams.push((await repo.create({ title: `bench ${i}` })).stream.id);
    return writes;
  }

  streamOf(n: number): string {
    return this.streams[n % this.streams.length]!;
  }
}

/** A peer under test: raise() sends one event; its consumer calls the run's `received` for each it gets. */
interface PeerRun {
  raise(n: number): Promise<void>;
  close(): Promise<void>;
}

interface Servers {
  redisUrl: string;
  redisPid: number;
  postgres: OwnPostgres;
  postgresDir: string;
  writes: Writes;
}

/** CPU seconds so far of redis-server and of the PostgreSQL cluster (postmaster, its waited-for children, its live backends). */
function serverCpu(servers: Servers): { redis: number; postgres: number } {
  const postmaster = Number(readFileSync(join(servers.postgresDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  let postgres = cpuSeconds(postmaster, { children: true });
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) postgres += cpuSeconds(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return { redis: cpuSeconds(servers.redisPid), postgres };
}

async function outboxPeer(servers: Servers, received: (e: StreamEvent) => void): Promise<PeerRun> {
  const { database } = servers.writes;
  const bus = new LocalEventBus();
  bus.subscribe(received);
  const pipeline = await startEventPipeline(
    {
      instanceId: 'bench',
      redisUrl: servers.redisUrl,
      redisKeyPrefix: LOG_PREFIX,
      databaseUrl: servers.postgres.url,
      events: { partitions: 16, maxAttempts: 5, streamMaxLength: 100_000, outboxRetentionMs: 3_600_000, outboxBatchSize: 500 },
    },
    database,
    bus,
    new Registry(),
    silent,
  );
  const repo = new StreamRepository(database.db, undefined, pipeline.outboxSettings);
  // the relay holds the lead before the first event
  const deadline = Date.now() + 10_000;
  while (!pipeline.relay.isLeader && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    raise: (n) => repo.setRenditions(servers.writes.streamOf(n), ladder(n), true),
    close: () => pipeline.close(),
  };
}

async function pubsubPeer(servers: Servers, received: (e: StreamEvent) => void): Promise<PeerRun> {
  const repo = new StreamRepository(servers.writes.database.db, undefined, DEFAULT_OUTBOX_SETTINGS);
  const publisher = createClient({ url: servers.redisUrl });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const channel = `bench:${randomUUID()}`;
  await subscriber.subscribe(channel, (message) => received(JSON.parse(message) as StreamEvent));
  return {
    async raise(n) {
      const streamId = servers.writes.streamOf(n);
      await repo.setRenditions(streamId, ladder(n));
      await publisher.publish(channel, JSON.stringify({ type: 'quality_changed', streamId, instanceId: 'bench', at: Date.now(), renditions: ladder(n) }));
    },
    async close() {
      publisher.destroy();
      subscriber.destroy();
    },
  };
}

async function bullmqPeer(servers: Servers, received: (e: StreamEvent) => void): Promise<PeerRun> {
  const repo = new StreamRepository(servers.writes.database.db, undefined, DEFAULT_OUTBOX_SETTINGS);
  const url = new URL(servers.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
  const name = `bench-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  // 16 jobs at once (BullMQ then keeps no order), as the outbox consumer handles 16 partitions at once
  const worker = new Worker(name, async (job) => received(job.data as StreamEvent), { connection, concurrency: 16 });
  await worker.waitUntilReady();
  return {
    async raise(n) {
      const streamId = servers.writes.streamOf(n);
      await repo.setRenditions(streamId, ladder(n));
      await queue.add('event', { type: 'quality_changed', streamId, instanceId: 'bench', at: Date.now(), renditions: ladder(n) }, { removeOnComplete: true, removeOnFail: true });
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

interface Result {
  peer: Peer;
  rate: number;
  raised: number;
  received: number;
  duplicates: number;
  lost: number;
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpuUsPerEvent: { node: number; redis: number; postgres: number; total: number };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(peer: Peer, rate: number, options: Options, servers: Servers): Promise<Result> {
  const latencies: number[] = [];
  const seen = new Set<number>();
  let duplicates = 0;
  const warmUpCount = Math.round(rate * options.warmUp);
  const total = warmUpCount + Math.round(rate * options.seconds);
  const raisedAt = new Float64Array(total);
  const received = (e: StreamEvent): void => {
    if (e.type !== 'quality_changed') return;
    const n = Number(e.renditions[0]?.name.slice(1));
    if (!(n >= 0 && n < total)) return;
    if (seen.has(n)) duplicates++;
    seen.add(n);
    if (n >= warmUpCount) latencies.push(now() - raisedAt[n]!);
  };
  const make = peer === 'outbox' ? outboxPeer : peer === 'pubsub' ? pubsubPeer : bullmqPeer;
  const target = await make(servers, received);
  let raised = 0;
  let failures = 0;
  let cpuStart = { node: 0, redis: 0, postgres: 0 };
  let windowStart = 0;
  const started = now();
  // raise on a 5 ms grid what is due since the start: a steady rate however long each raise takes
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((now() - started) / 1000) * rate));
      while (raised < due) {
        if (raised === warmUpCount) {
          windowStart = now();
          const server = serverCpu(servers);
          cpuStart = { node: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6, ...server };
        }
        raisedAt[raised] = now();
        target.raise(raised).catch(() => failures++);
        raised++;
      }
      if (raised >= total) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  const windowEnd = now();
  const drainDeadline = Date.now() + 15_000;
  while (seen.size < total && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const usage = process.cpuUsage();
  const server = serverCpu(servers);
  const measured = total - warmUpCount;
  const cpu = {
    node: ((usage.user + usage.system) / 1e6 - cpuStart.node) / measured,
    redis: (server.redis - cpuStart.redis) / measured,
    postgres: (server.postgres - cpuStart.postgres) / measured,
  };
  await target.close();
  latencies.sort((a, b) => a - b);
  if (failures > 0) process.stderr.write(`${peer} @${rate}/s: ${failures} raises failed\n`);
  const us = (s: number): number => Math.round(s * 1e6);
  return {
    peer,
    rate,
    raised: total,
    received: seen.size,
    duplicates,
    lost: total - seen.size,
    achievedPerSec: Math.round(measured / ((windowEnd - windowStart) / 1000)),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    maxMs: Number((latencies.at(-1) ?? Number.NaN).toFixed(2)),
    cpuUsPerEvent: { node: us(cpu.node), redis: us(cpu.redis), postgres: us(cpu.postgres), total: us(cpu.node + cpu.redis + cpu.postgres) },
  };
}

async function startRedis(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nova-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitForPort(port, 10_000);
  return { url: `redis://127.0.0.1:${port}`, child, dir };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const postgresPort = await freePort();
  const postgres = new OwnPostgres(postgresPort);
  await postgres.init();
  const redis = await startRedis();
  const writes = await Writes.open(postgres.url);
  const servers: Servers = { redisUrl: redis.url, redisPid: redis.child.pid!, postgres, postgresDir: postgres.directory, writes };
  const results: Result[] = [];
  try {
    for (const rate of options.rates) {
      for (const peer of options.peers) {
        const result = await run(peer, rate, options, servers);
        results.push(result);
        process.stderr.write(`${JSON.stringify(result)}\n`);
      }
    }
  } finally {
    await writes.database.close();
    redis.child.kill('SIGKILL');
    rmSync(redis.dir, { recursive: true, force: true });
    await postgres.dispose();
  }
  const floor = (rate: number): Result | undefined => results.find((r) => r.rate === rate && r.peer === 'pubsub');
  process.stdout.write('\npeer     rate/s  achieved  received  lost  dup   p50 ms   p99 ms   max ms   CPU µs/event (node+redis+pg = total)   × pub/sub\n');
  for (const r of results) {
    const ratio = floor(r.rate) ? (r.cpuUsPerEvent.total / floor(r.rate)!.cpuUsPerEvent.total).toFixed(2) : '-';
    process.stdout.write(
      `${r.peer.padEnd(8)} ${String(r.rate).padStart(6)}  ${String(r.achievedPerSec).padStart(8)}  ${String(r.received).padStart(8)}  ${String(r.lost).padStart(4)}  ${String(r.duplicates).padStart(3)}  ${r.p50Ms.toFixed(2).padStart(7)}  ${r.p99Ms.toFixed(2).padStart(7)}  ${r.maxMs.toFixed(2).padStart(7)}   ${`${r.cpuUsPerEvent.node}+${r.cpuUsPerEvent.redis}+${r.cpuUsPerEvent.postgres} = ${r.cpuUsPerEvent.total}`.padEnd(36)}  ${ratio}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify({ bench: 'events', options, results })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:events failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
