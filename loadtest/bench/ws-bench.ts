/**
 * npm run bench:ws — how many WebSocket viewers one server process holds and
 * how fast it fans a viewer_count_changed out to all of them, against a
 * plain `ws` server doing the same in the same run.
 *
 *   node --import tsx loadtest/bench/ws-bench.ts [--connections 50000] [--duration 60]
 *        [--clients 3] [--runs 1] [--targets uws,ws] [--concurrency 500] [--interval-ms 1000]
 *        [--latency-sample 1]
 *
 * Needs file descriptors: each connection costs one on the server and one in a
 * client. As root the script raises its own RLIMIT_NOFILE with prlimit (children
 * inherit it); otherwise run `ulimit -n 200000` first. Client sockets come from
 * 127.0.0.2… (one address per 25,000 connections) to stay under the ephemeral
 * port range of one source address.
 *
 * The clients run on the same cores as the server, and reading N sockets in a
 * few Node processes takes them longer than the server takes to write them:
 * with every socket read live (--latency-sample 1) latency includes that client
 * queue. --latency-sample K reads every K-th socket live and the others after
 * the broadcasts (still counting every message for losses). On loopback the
 * kernel's receive path runs inside the sender's send(), so a server writing to
 * N sockets pays for N deliveries: fanOut (serialise → every socket written, timed
 * in the server) is the figure no client can distort.
 *
 * Reports per target: connections reached, connect rate, server RSS per
 * connection, delivery latency (receipt − server ts, 1 ms resolution) p50/p99/max,
 * server fan-out time per broadcast (median, worst), messages lost (must be 0),
 * and the uws/ws ratio; medians over --runs.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_STREAM, LATENCY_BUCKETS, type ClientCommand, type ClientReply, type ServerCommand, type ServerReply } from './ws-bench-protocol.js';
import { median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

interface Options {
  connections: number;
  durationSec: number;
  clients: number;
  runs: number;
  targets: Array<'uws' | 'ws'>;
  concurrency: number;
  intervalMs: number;
  latencySample: number;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string, fallback: string): string => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 && argv[index + 1] !== undefined ? argv[index + 1]! : fallback;
  };
  return {
    connections: numberFlag('connections', get('connections', '50000'), { integer: true }),
    durationSec: numberFlag('duration', get('duration', '60')),
    clients: numberFlag('clients', get('clients', '3'), { integer: true }),
    runs: numberFlag('runs', get('runs', '1'), { integer: true }),
    targets: get('targets', 'uws,ws').split(',') as Array<'uws' | 'ws'>,
    concurrency: numberFlag('concurrency', get('concurrency', '500'), { integer: true }),
    intervalMs: numberFlag('interval-ms', get('interval-ms', '1000')),
    latencySample: numberFlag('latency-sample', get('latency-sample', '1'), { integer: true }),
  };
}

function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 1024);
}

function raiseFileLimit(wanted: number): void {
  if (openFileLimit() >= wanted) return;
  const result = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${wanted}`]);
  if (result.status !== 0) console.error(`could not raise RLIMIT_NOFILE to ${wanted} (run "ulimit -n ${wanted}" first): ${result.stderr}`);
  console.error(`RLIMIT_NOFILE: ${openFileLimit()}`);
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function forkTs(script: string): ChildProcess {
  return fork(script, [], { execArgv: ['--import', 'tsx', '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next<T extends { kind: string }>(child: ChildProcess, kind: T['kind'], timeoutMs: number, onOther?: (m: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', listener);
      reject(new Error(`timed out waiting for ${kind}`));
    }, timeoutMs);
    const listener = (message: T): void => {
      if (message.kind !== kind) {
        onOther?.(message);
        return;
      }
      clearTimeout(timer);
      child.off('message', listener);
      resolve(message);
    };
    child.on('message', listener);
  });
}

function percentile(histogram: number[], total: number, p: number): number {
  const target = Math.ceil(total * p);
  let seen = 0;
  for (let ms = 0; ms < histogram.length; ms++) {
    seen += histogram[ms]!;
    if (seen >= target) return ms;
  }
  return histogram.length - 1;
}

interface RunResult {
  target: string;
  requested: number;
  connected: number;
  connectRatePerSec: number;
  rssPerConnectionBytes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  delivered: number;
  expected: number;
  lost: number;
  unexpectedCloses: number;
  lateTicks: number;
  /** the server's time to write one broadcast to every socket (median and worst over the broadcasts) */
  fanOutP50Ms: number;
  fanOutMaxMs: number;
}

let runCounter = Math.floor(Math.random() * 30);

async function runOnce(target: 'uws' | 'ws', options: Options): Promise<RunResult> {
  const server = forkTs(target === 'uws' ? here('./ws-bench-server.ts') : here('./peers/ws-peer-server.ts'));
  const clients: ChildProcess[] = [];
  try {
    const { port } = await next<Extract<ServerReply, { kind: 'listening' }>>(server, 'listening', 30_000);
    const ask = async (): Promise<number> => {
      server.send({ cmd: 'stats' } satisfies ServerCommand);
      return (await next<Extract<ServerReply, { kind: 'stats' }>>(server, 'stats', 30_000)).rss;
    };
    const rssBefore = await ask();
    const url = `ws://127.0.0.1:${port}/api/v1/streams/${BENCH_STREAM}/ws`;
    const perClient = Math.ceil(options.connections / options.clients);
    // A fresh source-address block per run: the last run's TIME_WAIT sockets would otherwise slow the ramp.
    let addressIndex = 2 + ((runCounter++ * 8) % 240);
    const waits: Array<Promise<Extract<ClientReply, { kind: 'connected' }>>> = [];
    for (let c = 0; c < options.clients; c++) {
      const count = Math.min(perClient, options.connections - c * perClient);
      const addresses: string[] = [];
      for (let i = 0; i < Math.max(1, Math.ceil(count / 25_000)); i++) addresses.push(`127.0.0.${addressIndex++}`);
      const client = forkTs(here('./ws-bench-client.ts'));
      clients.push(client);
      waits.push(next(client, 'connected', 600_000));
      client.send({ cmd: 'connect', url, count, localAddresses: addresses, concurrency: options.concurrency, latencySample: options.latencySample } satisfies ClientCommand);
    }
    const connectedReplies = await Promise.all(waits);
    const connected = connectedReplies.reduce((sum, r) => sum + r.connected, 0);
    const connectMs = Math.max(...connectedReplies.map((r) => r.elapsedMs));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssAfter = await ask();
    const broadcasts = Math.max(1, Math.round((options.durationSec * 1000) / options.intervalMs));
    server.send({ cmd: 'broadcast', intervalMs: options.intervalMs, count: broadcasts } satisfies ServerCommand);
    const done = await next<Extract<ServerReply, { kind: 'broadcast_done' }>>(server, 'broadcast_done', options.durationSec * 1000 + 120_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const reports = await Promise.all(
      clients.map((client) => {
        const wait = next<Extract<ClientReply, { kind: 'report' }>>(client, 'report', 60_000);
        client.send({ cmd: 'report', expectedBroadcasts: done.broadcasts } satisfies ClientCommand);
        return wait;
      }),
    );
    const histogram = new Array<number>(LATENCY_BUCKETS).fill(0);
    let delivered = 0;
    let lost = 0;
    let unexpectedCloses = 0;
    for (const report of reports) {
      report.latencyHistogram.forEach((n, ms) => (histogram[ms]! += n));
      delivered += report.received;
      lost += report.lost;
      unexpectedCloses += report.unexpectedCloses;
    }
    // With --latency-sample only the live-read sockets are timed; every message still counts for losses.
    const timed = histogram.reduce((sum, n) => sum + n, 0);
    let maxMs = 0;
    for (let ms = histogram.length - 1; ms >= 0; ms--) if (histogram[ms]! > 0) { maxMs = ms; break; }
    return {
      target,
      requested: options.connections,
      connected,
      connectRatePerSec: Math.round((connected / connectMs) * 1000),
      rssPerConnectionBytes: connected > 0 ? Math.round((rssAfter - rssBefore) / connected) : 0,
      p50Ms: percentile(histogram, timed, 0.5),
      p99Ms: percentile(histogram, timed, 0.99),
      maxMs,
      delivered,
      expected: connected * done.broadcasts,
      lost,
      unexpectedCloses,
      lateTicks: done.lateTicks,
      fanOutP50Ms: Math.round(median(done.fanOutMs) * 10) / 10,
      fanOutMaxMs: Math.round(Math.max(...done.fanOutMs) * 10) / 10,
    };
  } finally {
    for (const client of clients) client.send({ cmd: 'exit' } satisfies ClientCommand, () => {});
    server.send({ cmd: 'exit' } satisfies ServerCommand, () => {});
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const child of [server, ...clients]) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  raiseFileLimit(options.connections * 2 + 10_000);
  // One server process needs one descriptor per connection: the process limit caps N.
  // 128 spare: the server process itself holds a few dozen (stdio, IPC, epoll, the listen socket, libuv internals).
  const serverCap = openFileLimit() - 128;
  if (options.connections > serverCap) {
    console.error(`RLIMIT_NOFILE is ${openFileLimit()} and cannot be raised here: capping at ${serverCap} connections (asked ${options.connections})`);
    options.connections = serverCap;
  }
  options.clients = Math.max(options.clients, Math.ceil(options.connections / Math.max(1000, serverCap - 1000)));
  console.error(
    `ws-bench: ${options.connections} connections, ${options.durationSec} s, ${options.clients} client processes, ${options.runs} run(s), ` +
      `latency from ${options.latencySample === 1 ? 'every socket' : `1 socket in ${options.latencySample}`}`,
  );
  const results = new Map<string, RunResult[]>();
  for (let run = 0; run < options.runs; run++) {
    for (const target of options.targets) {
      const result = await runOnce(target, options);
      console.error(JSON.stringify({ run, ...result }));
      results.set(target, [...(results.get(target) ?? []), result]);
    }
  }
  const summary: Record<string, Record<string, number>> = {};
  for (const [target, runs] of results) {
    const keys = Object.keys(runs[0]!).filter((k) => typeof (runs[0] as unknown as Record<string, unknown>)[k] === 'number');
    summary[target] = Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => (r as unknown as Record<string, number>)[k]!))]));
  }
  console.log('\nmedians over runs:');
  console.table(summary);
  const uws = summary.uws;
  const ws = summary.ws;
  if (uws && ws) {
    console.log(
      `uws/ws: connect rate ×${(uws.connectRatePerSec! / ws.connectRatePerSec!).toFixed(2)}, ` +
        `RSS/conn ×${(uws.rssPerConnectionBytes! / ws.rssPerConnectionBytes!).toFixed(2)}, ` +
        `p99 latency ${uws.p99Ms} ms vs ${ws.p99Ms} ms, fan-out ${uws.fanOutP50Ms} ms vs ${ws.fanOutP50Ms} ms ` +
        `(×${(uws.fanOutP50Ms! / ws.fanOutP50Ms!).toFixed(2)})`,
    );
  }
  const anyLoss = [...results.values()].flat().some((r) => r.target === 'uws' && r.lost > 0);
  if (anyLoss) {
    console.error('FAIL: the hub lost messages to connected clients');
    process.exitCode = 1;
  }
}

await main();
