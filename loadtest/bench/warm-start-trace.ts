/**
 * What V8 compiles under a young server's first publishers (docs/operations.md, "A young
 * server"): a fresh nova as `npm start` runs it, with --trace-opt --trace-deopt, then one
 * synthetic 720p publisher for --seconds, then a second one. Per phase (start-up, the first
 * stream, the second), the optimizations V8 completed and the deoptimizations, by function,
 * and each thread's CPU over the two streams (the main thread is the process's pid).
 *
 *   flock /tmp/nova-bench.lock node --import tsx loadtest/bench/warm-start-trace.ts [--seconds 20] [--warm-start on] [--list first]
 */
import { parseArgs } from 'node:util';
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startNovaProcess } from '../peers/nova-process.js';
import { runPublisherProcess } from '../publisher/publish-process.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    bitrate: { type: 'string', default: '4000000' },
    'warm-start': { type: 'string', default: 'on' },
    list: { type: 'string', default: 'first' },
    raw: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
const SECONDS = numberFlag('seconds', flags.seconds);
const BITRATE = numberFlag('bitrate', flags.bitrate);
const LISTED = flags.list.split(',');
/** every trace line, prefixed with its phase, appended to this file */
const RAW = flags.raw;

type Phase = 'start-up' | 'idle' | 'first' | 'second';
interface PhaseTrace {
  optimized: Map<string, number>;
  deoptimized: Map<string, number>;
}
const phases = new Map<Phase, PhaseTrace>();
let phase: Phase = 'start-up';

const FUNCTION = /<JSFunction ([^ >]*)/;
function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
function take(line: string): void {
  let trace = phases.get(phase);
  if (trace === undefined) phases.set(phase, (trace = { optimized: new Map(), deoptimized: new Map() }));
  const name = FUNCTION.exec(line)?.[1] ?? '?';
  if (line.startsWith('[completed compiling') || line.startsWith('[completed optimizing')) count(trace.optimized, name || '(anonymous)');
  else if (line.startsWith('[bailout')) count(trace.deoptimized, `${name || '(anonymous)'} (${/reason: ([^)]*)\)/.exec(line)?.[1] ?? '?'})`);
  else if (line.includes('for deoptimization, reason:')) count(trace.deoptimized, `${name || '(anonymous)'} (${/reason: ([^\]\s]+)/.exec(line)?.[1] ?? '?'})`);
  if (RAW !== undefined && (flags.verbose || line.startsWith('[') || line.includes('deoptimiz'))) appendFileSync(RAW, `${phase} ${line}\n`);
}

const comms = new Map<string, string>();
function threadNs(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
      comms.set(tid, readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim());
    } catch {
      // ended meanwhile
    }
  }
  return threads;
}

const nova = await startNovaProcess({ env: { TRANSCODE: 'off', WARM_START: flags['warm-start'] }, nodeArgs: ['--trace-opt', flags.verbose ? '--trace-deopt-verbose' : '--trace-deopt'] });
phase = 'idle';
// lines written before ready went by in startNovaProcess's reader: start-up is counted from ready on only when traced
createInterface({ input: nova.process.stdout! }).on('line', take);
await new Promise((resolve) => setTimeout(resolve, 3000));
const cpu: Map<string, number>[] = [];
try {
  for (const name of ['first', 'second'] as const) {
    const stream = await nova.createStream(name);
    phase = name;
    const before = threadNs(nova.pid);
    const outcome = await runPublisherProcess(stream.publishUrl, BITRATE, SECONDS);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = threadNs(nova.pid);
    const delta = new Map<string, number>();
    for (const [tid, end] of after) delta.set(tid, (end - (before.get(tid) ?? 0)) / 1e6);
    cpu.push(delta);
    if (!outcome.ok) throw new Error(`publisher failed: ${outcome.error}`);
    phase = 'idle';
  }
} finally {
  await nova.stop();
}
for (const name of ['idle', 'first', 'second'] as const) {
  const trace = phases.get(name);
  const total = (map: Map<string, number> | undefined): number => [...(map?.values() ?? [])].reduce((a, b) => a + b, 0);
  console.log(`${name}: ${total(trace?.optimized)} optimizations completed, ${total(trace?.deoptimized)} deoptimizations`);
  if (LISTED.includes(name) && trace !== undefined) {
    console.log(`  optimized: ${[...trace.optimized].map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(', ')}`);
    console.log(`  deoptimized: ${[...trace.deoptimized].map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(', ')}`);
  }
}
const tids = [...new Set(cpu.flatMap((m) => [...m.keys()]))].sort((a, b) => Number(a) - Number(b));
console.log('thread CPU ms (first stream / second stream), main thread first:');
for (const tid of tids) {
  const first = cpu[0]?.get(tid) ?? 0;
  const second = cpu[1]?.get(tid) ?? 0;
  if (first + second < 5) continue;
  console.log(`  ${tid === String(nova.pid) ? 'main' : tid} ${comms.get(tid) ?? '?'}: ${first.toFixed(0)} / ${second.toFixed(0)}`);
}
