/**
 * What every benchmark measures the same way: a process's CPU time and
 * memory from /proc, and medians of repeated runs (machines are noisy).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU seconds a process has used so far, all its threads (utime + stime);
 * with `children`, also its children that it has waited for (cutime + cstime).
 */
export function cpuSeconds(pid: number, options: { children?: boolean } = {}): number {
  const { own, children } = processTicks(pid);
  return options.children ? own + children : own;
}

/** utime + stime and cutime + cstime of a process, seconds, from one read of /proc/<pid>/stat. */
function processTicks(pid: number): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(fields[11]) + Number(fields[12])) / CLK_TCK, children: (Number(fields[13]) + Number(fields[14])) / CLK_TCK };
}

/** A process's CPU so far, for cpuSecondsBetween: the tick-based total and each thread's run time in ns. */
export interface CpuReading {
  /** cpuSeconds(pid, { children: true }) */
  ticks: number;
  /** children's share of `ticks` (cutime + cstime), seconds */
  children: number;
  /** run time of each live thread, ns (/proc/<pid>/task/<tid>/schedstat) */
  threads: Map<string, number>;
}

export function cpuReading(pid: number): CpuReading {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended between readdir and read
    }
  }
  const { own, children } = processTicks(pid);
  return { ticks: own + children, children, threads };
}

/**
 * CPU seconds a process used between two readings, its waited-for children included.
 * /proc/<pid>/stat counts in clock ticks (10 ms): over a 10 s run of one publisher
 * (~0.1 s of CPU) that is ±10 %, so the threads' own run times (ns) are summed instead.
 * A thread that ended in between took its run time with it (one that started and ended in
 * between is in neither reading): then the tick figure, which kept it.
 */
export function cpuSecondsBetween(before: CpuReading, after: CpuReading): number {
  const ticks = after.ticks - before.ticks;
  let ns = 0;
  for (const [tid, start] of before.threads) {
    const end = after.threads.get(tid);
    if (end === undefined) return ticks;
    ns += end - start;
  }
  for (const [tid, end] of after.threads) if (!before.threads.has(tid)) ns += end;
  const precise = ns / 1e9 + (after.children - before.children);
  // each reading of the ticks is short by less than one: more than two apart, time went missing
  return ticks - precise > 2 / CLK_TCK ? ticks : precise;
}

export interface ThreadCpu {
  /** the thread's name (comm): Node and V8 leave theirs as the process's ('node'); the native ingress reader is 'nova-ingress' */
  name: string;
  /** utime + stime, seconds */
  seconds: number;
  /** minor page faults */
  faults: number;
  /** voluntary context switches: how often the thread went to sleep, so about how often it was woken */
  wakes: number;
}

/** CPU seconds, minor page faults and wake-ups of each thread of a process so far, by thread id. */
export function threadCpu(pid: number): Map<string, ThreadCpu> {
  const threads = new Map<string, ThreadCpu>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // fields[0] is field 3 (state): minflt 10, utime 14, stime 15
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      threads.set(tid, {
        name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        seconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
        faults: Number(fields[7]),
        wakes: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      });
    } catch {
      // the thread ended between readdir and read
    }
  }
  return threads;
}

/** The processes a process has started and not yet waited for (an nginx master's workers), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child !== '') pids.push(Number(child));
    } catch {
      // the thread ended between readdir and read
    }
  }
  return pids;
}

/** Resident memory of a process now, bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Median of the finite values (NaN when there are none); the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
