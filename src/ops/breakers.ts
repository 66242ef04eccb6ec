import CircuitBreaker from 'opossum';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.js';

/** nova_streaming_breaker_state's values */
export const BREAKER_CLOSED = 0;
export const BREAKER_HALF_OPEN = 1;
export const BREAKER_OPEN = 2;

export interface BreakerOptions {
  /** failures (in percent of calls over the rolling window) that open it (50) */
  errorThresholdPercentage?: number;
  /** calls in the window before it may open at all (5) */
  volumeThreshold?: number;
  /** how long it stays open before letting one call through (5 s) */
  resetTimeoutMs?: number;
  /** a call slower than this counts as failed (false: the caller has its own timeout) */
  timeoutMs?: number | false;
}

/**
 * Circuit breakers (opossum) around what nova depends on: PostgreSQL, Redis,
 * each webhook target. An open breaker fails calls at once instead of letting
 * every caller wait out a dead dependency's timeout; after resetTimeoutMs one
 * call goes through (half-open) and its result closes or reopens it. Every
 * breaker's state is the gauge nova_streaming_breaker_state{breaker} (0
 * closed, 1 half-open, 2 open) and its openings a counter.
 */
export class Breakers {
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #opened: Counter<'breaker'>;
  readonly #log: Logger;

  constructor(registry: Registry, log: Logger) {
    this.#log = log;
    const breakers = this.#breakers;
    new Gauge({
      name: 'nova_streaming_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['breaker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [name, breaker] of breakers) this.set({ breaker: name }, stateOf(breaker));
      },
    });
    this.#opened = new Counter({ name: 'nova_streaming_breaker_opened_total', help: 'Times a circuit breaker opened', labelNames: ['breaker'], registers: [registry] });
  }

  /** The breaker named `name`, made on first use around `action`. */
  get<A extends unknown[], R>(name: string, action: (...args: A) => Promise<R>, options: BreakerOptions = {}): CircuitBreaker<A, R> {
    const existing = this.#breakers.get(name);
    if (existing) return existing as unknown as CircuitBreaker<A, R>;
    const breaker = new CircuitBreaker<A, R>(action, {
      name,
      timeout: options.timeoutMs ?? false,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      resetTimeout: options.resetTimeoutMs ?? 5000,
    });
    breaker.on('open', () => {
      this.#opened.inc({ breaker: name });
      this.#log.warn({ breaker: name }, 'circuit breaker opened: calls fail at once until it half-opens');
    });
    breaker.on('close', () => this.#log.info({ breaker: name }, 'circuit breaker closed'));
    this.#breakers.set(name, breaker as unknown as CircuitBreaker);
    return breaker;
  }

  /** Runs `call` through the breaker `name` (shared by every caller of that dependency). */
  run<R>(name: string, call: () => Promise<R>, options: BreakerOptions = {}): Promise<R> {
    return this.get(name, (thunk: () => Promise<unknown>) => thunk(), options).fire(call) as Promise<R>;
  }

  /** 0 closed, 1 half-open, 2 open; closed for one never made. */
  state(name: string): number {
    const breaker = this.#breakers.get(name);
    return breaker ? stateOf(breaker) : BREAKER_CLOSED;
  }

  /** Forgets a breaker (a webhook deleted). */
  remove(name: string): void {
    const breaker = this.#breakers.get(name);
    if (!breaker) return;
    breaker.shutdown();
    this.#breakers.delete(name);
  }

  close(): void {
    for (const breaker of this.#breakers.values()) breaker.shutdown();
    this.#breakers.clear();
  }
}

function stateOf(breaker: CircuitBreaker): number {
  if (breaker.opened) return BREAKER_OPEN;
  if (breaker.halfOpen) return BREAKER_HALF_OPEN;
  return BREAKER_CLOSED;
}
