/**
 * How an edge learns about new media, measured (npm run bench:edge-transport).
 *
 * An origin and an edge, each in its own child process (so each side's CPU is
 * its own), move the same synthetic packaged media in real time: per stream a
 * 200 ms video part and a 128 kb/s audio part every 200 ms (the keyframe part
 * 3× the others; --bitrate per stream, 3 Mb/s by default) and, every 2 s, the
 * two CMAF segments (listing only: their parts are their bytes). Transports
 * (--transports, all by default; see edge-transport-protocol.ts):
 *   none   the origin alone, nobody following: the floor under its CPU figures
 *   push   (A) nova's feed: OriginFeeds and the internal uWS listener at the
 *          origin, EdgeReplicas + applyFeedFrame into the edge's SegmentStore
 *   pull   (B) a notification per object on Redis pub/sub, then a GET of the
 *          object from the origin's uWS listener (keep-alive agent)
 *   redis  (C) the origin SETs each object's bytes in Redis (PX --ttl-ms) and
 *          notifies; the edge GETs them from Redis. With a TTL longer than
 *          --warm-up, nothing expires in the measured window: Redis' expiry
 *          work is in the figures only with a shorter --ttl-ms. The window's
 *          keys are deleted after each measurement
 * For each transport and --streams count (1 and 20), after --warm-up seconds
 * of media, over --seconds (both in whole parts):
 *   - delivery latency of each part, from just before the origin's sink took
 *     it to just after the edge's store did (CLOCK_MONOTONIC, one clock for
 *     both processes), p50 and p99;
 *   - CPU seconds per GB of media moved, origin, edge and the Redis server
 *     (the run time of each process's threads, /proc/<pid>/task/<tid>/schedstat;
 *     Redis' pid from INFO server). Redis is shared with whoever else uses it
 *     on this machine: under none and push nothing of the bench touches it,
 *     so their Redis figure is that background;
 *   - bytes over the wire per part: TCP payload, both directions, of every
 *     client socket of origin and edge (feed, GETs, Redis connections), the
 *     segment listings and notifications included, and its ratio to the media.
 * Medians of --runs runs; the transports alternate within a run.
 *
 * The machine is shared: take figures holding the lock, and note the load:
 *   flock /tmp/nova-bench.lock npm run bench:edge-transport -- --runs 3
 *
 * Flags: --runs 3 --seconds 12 --warm-up 4 --bitrate 3000000 --streams 1,20
 *        --transports none,push,pull,redis --ttl-ms 30000 --redis-url redis://127.0.0.1:6379
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { npmStartCommand } from '../peers/nova-process.js';
import { cpuReading, cpuSecondsBetween, median, type CpuReading } from './lib/measure.js';
import { parseEdgeTransportFlags } from './edge-transport-flags.js';
import { PART_MS, TRANSPORT_LABEL, monotonicMs, type ChildCommand, type ChildReply, type Transport } from './edge-transport-protocol.js';

const flags = parseEdgeTransportFlags(process.argv.slice(2));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/** The children run with the Node flags and environment `npm start` gives the server. */
const start = npmStartCommand();
const NODE_FLAGS = start.args.filter((arg) => arg.startsWith('--'));

interface Child {
  process: ChildProcess;
  pid: number;
  ask<K extends ChildReply['kind']>(command: ChildCommand, kind: K, timeoutMs?: number): Promise<Extract<ChildReply, { kind: K }>>;
  send(command: ChildCommand): void;
  exit(): Promise<void>;
}

function startChild(script: string): Child {
  const child = fork(here(script), [], {
    execArgv: ['--import', 'tsx', ...NODE_FLAGS],
    env: { ...process.env, ...start.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    pid: child.pid ?? -1,
    send: (command) => void child.send(command),
    ask(command, kind, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${script}: no '${kind}' within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (message: ChildReply): void => {
          if (message.kind === kind) done(null, message as Extract<ChildReply, { kind: typeof kind }>);
        };
        const onExit = (code: number | null): void => done(new Error(`${script} exited (${code}) before '${kind}'`));
        const done = (err: Error | null, message?: Extract<ChildReply, { kind: typeof kind }>): void => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve(message!);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send(command);
      });
    },
    async exit() {
      if (child.exitCode === null && child.signalCode === null) {
        child.send({ cmd: 'exit' } satisfies ChildCommand);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

interface Result {
  parts: number;
  /** parts the origin emitted in the window / parts a real-time clock would have */
  realTime: number;
  lost: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  originCpuPerGb: number;
  edgeCpuPerGb: number;
  redisCpuPerGb: number;
  wirePerPart: number;
  /** wire bytes / media bytes */
  wireRatio: number;
  /** media bytes per part */
  partBytes: number;
}

async function redisPid(url: string): Promise<number | null> {
  const client = createClient({ url });
  client.on('error', () => {});
  try {
    await client.connect();
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
    return Number.isSafeInteger(pid) && existsSync(`/proc/${pid}/stat`) ? pid : null;
  } catch {
    return null;
  } finally {
    await client.quit().catch(() => {});
  }
}

async function measure(transport: Transport, streams: number, redis: number | null): Promise<Result> {
  const prefix = `nova-bench-edge-transport:${process.pid}:${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(24).toString('hex');
  const origin = startChild('./edge-transport-origin.ts');
  let edge: Child | null = null;
  try {
    const { port } = await origin.ask({ cmd: 'setup', transport, streams, bitrate: flags.bitrate, prefix, secret, redisUrl: flags.redisUrl, ttlMs: flags.ttlMs }, 'ready');
    if (transport !== 'none') {
      edge = startChild('./edge-transport-edge.ts');
      await edge.ask({ cmd: 'setup', transport, streams, originUrl: `http://127.0.0.1:${port}`, prefix, secret, redisUrl: flags.redisUrl }, 'ready');
    }
    // the window starts and ends halfway between two parts of stream 0 (and of every stream when
    // there is one): a part on its way at either end is counted in neither its bytes nor the wire
    const { atMs } = await origin.ask({ cmd: 'start' }, 'started');
    const windowStart = atMs + Math.ceil((flags.warmUp * 1000) / PART_MS) * PART_MS + PART_MS / 2;
    const windowMs = Math.max(1, Math.round((flags.seconds * 1000) / PART_MS)) * PART_MS;
    await sleep(windowStart - monotonicMs());

    const read = (): { at: number; origin: CpuReading; edge: CpuReading | null; redis: CpuReading | null } => ({
      at: monotonicMs(),
      origin: cpuReading(origin.pid),
      edge: edge ? cpuReading(edge.pid) : null,
      redis: redis !== null ? cpuReading(redis) : null,
    });
    const wire = async (): Promise<number> =>
      (await origin.ask({ cmd: 'wire' }, 'wire')).bytes + (edge ? (await edge.ask({ cmd: 'wire' }, 'wire')).bytes : 0);
    const before = read();
    const wireBefore = await wire();
    await sleep(windowStart + windowMs - monotonicMs());
    const after = read();
    const wireAfter = await wire();
    origin.send({ cmd: 'stop' });
    // what was on its way at the window's end arrives
    await sleep(1000);

    const sent = await origin.ask({ cmd: 'report' }, 'report');
    const received = edge ? await edge.ask({ cmd: 'report' }, 'report') : { stamps: [], failures: 0 };
    const arrivals = new Map<string, number>();
    for (const [key, at] of received.stamps) if (!arrivals.has(key)) arrivals.set(key, at);
    const latencies: number[] = [];
    let parts = 0;
    let mediaBytes = 0;
    let lost = 0;
    for (const [key, at, bytes] of sent.stamps) {
      if (at < before.at || at >= after.at || !key.startsWith('part ')) continue;
      parts++;
      mediaBytes += bytes;
      const arrived = arrivals.get(key);
      if (arrived !== undefined) latencies.push(arrived - at);
      else lost++;
    }
    const gb = mediaBytes / 1e9;
    const perGb = (a: CpuReading | null, b: CpuReading | null): number => (a && b ? cpuSecondsBetween(a, b) / gb : Number.NaN);
    const expectedParts = (streams * 2 * windowMs) / PART_MS;
    return {
      parts,
      realTime: parts / expectedParts,
      lost: transport === 'none' ? 0 : lost,
      failures: sent.failures + received.failures,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: quantile(latencies, 1),
      originCpuPerGb: perGb(before.origin, after.origin),
      edgeCpuPerGb: perGb(before.edge, after.edge),
      redisCpuPerGb: perGb(before.redis, after.redis),
      wirePerPart: transport === 'none' ? Number.NaN : (wireAfter - wireBefore) / parts,
      wireRatio: transport === 'none' ? Number.NaN : (wireAfter - wireBefore) / mediaBytes,
      partBytes: mediaBytes / parts,
    };
  } finally {
    await edge?.exit();
    await origin.exit();
    if (transport === 'redis') await dropHotWindow(prefix);
  }
}

/** Redis is shared: a measurement's hot window (up to --ttl-ms of every stream) goes as soon as it is done. */
async function dropHotWindow(prefix: string): Promise<void> {
  const client = createClient({ url: flags.redisUrl });
  client.on('error', () => {});
  try {
    await client.connect();
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) if (keys.length > 0) await client.unlink(keys);
  } finally {
    await client.quit().catch(() => {});
  }
}

const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const redis = await redisPid(flags.redisUrl);
  if (redis === null && flags.transports.some((t) => t === 'pull' || t === 'redis')) {
    throw new Error(`no Redis at ${flags.redisUrl} whose process this machine can read (pull and redis need it)`);
  }
  console.log(
    `edge transport: ${flags.streams.join(', ')} stream(s) at ${(flags.bitrate / 1e6).toFixed(2)} Mb/s, 200 ms parts, ` +
      `${flags.warmUp} s warm-up + ${flags.seconds} s measured, ${flags.runs} run(s); load average ${load()}; Redis pid ${redis ?? '—'}`,
  );
  const results = new Map<string, Result[]>();
  for (let run = 0; run < flags.runs; run++) {
    for (const streams of flags.streams) {
      for (const transport of flags.transports) {
        const r = await measure(transport, streams, redis);
        const key = `${transport} ${streams}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        console.error(
          `  run ${run + 1}/${flags.runs} ${transport.padEnd(5)} N=${String(streams).padEnd(2)} ` +
            `p50/p99 ${fixed(r.p50Ms, 2)}/${fixed(r.p99Ms, 2)} ms, CPU-s/GB origin ${fixed(r.originCpuPerGb, 2)} edge ${fixed(r.edgeCpuPerGb, 2)} redis ${fixed(r.redisCpuPerGb, 2)}, ` +
            `wire ${fixed(r.wireRatio, 4)}× media, ${r.lost} lost, ${r.failures} failed, real time ${(100 * r.realTime).toFixed(1)} %, load ${load()}`,
        );
      }
    }
  }
  console.log(`load average at the end: ${load()}`);
  console.log(
    'transport              N   parts  p50 ms  p99 ms  max ms  origin CPU-s/GB  edge CPU-s/GB  Redis CPU-s/GB  wire B/part  wire/media  lost  failed  real time',
  );
  for (const streams of flags.streams) {
    for (const transport of flags.transports) {
      const runs = results.get(`${transport} ${streams}`) ?? [];
      const m = (pick: (r: Result) => number): number => median(runs.map(pick));
      console.log(
        [
          TRANSPORT_LABEL[transport].padEnd(20),
          String(streams).padStart(3),
          fixed(m((r) => r.parts), 0).padStart(7),
          fixed(m((r) => r.p50Ms), 2).padStart(7),
          fixed(m((r) => r.p99Ms), 2).padStart(7),
          fixed(m((r) => r.maxMs), 1).padStart(7),
          fixed(m((r) => r.originCpuPerGb), 2).padStart(16),
          fixed(m((r) => r.edgeCpuPerGb), 2).padStart(14),
          `${fixed(m((r) => r.redisCpuPerGb), 2)}${transport === 'none' || transport === 'push' ? '*' : ' '}`.padStart(15),
          fixed(m((r) => r.wirePerPart), 0).padStart(12),
          fixed(m((r) => r.wireRatio), 4).padStart(11),
          fixed(m((r) => r.lost), 0).padStart(5),
          fixed(m((r) => r.failures), 0).padStart(7),
          `${fixed(100 * m((r) => r.realTime), 1)} %`.padStart(10),
        ].join(' '),
      );
    }
  }
  const partBytes = median([...results.values()].flat().map((r) => r.partBytes));
  console.log(`media: ${fixed(partBytes, 0)} B per part on average (video and audio); * Redis figure with nothing of the bench using Redis: the background of other users`);
}

await main();
