/**
 * A young server against a warm one (WARM_START; docs/operations.md, "A young server").
 * Per run: a fresh nova as `npm start` runs it (its own process, TRANSCODE=off), then one
 * 720p synthetic publisher (its own process) for --seconds, then a second one on the same
 * server for --seconds: nova's CPU (all threads) per MB the publisher sent, for the first
 * stream (fresh) and the second (warmed by the first). Also the start-up cost: wall time
 * from spawning node to its "ready" line, and the process's CPU seconds by then. Each mode
 * of WARM_START (on, off) --runs times, medians printed.
 *
 *   flock /tmp/nova-bench.lock npm run bench:warm-start -- [--runs 3] [--seconds 60] [--bitrate 4000000] [--modes on,off]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { prepareNpmStart, startNovaProcess } from '../peers/nova-process.js';
import { runPublisherProcess } from '../publisher/publish-process.js';
import { cpuReading, cpuSeconds, cpuSecondsBetween, median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '60' },
    bitrate: { type: 'string', default: '4000000' },
    modes: { type: 'string', default: 'on,off' },
  },
});
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const SECONDS = numberFlag('seconds', flags.seconds);
const BITRATE = numberFlag('bitrate', flags.bitrate);
const MODES = flags.modes.split(',').map((m) => m.trim());
for (const mode of MODES) if (mode !== 'on' && mode !== 'off') throw new Error(`--modes: on and/or off, not ${mode}`);

interface RunFigures {
  readyMs: number;
  readyCpuSeconds: number;
  freshCpuPerMb: number;
  warmCpuPerMb: number;
}

/** nova's CPU seconds per MB sent by one publisher of SECONDS on a new stream. */
async function streamCpuPerMb(nova: Awaited<ReturnType<typeof startNovaProcess>>, title: string): Promise<number> {
  const stream = await nova.createStream(title);
  const before = cpuReading(nova.pid);
  const outcome = await runPublisherProcess(stream.publishUrl, BITRATE, SECONDS);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the last parts packaged, the stream ended
  const cpu = cpuSecondsBetween(before, cpuReading(nova.pid));
  if (!outcome.ok) throw new Error(`publisher failed: ${outcome.error}`);
  if (outcome.deficitSeconds > 2) console.log(`    (publisher ${outcome.deficitSeconds.toFixed(1)} s behind real time: the machine is loaded)`);
  return cpu / (outcome.bytesSent / 1e6);
}

async function run(mode: string): Promise<RunFigures> {
  const spawnedAt = performance.now();
  const nova = await startNovaProcess({ env: { TRANSCODE: 'off', WARM_START: mode } });
  const readyMs = performance.now() - spawnedAt;
  const readyCpuSeconds = cpuSeconds(nova.pid);
  try {
    const fresh = await streamCpuPerMb(nova, 'fresh');
    const warm = await streamCpuPerMb(nova, 'warmed');
    return { readyMs, readyCpuSeconds, freshCpuPerMb: fresh, warmCpuPerMb: warm };
  } finally {
    await nova.stop();
  }
}

console.log(
  `warm start: a fresh nova (npm start, TRANSCODE=off), one synthetic 720p publisher at ${(BITRATE / 1e6).toFixed(1)} Mb/s for ${SECONDS} s, ` +
    `then a second one for ${SECONDS} s; nova CPU (all threads) per MB sent; WARM_START ${MODES.join(' and ')}, ${RUNS} runs each (shared machine: noisy)`,
);
prepareNpmStart(); // the build, once, before any clock starts: else the first run's ready time includes it
const results = new Map<string, RunFigures[]>();
for (let r = 0; r < RUNS; r++) {
  for (const mode of MODES) {
    const figures = await run(mode);
    (results.get(mode) ?? results.set(mode, []).get(mode)!).push(figures);
    console.log(
      `  run ${r + 1} WARM_START=${mode}: ready in ${Math.round(figures.readyMs)} ms with ${figures.readyCpuSeconds.toFixed(2)} CPU-s; ` +
        `first ${SECONDS} s ${(figures.freshCpuPerMb * 1000).toFixed(1)} CPU-ms/MB, second ${(figures.warmCpuPerMb * 1000).toFixed(1)} CPU-ms/MB ` +
        `(first/second ${(figures.freshCpuPerMb / figures.warmCpuPerMb).toFixed(2)})`,
    );
  }
}
console.log(`medians of ${RUNS}:`);
for (const [mode, runs] of results) {
  const fresh = median(runs.map((f) => f.freshCpuPerMb));
  const warm = median(runs.map((f) => f.warmCpuPerMb));
  console.log(
    `  WARM_START=${mode}: ready ${Math.round(median(runs.map((f) => f.readyMs)))} ms, ${median(runs.map((f) => f.readyCpuSeconds)).toFixed(2)} CPU-s at ready; ` +
      `fresh ${(fresh * 1000).toFixed(1)} CPU-ms/MB, warmed ${(warm * 1000).toFixed(1)} CPU-ms/MB, fresh/warmed ${median(runs.map((f) => f.freshCpuPerMb / f.warmCpuPerMb)).toFixed(2)}`,
  );
}
const on = results.get('on');
const off = results.get('off');
if (on !== undefined && off !== undefined) {
  const extraCpu = median(on.map((f) => f.readyCpuSeconds)) - median(off.map((f) => f.readyCpuSeconds));
  const extraMs = median(on.map((f) => f.readyMs)) - median(off.map((f) => f.readyMs));
  console.log(`  start-up cost of the warm-up: +${Math.round(extraMs)} ms to ready, +${extraCpu.toFixed(2)} CPU-s (medians, on − off)`);
}
