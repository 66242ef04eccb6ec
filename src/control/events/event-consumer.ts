import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { DurableEvent } from './durable-event.js';
import { REPLAY_PARTITION, isNoGroupError, type EventLog, type GroupPosition, type LogEntry } from './event-log.js';
import { reconnectDelay } from './redis-bus.js';

/** The consumer metrics, created once per registry and labelled by group. */
export interface ConsumerMetrics {
  handled: Counter<'group'>;
  duplicates: Counter<'group'>;
  failures: Counter<'group'>;
  deadLettered: Counter<'group'>;
  gaps: Counter<'group'>;
  latency: Histogram<'group'>;
}

const metricsByRegistry = new WeakMap<Registry, ConsumerMetrics>();

export function consumerMetrics(registry: Registry): ConsumerMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      handled: new Counter({ name: 'nova_streaming_events_handled_total', help: 'Durable events a consumer handled', labelNames: ['group'], registers }),
      duplicates: new Counter({
        name: 'nova_streaming_event_duplicates_total',
        help: 'Durable events a consumer received again and dropped (by seq or event id)',
        labelNames: ['group'],
        registers,
      }),
      failures: new Counter({ name: 'nova_streaming_event_handler_failures_total', help: 'Attempts of a handler that threw', labelNames: ['group'], registers }),
      deadLettered: new Counter({
        name: 'nova_streaming_dlq_messages_total',
        help: 'Events moved to a dead-letter stream after failing every attempt (or not being events)',
        labelNames: ['group'],
        registers,
      }),
      gaps: new Counter({
        name: 'nova_streaming_event_gaps_total',
        help: 'Events a consumer found missing in a partition (seq jumped): lost beyond the outbox retention',
        labelNames: ['group'],
        registers,
      }),
      latency: new Histogram({
        name: 'nova_streaming_event_delivery_seconds',
        help: 'From the commit of an event to its handler finishing',
        labelNames: ['group'],
        buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

export interface EventConsumerOptions {
  log: EventLog;
  /** the consumer group: one per purpose; an instance's own group is named after the instance */
  group: string;
  /** this consumer within the group (the instance id) */
  consumer: string;
  /** fresh for an instance's own group (see GroupPosition); resume for one shared by instances */
  position: GroupPosition;
  /** handles one event; a throw is retried, then dead-lettered */
  handle(event: DurableEvent): Promise<void> | void;
  registry: Registry;
  logger: Logger;
  /** attempts before an event goes to the dead letters (EVENT_MAX_ATTEMPTS, 5) */
  maxAttempts?: number;
  /** first retry's delay, doubling (100 ms, at most 2 s) */
  retryDelayMs?: number;
  /** shared groups: take over entries another consumer held unacknowledged this long (it died; 30 s) */
  claimIdleMs?: number;
  /** entries per partition per read (100) */
  batch?: number;
  /** how long a read waits for new entries (1000 ms) */
  blockMs?: number;
  now?: () => number;
}

/** event ids remembered to drop redeliveries of replayed events */
const SEEN_IDS = 50_000;

/**
 * Reads a consumer group and hands each event to `handle`, once, in order
 * within each partition (so within each stream).
 *
 * - Order: a partition's entries are handled one after another; different
 *   partitions concurrently. A failing handler is retried in place (the
 *   partition waits) up to maxAttempts, then the entry goes to the group's
 *   dead letters and the partition moves on.
 * - Idempotence: the last seq handled per partition drops anything at or
 *   below it (the relay publishing again what Redis lost, a redelivery after
 *   a reconnect); the ids of the last SEEN_IDS events drop replays handed
 *   back twice. A fresh group starts with the log's current tops, so it never
 *   takes an older event for a new one.
 * - Recovery: after any failure it first re-reads its own pending entries
 *   (given, never acknowledged); a group Redis lost is opened again from the
 *   start; shared groups periodically claim what dead consumers held.
 */
export class EventConsumer {
  readonly #o: Required<Omit<EventConsumerOptions, 'claimIdleMs'>> & { claimIdleMs: number | null };
  readonly #metrics: ConsumerMetrics;
  readonly #watermarks = new Map<number, number>();
  readonly #seen = new Set<string>();
  #running: Promise<void> | null = null;
  #closed = false;
  #pendingFirst = true;
  #lastClaim = 0;
  #failures = 0;
  readonly #started: Promise<void>;
  #markStarted!: () => void;
  /** counters for tests */
  readonly stats = { handled: 0, duplicates: 0, deadLettered: 0, gaps: 0 };

  constructor(options: EventConsumerOptions) {
    this.#o = {
      maxAttempts: 5,
      retryDelayMs: 100,
      batch: 100,
      blockMs: 1000,
      now: Date.now,
      ...options,
      claimIdleMs: options.position === 'resume' ? (options.claimIdleMs ?? 30_000) : null,
    };
    this.#metrics = consumerMetrics(options.registry);
    this.#started = new Promise((resolve) => (this.#markStarted = resolve));
  }

  get group(): string {
    return this.#o.group;
  }

  /** Opens the group and starts reading; resolves once the group is open (its position fixed). */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#started;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#markStarted();
    await this.#running;
  }

  async #open(position: GroupPosition): Promise<void> {
    if (position === 'fresh') {
      // what the log holds now is history to this consumer
      const tops = await this.#o.log.tops();
      tops.forEach((top, partition) => {
        if (top > 0) this.#watermarks.set(partition, top);
      });
    }
    await this.#o.log.openGroup(this.#o.group, position);
  }

  async #run(): Promise<void> {
    let opened = false;
    while (!this.#closed) {
      try {
        if (!opened) {
          await this.#open(this.#o.position);
          opened = true;
          this.#markStarted();
        }
        await this.#step();
        this.#failures = 0;
      } catch (err) {
        if (this.#closed) break;
        if (isNoGroupError(err) && opened) {
          // Redis came back without our group (and without the entries): take whatever it holds now from the start
          this.#o.logger.warn({ group: this.#o.group }, 'consumer group gone from the event log: opening it again from the start');
          const reopened = await this.#o.log.openGroup(this.#o.group, 'start').then(() => true, () => false);
          if (reopened) continue;
        }
        this.#failures++;
        this.#pendingFirst = true;
        const delay = reconnectDelay(this.#failures, 2000);
        this.#o.logger.debug({ err: err instanceof Error ? err.message : String(err), group: this.#o.group, retryInMs: delay }, 'event consumer read failed');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async #step(): Promise<void> {
    const log = this.#o.log;
    let entries: LogEntry[];
    if (this.#pendingFirst) {
      entries = await log.read(this.#o.group, this.#o.consumer, this.#o.batch, 0, true);
      if (entries.length === 0) this.#pendingFirst = false;
    } else if (this.#o.claimIdleMs !== null && this.#o.now() - this.#lastClaim >= Math.min(this.#o.claimIdleMs, 5000)) {
      this.#lastClaim = this.#o.now();
      entries = await log.claim(this.#o.group, this.#o.consumer, this.#o.claimIdleMs, this.#o.batch);
    } else {
      entries = await log.read(this.#o.group, this.#o.consumer, this.#o.batch, this.#o.blockMs);
    }
    if (entries.length === 0) return;
    const byPartition = new Map<number, LogEntry[]>();
    for (const entry of entries) {
      let list = byPartition.get(entry.partition);
      if (!list) byPartition.set(entry.partition, (list = []));
      list.push(entry);
    }
    await Promise.all([...byPartition.values()].map((list) => this.#handlePartition(list)));
  }

  async #handlePartition(entries: LogEntry[]): Promise<void> {
    const done: LogEntry[] = [];
    try {
      for (const entry of entries) {
        if (this.#closed) break;
        await this.#handleEntry(entry);
        done.push(entry);
      }
    } finally {
      if (done.length > 0) await this.#o.log.ack(this.#o.group, done);
    }
  }

  async #handleEntry(entry: LogEntry): Promise<void> {
    const { group } = this.#o;
    const event = entry.event;
    if (event === null) {
      await this.#deadLetter(entry, 'not a durable event', 0);
      return;
    }
    const replayed = entry.partition === REPLAY_PARTITION;
    const watermark = this.#watermarks.get(event.partition);
    if (this.#seen.has(event.id) || (!replayed && watermark !== undefined && event.seq <= watermark)) {
      this.stats.duplicates++;
      this.#metrics.duplicates.inc({ group });
      return;
    }
    if (!replayed && watermark !== undefined && event.seq > watermark + 1) {
      this.stats.gaps++;
      this.#metrics.gaps.inc({ group }, event.seq - watermark - 1);
      this.#o.logger.warn({ group, partition: event.partition, after: watermark, seq: event.seq }, 'events missing before this one');
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#o.handle(event);
        break;
      } catch (err) {
        this.#metrics.failures.inc({ group });
        const message = err instanceof Error ? err.message : String(err);
        if (attempt >= this.#o.maxAttempts || this.#closed) {
          if (this.#closed && attempt < this.#o.maxAttempts) throw err;
          this.#o.logger.error({ group, event: event.id, type: event.type, stream: event.streamId, attempts: attempt, err: message }, 'event failed every attempt: dead-lettered');
          await this.#deadLetter(entry, message, attempt);
          this.#advance(event, replayed);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.#o.retryDelayMs * 2 ** (attempt - 1), 2000)));
      }
    }
    this.#advance(event, replayed);
    this.stats.handled++;
    this.#metrics.handled.inc({ group });
    this.#metrics.latency.observe({ group }, Math.max(0, this.#o.now() - event.createdAt) / 1000);
    this.#remember(event.id);
  }

  #advance(event: DurableEvent, replayed: boolean): void {
    if (!replayed) this.#watermarks.set(event.partition, event.seq);
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
  }

  async #deadLetter(entry: LogEntry, error: string, attempts: number): Promise<void> {
    await this.#o.log.deadLetter(this.#o.group, entry, error, attempts);
    this.stats.deadLettered++;
    this.#metrics.deadLettered.inc({ group: this.#o.group });
  }
}
