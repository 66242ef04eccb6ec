/**
 * Viewer sessions bench (npm run bench:sessions): what session tracking costs
 * the server under thousands of CMCD-reporting HLS viewers.
 *
 * Each run starts a fresh nova as `npm start` runs it (TRANSCODE=off, PGlite
 * in a fresh data directory) with VIEWER_SESSIONS on or off, one stream fed in
 * real time by the synthetic publisher (--bitrate), and the Node mirror of
 * loadtest/k6/hls-viewers-cmcd.ts in --procs processes of its own: --viewers viewers, each
 * with its own CMCD sid, joining over --ramp seconds, then reloading the media
 * playlist every target duration and fetching each new segment once. After the
 * ramp and --warmup seconds, the server is measured for --seconds: its CPU
 * (all threads, from /proc: 1.00 = one core), segments served per second and,
 * with tracking on, viewer_sessions rows and upsert statements written per
 * second (from its /metrics). On and off alternate (on first in odd runs),
 * --runs times each; MEDIANS printed, with the CPU ratio on / off (goal < 1.10),
 * the generator's own CPU and its late steps (above 0: it could not keep up, and
 * fewer viewers than asked were really simulated), and the machine's load average.
 *
 * The machine is shared: take final figures holding the lock,
 * `flock /tmp/nova-bench.lock npm run bench:sessions`.
 *
 * Flags: --viewers 5000 --procs 2 --runs 3 --ramp 20 --warmup 6 --seconds 30 --bitrate 400000 --stall-rate 0.01
 * --delivery-threads 0 (nova's DELIVERY_THREADS) --cpu-prof DIR
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { streamMediaUrls, waitForSegments } from '../../test/support/live-media.js';
import type { KindSummary, LoadSummary } from '../http/lib/load-stats.js';
import { startNovaProcess } from '../peers/nova-process.js';
import { cpuReading, cpuSecondsBetween, median, threadCpu, type ThreadCpu } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    viewers: { type: 'string', default: '5000' },
    procs: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    ramp: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '30' },
    bitrate: { type: 'string', default: '400000' },
    'stall-rate': { type: 'string', default: '0.01' },
    'cpu-prof': { type: 'string' },
    'delivery-threads': { type: 'string', default: '0' },
  },
});
const VIEWERS = numberFlag('viewers', flags.viewers, { integer: true });
const PROCS = numberFlag('procs', flags.procs, { integer: true });
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const RAMP = numberFlag('ramp', flags.ramp);
const WARMUP = numberFlag('warmup', flags.warmup);
const SECONDS = numberFlag('seconds', flags.seconds);
const BITRATE = numberFlag('bitrate', flags.bitrate);
const STALL_RATE = flags['stall-rate'];
const DELIVERY_THREADS = numberFlag('delivery-threads', flags['delivery-threads'], { integer: true, min: 0 });
const REPO = fileURLToPath(new URL('../..', import.meta.url));

type Mode = 'on' | 'off';

interface RunResult {
  mode: Mode;
  /** server CPU over the window, cores */
  cpuCores: number;
  segmentsPerSec: number;
  rowsPerSec: number;
  statementsPerSec: number;
  /** the generator's summary over its whole run (ramp included) */
  load: LoadSummary;
  loadAvg: number;
  /** the busiest threads over the window: 'main', or the thread's place in creation order (tid order), and cores (10 ms ticks) */
  threads: Array<{ thread: string; cores: number }>;
}

/** Each thread's CPU between two readings, busiest first: where tracking's cost lands (main thread, the database's, GC helpers). */
function busiestThreads(pid: number, before: Map<string, ThreadCpu>, after: Map<string, ThreadCpu>, seconds: number): Array<{ thread: string; cores: number }> {
  const order = [...after.keys()].sort((a, b) => Number(a) - Number(b));
  return order
    .map((tid, index) => ({ thread: tid === String(pid) ? 'main' : `#${index}`, cores: (after.get(tid)!.seconds - (before.get(tid)?.seconds ?? 0)) / seconds }))
    .sort((a, b) => b.cores - a.cores);
}

/** Sum of every sample of a metric in Prometheus text; null when the server does not export it. */
function metricSum(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const next = line.charAt(name.length);
    if (next !== ' ' && next !== '{') continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * The generator processes' summaries as one: requests, errors, rates and counters
 * added up; p50 and p99 the largest of the processes' (each saw a share of the
 * same viewers), so never better than any of them.
 */
function mergeSummaries(summaries: LoadSummary[]): LoadSummary {
  const add = (parts: KindSummary[], kind: string): KindSummary => ({
    kind,
    requests: parts.reduce((sum, k) => sum + k.requests, 0),
    errors: parts.reduce((sum, k) => sum + k.errors, 0),
    requestsPerSecond: parts.reduce((sum, k) => sum + k.requestsPerSecond, 0),
    p50Ms: Math.max(...parts.map((k) => k.p50Ms)),
    p99Ms: Math.max(...parts.map((k) => k.p99Ms)),
  });
  const kinds = [...new Set(summaries.flatMap((s) => s.byKind.map((k) => k.kind)))];
  const counters: Record<string, number> = {};
  for (const summary of summaries) for (const [name, value] of Object.entries(summary.counters)) counters[name] = (counters[name] ?? 0) + value;
  return {
    scenario: summaries[0]!.scenario,
    seconds: Math.max(...summaries.map((s) => s.seconds)),
    total: add(summaries.map((s) => s.total), 'all'),
    byKind: kinds.map((kind) => add(summaries.flatMap((s) => s.byKind.filter((k) => k.kind === kind)), kind)),
    counters,
  };
}

function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

function spawnNode(args: string[], stdout: 'pipe' | 'ignore'): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO, stdio: ['ignore', stdout, 'inherit'] });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}

async function oneRun(mode: Mode, runIndex: number): Promise<RunResult> {
  const nodeArgs = flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof']}`, `--cpu-prof-name=nova-sessions-${mode}-${runIndex}.cpuprofile`] : [];
  const nova = await startNovaProcess({ env: { TRANSCODE: 'off', VIEWER_SESSIONS: mode, DELIVERY_THREADS: String(DELIVERY_THREADS) }, nodeArgs });
  const totalSeconds = RAMP + WARMUP + SECONDS + 2;
  let publisher: ChildProcess | null = null;
  const generators: ChildProcess[] = [];
  try {
    const stream = await nova.createStream(`sessions bench ${mode}`);
    publisher = spawnNode(['loadtest/publisher/publish-cli.ts', '--url', stream.publishUrl, '--bitrate', String(BITRATE), '--duration', String(totalSeconds + 30)], 'ignore');
    const urls = streamMediaUrls(nova.http, stream.id);
    await waitForSegments(urls.video, 3, 30_000);
    // the viewers split over --procs generator processes (one core each at most), their summaries added up
    const outputs: string[] = [];
    const exits: Promise<void>[] = [];
    for (let p = 0; p < PROCS; p++) {
      const vus = Math.floor(VIEWERS / PROCS) + (p < VIEWERS % PROCS ? 1 : 0);
      const generator = spawnNode(
        ['loadtest/http/hls-viewers-cmcd.ts', '--url', urls.hlsMaster, '--vus', String(vus), '--ramp', String(RAMP), '--duration', String(WARMUP + SECONDS + 2), '--stall-rate', STALL_RATE, '--sid-prefix', `p${p}`, '--json'],
        'pipe',
      );
      generators.push(generator);
      outputs.push('');
      generator.stdout!.on('data', (chunk: Buffer) => (outputs[p] += chunk.toString()));
      exits.push(new Promise<void>((resolve) => generator.once('exit', () => resolve())));
    }
    // the window is timed from the generators' start, not their spawn: starting one takes seconds on a loaded machine
    const startedBy = performance.now() + 60_000;
    while (!outputs.every((out) => out.includes('\n'))) {
      if (performance.now() > startedBy) throw new Error('the load generators did not start within 60 s');
      await sleep(50);
    }

    await sleep((RAMP + WARMUP) * 1000);
    const metricsBefore = await (await fetch(`${nova.http}/metrics`)).text();
    const threadsBefore = threadCpu(nova.pid);
    const cpuBefore = cpuReading(nova.pid);
    const started = performance.now();
    await sleep(SECONDS * 1000);
    const cpuAfter = cpuReading(nova.pid);
    const threadsAfter = threadCpu(nova.pid);
    const elapsed = (performance.now() - started) / 1000;
    const metricsAfter = await (await fetch(`${nova.http}/metrics`)).text();
    const loadAvg = loadAverage();
    await Promise.all(exits);
    const load = mergeSummaries(outputs.map((out) => JSON.parse(out.trim().split('\n').pop() ?? '') as LoadSummary));

    const rate = (name: string): number | null => {
      const before = metricSum(metricsBefore, name);
      const after = metricSum(metricsAfter, name);
      return before === null || after === null ? null : (after - before) / elapsed;
    };
    const rows = rate('nova_streaming_viewer_session_rows_written_total');
    const statements = rate('nova_streaming_viewer_session_write_statements_total');
    // off must mean no tracker at all; on must really write
    if (mode === 'off' && (rows !== null || statements !== null)) throw new Error('VIEWER_SESSIONS=off still exports the session write counters');
    if (mode === 'on' && !(rows !== null && rows > 0)) throw new Error('VIEWER_SESSIONS=on wrote no viewer_sessions rows');
    return {
      mode,
      cpuCores: cpuSecondsBetween(cpuBefore, cpuAfter) / elapsed,
      segmentsPerSec: rate('nova_streaming_segments_served_total') ?? Number.NaN,
      rowsPerSec: rows ?? 0,
      statementsPerSec: statements ?? 0,
      load,
      loadAvg,
      threads: busiestThreads(nova.pid, threadsBefore, threadsAfter, elapsed),
    };
  } finally {
    for (const generator of generators) generator.kill('SIGKILL');
    publisher?.kill('SIGKILL');
    await nova.stop();
  }
}

const fmt = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function summarize(mode: Mode, results: RunResult[]): { line: string; cpu: number; cpuPerSegment: number } {
  const cpu = median(results.map((r) => r.cpuCores));
  // CPU ms per segment served (with its playlist reload): the fair figure when a loaded machine let one mode serve less
  const cpuPerSegment = median(results.map((r) => (r.cpuCores * 1000) / r.segmentsPerSec));
  const segment = (r: RunResult) => r.load.byKind.find((k) => k.kind === 'segment');
  const line =
    `  tracking ${mode.padEnd(3)}  server CPU ${fmt(cpu, 3)} cores (${fmt(cpuPerSegment, 3)} ms per segment served)  ${fmt(median(results.map((r) => r.load.total.requestsPerSecond)))} req/s` +
    `  (segments served ${fmt(median(results.map((r) => r.segmentsPerSec)))}/s)  p99 ${fmt(median(results.map((r) => r.load.total.p99Ms)), 1)} ms` +
    ` (segments ${fmt(median(results.map((r) => segment(r)?.p99Ms ?? Number.NaN)), 1)} ms)` +
    `  rows ${fmt(median(results.map((r) => r.rowsPerSec)))}/s  statements ${fmt(median(results.map((r) => r.statementsPerSec)), 2)}/s` +
    `  errors ${results.reduce((s, r) => s + r.load.total.errors, 0)}` +
    `  generator CPU ${fmt(median(results.map((r) => (r.load.counters['generator_cpu_seconds'] ?? 0) / r.load.seconds)), 2)} cores` +
    ` (${fmt(median(results.map((r) => ((r.load.counters['generator_cpu_seconds'] ?? 0) * 1e6) / r.load.total.requests)))} µs per request), late steps ${results.reduce((s, r) => s + (r.load.counters['late_steps'] ?? 0), 0)}`;
  return { line, cpu, cpuPerSegment };
}

async function main(): Promise<void> {
  console.log(
    `sessions bench: ${VIEWERS} CMCD HLS viewers (${PROCS} generator processes) on one stream, DELIVERY_THREADS=${DELIVERY_THREADS} (${(BITRATE / 1e6).toFixed(2)} Mb/s), ramp ${RAMP} s, ` +
      `measured ${SECONDS} s after ${WARMUP} s, ${RUNS} runs each of tracking on and off (interleaved, fresh server each; medians); load average ${fmt(loadAverage(), 2)}`,
  );
  const results: RunResult[] = [];
  for (let runIndex = 0; runIndex < RUNS; runIndex++) {
    const order: Mode[] = runIndex % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const mode of order) {
      const result = await oneRun(mode, runIndex);
      results.push(result);
      console.log(
        `  run ${runIndex + 1} ${mode.padEnd(3)}: server CPU ${fmt(result.cpuCores, 3)} cores, ${fmt(result.load.total.requestsPerSecond)} req/s, ` +
          `p99 ${fmt(result.load.total.p99Ms, 1)} ms, rows ${fmt(result.rowsPerSec)}/s, statements ${fmt(result.statementsPerSec, 2)}/s, ` +
          `errors ${result.load.total.errors}, late steps ${result.load.counters['late_steps'] ?? 0}, load average ${fmt(result.loadAvg, 2)}\n` +
          `    threads (cores): ${result.threads.slice(0, 5).map((t) => `${t.thread} ${fmt(t.cores, 3)}`).join(', ')}, rest ${fmt(result.threads.slice(5).reduce((sum, t) => sum + t.cores, 0), 3)}`,
      );
    }
  }
  console.log('\nmedians:');
  const on = summarize('on', results.filter((r) => r.mode === 'on'));
  const off = summarize('off', results.filter((r) => r.mode === 'off'));
  console.log(on.line);
  console.log(off.line);
  const ratio = on.cpu / off.cpu;
  console.log(`  server CPU ratio on / off: ${fmt(ratio, 3)} (goal < 1.10: ${ratio < 1.1 ? 'met' : 'NOT met'}); per segment served: ${fmt(on.cpuPerSegment / off.cpuPerSegment, 3)}; load average now ${fmt(loadAverage(), 2)}`);
}

await main();
