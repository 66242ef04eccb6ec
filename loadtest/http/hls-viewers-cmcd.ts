/**
 * Node mirror of loadtest/k6/hls-viewers-cmcd.ts: same viewer loop, same CMCD
 * reports, same parameters, built to simulate thousands of viewers from one
 * core. Requests go through one pool of keep-alive sockets (reused across
 * viewers, as many as requests in flight; lib/keep-alive-client.ts, about a
 * third of node:http's CPU per request); one 20 ms timer steps every viewer
 * that is due instead of a timer per viewer; a playlist body that is the same
 * as the previous one is parsed once for everyone. Several processes can
 * share a stream's viewers: give each its own --sid-prefix.
 *
 *   node --import tsx loadtest/http/hls-viewers-cmcd.ts --url http://host:8080/hls/<id>/master.m3u8 \
 *     [--vus 50] [--ramp 30s] [--duration 2m] [--rendition random|lowest|highest] [--join-segments 3] [--stall-rate 0.01] [--sid-prefix node] [--json]
 *
 * Prints req/s, errors, p50/p99 latency per kind (with --json: a line {"started":true} when the
 * viewers start joining, then the summary as one JSON line); the counters include the
 * generator's own CPU seconds and `late_steps`, viewer steps that started
 * more than 500 ms after they were due (the generator fell behind: fewer
 * viewers than asked were really simulated). Exits 1 when any request failed.
 */
import { SimulatedPlayer, stallRateFrom } from '../k6/lib/cmcd-query.js';
import { chooseVariant, isMasterPlaylist, parseMasterPlaylist, parseMediaPlaylist, segmentsAfter, type HlsMediaPlaylist } from '../k6/lib/hls-playlist.js';
import { viewerParamsFrom, type ViewerScenarioParams } from '../k6/lib/scenario-params.js';
import { flagsToEnvNames } from './lib/cli-flags.js';
import { KeepAlivePool } from './lib/keep-alive-client.js';
import { formatSummary, LoadStats } from './lib/load-stats.js';

const TICK_MS = 20;
const LATE_MS = 500;
/** the origin's keep-alive sockets (every URL this generator fetches is on the origin of --url) */
let pool: KeepAlivePool | null = null;
let origin = '';

/** GET through the shared pool, the whole body read; a network failure is status 0 (recorded as an error), never a throw. */
async function timedGet(stats: LoadStats, kind: string, url: string, asText: boolean): Promise<{ status: number; text: string | null }> {
  const started = performance.now();
  if (!url.startsWith(origin)) throw new Error(`${url} is not on ${origin}`);
  const result = await pool!.get(url.slice(origin.length), asText);
  stats.record(kind, performance.now() - started, result.status !== 0 && result.status < 400);
  return result;
}

/** The last playlist parsed: thousands of viewers reload the same bytes within a segment. */
let memoText = '';
let memoUrl = '';
let memoPlaylist: HlsMediaPlaylist | null = null;
function parseShared(text: string, url: string): HlsMediaPlaylist {
  if (memoPlaylist === null || text !== memoText || url !== memoUrl) {
    memoPlaylist = parseMediaPlaylist(text, url);
    memoText = text;
    memoUrl = url;
  }
  return memoPlaylist;
}

class CmcdViewer {
  dueAt: number;
  busy = false;
  private mediaUrl: string | null = null;
  private player: SimulatedPlayer | null = null;
  private lastMsn = -1;

  constructor(
    private readonly name: string,
    private readonly params: ViewerScenarioParams,
    private readonly stallRate: number,
    private readonly stats: LoadStats,
    startAt: number,
  ) {
    this.dueAt = startAt;
  }

  /** One turn of the loop; resolves to the seconds until the next. */
  async step(): Promise<number> {
    if (this.mediaUrl === null || this.player === null) return this.join();
    const started = performance.now();
    const playlist = await this.loadPlaylist(this.mediaUrl, this.player);
    if (playlist === null) return 1;
    const fresh = segmentsAfter(playlist, this.lastMsn, Number.MAX_SAFE_INTEGER);
    for (const segment of fresh) {
      await this.fetchSegment(segment.uri, segment.duration, this.player);
      this.lastMsn = segment.msn;
    }
    if (playlist.endList) {
      this.mediaUrl = null;
      return 0;
    }
    const spentSeconds = (performance.now() - started) / 1000;
    return Math.max(0.1, fresh.length > 0 ? playlist.targetDuration - spentSeconds : playlist.targetDuration / 2);
  }

  private async join(): Promise<number> {
    const { params, stats } = this;
    const sid = `${this.name}-${Date.now().toString(36)}`;
    const master = await timedGet(stats, 'playlist', params.url, true);
    if (master.status !== 200 || master.text === null) return 1;
    const variant = isMasterPlaylist(master.text)
      ? chooseVariant(parseMasterPlaylist(master.text, params.url), params.rendition, Math.random)
      : { uri: params.url, bandwidth: 1_000_000 };
    const player = new SimulatedPlayer(sid, variant.bandwidth / 1000, this.stallRate, Math.random);
    const playlist = await this.loadPlaylist(variant.uri, player);
    if (playlist === null) return 1;
    if (playlist.mapUri !== null) await timedGet(stats, 'init', player.init(playlist.mapUri), false);
    for (const segment of segmentsAfter(playlist, -1, params.joinSegments)) await this.fetchSegment(segment.uri, segment.duration, player);
    this.mediaUrl = variant.uri;
    this.player = player;
    this.lastMsn = playlist.mediaSequence + playlist.segments.length - 1;
    return playlist.targetDuration;
  }

  private async loadPlaylist(url: string, player: SimulatedPlayer): Promise<HlsMediaPlaylist | null> {
    const response = await timedGet(this.stats, 'playlist', player.playlist(url), true);
    return response.status === 200 && response.text !== null ? parseShared(response.text, url) : null;
  }

  private async fetchSegment(url: string, durationSeconds: number, player: SimulatedPlayer): Promise<void> {
    const requestUrl = player.segment(url, durationSeconds * 1000);
    if (player.lastStalled) this.stats.count('cmcd_stalls_reported');
    const response = await timedGet(this.stats, 'segment', requestUrl, false);
    if (response.status === 200) this.stats.count('hls_segments_fetched');
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const flags = flagsToEnvNames(argv);
  const params = viewerParamsFrom(flags);
  const stallRate = stallRateFrom(flags);
  const stats = new LoadStats('hls-viewers-cmcd');
  origin = new URL(params.url).origin;
  pool = new KeepAlivePool(origin);
  // several generator processes may share a stream: their sids must differ
  const sidPrefix = flags['SID_PREFIX'] ?? 'node';
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  // a bench times its window from here: starting this process (tsx) can take seconds on a loaded machine
  if (flags['JSON'] === 'true') process.stdout.write('{"started":true}\n');
  const end = start + (params.rampSeconds + params.durationSeconds) * 1000;
  const viewers: CmcdViewer[] = [];
  for (let i = 0; i < params.vus; i++) viewers.push(new CmcdViewer(`${sidPrefix}-${i}`, params, stallRate, stats, start + (i * params.rampSeconds * 1000) / params.vus));
  let inFlight = 0;
  let late = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= end) {
        if (inFlight === 0) {
          clearInterval(timer);
          resolve();
        }
        return;
      }
      for (const viewer of viewers) {
        if (viewer.busy || viewer.dueAt > now) continue;
        if (now - viewer.dueAt > LATE_MS) late++;
        viewer.busy = true;
        inFlight++;
        void viewer.step().then((waitSeconds) => {
          viewer.busy = false;
          inFlight--;
          viewer.dueAt = performance.now() + waitSeconds * 1000;
        });
      }
    }, TICK_MS);
  });
  pool.close();
  const cpu = process.cpuUsage(cpuBefore);
  stats.count('late_steps', late);
  stats.count('generator_cpu_seconds', Math.round((cpu.user + cpu.system) / 1e4) / 100);
  const summary = stats.summary();
  process.stdout.write(`${flags['JSON'] === 'true' ? JSON.stringify(summary) : formatSummary(summary)}\n`);
  if (summary.total.errors > 0 || summary.total.requests === 0) process.exitCode = 1;
}

await main(process.argv.slice(2));
