import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log.js';

export interface LogRateLimiterOptions {
  /** lines of one kind written per window; the rest are counted (default 20) */
  linesPerWindow?: number;
  /** default 10 s */
  windowMs?: number;
  now?: () => number;
}

interface KindState {
  windowStart: number;
  written: number;
  suppressed: number;
  flushTimer: NodeJS.Timeout | null;
}

/** distinct kinds tracked; past it every new kind shares one budget (kinds come from code, so this is a guard) */
const MAX_KINDS = 256;
const OVERFLOW_KIND = '(other)';

/**
 * Caps lines of one kind per window, for events a peer can trigger at will
 * (a client sending garbage, a scanner on the RTMP port): every one of them
 * is still counted in its metric, and the first lines of each window still
 * carry their details, but a flood of connections cannot turn into a flood
 * of log lines filling an operator's disk and burying everything else. The
 * lines left out are reported once the window ends: `{ kind, suppressed,
 * windowMs }` "similar log lines suppressed", and counted in
 * `nova_streaming_log_lines_suppressed_total{kind}`.
 *
 *   if (limiter.allow(`closed:${code}`)) log.warn({ code, reason }, 'rtmp connection closed on error');
 */
export class LogRateLimiter {
  private readonly kinds = new Map<string, KindState>();
  private readonly linesPerWindow: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly suppressedTotal: Counter<'kind'>;

  constructor(
    private readonly log: Logger,
    registry: Registry,
    options: LogRateLimiterOptions = {},
  ) {
    this.linesPerWindow = options.linesPerWindow ?? 20;
    this.windowMs = options.windowMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.suppressedTotal = new Counter({
      name: 'nova_streaming_log_lines_suppressed_total',
      help: 'Log lines left out by the per-kind rate limit (the events themselves are counted in their own metrics)',
      labelNames: ['kind'],
      registers: [registry],
    });
  }

  /** Whether a line of this kind may be written now; a refused one is counted and summed up when its window ends. */
  allow(kind: string): boolean {
    const key = this.kinds.has(kind) || this.kinds.size < MAX_KINDS ? kind : OVERFLOW_KIND;
    const now = this.now();
    let state = this.kinds.get(key);
    if (state === undefined) {
      state = { windowStart: now, written: 0, suppressed: 0, flushTimer: null };
      this.kinds.set(key, state);
    } else if (now - state.windowStart >= this.windowMs) {
      this.report(key, state);
      state.windowStart = now;
      state.written = 0;
    }
    if (state.written < this.linesPerWindow) {
      state.written++;
      return true;
    }
    state.suppressed++;
    this.suppressedTotal.inc({ kind: key });
    if (state.flushTimer === null) {
      const flushIn = Math.max(0, state.windowStart + this.windowMs - now);
      state.flushTimer = setTimeout(() => this.flush(key), flushIn);
      state.flushTimer.unref();
    }
    return false;
  }

  /** Writes what is still unreported (shutdown) and stops the timers. */
  close(): void {
    for (const [kind, state] of this.kinds) this.report(kind, state);
    this.kinds.clear();
  }

  private flush(kind: string): void {
    const state = this.kinds.get(kind);
    if (state === undefined) return;
    state.flushTimer = null;
    this.report(kind, state);
    // a quiet kind is forgotten: the map holds only kinds seen in the last window
    this.kinds.delete(kind);
  }

  private report(kind: string, state: KindState): void {
    if (state.flushTimer !== null) {
      clearTimeout(state.flushTimer);
      state.flushTimer = null;
    }
    if (state.suppressed === 0) return;
    this.log.warn({ kind, suppressed: state.suppressed, windowMs: this.windowMs }, 'similar log lines suppressed');
    state.suppressed = 0;
  }
}
