/**
 * Where ingest CPU goes, thread by thread: one nova process (as `npm start` runs it,
 * TRANSCODE=off, PGlite in a fresh data directory) under N synthetic publishers (6 Mb/s,
 * each its own process) for a fixed time; prints, per run, CPU-seconds per
 * GB (nominal bytes: N × 6 Mb/s × seconds) split into the main thread and
 * the rest (pool workers, V8 helper threads) with each thread's wake-ups a second,
 * the minor page faults, and the mean segment generation time (bytes that complete
 * a segment to the segment listed: what the ingest path's wake-ups cost in latency).
 * A warm-up run comes first and is not counted; the median is printed.
 *
 * Made for A/B between two checkouts on a noisy machine: run it in both,
 * alternating, and compare medians (`git worktree add /tmp/base <ref>`):
 *
 *   node --import tsx loadtest/bench/ingest-threads.ts [N=4] [seconds=10] [runs=3]
 *
 * NOVA_ENV='{"DATABASE_URL":"postgres://…"}' adds server environment;
 * NOVA_NODE_ARGS='--max-semi-space-size=16' adds Node/V8 flags.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startNovaProcess } from '../peers/nova-process.js';
import { median, threadCpu } from './lib/measure.js';
import { runPublisherProcess } from '../publisher/publish-process.js';

const N = Number(process.argv[2] ?? 4);
const SECONDS = Number(process.argv[3] ?? 10);
const RUNS = Number(process.argv[4] ?? 3);
const BITRATE = 6_000_000;


const nova = await startNovaProcess({
  nodeArgs: process.env.NOVA_NODE_ARGS?.split(' ').filter(Boolean),
  env: { TRANSCODE: 'off', ...(process.env.NOVA_ENV ? (JSON.parse(process.env.NOVA_ENV) as Record<string, string>) : {}) } });
const perGb: number[] = [];
try {
  for (let run = 0; run <= RUNS; run++) {
    const seconds = run === 0 ? 3 : SECONDS;
    const urls: string[] = [];
    for (let i = 0; i < N; i++) urls.push((await nova.createStream(`threads ${run}-${i}`)).publishUrl);
    await sleep(300);
    const before = threadCpu(nova.pid);
    const generationBefore = await segmentGeneration(nova.http);
    await Promise.all(urls.map((url) => runPublisherProcess(url, BITRATE, seconds)));
    await sleep(700); // the last bytes are parsed and packaged
    const after = threadCpu(nova.pid);
    const generationAfter = await segmentGeneration(nova.http);
    if (run === 0) continue;
    let total = 0;
    let main = 0;
    let mainWakes = 0;
    let faults = 0;
    let wakes = 0;
    const byThread = new Map<string, { seconds: number; wakes: number }>();
    for (const [tid, now] of after) {
      const was = before.get(tid) ?? { name: now.name, seconds: 0, faults: 0, wakes: 0 };
      total += now.seconds - was.seconds;
      faults += now.faults - was.faults;
      wakes += now.wakes - was.wakes;
      if (tid === String(nova.pid)) {
        main = now.seconds - was.seconds;
        mainWakes = now.wakes - was.wakes;
      } else {
        byThread.set(`${now.name}/${tid}`, { seconds: now.seconds - was.seconds, wakes: now.wakes - was.wakes });
      }
    }
    const gb = (N * BITRATE * SECONDS) / 8 / 1e9;
    perGb.push(total / gb);
    const perSecond = (count: number): string => (count / SECONDS).toFixed(0);
    const others = [...byThread]
      .filter(([, t]) => t.seconds > 0)
      .sort((a, b) => b[1].seconds - a[1].seconds)
      .map(([tid, t]) => `${tid} ${(t.seconds / gb).toFixed(1)} (${perSecond(t.wakes)}/s)`)
      .join(', ');
    const generationMs = ((generationAfter.sum - generationBefore.sum) / (generationAfter.count - generationBefore.count)) * 1000;
    console.log(
      `run ${run}: ${(total / gb).toFixed(1)} CPU-s/GB, ${perSecond(wakes)} wake-ups/s (main thread ${(main / gb).toFixed(1)} (${perSecond(mainWakes)}/s); ${others}), ` +
        `${faults} page faults, segment generation mean ${generationMs.toFixed(0)} ms`,
    );
  }
} finally {
  await nova.stop();
}
/** nova_streaming_hls_segment_generation_seconds summed over its tracks */
async function segmentGeneration(http: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const total = (series: string): number =>
    [...text.matchAll(new RegExp(`^nova_streaming_hls_segment_generation_seconds_${series}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
  return { sum: total('sum'), count: total('count') };
}

console.log(`N=${N}, ${SECONDS} s: median ${median(perGb).toFixed(1)} CPU-s/GB over ${RUNS} runs`);
