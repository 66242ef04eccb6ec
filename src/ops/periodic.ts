import { performance } from 'node:perf_hooks';

/**
 * A thread's periodic work on one timer: each task runs on multiples of its period on the
 * wall clock, so tasks whose instants coincide (a 500 ms and a 1 s task every second) run in
 * one wake-up of the thread instead of one each.
 *
 * Why: the main thread had six timers of its own a second at one publisher (viewer counter and
 * loop-delay sampler at 500 ms, lifecycle and WebSocket metrics at 1 s), each a wake-up with its
 * own pass through Node's timer lists; perf put timer handling at a quarter of the main
 * thread's CPU. Timers never keep the process alive (all were unref'd).
 */
export interface PeriodicTask {
  cancel(): void;
}

interface Entry {
  readonly periodMs: number;
  readonly run: (lateMs: number) => void;
  dueAt: number;
  cancelled: boolean;
}

/** a task due within this much of a wake-up runs in it (timers may fire a millisecond early by the wall clock) */
const SLACK_MS = 2;

const entries = new Set<Entry>();
let timer: NodeJS.Timeout | null = null;
let timerAt = Infinity;

function clock(): number {
  return performance.timeOrigin + performance.now();
}

/** the first multiple of `periodMs` after `now` (epoch ms) */
function nextInstant(now: number, periodMs: number): number {
  return (Math.floor(now / periodMs) + 1) * periodMs;
}

/**
 * Runs `run` every `periodMs` on the wall-clock grid of that period, with how late this run is
 * (ms past its instant: the thread was busy). A task that throws does not stop the others; its
 * error is rethrown on its own, as a timer's would be.
 */
export function every(periodMs: number, run: (lateMs: number) => void): PeriodicTask {
  if (!(periodMs > 0)) throw new RangeError(`period must be positive, got ${periodMs}`);
  const entry: Entry = { periodMs, run, dueAt: nextInstant(clock(), periodMs), cancelled: false };
  entries.add(entry);
  schedule();
  return {
    cancel() {
      entry.cancelled = true;
      entries.delete(entry);
      schedule();
    },
  };
}

function schedule(): void {
  let next = Infinity;
  for (const entry of entries) if (entry.dueAt < next) next = entry.dueAt;
  if (next === timerAt) return;
  if (timer !== null) clearTimeout(timer);
  timer = null;
  timerAt = next;
  if (next === Infinity) return;
  timer = setTimeout(fire, Math.max(0, next - clock()));
  timer.unref();
}

function fire(): void {
  timer = null;
  timerAt = Infinity;
  const now = clock();
  const due: Entry[] = [];
  for (const entry of entries) if (entry.dueAt <= now + SLACK_MS) due.push(entry);
  for (const entry of due) {
    if (entry.cancelled) continue;
    const lateMs = Math.max(0, now - entry.dueAt);
    entry.dueAt = nextInstant(Math.max(now, entry.dueAt), entry.periodMs);
    try {
      entry.run(lateMs);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
  schedule();
}
