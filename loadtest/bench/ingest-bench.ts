/**
 * Ingest bench (npm run bench:ingest).
 *
 * N publishers — our synthetic publisher (loadtest/publisher/publish-cli.ts),
 * real time, 6 Mb/s H.264+AAC by default, each stream its own RTMP connection,
 * spread over at most --publisher-processes processes (8 by default: a
 * process per stream up to N = 8) — publish for a fixed time into:
 *   - nova: as `npm start` runs it, in its own process (random ports,
 *     PGlite in a fresh data directory, streams created over the REST API), and
 *   - peers, with the same load, in the same run (--peers, default all):
 *     nginx-rtmp (Debian's libnginx-mod-rtmp, one process, `hls on` with 2 s
 *     fragments in its prefix dir) when installed, the goal's reference;
 *     node-media-server v4 (RTMP ingest in Node, no packaging);
 *     node-floor (loadtest/peers/node-read-floor.ts: Node's net module
 *     reading the same bytes and discarding them, the least any Node
 *     ingest can spend).
 * N ramps 1, 2, 4, … up to --max-streams (or the list --streams gives) and
 * stops when a server no longer keeps up. Each measurement is repeated
 * --runs times and the MEDIANS are printed:
 *   - server CPU-seconds per GB ingested: the run time of its threads
 *     (/proc/<pid>/task/<tid>/schedstat, ns; utime+stime in 10 ms ticks when a
 *     thread ended mid-run) + cutime+cstime of waited-for children, per 10^9 bytes
 *     the publishers wrote (RTMP framing included, the same for both servers);
 *   - RSS per stream: (peak VmRSS during the run − VmRSS before it) / N; for
 *     nginx-rtmp VmRSS plus the bytes of the HLS files it has on disk at the
 *     time (the page cache holds them: nova holds the same media in its heap),
 *     a fair total; the goal per stream, 1.5 × the bytes of the stream's
 *     playlist window (6 segments of 2 s at --bitrate) + 1 MiB, and nova's
 *     ratio to it are printed, and each server's idle RSS (fresh, no stream);
 *   - ingest lag: each publisher's real-time deficit (wall time − media time
 *     it sent, connect included), the worst of the N; for nova also the
 *     server's socket-read→frame-queued latency (p50/p99, from
 *     nova_streaming_rtmp_ingestion_latency_seconds);
 *   - "sustained": every publisher finished, none behind real time by more
 *     than LAG_LIMIT, and (nova) the server counted ≥ 98 % of the bytes sent;
 *     the largest N sustained in a majority of runs is reported; and the largest
 *     N sustained once connected: the same with each stream's connect time
 *     (TCP connect to NetStream.Publish.Start, every stream of a run starting
 *     at once) left out of its deficit. The ramp stops after a level that is
 *     not sustained even once connected in a majority of runs (--all-levels:
 *     runs every level);
 *   - server CPU in cores: its CPU-seconds over the wall time they were counted in
 *     (the run and its settling, or the --window);
 *   - the publishers' own CPU (cores) and the busiest publisher process's
 *     event-loop utilization: one near 1 means the publishers, not the server,
 *     may be what fell behind. They share the machine with the server under
 *     test, the same load for every server.
 * The ratio of nova's CPU per GB to each peer's is printed per N. Take final figures
 * on a quiet machine: `flock /tmp/nova-bench.lock npm run bench:ingest`.
 *
 * --window FROM-TO (seconds, e.g. `--seconds 45 --window 15-40`) measures CPU
 * only between those offsets after the publishers start, per the bytes sent
 * meanwhile (N × bitrate × (TO − FROM), as publishers send in real time):
 * the cost of streams already running, without each stream's start and end
 * (connection, database writes, first memory, code still being optimized),
 * which a 10 s run counts in full. Long-lived streams pay the windowed
 * figure; a churn of short ones pays the default one.
 *
 * Publisher processes: one per stream costs ~85 MB and ~0.6 CPU-s of start-up
 * (tsx) each, which at N = 100–400 on a small machine is more than the servers
 * under test (and more memory than it has); one process carries a 3 Mb/s
 * stream for ~2 ms of CPU a second. Each stream keeps its own pacing and its
 * own deficit, connect time and drain wait.
 *
 * Flags: --streams 1,2,4  --max-streams 8  --seconds 10  --runs 3
 *        --publisher-processes 8 (streams spread evenly over that many)
 *        --all-levels (no stop at a level not sustained)
 *        --bitrate 6000000  --peers nginx-rtmp,node-media-server,node-floor
 *        (--no-nginx: drop nginx-rtmp)  --database-url postgres://… (nova on
 *        PostgreSQL instead of the embedded PGlite: the embedded database's
 *        heap makes every V8 major GC of the main thread dearer)
 *        --cpu-prof DIR (profile nova's
 *        threads with node --cpu-prof, written at its graceful stop)
 *        --warm-up 60 (stream-seconds before each level's runs, in rounds like
 *        the runs: N publishers for --seconds, at least one round; printed as
 *        the level's warm-up figure)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { nginxRtmpInstalled, rtmpLiveConfig, startNginx, type NginxPeer } from '../peers/nginx.js';
import { freePort } from '../peers/ports.js';
import { cpuReading, cpuSecondsBetween, median, rssBytes } from './lib/measure.js';
import { startNovaProcess } from '../peers/nova-process.js';
import { numberFlag, numberListFlag } from './lib/number-flag.js';
import { startNodeMediaServer } from '../peers/node-media-server.js';
import { runPublisherGroup, type PublisherOutcome, type PublisherProcessStats } from '../publisher/publish-process.js';

const { values: flags } = parseArgs({
  options: {
    streams: { type: 'string' },
    'max-streams': { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    bitrate: { type: 'string', default: '6000000' },
    'no-nginx': { type: 'boolean', default: false },
    peers: { type: 'string', default: 'nginx-rtmp,node-media-server,node-floor' },
    'database-url': { type: 'string' },
    'cpu-prof': { type: 'string' },
    window: { type: 'string' },
    'warm-up': { type: 'string', default: '60' },
    'publisher-processes': { type: 'string', default: '8' },
    'all-levels': { type: 'boolean', default: false },
  },
});

const SECONDS = numberFlag('seconds', flags.seconds);
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const BITRATE = numberFlag('bitrate', flags.bitrate);
const MAX_STREAMS = numberFlag('max-streams', flags['max-streams'], { integer: true });
const PUBLISHER_PROCESSES = numberFlag('publisher-processes', flags['publisher-processes'], { integer: true, min: 1 });
const WINDOW = flags.window ? parseWindow(flags.window) : null;
/** a live playlist's span at the server defaults (PLAYLIST_WINDOW 6 × SEGMENT_TARGET_MS 2000): the memory goal's window */
const PLAYLIST_WINDOW_SECONDS = 12;
const LEVELS: number[] = flags.streams
  ? numberListFlag('streams', flags.streams, { integer: true })
  : Array.from({ length: Math.floor(Math.log2(MAX_STREAMS)) + 1 }, (_, i) => 2 ** i);
/** a publisher this far behind real time at its end has not been kept up with */
const LAG_LIMIT_SECONDS = Math.max(0.5, SECONDS * 0.05);
/**
 * Warm-up before a level's measured runs, in stream-seconds: rounds shaped like the runs (N
 * publishers for --seconds each, new connections every round) until that many stream-seconds
 * have been sent, at least one round. V8 optimizes a function once it has run enough, and nova's
 * per-frame code runs only at frame rate: with one 6 Mb/s publisher its compiler threads were
 * still a quarter of the process's CPU 40 s into streaming (perf). Rounds of new connections, not
 * one long stream: a stream's start and end run code a long stream never reaches, and the second
 * connection deoptimized what the first one's run had optimized (per 10 s stream after a single
 * 60 s warm-up stream: V8's helper threads 13-22 ms in the next three streams, 2-7 ms after).
 */
const WARM_UP_STREAM_SECONDS = numberFlag('warm-up', flags['warm-up'], { min: 0 });
const REPO = fileURLToPath(new URL('../..', import.meta.url));

function parseWindow(text: string): { from: number; to: number } {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text);
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (!match || !(to > from) || to > SECONDS) throw new Error(`--window FROM-TO: 0 ≤ FROM < TO ≤ --seconds (${SECONDS}), got ${text}`);
  return { from, to };
}

// ---------------------------------------------------------------------------
// /proc sampling

/**
 * Peak RSS plus the media files the server keeps on disk (`peak`), and peak RSS alone
 * (`peakRss`), while `during` runs, sampled every 100 ms.
 */
async function peakRssDuring<T>(pid: number, fileBytes: () => number, during: Promise<T>): Promise<{ result: T; peak: number; peakRss: number }> {
  let peakRss = rssBytes(pid);
  let peak = peakRss + fileBytes();
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const rss = rssBytes(pid);
      peakRss = Math.max(peakRss, rss);
      peak = Math.max(peak, rss + fileBytes());
      await sleep(100);
    }
  })();
  const result = await during;
  done = true;
  await sampler;
  return { result, peak, peakRss };
}

// ---------------------------------------------------------------------------
// publishers

/** The streams' URLs in at most PUBLISHER_PROCESSES groups of sizes differing by at most one, one process each. */
async function publishAll(urls: string[], seconds: number): Promise<{ outcomes: PublisherOutcome[]; stats: Array<PublisherProcessStats | null> }> {
  const processes = Math.min(PUBLISHER_PROCESSES, urls.length);
  const groups: string[][] = [];
  let next = 0;
  for (let i = 0; i < processes; i++) {
    const size = Math.floor(urls.length / processes) + (i < urls.length % processes ? 1 : 0);
    groups.push(urls.slice(next, next + size));
    next += size;
  }
  const results = await Promise.all(groups.map((group) => runPublisherGroup(group, BITRATE, seconds)));
  return { outcomes: results.flatMap((r) => r.outcomes), stats: results.map((r) => r.stats) };
}

// ---------------------------------------------------------------------------
// servers under test

interface ServerUnderTest {
  name: string;
  pid: number;
  /** publish URLs for `count` new streams */
  publishUrls(count: number): Promise<string[]>;
  /** bytes and latency counters of the server itself, where it has them */
  counters(): Promise<ServerCounters | null>;
  /** resolves once the server has finished with the streams of the run */
  settle(): Promise<void>;
  /** bytes of media files the server keeps on disk now (nginx-rtmp's HLS fragments and playlists: page cache), else 0 */
  fileBytes(): number;
  stop(): Promise<void>;
}

interface ServerCounters {
  bytes: number;
  /** cumulative histogram: upper bound (s) → count */
  latencyBuckets: Map<number, number>;
}

async function startNova(): Promise<ServerUnderTest> {
  const nova = await startNovaProcess({
    // Ingest and packaging of the source, as nginx-rtmp's `hls on` does: no ABR ladder (FFmpeg children).
    env: { TRANSCODE: 'off', ...(flags['database-url'] ? { DATABASE_URL: flags['database-url'] } : {}) },
    nodeArgs: flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', flags['cpu-prof']] : [],
  });
  const metrics = async (): Promise<string> => (await fetch(`${nova.http}/metrics`)).text();
  return {
    name: 'nova',
    pid: nova.pid,
    async publishUrls(count) {
      const urls: string[] = [];
      for (let i = 0; i < count; i++) urls.push((await nova.createStream(`bench ${i}`)).publishUrl);
      return urls;
    },
    async counters() {
      const text = await metrics();
      const bytes = Number(/^nova_streaming_rtmp_ingested_bytes_total (\S+)$/m.exec(text)?.[1] ?? 0);
      const latencyBuckets = new Map<number, number>();
      for (const match of text.matchAll(/^nova_streaming_rtmp_ingestion_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) {
        latencyBuckets.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
      }
      return { bytes, latencyBuckets };
    },
    fileBytes: () => 0,
    async settle() {
      // Every stream of the run ended: all bytes parsed and packaged.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const active = Number(/^nova_streaming_active_streams (\S+)$/m.exec(await metrics())?.[1] ?? 1);
        if (active === 0) return;
        await sleep(100);
      }
    },
    stop: () => nova.stop(),
  };
}

async function startNginxRtmp(): Promise<ServerUnderTest> {
  const port = await freePort();
  const peer: NginxPeer = await startNginx({
    loadRtmpModule: true,
    ports: [port],
    config: (dir) => rtmpLiveConfig(port, ['hls on', `hls_path ${dir}/hls`, 'hls_fragment 2s']),
  });
  return { ...plainRtmpPeer('nginx-rtmp', peer.pid, port, () => peer.stop()), fileBytes: () => bytesUnder(join(peer.dir, 'hls')) };
}

/** Bytes of the files under a folder (recursively), 0 when it does not exist. */
function bytesUnder(dir: string): number {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    try {
      if (entry.isDirectory()) total += bytesUnder(path);
      else if (entry.isFile()) total += statSync(path).size;
    } catch {
      // removed between readdir and stat (nginx-rtmp's cleanup)
    }
  }
  return total;
}

/** A peer whose publish URL takes any stream name and that keeps no counters of its own. */
function plainRtmpPeer(name: string, pid: number, port: number, stop: () => Promise<void>): ServerUnderTest {
  let next = 0;
  return {
    name,
    pid,
    async publishUrls(count) {
      return Array.from({ length: count }, () => `rtmp://127.0.0.1:${port}/live/bench${next++}`);
    },
    async counters() {
      return null;
    },
    async settle() {
      await sleep(500);
    },
    fileBytes: () => 0,
    stop,
  };
}

async function startNodeMediaServerPeer(): Promise<ServerUnderTest> {
  const port = await freePort();
  const peer = await startNodeMediaServer(port);
  return plainRtmpPeer('node-media-server', peer.pid, port, () => peer.stop());
}

async function startNodeFloor(): Promise<ServerUnderTest> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'loadtest/peers/node-read-floor.ts')], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`node-read-floor exited (${code})`)));
  });
  return plainRtmpPeer('node-floor', child.pid ?? -1, port, async () => {
    process.off('exit', kill);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
}

// ---------------------------------------------------------------------------
// one measurement

interface RunResult {
  cpuPerGb: number;
  /** server CPU-seconds per second of wall time counted */
  cpuCores: number;
  peakRssMiB: number;
  rssPerStreamMiB: number;
  worstDeficitSeconds: number;
  worstConnectSeconds: number;
  /** the worst stream's deficit less its connect time */
  worstLagAfterConnectSeconds: number;
  /** the publishers' CPU over the run's wall time */
  publisherCores: number;
  /** the busiest publisher process's event-loop utilization */
  publisherElu: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  sustained: boolean;
  /** sustained but for the connect times: every publisher finished, the server counted its bytes, none fell behind once publishing */
  sustainedOnceConnected: boolean;
  note: string;
}

/** A quantile from the growth of a cumulative Prometheus histogram between two scrapes (bucket upper bound). */
function histogramQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return null;
  for (const bound of bounds) {
    if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= q * total) return bound;
  }
  return Number.POSITIVE_INFINITY;
}

/** CPU seconds `pid` uses between `window.from` and `window.to` seconds from now. */
async function cpuDuring(pid: number, window: { from: number; to: number }): Promise<number> {
  await sleep(window.from * 1000);
  const before = cpuReading(pid);
  await sleep((window.to - window.from) * 1000);
  return cpuSecondsBetween(before, cpuReading(pid));
}

/** One run; with `window`, CPU (and the bytes it is divided by) only between its offsets. */
async function measure(server: ServerUnderTest, streams: number, seconds = SECONDS, window = WINDOW): Promise<RunResult> {
  const urls = await server.publishUrls(streams);
  await sleep(300); // let the API's work settle out of the window
  const countersBefore = await server.counters();
  const rssBefore = rssBytes(server.pid) + server.fileBytes();
  const cpuBefore = cpuReading(server.pid);
  const wallBefore = performance.now();
  const {
    result: [{ outcomes, stats }, windowCpu],
    peak,
    peakRss,
  } = await peakRssDuring(
    server.pid,
    () => server.fileBytes(),
    (async () => {
      const publishing = publishAll(urls, seconds);
      const inWindow = window === null ? null : await cpuDuring(server.pid, window);
      const all = await publishing;
      await server.settle();
      return [all, inWindow] as const;
    })(),
  );
  const cpu = windowCpu ?? cpuSecondsBetween(cpuBefore, cpuReading(server.pid));
  const wallSeconds = (performance.now() - wallBefore) / 1000;
  const cpuWallSeconds = window === null ? wallSeconds : window.to - window.from;
  const countersAfter = await server.counters();
  const bytesSent = outcomes.reduce((n, o) => n + o.bytesSent, 0);
  const worstDeficit = Math.max(...outcomes.map((o) => o.deficitSeconds));
  const worstConnect = Math.max(...outcomes.map((o) => (Number.isNaN(o.connectSeconds) ? 0 : o.connectSeconds)));
  // how far behind a stream fell once publishing: its deficit without its connect time
  const worstLagAfterConnect = Math.max(...outcomes.map((o) => o.deficitSeconds - (Number.isNaN(o.connectSeconds) ? 0 : o.connectSeconds)));
  const publisherCpu = stats.reduce((n, s) => n + (s?.cpuSeconds ?? 0), 0);
  const publisherElu = Math.max(...stats.map((s) => s?.eventLoopUtilization ?? Number.NaN));
  const failed = outcomes.filter((o) => !o.ok);
  const notes: string[] = [];
  /** what fails a run whatever the connect times: a publisher failed, or the server lost bytes */
  let failedApartFromConnect = failed.length > 0 || worstLagAfterConnect > LAG_LIMIT_SECONDS;
  if (failed.length > 0) notes.push(`${failed.length} publisher(s) failed: ${failed[0]?.error?.split('\n')[0] ?? ''}`);
  if (worstDeficit > LAG_LIMIT_SECONDS) {
    const behind = outcomes.filter((o) => o.deficitSeconds > LAG_LIMIT_SECONDS);
    const worstDrain = Math.max(...behind.map((o) => (Number.isNaN(o.drainSeconds) ? 0 : o.drainSeconds)));
    notes.push(
      `behind real time by ${worstDeficit.toFixed(2)} s (${behind.length} of ${streams} streams over ${LAG_LIMIT_SECONDS.toFixed(2)} s; ` +
        `worst connect ${worstConnect.toFixed(2)} s, worst wait for the server to drain a socket ${worstDrain.toFixed(2)} s)`,
    );
  }
  let p50: number | null = null;
  let p99: number | null = null;
  if (countersBefore && countersAfter) {
    const received = countersAfter.bytes - countersBefore.bytes;
    if (received < 0.98 * bytesSent) {
      notes.push(`server counted ${received} of ${bytesSent} bytes`);
      failedApartFromConnect = true;
    }
    const q50 = histogramQuantile(countersBefore.latencyBuckets, countersAfter.latencyBuckets, 0.5);
    const q99 = histogramQuantile(countersBefore.latencyBuckets, countersAfter.latencyBuckets, 0.99);
    p50 = q50 === null ? null : q50 * 1000;
    p99 = q99 === null ? null : q99 * 1000;
  }
  // In a window, the bytes of the window: the publishers send in real time (RTMP framing aside, the same for every server).
  const bytesMeasured = window === null ? bytesSent : (streams * BITRATE * (window.to - window.from)) / 8;
  return {
    cpuPerGb: bytesMeasured > 0 ? cpu / (bytesMeasured / 1e9) : Number.POSITIVE_INFINITY,
    cpuCores: cpu / cpuWallSeconds,
    peakRssMiB: peakRss / 2 ** 20,
    rssPerStreamMiB: Math.max(0, peak - rssBefore) / streams / 2 ** 20,
    worstDeficitSeconds: worstDeficit,
    worstConnectSeconds: worstConnect,
    worstLagAfterConnectSeconds: worstLagAfterConnect,
    publisherCores: publisherCpu / wallSeconds,
    publisherElu,
    latencyP50Ms: p50,
    latencyP99Ms: p99,
    sustained: notes.length === 0,
    sustainedOnceConnected: !failedApartFromConnect,
    note: notes.join('; '),
  };
}

interface LevelSummary {
  streams: number;
  cpuPerGb: number;
  cpuCores: number;
  peakRssMiB: number;
  rssPerStreamMiB: number;
  worstDeficitSeconds: number;
  worstConnectSeconds: number;
  worstLagAfterConnectSeconds: number;
  publisherCores: number;
  publisherElu: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  sustainedRuns: number;
  sustainedOnceConnectedRuns: number;
  /** the level's warm-up (a fresh server's first streams), not in cpuPerGb */
  warmUpCpuPerGb: number;
  /** the fresh server's RSS before any stream, MiB */
  idleRssMiB: number;
}

async function benchServer(start: () => Promise<ServerUnderTest>, name: string): Promise<LevelSummary[]> {
  const summaries: LevelSummary[] = [];
  for (const streams of LEVELS) {
    // A fresh server per level: RSS and caches of the previous level do not carry over.
    const server = await start();
    await sleep(1000); // start-up work done
    const idleRssMiB = rssBytes(server.pid) / 2 ** 20;
    console.error(`  ${name} N=${streams} idle RSS ${idleRssMiB.toFixed(1)} MiB`);
    const runs: RunResult[] = [];
    let warmUpCpuPerGb = Number.NaN;
    try {
      // Warm-up, not counted in the runs: the first streams load and compile the ingest worker's code
      // in each pool thread (nova), V8 optimizes it, the server faults in its memory; steady-state cost
      // is what the runs compare. What the warm-up cost is printed too (a young server's figure).
      const warmUpRounds = Math.max(1, Math.ceil(WARM_UP_STREAM_SECONDS / (streams * SECONDS)));
      let warmUpCpuPerGbSum = 0;
      for (let round = 0; round < warmUpRounds; round++) warmUpCpuPerGbSum += (await measure(server, streams, SECONDS, null)).cpuPerGb;
      // rounds of equal bytes: the mean of their figures is the warm-up's
      warmUpCpuPerGb = warmUpCpuPerGbSum / warmUpRounds;
      console.error(`  ${name} N=${streams} warm-up, ${warmUpRounds} × ${SECONDS} s (not in the runs): ${warmUpCpuPerGb.toFixed(2)} CPU-s/GB`);
      for (let run = 0; run < RUNS; run++) {
        const result = await measure(server, streams);
        runs.push(result);
        console.error(
          `  ${name} N=${streams} run ${run + 1}/${RUNS}: ${result.cpuPerGb.toFixed(2)} CPU-s/GB, ${result.cpuCores.toFixed(2)} cores, ` +
            `peak RSS ${result.peakRssMiB.toFixed(0)} MiB (process), ${result.rssPerStreamMiB.toFixed(1)} MiB/stream, ` +
            `deficit ${result.worstDeficitSeconds.toFixed(2)} s (connect ${result.worstConnectSeconds.toFixed(2)} s, after connect ${result.worstLagAfterConnectSeconds.toFixed(2)} s), ` +
            `publishers ${result.publisherCores.toFixed(2)} cores, busiest ELU ${result.publisherElu.toFixed(2)}${result.latencyP99Ms !== null ? `, latency p50 ≤${result.latencyP50Ms} ms p99 ≤${result.latencyP99Ms} ms` : ''}` +
            `${result.sustained ? '' : ` — NOT sustained: ${result.note}`}`,
        );
      }
    } finally {
      await server.stop();
    }
    const withLatency = runs.filter((r) => r.latencyP99Ms !== null);
    const summary: LevelSummary = {
      streams,
      cpuPerGb: median(runs.map((r) => r.cpuPerGb)),
      cpuCores: median(runs.map((r) => r.cpuCores)),
      peakRssMiB: median(runs.map((r) => r.peakRssMiB)),
      rssPerStreamMiB: median(runs.map((r) => r.rssPerStreamMiB)),
      worstDeficitSeconds: medianKeepingInfinity(runs.map((r) => r.worstDeficitSeconds)),
      worstConnectSeconds: median(runs.map((r) => r.worstConnectSeconds)),
      worstLagAfterConnectSeconds: medianKeepingInfinity(runs.map((r) => r.worstLagAfterConnectSeconds)),
      publisherCores: median(runs.map((r) => r.publisherCores)),
      publisherElu: median(runs.map((r) => r.publisherElu)),
      latencyP50Ms: withLatency.length > 0 ? median(withLatency.map((r) => r.latencyP50Ms!)) : null,
      latencyP99Ms: withLatency.length > 0 ? median(withLatency.map((r) => r.latencyP99Ms!)) : null,
      sustainedRuns: runs.filter((r) => r.sustained).length,
      sustainedOnceConnectedRuns: runs.filter((r) => r.sustainedOnceConnected).length,
      warmUpCpuPerGb,
      idleRssMiB,
    };
    summaries.push(summary);
    // not sustained in a majority of runs, not even once connected: larger N will not be
    if (!flags['all-levels'] && summary.sustainedOnceConnectedRuns * 2 <= RUNS) break;
  }
  return summaries;
}

/** A median in which a run whose publisher failed (deficit ∞) counts as the worst, not as missing (`median` leaves it out). */
function medianKeepingInfinity(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The largest N sustained in a majority of runs (a larger N sustained after a smaller one failed counts too: the machine is shared). */
function largestSustained(levels: LevelSummary[], runs: (l: LevelSummary) => number = (l) => l.sustainedRuns): number {
  return levels.filter((l) => runs(l) * 2 > RUNS).reduce((n, l) => Math.max(n, l.streams), 0);
}

const fmt = (value: number | null, digits = 2): string => (value === null ? '—' : Number.isFinite(value) ? value.toFixed(digits) : '∞');

const PEERS: Record<string, { start: () => Promise<ServerUnderTest>; available: () => boolean }> = {
  'nginx-rtmp': { start: startNginxRtmp, available: () => !flags['no-nginx'] && nginxRtmpInstalled() },
  'node-media-server': { start: startNodeMediaServerPeer, available: () => true },
  'node-floor': { start: startNodeFloor, available: () => true },
};

async function main(): Promise<void> {
  const peerNames = (flags.peers ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const name of peerNames) if (!(name in PEERS)) throw new Error(`unknown peer ${name}; known: ${Object.keys(PEERS).join(', ')}`);
  const peers = peerNames.filter((name) => PEERS[name]!.available());
  console.error(
    `ingest bench: N in [${LEVELS.join(', ')}], ${SECONDS} s at ${(BITRATE / 1e6).toFixed(1)} Mb/s per publisher (spread over at most ${PUBLISHER_PROCESSES} processes), ` +
      `${RUNS} runs each, medians${WINDOW ? `, CPU counted from ${WINDOW.from} s to ${WINDOW.to} s` : ''}; peers: ${peers.join(', ') || 'none'}` +
      `${peerNames.includes('nginx-rtmp') && !peers.includes('nginx-rtmp') ? ' (nginx-rtmp: not installed or --no-nginx)' : ''}`,
  );
  const results: Array<[string, LevelSummary[]]> = [['nova', await benchServer(startNova, 'nova')]];
  for (const name of peers) results.push([name, await benchServer(PEERS[name]!.start, name)]);
  const nova = results[0]![1];

  console.log(
    `\ningest bench — ${SECONDS} s × ${(BITRATE / 1e6).toFixed(1)} Mb/s per publisher, medians of ${RUNS} runs` +
      (WINDOW ? `; CPU from ${WINDOW.from} s to ${WINDOW.to} s after the publishers start (streams running: no start or end)` : ''),
  );
  console.log(
    'server               N  CPU-s/GB  cores  peak RSS MiB  RSS MiB/stream  pub. deficit s  connect s  after connect s  latency p50/p99 ms  sustained runs  once connected  warm-up CPU-s/GB  idle RSS MiB  pub. cores  pub. ELU',
  );
  for (const [name, levels] of results) {
    for (const l of levels) {
      console.log(
        `${name.padEnd(18)} ${String(l.streams).padStart(3)}  ${fmt(l.cpuPerGb).padStart(8)}  ${fmt(l.cpuCores).padStart(5)}  ${fmt(l.peakRssMiB, 0).padStart(12)}  ${fmt(l.rssPerStreamMiB, 1).padStart(14)}  ` +
          `${fmt(l.worstDeficitSeconds).padStart(14)}  ${fmt(l.worstConnectSeconds).padStart(9)}  ${fmt(l.worstLagAfterConnectSeconds).padStart(15)}  ${`${fmt(l.latencyP50Ms, 1)}/${fmt(l.latencyP99Ms, 1)}`.padStart(18)}  ${`${l.sustainedRuns}/${RUNS}`.padStart(14)}  ${`${l.sustainedOnceConnectedRuns}/${RUNS}`.padStart(14)}  ${fmt(l.warmUpCpuPerGb).padStart(16)}  ${fmt(l.idleRssMiB, 1).padStart(12)}  ${fmt(l.publisherCores).padStart(10)}  ${fmt(l.publisherElu).padStart(8)}`,
      );
    }
  }
  // the memory goal: 1.5 × the playlist window's bytes (PLAYLIST_WINDOW 6 × SEGMENT_TARGET_MS 2 s at the bitrate) + 1 MiB per stream
  const windowMiB = (BITRATE / 8) * PLAYLIST_WINDOW_SECONDS / 2 ** 20;
  const goalMiB = 1.5 * windowMiB + 1;
  console.log(
    `memory goal per stream: 1.5 × ${windowMiB.toFixed(2)} MiB window + 1 MiB = ${goalMiB.toFixed(2)} MiB; nova RSS/stream ÷ goal: ` +
      nova.map((l) => `N=${l.streams} ${(l.rssPerStreamMiB / goalMiB).toFixed(2)}`).join(', ') +
      (results.some(([name]) => name === 'nginx-rtmp') ? ' (nginx-rtmp: RSS + its HLS files on disk, the page cache they hold)' : ''),
  );
  const tried = results.map(([name, levels]) => `${name} ${Math.max(...levels.map((l) => l.streams))}`).join(', ');
  console.log(`largest N sustained in real time: ${results.map(([name, levels]) => `${name} ${largestSustained(levels)}`).join(', ')} (tried up to: ${tried})`);
  console.log(
    `largest N sustained once connected (connect time left out of the deficit): ${results.map(([name, levels]) => `${name} ${largestSustained(levels, (l) => l.sustainedOnceConnectedRuns)}`).join(', ')}`,
  );
  for (const [name, levels] of results.slice(1)) {
    const ratios = nova
      .map((l) => [l.streams, levels.find((p) => p.streams === l.streams)] as const)
      .filter((pair): pair is readonly [number, LevelSummary] => pair[1] !== undefined)
      .map(([streams, peer]) => `N=${streams} ${(nova.find((l) => l.streams === streams)!.cpuPerGb / peer.cpuPerGb).toFixed(2)}`);
    if (ratios.length > 0) console.log(`CPU per GB ratio nova / ${name}: ${ratios.join(', ')}`);
  }
  console.log(
    '(latency: arrival at the server socket → frame packaged (frames wait until their part is due), bucket upper bounds; deficit: worst publisher, wall − media time, connect included; ' +
      `connect: the slowest stream's TCP connect to Publish.Start; after connect: the worst stream's deficit less its connect time; cores: server CPU-s per wall second counted; pub.: the publishers' processes, ELU of the busiest; sustained: no deficit over ${LAG_LIMIT_SECONDS.toFixed(2)} s)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
