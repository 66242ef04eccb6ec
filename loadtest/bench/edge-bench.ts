/**
 * Edge delivery bench (npm run bench:edge).
 *
 * Two nova processes as `npm start` runs them, sharing a throwaway PostgreSQL
 * database and Redis: the origin, which ingests one live stream from our
 * synthetic publisher (H.264 with B-frames + AAC padded to --bitrate, so a
 * 2 s video segment weighs ~800 KB), and an edge, which has never seen the
 * stream and replicates it from the origin on the first request (one feed per
 * stream: each init, part and segment crosses once) and serves it from memory.
 * Beside them, in the same run, Debian nginx as a caching reverse proxy in
 * front of the same origin (proxy_cache keyed by the request URI, honouring
 * the origin's Cache-Control, proxy_cache_lock; loadtest/peers/nginx-cache.ts),
 * once with worker_processes 1 and once with `auto`.
 *
 * Then, --runs times (MEDIANS printed), wrk (--connections, --seconds) against
 * each of edge, origin (directly), nginx 1 worker, nginx auto for
 *   (a) the live LL-HLS media playlist (video.m3u8, no blocking params), and
 *   (b) the newest complete video segment that server lists (picked afresh
 *       for every wrk run: the window slides, and nginx meets a new object).
 * Printed per row: req/s, MB/s, p50/p99 latency, the server's CPU (% of one
 * core over the run; for nginx its workers), CPU seconds per GB served, and
 * upstream fetches per object:
 *   - edge: inits, parts and segments its feed delivered (its
 *     nova_streaming_edge_upstream_objects_total) ÷ the distinct ones the
 *     origin published meanwhile, counted by the bench's own subscription to
 *     the origin's feed (lib/feed-observer.ts);
 *   - nginx: requests its upstream log says the origin answered for the URI
 *     ÷ the objects behind it (1 for a segment; for the playlist the
 *     changes the origin made to it meanwhile: a part or segment each).
 * Then the ratio edge / nginx in req/s per target (1 worker: the primary one,
 * as nova answers HTTP on one core; `auto` as a second line) and the edge's
 * extra latency over the origin (p50 and p99 differences).
 *
 * wrk, both nova processes, nginx and the publisher share this machine's
 * cores: the load average is printed before and after. The machine is shared:
 * take final figures holding the lock,
 * `flock /tmp/nova-bench.lock npm run bench:edge -- --runs 3`.
 *
 * Flags: --runs 3 --seconds 5 --connections 100 --bitrate 3300000 --no-nginx
 *        --postgres postgres://postgres@127.0.0.1:5432/test (where the throwaway
 *        database is created and dropped) --redis redis://127.0.0.1:6379
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { metricValue } from '../../test/support/ingest-observer.js';
import { fetchMediaPlaylist, fetchText, streamMediaUrls, waitForSegments } from '../../test/support/live-media.js';
import { publishSynthetic } from '../publisher/synthetic-publisher.js';
import { nginxInstalled } from '../peers/nginx.js';
import { startNginxCache, type NginxCacheProxy } from '../peers/nginx-cache.js';
import { prepareNpmStart, startNovaProcess, type NovaProcess } from '../peers/nova-process.js';
import { FeedObserver, type PublishedCounts } from './lib/feed-observer.js';
import { cpuReading, cpuSecondsBetween, median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';
import { runWrk, wrkInstalled, WRK_BINARY, type WrkResult } from './lib/wrk.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '100' },
    bitrate: { type: 'string', default: '3300000' },
    postgres: { type: 'string', default: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'no-nginx': { type: 'boolean', default: false },
  },
});
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const SECONDS = numberFlag('seconds', flags.seconds);
const CONNECTIONS = numberFlag('connections', flags.connections, { integer: true });
const BITRATE = numberFlag('bitrate', flags.bitrate);
/** after a wrk run, for the objects then in flight to reach both the edge and the bench's own feed */
const SETTLE_MS = 300;

type Target = 'playlist' | 'segment';
type ServerKind = 'edge' | 'origin' | 'nginx';

interface Server {
  label: string;
  kind: ServerKind;
  http: string;
  /** the processes that serve its requests, whose CPU is its cost */
  pids(): number[];
  nginx?: NginxCacheProxy;
}

interface Sample extends WrkResult {
  wallSeconds: number;
  cpuSeconds: number;
  /** edge: feed objects received; nginx: requests the origin answered for the URI */
  upstreamFetches: number;
  /** edge: distinct objects the origin published; nginx: objects behind the URI */
  objects: number;
}

// ---------------------------------------------------------------------------
// the setup

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: flags.postgres, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

function databaseUrl(name: string): string {
  const url = new URL(flags.postgres);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The path (from /hls/ on) of the newest complete video segment the server lists. */
async function newestSegmentPath(server: string, playlistPath: string): Promise<string> {
  const playlist = await fetchMediaPlaylist(server + playlistPath);
  const newest = playlist.segments.at(-1);
  if (!newest) throw new Error(`${server}${playlistPath} lists no segment`);
  return playlistPath.replace(/[^/]+$/, '') + newest.uri;
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

// ---------------------------------------------------------------------------
// measuring

async function edgeObjects(edge: NovaProcess): Promise<number> {
  return metricValue(edge, 'nova_streaming_edge_upstream_objects_total');
}

async function measure(
  server: Server,
  target: Target,
  path: string,
  edge: NovaProcess,
  observer: FeedObserver,
): Promise<Sample> {
  const pids = server.pids();
  const cpuBefore = pids.map((pid) => cpuReading(pid));
  const publishedBefore = observer.counts();
  const edgeBefore = server.kind === 'edge' ? await edgeObjects(edge) : 0;
  const nginxBefore = server.nginx?.upstreamFetches().get(path) ?? 0;
  const started = performance.now();
  const result = await runWrk(server.http + path, { connections: CONNECTIONS, seconds: SECONDS });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpuAfter = pids.map((pid) => cpuReading(pid));
  await sleep(SETTLE_MS);
  const published = difference(observer.counts(), publishedBefore);
  let upstreamFetches = Number.NaN;
  let objects = Number.NaN;
  if (server.kind === 'edge') {
    upstreamFetches = (await edgeObjects(edge)) - edgeBefore;
    objects = published.objects;
  } else if (server.nginx) {
    upstreamFetches = (server.nginx.upstreamFetches().get(path) ?? 0) - nginxBefore;
    objects = target === 'segment' ? 1 : published.videoPlaylistChanges;
  }
  return {
    ...result,
    wallSeconds,
    cpuSeconds: cpuBefore.reduce((sum, before, i) => sum + cpuSecondsBetween(before, cpuAfter[i]!), 0),
    upstreamFetches,
    objects,
  };
}

function difference(after: PublishedCounts, before: PublishedCounts): PublishedCounts {
  return { objects: after.objects - before.objects, videoPlaylistChanges: after.videoPlaylistChanges - before.videoPlaylistChanges };
}

// ---------------------------------------------------------------------------
// printing

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function signed(value: number, digits = 2): string {
  return Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(digits)}` : '—';
}

interface Summary {
  requestsPerSec: number;
  megabytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuPercent: number;
  cpuSecondsPerGb: number;
  /** summed over the runs */
  upstreamFetches: number;
  objects: number;
  errors: number;
}

function summarize(samples: Sample[]): Summary {
  return {
    requestsPerSec: median(samples.map((s) => s.requestsPerSec)),
    megabytesPerSec: median(samples.map((s) => s.megabytesPerSec)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    cpuPercent: median(samples.map((s) => (s.cpuSeconds / s.wallSeconds) * 100)),
    // GB as wrk counts them (bodies and headers) over its --seconds
    cpuSecondsPerGb: median(samples.map((s) => s.cpuSeconds / ((s.megabytesPerSec * SECONDS) / 1000))),
    upstreamFetches: samples.reduce((sum, s) => sum + s.upstreamFetches, 0),
    objects: samples.reduce((sum, s) => sum + s.objects, 0),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
  };
}

const HEADER =
  `  ${'target'.padEnd(9)}${'server'.padEnd(17)}${'req/s'.padStart(9)}${'MB/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}` +
  `${'CPU %'.padStart(7)}${'CPU s/GB'.padStart(10)}  ${'upstream fetches/object'.padEnd(30)}errors`;

function row(target: Target, label: string, s: Summary): string {
  const upstream = Number.isFinite(s.upstreamFetches) ? `${fmt(s.upstreamFetches / s.objects, 2)} (${s.upstreamFetches}/${s.objects})` : '— (no upstream)';
  return (
    `  ${target.padEnd(9)}${label.padEnd(17)}${fmt(s.requestsPerSec).padStart(9)}${fmt(s.megabytesPerSec, 1).padStart(9)}` +
    `${fmt(s.p50Ms, 2).padStart(9)}${fmt(s.p99Ms, 2).padStart(9)}${fmt(s.cpuPercent).padStart(7)}${fmt(s.cpuSecondsPerGb, 2).padStart(10)}  ${upstream.padEnd(30)}${s.errors}`
  );
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!wrkInstalled()) throw new Error(`${WRK_BINARY} is missing (Debian package wrk)`);
  const withNginx = !flags['no-nginx'] && nginxInstalled();
  const loadBefore = loadAverage();
  const secret = randomBytes(24).toString('hex');
  const adminToken = randomBytes(24).toString('hex');
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const database = `nova_edge_bench_${tag}`;

  console.log(
    `edge bench: one origin + one edge (nova as \`npm start\` runs it, PostgreSQL + Redis), wrk ${CONNECTIONS} connections, ` +
      `${SECONDS} s per run, ${RUNS} runs (medians), publisher ${(BITRATE / 1e6).toFixed(1)} Mb/s to the origin, nginx ${withNginx ? 'yes' : 'no'}`,
  );
  console.log(`machine: ${cpus().length} cores shared by wrk, both nova processes, nginx and the publisher; load average before: ${loadBefore}`);
  console.log(
    'nova answers HTTP on ONE core (uWebSockets.js on its main thread): the primary peer is nginx with worker_processes 1; ' +
      `nginx with worker_processes auto (${cpus().length} workers here) is the second line`,
  );

  prepareNpmStart();
  await adminQuery(`CREATE DATABASE ${database}`);
  const publishing = new AbortController();
  let published: Promise<unknown> = Promise.resolve();
  const started: Array<{ stop(): Promise<void> }> = [];
  let observer: FeedObserver | null = null;
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    observer?.close();
    publishing.abort();
    await published.catch(() => {});
    for (const peer of started.reverse()) await peer.stop().catch(() => {});
    await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch((err: Error) => console.error(`dropping ${database}: ${err.message}`));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }

  try {
    const env = (role: string): Record<string, string> => ({
      DATABASE_URL: databaseUrl(database),
      REDIS_URL: flags.redis,
      INTERNAL_SECRET: secret,
      INTERNAL_PORT: '0',
      INSTANCE_ID: `edge-bench-${role}-${tag}`,
      TRANSCODE: 'off',
      ADMIN_TOKEN: adminToken,
      // the bench leaves the edge alone for a few wrk runs at a time: its replica must not be let go meanwhile
      EDGE_IDLE_MS: '3600000',
    });
    // the origin first: it migrates the fresh database before the edge connects to it
    const origin = await startNovaProcess({ env: env('origin') });
    started.push(origin);
    const edge = await startNovaProcess({ env: env('edge') });
    started.push(edge);
    if (origin.internalUrl === null) throw new Error('the origin did not start its internal listener (origin–edge delivery off?)');

    const stream = await origin.createStream('edge bench');
    published = publishSynthetic({ url: stream.publishUrl, bitrateBps: BITRATE, durationMs: 24 * 3600_000, signal: publishing.signal });
    published.catch((err: Error) => {
      if (!publishing.signal.aborted) console.error(`publisher: ${err.message}`);
    });
    const originUrls = streamMediaUrls(origin.http, stream.id);
    const playlistPath = originUrls.video.slice(origin.http.length);
    await waitForSegments(originUrls.video, 3, 30_000);

    // the edge's first request sets its replica up; the bench's own feed counts what the origin publishes from then on
    await waitForSegments(edge.http + playlistPath, 3, 10_000);
    observer = await FeedObserver.open(origin.internalUrl, secret, stream.id);
    const sampleSegment = await newestSegmentPath(edge.http, playlistPath);
    const [fromEdge, fromOrigin] = await Promise.all([fetch(edge.http + sampleSegment), fetch(origin.http + sampleSegment)]);
    const [edgeBytes, originBytes] = await Promise.all([fromEdge.arrayBuffer(), fromOrigin.arrayBuffer()]);
    const same = Buffer.from(edgeBytes).equals(Buffer.from(originBytes)) && fromEdge.headers.get('etag') === fromOrigin.headers.get('etag');
    const playlistBytes = (await fetchText(edge.http + playlistPath)).length;
    console.log(
      `live media playlist ${playlistBytes} B (origin's Cache-Control: ${(await fetch(origin.http + playlistPath)).headers.get('cache-control')}); ` +
        `video segments ~${(edgeBytes.byteLength / 1000).toFixed(0)} KB; edge and origin serve a segment with the same bytes and ETag: ${same ? 'yes' : 'NO'}`,
    );

    const servers: Server[] = [
      { label: 'edge', kind: 'edge', http: edge.http, pids: () => [edge.pid] },
      { label: 'origin (direct)', kind: 'origin', http: origin.http, pids: () => [origin.pid] },
    ];
    if (withNginx) {
      for (const workers of [1, 'auto'] as const) {
        const proxy = await startNginxCache({ origin: origin.http, workerProcesses: workers });
        started.push(proxy.peer);
        const label = workers === 1 ? 'nginx 1 worker' : `nginx auto (${proxy.peer.workerPids().length})`;
        servers.push({ label, kind: 'nginx', http: proxy.http, pids: () => proxy.peer.workerPids(), nginx: proxy });
      }
    }

    const publishedAtStart = observer.counts();
    const edgeObjectsAtStart = await edgeObjects(edge);
    const samples = new Map<string, Sample[]>();
    const segmentSizes: number[] = [];
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      // alternate the order, so that no server always runs after the same one on a noisy machine
      const order = runIndex % 2 === 0 ? servers : [...servers].reverse();
      for (const target of ['playlist', 'segment'] as const) {
        for (const server of order) {
          // the edge's own newest segment (it trails the origin by up to a part); the origin's for the origin and nginx
          const path = target === 'playlist' ? playlistPath : await newestSegmentPath(server.kind === 'edge' ? edge.http : origin.http, playlistPath);
          if (target === 'segment' && server.kind === 'edge') segmentSizes.push(Number((await fetch(edge.http + path, { method: 'HEAD' })).headers.get('content-length')));
          const key = `${target}|${server.label}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(server, target, path, edge, observer)]);
        }
      }
    }
    const publishedTotal = difference(observer.counts(), publishedAtStart);
    const edgeObjectsTotal = (await edgeObjects(edge)) - edgeObjectsAtStart;

    console.log(`\nwrk against each server (medians of ${RUNS}; CPU % of one core; CPU s/GB per GB wrk received; upstream fetches summed over the runs):`);
    console.log(HEADER);
    const summaries = new Map<string, Summary>();
    for (const target of ['playlist', 'segment'] as const) {
      for (const server of servers) {
        const summary = summarize(samples.get(`${target}|${server.label}`) ?? []);
        summaries.set(`${target}|${server.label}`, summary);
        console.log(row(target, server.label, summary));
      }
    }
    console.log(`  segments served by the edge: median ${fmt(median(segmentSizes) / 1000)} KB`);
    console.log(
      '  upstream fetches/object: edge = inits, parts and segments its feed delivered ÷ the distinct ones the origin published meanwhile ' +
        '(the same feed whatever the target: the edge never fetches a playlist); nginx = requests the origin answered for the URI ÷ ' +
        'the segment (1) or the changes the origin made to the playlist meanwhile (below 1: nginx serves a playlist up to its max-age old)',
    );

    const get = (target: Target, label: string): Summary | undefined => summaries.get(`${target}|${label}`);
    console.log('');
    for (const nginx of servers.filter((s) => s.kind === 'nginx')) {
      const ratios = (['playlist', 'segment'] as const).map((t) => `${t} ${fmt(get(t, 'edge')!.requestsPerSec / get(t, nginx.label)!.requestsPerSec, 2)}`);
      console.log(`edge / ${nginx.label}${nginx === servers[2] ? ' (primary)' : ''}, req/s: ${ratios.join(', ')}`);
    }
    for (const target of ['playlist', 'segment'] as const) {
      const ours = get(target, 'edge')!;
      const direct = get(target, 'origin (direct)')!;
      console.log(`edge extra latency over the origin, ${target}: p50 ${signed(ours.p50Ms - direct.p50Ms)} ms, p99 ${signed(ours.p99Ms - direct.p99Ms)} ms`);
    }
    const upstreamBytes = await metricValue(edge, 'nova_streaming_edge_upstream_bytes_total');
    console.log(
      `edge over the whole measured time: ${edgeObjectsTotal} objects received for ${publishedTotal.objects} published ` +
        `(${fmt(edgeObjectsTotal / publishedTotal.objects, 3)} per object); replica set up ${await metricValue(edge, 'nova_streaming_edge_requests_total', { result: 'miss' })} time(s), ` +
        `${await metricValue(edge, 'nova_streaming_edge_requests_total', { result: 'hit' })} requests served from it, ` +
        `${await metricValue(edge, 'nova_streaming_edge_coalesced_waiters_total')} coalesced waiters; feed ${fmt(upstreamBytes / 1e6, 1)} MB in all`,
    );
    if (servers.length > 2) {
      const primary = servers[2]!.label;
      const beats = (['playlist', 'segment'] as const).every((t) => get(t, 'edge')!.requestsPerSec >= get(t, primary)!.requestsPerSec);
      const once = Math.abs(edgeObjectsTotal / publishedTotal.objects - 1) < 0.02;
      console.log(`goal (edge ≥ ${primary} in req/s on both targets, one upstream fetch per object): ${beats && once ? 'met' : 'NOT met'}`);
    }
    console.log(`load average after: ${loadAverage()}`);
  } finally {
    await cleanup();
  }
}

await main();
