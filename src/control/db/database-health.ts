import type { Breakers } from '../../ops/breakers.js';
import type { Database } from './database.js';

export interface DatabaseHealthOptions {
  /** how often it pings (2000 ms) */
  intervalMs?: number;
  /** a ping slower than this counts as failed (2000 ms): /ready answers within it */
  timeoutMs?: number;
}

/**
 * Whether the database answers, known without asking it: a ping every
 * intervalMs through the "postgres" breaker, whose last result /health
 * reports at once (liveness must never wait on the database: a slow or dead
 * database would otherwise get healthy pods restarted). /ready asks afresh,
 * bounded by timeoutMs.
 */
export class DatabaseHealth {
  #ok = true;
  #detail = 'not checked yet';
  #checkedAt = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #timeoutMs: number;

  constructor(
    private readonly database: Database,
    private readonly breakers: Breakers,
    options: DatabaseHealthOptions = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#timer = setInterval(() => void this.check(), options.intervalMs ?? 2000);
    this.#timer.unref();
    void this.check();
  }

  /** The last ping's result, at once. */
  get status(): { ok: boolean; detail: string; checkedAt: number } {
    return { ok: this.#ok, detail: this.#detail, checkedAt: this.#checkedAt };
  }

  /** Pings now (through the breaker, within the timeout); resolves true when it answered. */
  async check(): Promise<boolean> {
    try {
      await this.breakers.run('postgres', () => withTimeout(this.database.ping(), this.#timeoutMs));
      this.#ok = true;
      this.#detail = this.database.kind;
    } catch (err) {
      this.#ok = false;
      this.#detail = `${this.database.kind}: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.#checkedAt = Date.now();
    return this.#ok;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
