/**
 * Delivery bench (npm run bench:delivery).
 *
 * nova runs as `npm start` runs it, in its own process (random
 * ports, PGlite in a fresh data directory) with one live stream that our synthetic publisher
 * feeds in real time (H.264 with B-frames + AAC, padded to --bitrate so a
 * 2 s video segment weighs about 750 KB). Then, --runs times each, MEDIANS
 * printed:
 *
 * 1. Throughput with 100 connections (--connections), --seconds per run,
 *    from wrk (C, the load generator that does not saturate first) and
 *    autocannon (Node, in its own process), against
 *      (a) the live LL-HLS media playlist (video.m3u8, no blocking params),
 *      (b) the newest complete video segment (picked afresh each run: the
 *          window slides), and
 *      (c) Debian nginx serving the same segment bytes from disk
 *          (one process, sendfile, keep-alive; its prefix holds the file).
 *    Printed: req/s, MB/s, p50/p99 latency, the server process's CPU% over
 *    the run (/proc/<pid>/stat; 100 % = one core: uWebSockets.js answers on
 *    one thread) and the segment throughput ratio nova / nginx.
 * 2. Glass-to-glass for HLS, LL-HLS and DASH:
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
 * The machine is shared: take final figures holding the lock,
 * `flock /tmp/nova-bench.lock npm run bench:delivery`.
 *
 * Flags: --runs 3 --seconds 10 --connections 100 --bitrate 3100000
 *        --no-nginx --no-autocannon --no-browser --no-glass --glass-seconds 8
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromiumInstalled, launchPlayerBrowser, type PlayerEngine } from '../../test/support/browser.js';
import { fetchMediaPlaylist, fetchText, parseMediaPlaylist, streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../../test/support/live-media.js';
import { nginxInstalled, startNginx, type NginxPeer } from '../peers/nginx.js';
import { freePort } from '../peers/ports.js';
import { cpuSeconds, median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';
import { runCommand, runWrk, type WrkResult } from './lib/wrk.js';
import { startNovaProcess } from '../peers/nova-process.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    bitrate: { type: 'string', default: '3100000' },
    'glass-seconds': { type: 'string', default: '8' },
    'no-nginx': { type: 'boolean', default: false },
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
const REPO = fileURLToPath(new URL('../..', import.meta.url));

// ---------------------------------------------------------------------------
// measuring

type LoadResult = WrkResult & {
  /** the server's CPU over the run, % of one core */
  serverCpuPercent: number;
};

/** Runs `load` while sampling the server's CPU time. */
async function withCpu(pid: number, load: () => Promise<WrkResult>): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const result = await load();
  const cpu = ((cpuSeconds(pid) - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
  return { ...result, serverCpuPercent: cpu };
}

async function wrk(url: string, pid: number): Promise<LoadResult> {
  return withCpu(pid, () => runWrk(url, { connections: CONNECTIONS, seconds: SECONDS }));
}

async function autocannon(url: string, pid: number): Promise<LoadResult> {
  return withCpu(pid, async () => {
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
  });
}

// ---------------------------------------------------------------------------
// the servers

function startPublisher(url: string, seconds: number): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/publisher/publish-cli.ts', '--url', url, '--bitrate', String(BITRATE), '--duration', String(seconds)], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

async function startNginxFiles(): Promise<{ peer: NginxPeer; port: number; root: string }> {
  const port = await freePort();
  let root = '';
  const peer = await startNginx({
    ports: [port],
    config: (dir) => {
      root = join(dir, 'www');
      mkdirSync(root, { recursive: true });
      // nginx at its best for static files: sendfile, no access log, long keep-alive (as our server)
      return `events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:${port}; root ${join(dir, 'www')}; }
}`;
    },
  });
  return { peer, port, root };
}

/** The newest complete video segment's URL and bytes. */
async function newestSegment(urls: StreamMediaUrls): Promise<{ url: string; bytes: Uint8Array }> {
  const playlist = await fetchMediaPlaylist(urls.video);
  const newest = playlist.segments.at(-1);
  if (!newest) throw new Error('no segment listed');
  const url = urls.video.replace(/[^/]+$/, '') + newest.uri;
  return { url, bytes: new Uint8Array(await (await fetch(url)).arrayBuffer()) };
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

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function summarize(label: string, results: LoadResult[]): { line: string; requestsPerSec: number; megabytesPerSec: number } {
  const requestsPerSec = median(results.map((r) => r.requestsPerSec));
  const megabytesPerSec = median(results.map((r) => r.megabytesPerSec));
  const line =
    `  ${label.padEnd(34)} ${fmt(requestsPerSec).padStart(8)} req/s ${fmt(megabytesPerSec, 1).padStart(8)} MB/s` +
    `  p50 ${fmt(median(results.map((r) => r.p50Ms)), 2).padStart(7)} ms  p99 ${fmt(median(results.map((r) => r.p99Ms)), 2).padStart(7)} ms` +
    `  server CPU ${fmt(median(results.map((r) => r.serverCpuPercent))).padStart(3)} %  errors ${results.reduce((s, r) => s + r.errors, 0)}`;
  return { line, requestsPerSec, megabytesPerSec };
}

async function main(): Promise<void> {
  const withNginx = !flags['no-nginx'] && nginxInstalled();
  const tools = ['wrk', ...(flags['no-autocannon'] ? [] : ['autocannon'])] as const;
  const throughputSeconds = RUNS * tools.length * (withNginx ? 3 : 2) * (SECONDS + 2);
  const glassSeconds = flags['no-glass'] ? 0 : RUNS * 3 * (GLASS_SECONDS * 2 + 15);
  const publishSeconds = Math.ceil(30 + throughputSeconds + glassSeconds);

  console.log(
    `delivery bench: ${CONNECTIONS} connections, ${SECONDS} s per run, ${RUNS} runs (medians), publisher ${(BITRATE / 1e6).toFixed(1)} Mb/s, ` +
      `nginx ${withNginx ? 'yes' : 'no'}, Chromium ${!flags['no-browser'] && chromiumInstalled() ? 'yes' : 'no'}`,
  );
  // The serving path alone, as nginx serves files: no ABR ladder encoding beside it.
  const nova = await startNovaProcess({ env: { TRANSCODE: 'off' } });
  const stream = await nova.createStream('delivery bench');
  const publisher = startPublisher(stream.publishUrl, publishSeconds);
  const nginx = withNginx ? await startNginxFiles() : null;
  try {
    const urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 3, 30_000);
    const sample = await newestSegment(urls);
    const playlistBytes = (await fetchText(urls.video)).length;
    console.log(`live media playlist ${playlistBytes} B; video segments ~${(sample.bytes.byteLength / 1000).toFixed(0)} KB`);

    const results = new Map<string, LoadResult[]>();
    const add = (key: string, result: LoadResult): void => void results.set(key, [...(results.get(key) ?? []), result]);
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      for (const tool of tools) {
        const load = tool === 'wrk' ? wrk : autocannon;
        add(`${tool} nova playlist`, await load(urls.video, nova.pid));
        // the window slides: take the newest segment now, so it is still listed when the run ends
        const segment = await newestSegment(urls);
        add(`${tool} nova segment`, await load(segment.url, nova.pid));
        if (nginx) {
          writeFileSync(join(nginx.root, 'segment.m4s'), segment.bytes);
          add(`${tool} nginx segment`, await load(`http://127.0.0.1:${nginx.port}/segment.m4s`, nginx.peer.pid));
        }
      }
    }

    console.log('\nthroughput (medians):');
    for (const tool of tools) {
      console.log(summarize(`${tool}: nova live playlist`, results.get(`${tool} nova playlist`) ?? []).line);
      const ours = summarize(`${tool}: nova segment (memory)`, results.get(`${tool} nova segment`) ?? []);
      console.log(ours.line);
      if (nginx) {
        const theirs = summarize(`${tool}: nginx segment (disk)`, results.get(`${tool} nginx segment`) ?? []);
        console.log(theirs.line);
        console.log(`  ${tool}: segment ratio nova/nginx: ${fmt(ours.requestsPerSec / theirs.requestsPerSec, 2)} (req/s), ${fmt(ours.megabytesPerSec / theirs.megabytesPerSec, 2)} (MB/s)`);
      }
    }

    if (flags['no-glass']) return;
    console.log('\nglass-to-glass (medians over runs; ingest-to-screen: the synthetic publisher adds no capture/encode delay):');
    for (const protocol of ['HLS', 'LL-HLS', 'DASH'] as const) {
      const pollerAges: number[] = [];
      const players: PlayerLatency[] = [];
      for (let runIndex = 0; runIndex < RUNS; runIndex++) {
        pollerAges.push(median(await pollerEdgeAges(protocol, urls, GLASS_SECONDS)));
        if (!flags['no-browser'] && chromiumInstalled()) players.push(await playerLatency(protocol, urls, GLASS_SECONDS));
      }
      const player = players.length > 0
        ? `; ${protocol === 'DASH' ? 'dash.js' : protocol === 'LL-HLS' ? 'hls.js lowLatencyMode' : 'hls.js'} in Chromium: ` +
          `${fmt(median(players.map((p) => p.latencyMs)))} ms behind wall clock, time to first frame ${fmt(median(players.map((p) => p.ttffMs)))} ms`
        : '';
      console.log(`  ${protocol.padEnd(7)} newest media a poller sees is ${fmt(median(pollerAges))} ms old${player}`);
    }
  } finally {
    publisher.kill('SIGKILL');
    await nginx?.peer.stop();
    await nova.stop();
  }
}

await main();
