/**
 * Delivery bench (npm run bench:delivery).
 *
 * nova runs as `npm start` runs it, in its own process (random ports, PGlite
 * in a fresh data directory), once per --threads value (DELIVERY_THREADS; 0:
 * the main thread serves everything, N: N uWebSockets.js apps in worker
 * threads share the public port beside the main thread's). All of them run at
 * once, each with one live stream that its own synthetic publisher feeds in
 * real time (H.264 with B-frames + AAC, padded to --bitrate so a 2 s video
 * segment weighs about 800 KB); the ones not being measured idle meanwhile
 * (their ingest and packaging go on: the bench prints what that costs).
 * Beside them, Debian nginx (--nginx-workers worker processes under a master;
 * sendfile, keep-alive, no access log, open_file_cache for the part and the
 * segment, which never change once written, not for the playlists, which a
 * live packager rewrites every part: a cached descriptor would serve a stale
 * playlist; --nginx-cache-playlists caches them too) serves from disk the
 * same playlist text, part bytes and segment bytes, written to its root just
 * before each of its runs, with the Content-Type, Cache-Control and CORS
 * headers nova sent for them.
 *
 * 1. Throughput, --runs times (MEDIANS printed), with wrk (C, the load
 *    generator that does not saturate first; --wrk-threads) and autocannon
 *    (Node, in its own process), --connections connections and --seconds per
 *    run, against each server for each target (--targets):
 *      ll-hls   the live LL-HLS media playlist (video.m3u8, no blocking params)
 *      ts       the live MPEG-TS media playlist (ts.m3u8: asking for it turns
 *               TS muxing on, so the bench waits for its window first)
 *      mpd      the live DASH MPD (manifest.mpd; not among the defaults)
 *      part     the newest listed (complete) LL-HLS part of the video track
 *      segment  the newest complete ~800 KB video segment
 *    The part and segment URLs are picked afresh just before each run (the
 *    window slides); nginx gets the bytes nova's first instance serves then.
 *    The servers' order is rotated from one run to the next.
 *    Printed per server: req/s, MB/s, bytes per response (headers included,
 *    as wrk counts them), p50/p99 latency, the cores the server used over
 *    the run (CPU seconds ÷ wall seconds from /proc: nova's process, all its
 *    threads, and its main thread's share; nginx's master and workers
 *    summed) and that per request (µs; it moves less than req/s on a shared
 *    machine), the cores the load generator used, errors; then nova / nginx
 *    ratios in req/s, MB/s and CPU per request (each nova against the nginx
 *    whose worker count equals its thread count, or 1 for threads=0, when
 *    that one runs, else the one with the most workers) and the issue's
 *    goals for playlists (≥ 1.5× nginx's req/s) and the segment (≥ 1.0×).
 *    Before each nova run, the target is fetched on 8 fresh connections (so
 *    that the kernel spreads them over the threads): a part or segment must
 *    come back byte-identical with the same Content-Type every time, a
 *    playlist must be a 200 playlist; what differs is printed at the end.
 * 2. Glass-to-glass for HLS, LL-HLS and DASH, for each nova:
 *    - a player-like poller: the age of the newest media it can see, i.e.
 *      wall clock − (EXT-X-PROGRAM-DATE-TIME of the newest segment or part +
 *      its duration), or for DASH availabilityStartTime + (t + d) / timescale
 *      of the newest S; HLS reloads every target duration, LL-HLS uses
 *      blocking reloads for the next part, DASH reloads every
 *      minimumUpdatePeriod;
 *    - real players in headless Chromium (hls.js, hls.js lowLatencyMode,
 *      dash.js): wall clock − the program date time of the frame on screen
 *      (hls.js playingDate; dash.js getCurrentLiveLatency()), and the time
 *      to first frame.
 *    The publisher stamps no capture time; PDT is the server's clock at the
 *    first frame's arrival, so this is ingest-to-screen: encoder and
 *    uplink delay come on top in production.
 *
 * Nothing is pinned to a core (taskset): pinning wrk to some cores and the
 * server to the others would take cores from the server under test, and on
 * 2 cores leave it one. The servers, wrk and the idle instances share every
 * core instead; the load generator takes a large share of few cores
 * (printed as "wrk cores"), so a server "on all cores" gets what wrk leaves
 * it, nova and nginx alike. The load average is printed before
 * and after each run; the machine is shared: take final figures holding the
 * lock, `flock /tmp/nova-bench.lock npm run bench:delivery`.
 *
 * Flags: --threads 0,<cores> (DELIVERY_THREADS values, one nova each)
 *        --nginx-workers <cores> (a list runs one nginx per value)
 *        --targets ll-hls,ts,part,segment --runs 3 --seconds 10
 *        --connections 100 --wrk-threads <cores, at least 2> --bitrate 3300000
 *        --no-nginx --nginx-cache-playlists --no-autocannon --no-browser
 *        --no-glass --glass-seconds 8
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromiumInstalled, launchPlayerBrowser, type PlayerEngine } from '../../test/support/browser.js';
import { fetchMediaPlaylist, fetchText, parseMediaPlaylist, streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../../test/support/live-media.js';
import { nginxInstalled, startNginx, type NginxPeer } from '../peers/nginx.js';
import { freePort } from '../peers/ports.js';
import { cpuSeconds, median, threadCpu } from './lib/measure.js';
import { numberFlag, numberListFlag } from './lib/number-flag.js';
import { runCommand, runWrk, wrkInstalled, type WrkResult } from './lib/wrk.js';
import { startNovaProcess, type NovaProcess } from '../peers/nova-process.js';

const CORES = availableParallelism();
const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    bitrate: { type: 'string', default: '3300000' },
    threads: { type: 'string', default: `0,${CORES}` },
    'nginx-workers': { type: 'string', default: String(CORES) },
    'wrk-threads': { type: 'string', default: String(Math.max(2, CORES)) },
    targets: { type: 'string', default: 'll-hls,ts,part,segment' },
    'glass-seconds': { type: 'string', default: '8' },
    'no-nginx': { type: 'boolean', default: false },
    'nginx-cache-playlists': { type: 'boolean', default: false },
    'no-autocannon': { type: 'boolean', default: false },
    'no-browser': { type: 'boolean', default: false },
    'no-glass': { type: 'boolean', default: false },
  },
});
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const SECONDS = numberFlag('seconds', flags.seconds);
const CONNECTIONS = numberFlag('connections', flags.connections, { integer: true });
const GLASS_SECONDS = numberFlag('glass-seconds', flags['glass-seconds']);
const BITRATE = numberFlag('bitrate', flags.bitrate);
const THREADS = [...new Set(numberListFlag('threads', flags.threads, { integer: true, min: 0 }))];
const NGINX_WORKERS = [...new Set(numberListFlag('nginx-workers', flags['nginx-workers'], { integer: true, min: 1 }))];
const WRK_THREADS = numberFlag('wrk-threads', flags['wrk-threads'], { integer: true });
const REPO = fileURLToPath(new URL('../..', import.meta.url));

// ---------------------------------------------------------------------------
// targets

type TargetName = 'll-hls' | 'ts' | 'mpd' | 'part' | 'segment';

interface Target {
  name: TargetName;
  label: string;
  /** the file nginx serves it from */
  file: string;
  /** the issue's goal for nova / nginx in req/s; null: none set */
  goal: number | null;
  /** a media object (the same bytes on every request), not a playlist that changes as it is fetched */
  media: boolean;
  /** how a playlist's (or MPD's) text begins */
  textStart?: string;
  /** the URL to load now on a nova instance */
  url(urls: StreamMediaUrls): Promise<string>;
}

const sibling = (playlistUrl: string, uri: string): string => playlistUrl.replace(/[^/]+$/, '') + uri;

const TARGETS: Target[] = [
  { name: 'll-hls', label: 'LL-HLS media playlist', file: 'video.m3u8', goal: 1.5, media: false, url: async (urls) => urls.video },
  { name: 'ts', label: 'TS media playlist', file: 'ts.m3u8', goal: 1.5, media: false, url: async (urls) => urls.ts },
  { name: 'mpd', label: 'DASH MPD', file: 'manifest.mpd', goal: null, media: false, textStart: '<?xml', url: async (urls) => urls.dash },
  {
    name: 'part',
    label: 'LL-HLS part',
    file: 'part.m4s',
    goal: null,
    media: true,
    async url(urls) {
      const newest = (await fetchMediaPlaylist(urls.video)).parts.at(-1);
      if (!newest) throw new Error('no part listed');
      return sibling(urls.video, newest.uri);
    },
  },
  {
    name: 'segment',
    label: '~800 KB video segment',
    file: 'segment.m4s',
    goal: 1.0,
    media: true,
    async url(urls) {
      const newest = (await fetchMediaPlaylist(urls.video)).segments.at(-1);
      if (!newest) throw new Error('no segment listed');
      return sibling(urls.video, newest.uri);
    },
  },
];
const TARGET_NAMES = flags.targets.split(',').map((t) => t.trim());
for (const name of TARGET_NAMES) {
  if (!TARGETS.some((t) => t.name === name)) throw new Error(`--targets takes ${TARGETS.map((t) => t.name).join(',')}, got '${name}'`);
}
const SELECTED = TARGETS.filter((t) => TARGET_NAMES.includes(t.name));

// ---------------------------------------------------------------------------
// measuring

type LoadResult = WrkResult & {
  /** the server's CPU seconds over the run ÷ its wall seconds (1 = one core busy) */
  serverCores: number;
  /** the load generator's (wrk's or autocannon's) likewise */
  clientCores: number;
  /** the server's CPU time per request, µs: steadier than req/s when the machine is shared */
  cpuPerRequestUs: number;
  /**
   * nova's main thread alone, cores: with delivery threads it still takes every request's viewer
   * session op (batched per turn) and the requests they forward; NaN for nginx
   */
  mainThreadCores: number;
  /** bytes per response as the load generator counted them (headers included) */
  responseBytes: number;
};

/** CPU seconds this process's waited-for children (the load generator, once it exited) have used. */
function childrenCpuSeconds(): number {
  return cpuSeconds(process.pid, { children: true }) - cpuSeconds(process.pid);
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** CPU seconds of a process's main thread (its thread id is the process id). */
function mainThreadCpuSeconds(pid: number): number {
  return threadCpu(pid).get(String(pid))?.seconds ?? Number.NaN;
}

/**
 * Runs `load` while counting the server's (its processes') and the load generator's CPU time,
 * and with `mainThreadOf`, that process's main thread's.
 */
async function withCpu(pids: () => number[], load: () => Promise<WrkResult>, mainThreadOf: number | null): Promise<LoadResult> {
  const serverCpu = (): number => pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const mainCpu = (): number => (mainThreadOf === null ? Number.NaN : mainThreadCpuSeconds(mainThreadOf));
  const serverBefore = serverCpu();
  const mainBefore = mainCpu();
  const clientBefore = childrenCpuSeconds();
  const started = performance.now();
  const result = await load();
  const wall = (performance.now() - started) / 1000;
  const server = serverCpu() - serverBefore;
  return {
    ...result,
    serverCores: server / wall,
    clientCores: (childrenCpuSeconds() - clientBefore) / wall,
    cpuPerRequestUs: (server / (result.requestsPerSec * wall)) * 1e6,
    mainThreadCores: (mainCpu() - mainBefore) / wall,
    responseBytes: (result.megabytesPerSec * 1e6) / result.requestsPerSec,
  };
}

type Tool = 'wrk' | 'autocannon';

function loadWith(tool: Tool, url: string): Promise<WrkResult> {
  return tool === 'wrk' ? runWrk(url, { connections: CONNECTIONS, seconds: SECONDS, threads: WRK_THREADS }) : autocannon(url);
}

async function autocannon(url: string): Promise<WrkResult> {
  const { stdout, stderr } = await runCommand(join(REPO, 'node_modules/.bin/autocannon'), ['-c', String(CONNECTIONS), '-d', String(SECONDS), '-j', url], REPO);
  const report = JSON.parse(stdout) as {
    requests: { average: number };
    throughput: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  if (!report.requests) throw new Error(`autocannon output not understood: ${stdout}${stderr}`);
  return {
    requestsPerSec: report.requests.average,
    megabytesPerSec: report.throughput.average / 1e6,
    p50Ms: report.latency.p50,
    p99Ms: report.latency.p99,
    errors: report.non2xx + report.errors,
  };
}

// ---------------------------------------------------------------------------
// checking what a server answers

interface Answer {
  status: number;
  contentType: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One GET on a connection of its own (no agent: the kernel picks the listener afresh). */
function getFresh(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, headers: { connection: 'close' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`GET ${url}: no answer within 10 s`)));
  });
}

const sha = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex').slice(0, 12);

/**
 * Fetches `url` on 8 fresh connections: a media object must come back byte-identical with the
 * same Content-Type each time, a playlist as a 200 playlist. Returns the first answer and what was wrong.
 */
async function checkAnswers(target: Target, url: string): Promise<{ first: Answer; problems: string[] }> {
  const answers = await Promise.all(Array.from({ length: 8 }, () => getFresh(url)));
  const first = answers[0]!;
  const problems: string[] = [];
  for (const [index, answer] of answers.entries()) {
    const where = `${url} (connection ${index + 1} of 8)`;
    if (answer.status !== 200) problems.push(`${where}: status ${answer.status}`);
    else if (answer.contentType !== first.contentType) problems.push(`${where}: Content-Type ${answer.contentType}, connection 1 had ${first.contentType}`);
    else if (target.media && !answer.body.equals(first.body)) {
      problems.push(`${where}: ${answer.body.byteLength} B sha1 ${sha(answer.body)}, connection 1 had ${first.body.byteLength} B sha1 ${sha(first.body)}`);
    } else if (!target.media && !answer.body.toString('latin1').startsWith(target.textStart ?? '#EXTM3U')) problems.push(`${where}: not a playlist`);
    const length = Number(answer.headers['content-length']);
    if (answer.status === 200 && length !== answer.body.byteLength) problems.push(`${where}: Content-Length ${length}, body ${answer.body.byteLength} B`);
  }
  return { first, problems };
}

// ---------------------------------------------------------------------------
// the servers

interface NovaInstance {
  label: string;
  threads: number;
  nova: NovaProcess;
  urls: StreamMediaUrls;
  publisher: ChildProcess;
}

interface NginxInstance {
  label: string;
  workers: number;
  peer: NginxPeer;
  port: number;
  root: string;
}

function startPublisher(url: string, seconds: number): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/publisher/publish-cli.ts', '--url', url, '--bitrate', String(BITRATE), '--duration', String(seconds)], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

async function startNovaInstance(threads: number, publishSeconds: number): Promise<NovaInstance> {
  // The serving path alone, as nginx serves files: no ABR ladder encoding beside it.
  const nova = await startNovaProcess({ env: { TRANSCODE: 'off', DELIVERY_THREADS: String(threads) } });
  const stream = await nova.createStream(`delivery bench, ${threads} delivery threads`);
  const publisher = startPublisher(stream.publishUrl, publishSeconds);
  return { label: `nova threads=${threads}`, threads, nova, urls: streamMediaUrls(nova.http, stream.id), publisher };
}

/** Waits until the instance lists a full window (6 segments, PLAYLIST_WINDOW's default) of CMAF and of TS segments. */
async function fillWindows(instance: NovaInstance): Promise<void> {
  await waitForSegments(instance.urls.video, 1, 30_000);
  await fetchText(instance.urls.ts); // turns TS muxing on
  await waitForSegments(instance.urls.video, 6, 60_000);
  await waitForSegments(instance.urls.ts, 6, 60_000);
}

/** The headers nginx copies from nova's answer for a target, as nginx directives. */
function nginxHeaders(answer: Answer): string[] {
  const directives: string[] = [];
  for (const name of ['cache-control', 'access-control-allow-origin', 'access-control-expose-headers']) {
    const value = answer.headers[name];
    if (typeof value === 'string') directives.push(`add_header ${name} "${value.replace(/"/g, '\\"')}" always;`);
  }
  return directives;
}

async function startNginxFiles(workers: number, answers: Map<TargetName, Answer>): Promise<NginxInstance> {
  const port = await freePort();
  let root = '';
  const locations = SELECTED.map((target) => {
    const answer = answers.get(target.name)!;
    const fdCache = target.media || flags['nginx-cache-playlists'] ? '' : ' open_file_cache off;';
    return `    location = /${target.file} { default_type "${answer.contentType}";${fdCache} ${nginxHeaders(answer).join(' ')} }`;
  });
  const peer = await startNginx({
    ports: [port],
    workerProcesses: workers,
    config: (dir) => {
      root = join(dir, 'www');
      mkdirSync(root, { recursive: true });
      // nginx at its best for static files: sendfile, open file descriptors cached (the bench
      // writes a new file by renaming, so a cached one is always a whole file; not the playlists'
      // unless --nginx-cache-playlists, see above), no access log,
      // long keep-alive (as nova's). Each file's Content-Type is the one nova sent for it
      // (types {} empty: default_type decides), plus nova's Cache-Control and CORS headers.
      return `events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=64 inactive=60s;
  open_file_cache_valid 1s;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  types {}
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} reuseport;
    root ${root};
${locations.join('\n')}
  }
}`;
    },
  });
  return { label: `nginx ${workers} worker${workers === 1 ? '' : 's'}`, workers, peer, port, root };
}

/** Puts `bytes` in nginx's root under `file`: a new file renamed into place, never one rewritten where nginx may be reading it. */
function writeNginxFile(instance: NginxInstance, file: string, bytes: Uint8Array): void {
  const path = join(instance.root, file);
  writeFileSync(`${path}.new`, bytes);
  renameSync(`${path}.new`, path);
}

// ---------------------------------------------------------------------------
// glass-to-glass

type Protocol = 'HLS' | 'LL-HLS' | 'DASH';

/** Age (ms) of the newest media visible to a player-like poller, sampled for `seconds`. */
async function pollerEdgeAges(protocol: Protocol, urls: StreamMediaUrls, seconds: number): Promise<number[]> {
  const ages: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  if (protocol === 'HLS') {
    while (Date.now() < deadline) {
      const playlist = await fetchMediaPlaylist(urls.video);
      const newest = playlist.segments.at(-1);
      if (newest?.programDateTime != null) ages.push(Date.now() - (newest.programDateTime + newest.duration * 1000));
      await sleep(playlist.targetDuration * 1000);
    }
  } else if (protocol === 'LL-HLS') {
    let playlist = await fetchMediaPlaylist(urls.video);
    while (Date.now() < deadline) {
      const newest = playlist.parts.at(-1);
      if (newest?.programDateTime != null) ages.push(Date.now() - (newest.programDateTime + newest.duration * 1000));
      // the next part: the one after the newest listed, in the same segment or the next
      const pending = playlist.parts.filter((p) => p.msn === newest?.msn).length;
      const nextMsn = newest ? newest.msn : playlist.mediaSequence + playlist.segments.length;
      playlist = parseMediaPlaylist(await fetchText(`${urls.video}?_HLS_msn=${nextMsn}&_HLS_part=${pending}`));
    }
  } else {
    while (Date.now() < deadline) {
      const mpd = await fetchText(urls.dash);
      const start = Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)?.[1] ?? '');
      const video = mpd.slice(mpd.indexOf('contentType="video"'));
      const timescale = Number(/timescale="(\d+)"/.exec(video)?.[1]);
      let end = 0;
      for (const s of video.slice(0, video.indexOf('</SegmentTimeline>')).matchAll(/<S (?:t="(\d+)" )?d="(\d+)"(?: r="(\d+)")?\/>/g)) {
        const t = s[1] === undefined ? end : Number(s[1]);
        end = t + Number(s[2]) * (1 + Number(s[3] ?? 0));
      }
      ages.push(Date.now() - (start + (end / timescale) * 1000));
      const period = Number(/minimumUpdatePeriod="PT([\d.]+)S"/.exec(mpd)?.[1] ?? 2);
      await sleep(period * 1000);
    }
  }
  return ages;
}

interface PlayerLatency {
  ttffMs: number;
  /** median over the sampling window of wall clock − media time on screen */
  latencyMs: number;
}

async function playerLatency(protocol: Protocol, urls: StreamMediaUrls, seconds: number): Promise<PlayerLatency> {
  const browser = await launchPlayerBrowser();
  try {
    const engine: PlayerEngine = protocol === 'DASH' ? 'dash.js' : 'hls.js';
    const player = await browser.openPlayer({
      engine,
      url: protocol === 'DASH' ? urls.dash : urls.hlsMaster,
      config: protocol === 'DASH' ? {} : { lowLatencyMode: protocol === 'LL-HLS' },
    });
    const started = await player.waitForPlayback(1, 30_000);
    const samples: number[] = [];
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      const state = await player.state();
      if (state.fatal) throw new Error(`${engine}: ${state.fatal.detail}`);
      if (engine === 'hls.js' && state.playingDateMs !== null) samples.push(Date.now() - state.playingDateMs);
      if (engine === 'dash.js' && state.liveLatencySec !== null) samples.push(state.liveLatencySec * 1000);
      await sleep(250);
    }
    return { ttffMs: started.firstFrameMs ?? Number.NaN, latencyMs: median(samples) };
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------
// printing

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

interface Summary {
  requestsPerSec: number;
  megabytesPerSec: number;
  responseBytes: number;
  p50Ms: number;
  p99Ms: number;
  serverCores: number;
  clientCores: number;
  cpuPerRequestUs: number;
  mainThreadCores: number;
  errors: number;
  runs: number;
}

function summarize(results: LoadResult[]): Summary {
  const m = (pick: (r: LoadResult) => number): number => median(results.map(pick));
  return {
    requestsPerSec: m((r) => r.requestsPerSec),
    megabytesPerSec: m((r) => r.megabytesPerSec),
    responseBytes: m((r) => r.responseBytes),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    serverCores: m((r) => r.serverCores),
    clientCores: m((r) => r.clientCores),
    cpuPerRequestUs: m((r) => r.cpuPerRequestUs),
    mainThreadCores: m((r) => r.mainThreadCores),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    runs: results.length,
  };
}

function resultLine(label: string, r: LoadResult | Summary, tool: Tool): string {
  return (
    `  ${label.padEnd(26)} ${fmt(r.requestsPerSec).padStart(8)} req/s ${fmt(r.megabytesPerSec, 1).padStart(8)} MB/s ${fmt(r.responseBytes).padStart(7)} B/resp` +
    `  p50 ${fmt(r.p50Ms, 2).padStart(7)} ms  p99 ${fmt(r.p99Ms, 2).padStart(7)} ms  server ${fmt(r.serverCores, 2)} cores ${fmt(r.cpuPerRequestUs, 1).padStart(6)} µs/req${Number.isFinite(r.mainThreadCores) ? ` (main thread ${fmt(r.mainThreadCores, 2)})` : ''}  ${tool} ${fmt(r.clientCores, 2)} cores  errors ${r.errors}`
  );
}

/** The nginx a nova instance is compared with: as many workers as it has delivery threads (1 for 0) when one runs, else the one with the most. */
function peerOf(threads: number, nginxes: NginxInstance[]): NginxInstance | null {
  if (nginxes.length === 0) return null;
  return nginxes.find((n) => n.workers === Math.max(1, threads)) ?? nginxes.reduce((a, b) => (b.workers > a.workers ? b : a));
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!wrkInstalled()) throw new Error('wrk is not installed (apt-get install wrk)');
  const withNginx = !flags['no-nginx'] && nginxInstalled();
  const withBrowser = !flags['no-browser'] && chromiumInstalled();
  const tools: Tool[] = ['wrk', ...(flags['no-autocannon'] ? [] : (['autocannon'] as const))];
  const servers = THREADS.length + (withNginx ? NGINX_WORKERS.length : 0);
  // each load run plus the picking and checking before it
  const throughputSeconds = RUNS * tools.length * SELECTED.length * servers * (SECONDS + 3);
  const glassSeconds = flags['no-glass'] ? 0 : THREADS.length * RUNS * 3 * (GLASS_SECONDS + (withBrowser ? GLASS_SECONDS + 15 : 1));
  const publishSeconds = Math.ceil(120 + 1.2 * (throughputSeconds + glassSeconds));

  console.log(
    `delivery bench: ${CORES} cores, nova DELIVERY_THREADS ${THREADS.join(', ')}, ` +
      `nginx ${withNginx ? `worker_processes ${NGINX_WORKERS.join(', ')} (open_file_cache for ${flags['nginx-cache-playlists'] ? 'every file' : 'the part and the segment, not the playlists'})` : 'no'}; ` +
      `${SELECTED.map((t) => t.name).join(', ')}; ${tools.join(' and ')} (wrk -t${WRK_THREADS}), ${CONNECTIONS} connections, ${SECONDS} s per run, ${RUNS} runs (medians); ` +
      `publisher ${(BITRATE / 1e6).toFixed(1)} Mb/s per nova; Chromium ${withBrowser ? 'yes' : 'no'}`,
  );
  console.log(
    `load generator, servers and the idle instances share all ${CORES} cores (nothing pinned): "wrk cores" is what the load generator took of them. ` +
      `load average before: ${loadAverage()}`,
  );

  const novas: NovaInstance[] = [];
  const nginxes: NginxInstance[] = [];
  const problems: string[] = [];
  try {
    for (const threads of THREADS) novas.push(await startNovaInstance(threads, publishSeconds));
    await Promise.all(novas.map(fillWindows));

    // what nova answers for each target: nginx serves the same headers and bytes
    const reference = novas[0]!;
    const answers = new Map<TargetName, Answer>();
    for (const target of SELECTED) answers.set(target.name, (await checkAnswers(target, await target.url(reference.urls))).first);
    for (const target of SELECTED) {
      const answer = answers.get(target.name)!;
      console.log(`${target.label}: ${answer.body.byteLength} B, ${answer.contentType}`);
    }
    if (withNginx) for (const workers of NGINX_WORKERS) nginxes.push(await startNginxFiles(workers, answers));

    // what the idle instances cost while another is measured
    const idleSeconds = 5;
    const idleBefore = novas.map((n) => [cpuSeconds(n.nova.pid), cpuSeconds(n.publisher.pid ?? -1)] as const);
    await sleep(idleSeconds * 1000);
    console.log(
      `idle (publishing, packaging, TS muxing on; no viewers): ` +
        novas.map((n, i) => `${n.label} ${fmt((cpuSeconds(n.nova.pid) - idleBefore[i]![0]) / idleSeconds, 2)} cores + its publisher ${fmt((cpuSeconds(n.publisher.pid ?? -1) - idleBefore[i]![1]) / idleSeconds, 2)}`).join('; '),
    );

    type Server = { label: string; kind: 'nova'; nova: NovaInstance } | { label: string; kind: 'nginx'; nginx: NginxInstance };
    const all: Server[] = [...novas.map((nova) => ({ label: nova.label, kind: 'nova' as const, nova })), ...nginxes.map((nginx) => ({ label: nginx.label, kind: 'nginx' as const, nginx }))];
    const results = new Map<string, LoadResult[]>();
    const key = (tool: Tool, target: TargetName, server: string): string => `${tool}|${target}|${server}`;
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      console.log(`\nrun ${runIndex + 1} of ${RUNS}, load average ${loadAverage()}`);
      // rotated each run: no server always follows the same one
      const order = all.map((_, i) => all[(i + runIndex) % all.length]!);
      for (const target of SELECTED) {
        for (const tool of tools) {
          for (const server of order) {
            let url: string;
            let pids: () => number[];
            let mainThreadOf: number | null = null;
            if (server.kind === 'nova') {
              url = await target.url(server.nova.urls);
              const checked = await checkAnswers(target, url);
              problems.push(...checked.problems.map((p) => `${server.label}: ${p}`));
              pids = () => [server.nova.nova.pid];
              mainThreadOf = server.nova.nova.pid;
            } else {
              // the bytes nova's first instance serves now for this target
              const checked = await checkAnswers(target, await target.url(reference.urls));
              writeNginxFile(server.nginx, target.file, checked.first.body);
              url = `http://127.0.0.1:${server.nginx.port}/${target.file}`;
              const answer = await getFresh(url);
              if (answer.status !== 200 || !answer.body.equals(checked.first.body) || answer.contentType !== checked.first.contentType) {
                problems.push(`${server.label}: ${url} answered ${answer.status} ${answer.contentType} ${answer.body.byteLength} B, not the ${checked.first.body.byteLength} B written`);
              }
              pids = () => [server.nginx.peer.pid, ...server.nginx.peer.workerPids()];
            }
            const result = await withCpu(pids, () => loadWith(tool, url), mainThreadOf);
            const k = key(tool, target.name, server.label);
            results.set(k, [...(results.get(k) ?? []), result]);
            console.log(resultLine(`${target.name} ${server.label}`, result, tool));
          }
        }
      }
    }
    console.log(`load average after: ${loadAverage()}`);

    console.log(`\nthroughput (medians of ${RUNS}; cores: CPU seconds ÷ wall seconds over a run, nova's process with all its threads, nginx's master and workers):`);
    const table: string[] = [];
    for (const tool of tools) {
      table.push(`| ${tool}: target | server | req/s | MB/s | p50 ms | p99 ms | server cores (nova's main thread) | server µs CPU per request | ${tool} cores | req/s vs nginx | MB/s vs nginx |`, '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const target of SELECTED) {
        console.log(`\n${tool}, ${target.label} (${target.name}):`);
        const summaries = new Map(all.map((s) => [s.label, summarize(results.get(key(tool, target.name, s.label)) ?? [])]));
        for (const server of all) {
          const ours = summaries.get(server.label)!;
          console.log(resultLine(server.label, ours, tool));
          let ratios = ['', ''];
          if (server.kind === 'nova') {
            const peer = peerOf(server.nova.threads, nginxes);
            if (peer) {
              const theirs = summaries.get(peer.label)!;
              const requests = ours.requestsPerSec / theirs.requestsPerSec;
              const bytes = ours.megabytesPerSec / theirs.megabytesPerSec;
              ratios = [`${fmt(requests, 2)} (${peer.label})`, fmt(bytes, 2)];
              const goal = target.goal === null ? '' : `; goal ≥ ${target.goal.toFixed(1)}× in req/s: ${requests >= target.goal ? 'met' : 'NOT met'}`;
              const cpu = ours.cpuPerRequestUs / theirs.cpuPerRequestUs;
              console.log(`    ${server.label} / ${peer.label}: ${fmt(requests, 2)} in req/s, ${fmt(bytes, 2)} in MB/s, ${fmt(cpu, 2)} in CPU per request${goal}`);
            }
          }
          table.push(
            `| ${target.name} | ${server.label} | ${fmt(ours.requestsPerSec)} | ${fmt(ours.megabytesPerSec, 1)} | ${fmt(ours.p50Ms, 2)} | ${fmt(ours.p99Ms, 2)} | ` +
              `${fmt(ours.serverCores, 2)}${Number.isFinite(ours.mainThreadCores) ? ` (${fmt(ours.mainThreadCores, 2)})` : ''} | ${fmt(ours.cpuPerRequestUs, 1)} | ${fmt(ours.clientCores, 2)} | ${ratios[0]} | ${ratios[1]} |`,
          );
        }
      }
      table.push('');
    }
    console.log(`\nas a table:\n\n${table.join('\n')}`);
    console.log(problems.length === 0 ? 'answers checked before each nova run (8 fresh connections each): all as expected' : `answers NOT as expected (${problems.length}):\n  ${problems.join('\n  ')}`);

    if (flags['no-glass']) return;
    console.log('\nglass-to-glass (medians over runs; ingest-to-screen: the synthetic publisher adds no capture/encode delay):');
    for (const instance of novas) {
      for (const protocol of ['HLS', 'LL-HLS', 'DASH'] as const) {
        const pollerAges: number[] = [];
        const players: PlayerLatency[] = [];
        for (let runIndex = 0; runIndex < RUNS; runIndex++) {
          pollerAges.push(median(await pollerEdgeAges(protocol, instance.urls, GLASS_SECONDS)));
          if (withBrowser) players.push(await playerLatency(protocol, instance.urls, GLASS_SECONDS));
        }
        const player = players.length > 0
          ? `; ${protocol === 'DASH' ? 'dash.js' : protocol === 'LL-HLS' ? 'hls.js lowLatencyMode' : 'hls.js'} in Chromium: ` +
            `${fmt(median(players.map((p) => p.latencyMs)))} ms behind wall clock, time to first frame ${fmt(median(players.map((p) => p.ttffMs)))} ms`
          : '';
        console.log(`  ${instance.label} ${protocol.padEnd(7)} newest media a poller sees is ${fmt(median(pollerAges))} ms old${player}`);
      }
    }
    console.log(`load average at the end: ${loadAverage()}`);
  } finally {
    for (const instance of novas) instance.publisher.kill('SIGKILL');
    for (const instance of nginxes) await instance.peer.stop();
    for (const instance of novas) await instance.nova.stop();
  }
}

await main();
