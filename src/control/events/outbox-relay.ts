import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { Breakers } from '../../ops/breakers.js';
import type { OutboxRepository, PendingEvent } from '../db/outbox-repository.js';
import type { DurableEvent } from './durable-event.js';
import type { EventLog } from './event-log.js';
import type { RelayLeadership } from './relay-leadership.js';
import { reconnectDelay } from './redis-bus.js';

export interface OutboxRelayOptions {
  outbox: OutboxRepository;
  log: EventLog;
  leadership: RelayLeadership;
  registry: Registry;
  logger: Logger;
  /** the "postgres" and "redis" breakers: an open one fails a round at once instead of waiting out a dead dependency */
  breakers?: Breakers | null;
  /** rows per round (OUTBOX_BATCH_SIZE, 500) */
  batchSize?: number;
  /** a round at least this often when nothing woke the relay (a NOTIFY lost while reconnecting; 1000 ms) */
  pollMs?: number;
  /** published rows older than this are deleted (OUTBOX_RETENTION_MINUTES) */
  retentionMs?: number;
  /** how often pruning runs (60 s) */
  pruneEveryMs?: number;
  /** backoff ceiling after failures (5000 ms) */
  maxRetryDelayMs?: number;
  now?: () => number;
}

/**
 * Publishes the outbox to the event log, in order, on the instance that
 * holds the lead (relay-leadership.ts): reads unpublished rows in id order,
 * appends each partition's events (the log refuses what it holds already and
 * anything out of order), and repeats until a round finds nothing; each
 * round's statement first marks published what the previous round put in
 * the log (a relay that dies in between leaves them unmarked: the next one
 * appends them again and the log drops them). A failure (Redis or the database away) is
 * retried with backoff; the rows wait in the outbox meanwhile.
 *
 * When the log lost entries (a Redis without persistence restarted: it holds
 * fewer than the outbox says were published) the relay marks the lost rows
 * unpublished and publishes them again, in order; consumers drop what they
 * had already seen by seq. It checks on taking the lead, whenever the log
 * reconnects, and whenever an append finds a gap.
 */
export class OutboxRelay {
  readonly #o: Required<Omit<OutboxRelayOptions, 'now' | 'breakers'>> & { now: () => number; breakers: Breakers | null };
  #wakeup: (() => void) | null = null;
  #woken = false;
  /** in a failure's backoff: commits do not cut it short (a flood of them would defeat it); reconnections do */
  #backingOff = false;
  #closed = false;
  #running: Promise<void> | null = null;
  #reconcile = true;
  #failures = 0;
  #lastPrune = 0;
  /** rows the log holds that are not marked published yet: the next round's statement marks them */
  #unmarked: number[] = [];
  readonly #unsubscribe: Array<() => void> = [];
  readonly #published: Counter;
  readonly #republished: Counter;
  readonly #failuresTotal: Counter;
  readonly #lost: Counter;
  /** counters for tests */
  readonly stats = { rounds: 0, published: 0, reconciles: 0 };

  constructor(options: OutboxRelayOptions) {
    this.#o = {
      batchSize: 500,
      pollMs: 1000,
      retentionMs: 3_600_000,
      pruneEveryMs: 60_000,
      maxRetryDelayMs: 5000,
      now: Date.now,
      breakers: null,
      ...options,
    };
    const registers = [options.registry];
    this.#published = new Counter({ name: 'nova_streaming_outbox_published_total', help: 'Outbox events the relay put in the event log', registers });
    this.#republished = new Counter({
      name: 'nova_streaming_outbox_republished_total',
      help: 'Outbox events published again because the event log had lost them (Redis restarted without its data)',
      registers,
    });
    this.#failuresTotal = new Counter({ name: 'nova_streaming_outbox_relay_failures_total', help: 'Relay rounds that failed (retried with backoff)', registers });
    this.#lost = new Counter({
      name: 'nova_streaming_outbox_lost_total',
      help: 'Events the event log lost after the outbox had pruned them: consumers see a gap',
      registers,
    });
    const leadership = options.leadership;
    const outbox = options.outbox;
    new Gauge({
      name: 'nova_streaming_outbox_relay_leader',
      help: '1 on the instance relaying the outbox, 0 elsewhere',
      registers,
      collect() {
        this.set(leadership.isLeader ? 1 : 0);
      },
    });
    // A scrape never waits on the database (a hung PostgreSQL must not hang /metrics): it reports
    // the count the previous scrape started reading, and starts the next read.
    let pending = 0;
    let reading = false;
    new Gauge({
      name: 'nova_streaming_outbox_pending',
      help: 'Outbox events not yet in the event log (on the relaying instance; read in the background, one scrape behind)',
      registers,
      collect() {
        if (!leadership.isLeader) return this.set(0);
        if (!reading) {
          reading = true;
          outbox
            .pendingCount()
            .then((count) => (pending = count))
            .catch(() => {})
            .finally(() => (reading = false));
        }
        this.set(pending);
      },
    });
    this.#unsubscribe.push(
      leadership.onChange((leader) => {
        if (leader) this.#reconcile = true;
        // another relay may have relayed (and marked) meanwhile; what is left unmarked is appended again and dropped by the log
        this.#unmarked = [];
        this.#wakeNow();
      }),
      leadership.onNotify(() => this.wake()),
      options.log.onReconnect(() => {
        this.#reconcile = true;
        this.#wakeNow();
      }),
    );
  }

  get isLeader(): boolean {
    return this.#o.leadership.isLeader;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** Something was committed: relay now rather than at the next poll. */
  wake(): void {
    this.#woken = true;
    if (!this.#backingOff) this.#wakeup?.();
  }

  #wakeNow(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Stops relaying after one last round (a clean shutdown's stream_ended events leave with it), bounded by `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    this.#wakeNow();
    await this.#running;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.relayAll().catch(() => 0),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  /**
   * One pass: relays rows until none is left (or a failure). Resolves with how many were published;
   * rejects with the failure. The loop calls it; tests may too.
   */
  async relayAll(): Promise<number> {
    if (!this.#o.leadership.isLeader) return 0;
    if (this.#reconcile) await this.#reconcileWithLog();
    let total = 0;
    for (;;) {
      const { rows, published } = await this.#round();
      total += published;
      if (rows === 0 && this.#unmarked.length === 0) return total;
      if (this.#closed && rows < this.#o.batchSize) {
        // closing: no round to mark them in after this one
        await this.#markUnmarked();
        return total;
      }
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let delay = this.#o.pollMs;
      try {
        await this.relayAll();
        if (this.#o.leadership.isLeader) await this.#prune();
        this.#failures = 0;
      } catch (err) {
        this.#failures++;
        this.#failuresTotal.inc();
        delay = reconnectDelay(this.#failures, this.#o.maxRetryDelayMs);
        this.#o.logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'outbox relay round failed; retrying');
      }
      await this.#sleep(delay, this.#failures > 0);
    }
  }

  /** Waits `ms`, or until woken (in a failure's backoff only by a reconnection or a change of lead). */
  async #sleep(ms: number, backoff: boolean): Promise<void> {
    if (this.#closed) return;
    if (!backoff && this.#woken) {
      this.#woken = false;
      return;
    }
    this.#backingOff = backoff;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeup = done;
    });
    this.#wakeup = null;
    this.#backingOff = false;
    this.#woken = false;
  }

  async #round(): Promise<{ rows: number; published: number }> {
    this.stats.rounds++;
    const mark = this.#unmarked;
    const pending = await this.#db(() => this.#o.outbox.pending(this.#o.batchSize, mark, new Date(this.#o.now())));
    if (this.#unmarked === mark) this.#unmarked = [];
    if (pending.length === 0) return { rows: 0, published: 0 };
    const byPartition = new Map<number, PendingEvent[]>();
    for (const row of pending) {
      let rows = byPartition.get(row.event.partition);
      if (!rows) byPartition.set(row.event.partition, (rows = []));
      rows.push(row);
    }
    const stored: number[] = [];
    await Promise.all(
      [...byPartition].map(async ([partition, rows]) => {
        const events: DurableEvent[] = rows.map((row) => row.event);
        let result = await this.#log(() => this.#o.log.append(partition, events));
        if (result.gap) {
          // the log holds less than it should: publish the lost rows again, first
          const again = await this.#o.outbox.republishAfter(partition, result.top);
          this.stats.reconciles++;
          if (again > 0) {
            this.#republished.inc(again);
            this.#o.logger.warn({ partition, top: result.top, rows: again }, 'event log lost events: publishing them again');
          } else {
            // gone from the outbox too (pruned): nothing to republish; go on past the gap
            this.#lost.inc(rows[result.stored]!.event.seq - result.top - 1);
            this.#o.logger.error({ partition, top: result.top, next: rows[result.stored]!.event.seq }, 'event log lost events the outbox no longer has: consumers see a gap');
            const rest = await this.#log(() => this.#o.log.append(partition, events.slice(result.stored), true));
            result = { ...rest, stored: result.stored + rest.stored };
          }
        }
        for (let i = 0; i < result.stored; i++) stored.push(rows[i]!.rowId);
      }),
    );
    // marked by the next round's statement (relayAll runs one until nothing is left to mark)
    this.#unmarked.push(...stored);
    this.stats.published += stored.length;
    this.#published.inc(stored.length);
    return { rows: pending.length, published: stored.length };
  }

  async #markUnmarked(): Promise<void> {
    const mark = this.#unmarked;
    if (mark.length === 0 || !this.#o.leadership.isLeader) return;
    await this.#db(() => this.#o.outbox.markPublished(mark, new Date(this.#o.now())));
    if (this.#unmarked === mark) this.#unmarked = [];
  }

  #db<R>(call: () => Promise<R>): Promise<R> {
    return this.#o.breakers ? this.#o.breakers.run('postgres', call) : call();
  }

  #log<R>(call: () => Promise<R>): Promise<R> {
    return this.#o.breakers && this.#o.log.kind === 'redis' ? this.#o.breakers.run('redis', call) : call();
  }

  /** Republishes what the log lost while this instance was not looking (see the class comment). */
  async #reconcileWithLog(): Promise<void> {
    // rows the log held before it reconnected may be gone from it: they are read and appended again
    this.#unmarked = [];
    const identity = await this.#db(() => this.#o.outbox.identity());
    const owner = await this.#log(() => this.#o.log.claimOwner(identity));
    if (owner !== identity) {
      // another database's outbox numbers its events on its own: appending ours would mistake them for its
      throw new Error(`the event log belongs to another database (${owner}, this is ${identity}): give each deployment its own REDIS_KEY_PREFIX`);
    }
    const [tops, published] = await Promise.all([this.#log(() => this.#o.log.tops()), this.#db(() => this.#o.outbox.publishedTops())]);
    for (const [partition, top] of published) {
      const held = tops[partition] ?? 0;
      if (held >= top) continue;
      const again = await this.#o.outbox.republishAfter(partition, held);
      if (again === 0) continue;
      this.stats.reconciles++;
      this.#republished.inc(again);
      this.#o.logger.warn({ partition, held, published: top, rows: again }, 'event log holds less than was published: publishing again');
    }
    this.#reconcile = false;
  }

  async #prune(): Promise<void> {
    const now = this.#o.now();
    if (now - this.#lastPrune < this.#o.pruneEveryMs) return;
    this.#lastPrune = now;
    const before = new Date(now - this.#o.retentionMs);
    let deleted = 0;
    for (let n = -1; n !== 0 && !this.#closed; ) {
      n = await this.#o.outbox.prunePublished(before, 10_000);
      deleted += n;
    }
    if (deleted > 0) this.#o.logger.info({ rows: deleted, before: before.toISOString() }, 'published outbox events past retention deleted');
  }
}
