import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { Breakers } from '../../ops/breakers.js';
import { isDatabaseUnreachable } from './database-errors.js';

export interface DeferredWritesOptions {
  /** writes waiting for the database at once; past this a write fails at once (10,000) */
  maxQueued: number;
  /** first wait before a retry, doubled each time up to maxDelayMs (250) */
  initialDelayMs: number;
  maxDelayMs: number;
}

const DEFAULTS: DeferredWritesOptions = { maxQueued: 10_000, initialDelayMs: 250, maxDelayMs: 5000 };

/** the breaker every state write goes through: its state is nova_streaming_breaker_state{breaker="postgres"} */
export const POSTGRES_BREAKER = 'postgres';

/**
 * State writes that outlive a database outage: a write that fails because
 * PostgreSQL cannot be reached waits and is tried again, with backoff, until
 * the database is back; the caller's promise settles then. Writes of one
 * stream stay in their order because the lifecycle chains them (each waits
 * for the one before). The queue is bounded: past maxQueued, a write fails
 * at once and is counted as dropped. A write that fails for any other
 * reason (a constraint, a bug) fails at once: it would fail again.
 */
export class DeferredWrites {
  readonly #options: DeferredWritesOptions;
  readonly #log: Logger;
  readonly #breakers: Breakers | null;
  readonly #sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  #queued = 0;
  #closed = false;
  readonly #retries: Counter | null;
  readonly #dropped: Counter | null;

  constructor(log: Logger, registry: Registry | null = null, breakers: Breakers | null = null, options: Partial<DeferredWritesOptions> = {}) {
    this.#options = { ...DEFAULTS, ...options };
    this.#log = log;
    this.#breakers = breakers;
    const queued = (): number => this.#queued;
    if (registry !== null) {
      new Gauge({
        name: 'nova_streaming_db_writes_queued',
        help: 'State writes waiting for the database to be reachable again',
        registers: [registry],
        collect() {
          this.set(queued());
        },
      });
    }
    this.#retries = registry === null ? null : new Counter({ name: 'nova_streaming_db_write_retries_total', help: 'State writes tried again after the database could not be reached', registers: [registry] });
    this.#dropped = registry === null ? null : new Counter({ name: 'nova_streaming_db_writes_dropped_total', help: 'State writes given up: the queue was full or the server stopped', registers: [registry] });
  }

  get queued(): number {
    return this.#queued;
  }

  /** Runs `write`, again and again while the database cannot be reached; `what` names it in logs. */
  async run(what: string, write: () => Promise<void>): Promise<void> {
    let delayMs = this.#options.initialDelayMs;
    let queued = false;
    try {
      for (;;) {
        try {
          await (this.#breakers === null ? write() : this.#breakers.run(POSTGRES_BREAKER, write));
          if (queued) this.#log.info({ write: what }, 'queued state write landed');
          return;
        } catch (err) {
          if (!isDatabaseUnreachable(err)) throw err;
          if (this.#closed) {
            this.#dropped?.inc();
            throw err;
          }
          if (!queued) {
            if (this.#queued >= this.#options.maxQueued) {
              this.#dropped?.inc();
              this.#log.error({ write: what, queued: this.#queued }, 'database unreachable and the write queue is full: state write dropped');
              throw err;
            }
            queued = true;
            this.#queued++;
            this.#log.warn({ write: what, err: (err as Error).message }, 'database unreachable: state write queued until it is back');
          }
          this.#retries?.inc();
          await this.#sleep(delayMs * (0.75 + Math.random() * 0.5));
          delayMs = Math.min(delayMs * 2, this.#options.maxDelayMs);
        }
      }
    } finally {
      if (queued) this.#queued--;
    }
  }

  /** Stops waiting: queued writes make one last try at once, then fail. */
  close(): void {
    this.#closed = true;
    for (const sleeper of this.#sleeping) {
      clearTimeout(sleeper.timer);
      sleeper.wake();
    }
    this.#sleeping.clear();
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.#sleeping.delete(sleeper);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.#sleeping.add(sleeper);
    });
  }
}
