import { decodeDurableEvent, encodeDurableEvent, type DurableEvent } from './durable-event.js';
import {
  NoGroupError,
  REPLAY_PARTITION,
  type AppendResult,
  type DeadLetter,
  type EventLog,
  type GroupPosition,
  type LogEntry,
} from './event-log.js';

/**
 * The event log in this process, for the embedded default (no REDIS_URL):
 * the semantics of redis-event-log.ts (seq-numbered partitions, groups with
 * pending lists, replay and dead-letter streams) over arrays, so the relay,
 * consumers, dead letters and their API behave the same with one instance.
 * Bounded like Redis' MAXLEN: each partition keeps its last maxLength entries.
 */

interface Stored {
  id: number;
  raw: string;
}

/** One stream: entries in id order; ids strictly increase. */
class Stream {
  entries: Stored[] = [];
  lastId = 0;

  add(id: number, raw: string, maxLength: number): void {
    this.entries.push({ id, raw });
    this.lastId = id;
    if (this.entries.length > maxLength * 2) this.entries = this.entries.slice(this.entries.length - maxLength);
  }

  /** entries with id > after, at most count */
  after(after: number, count: number): Stored[] {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.id <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo, lo + count);
  }

  get(id: number): Stored | undefined {
    return this.after(id - 1, 1).find((entry) => entry.id === id);
  }
}

interface Pending {
  consumer: string;
  deliveredAt: number;
  partition: number;
  id: number;
  raw: string;
}

interface Group {
  /** last id handed out, per partition; the replay stream's last */
  cursors: number[];
  replayCursor: number;
  /** `${partition}:${id}` → pending entry, in delivery order */
  pending: Map<string, Pending>;
  replay: Stream;
  dead: Array<DeadLetter & { seqId: number }>;
  deadNextId: number;
}

export interface MemoryEventLogOptions {
  partitions: number;
  /** entries kept per partition (EVENT_STREAM_MAXLEN) */
  maxLength?: number;
  /** dead letters kept per group */
  maxDeadLetters?: number;
  now?: () => number;
}

export class MemoryEventLog implements EventLog {
  readonly kind = 'memory';
  readonly partitions: number;
  readonly #streams: Stream[];
  readonly #groups = new Map<string, Group>();
  readonly #maxLength: number;
  readonly #maxDeadLetters: number;
  readonly #now: () => number;
  /** readers blocked in read(), woken by any append or replay */
  readonly #waiters = new Set<() => void>();
  #closed = false;
  #owner: string | null = null;

  constructor(options: MemoryEventLogOptions) {
    this.partitions = options.partitions;
    this.#streams = Array.from({ length: options.partitions }, () => new Stream());
    this.#maxLength = options.maxLength ?? 100_000;
    this.#maxDeadLetters = options.maxDeadLetters ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async append(partition: number, events: readonly DurableEvent[], force = false): Promise<AppendResult> {
    const stream = this.#stream(partition);
    let top = stream.lastId;
    let stored = 0;
    let forced = force;
    for (const event of events) {
      if (top > 0 && event.seq <= top) {
        stored++;
        continue;
      }
      if (top > 0 && event.seq !== top + 1 && !forced) return { stored, top, gap: true };
      forced = false;
      stream.add(event.seq, encodeDurableEvent(event), this.#maxLength);
      top = event.seq;
      stored++;
    }
    if (stored > 0) this.#wake();
    return { stored, top, gap: false };
  }

  async tops(): Promise<number[]> {
    return this.#streams.map((stream) => stream.lastId);
  }

  async openGroup(name: string, position: GroupPosition): Promise<void> {
    const existing = this.#groups.get(name);
    if (existing && position !== 'fresh') return;
    const atEnd = position !== 'start';
    this.#groups.set(name, {
      cursors: this.#streams.map((stream) => (atEnd ? stream.lastId : 0)),
      replayCursor: existing && atEnd ? existing.replay.lastId : 0,
      pending: new Map(),
      replay: existing?.replay ?? new Stream(),
      dead: existing?.dead ?? [],
      deadNextId: existing?.deadNextId ?? 1,
    });
  }

  async read(name: string, consumer: string, count: number, blockMs: number, pending = false): Promise<LogEntry[]> {
    const group = this.#group(name);
    if (pending) {
      const mine: LogEntry[] = [];
      for (const entry of group.pending.values()) {
        if (entry.consumer === consumer) mine.push(toEntry(entry.partition, entry.id, entry.raw));
      }
      return mine;
    }
    let entries = this.#take(group, consumer, count);
    if (entries.length === 0 && blockMs > 0 && !this.#closed) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, blockMs);
        this.#waiters.add(done);
      });
      entries = this.#take(this.#group(name), consumer, count);
    }
    return entries;
  }

  async claim(name: string, consumer: string, minIdleMs: number, count: number): Promise<LogEntry[]> {
    const group = this.#group(name);
    const now = this.#now();
    const claimed: LogEntry[] = [];
    for (const entry of group.pending.values()) {
      if (claimed.length >= count) break;
      if (entry.consumer === consumer || now - entry.deliveredAt < minIdleMs) continue;
      entry.consumer = consumer;
      entry.deliveredAt = now;
      claimed.push(toEntry(entry.partition, entry.id, entry.raw));
    }
    return claimed;
  }

  async ack(name: string, entries: readonly LogEntry[]): Promise<void> {
    const group = this.#groups.get(name);
    if (!group) return;
    for (const entry of entries) group.pending.delete(`${entry.partition}:${entry.entryId}`);
  }

  async deadLetter(name: string, entry: LogEntry, error: string, attempts: number): Promise<void> {
    const group = this.#group(name);
    const id = group.deadNextId++;
    group.dead.push({ seqId: id, id: String(id), group: name, event: entry.event, raw: entry.raw, error, attempts, at: this.#now() });
    if (group.dead.length > this.#maxDeadLetters) group.dead.shift();
    group.pending.delete(`${entry.partition}:${entry.entryId}`);
  }

  async deadLetters(name: string, limit: number, after?: string): Promise<DeadLetter[]> {
    const group = this.#groups.get(name);
    if (!group) return [];
    const from = after === undefined ? 0 : Number(after);
    return group.dead.filter((dead) => dead.seqId > from).slice(0, limit).map(({ seqId: _id, ...dead }) => dead);
  }

  async replay(name: string, id: string): Promise<boolean> {
    const group = this.#groups.get(name);
    if (!group) return false;
    const index = group.dead.findIndex((dead) => dead.id === id);
    if (index < 0) return false;
    const [dead] = group.dead.splice(index, 1);
    group.replay.add(group.replay.lastId + 1, dead!.raw, this.#maxDeadLetters);
    this.#wake();
    return true;
  }

  async groups(): Promise<string[]> {
    return [...this.#groups.keys()];
  }

  async claimOwner(database: string): Promise<string> {
    this.#owner ??= database;
    return this.#owner;
  }

  /** Nothing to reconnect to in one process. */
  onReconnect(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
  }

  #stream(partition: number): Stream {
    const stream = this.#streams[partition];
    if (!stream) throw new RangeError(`partition ${partition} outside 0..${this.partitions - 1}`);
    return stream;
  }

  #group(name: string): Group {
    const group = this.#groups.get(name);
    if (!group) throw new NoGroupError(name);
    return group;
  }

  #take(group: Group, consumer: string, count: number): LogEntry[] {
    const taken: LogEntry[] = [];
    const now = this.#now();
    const hand = (partition: number, stored: Stored): void => {
      group.pending.set(`${partition}:${stored.id}`, { consumer, deliveredAt: now, partition, id: stored.id, raw: stored.raw });
      taken.push(toEntry(partition, stored.id, stored.raw));
    };
    this.#streams.forEach((stream, partition) => {
      const fresh = stream.after(group.cursors[partition]!, count);
      for (const stored of fresh) hand(partition, stored);
      if (fresh.length > 0) group.cursors[partition] = fresh[fresh.length - 1]!.id;
    });
    const replayed = group.replay.after(group.replayCursor, count);
    for (const stored of replayed) hand(REPLAY_PARTITION, stored);
    if (replayed.length > 0) group.replayCursor = replayed[replayed.length - 1]!.id;
    return taken;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

function toEntry(partition: number, id: number, raw: string): LogEntry {
  return { partition, entryId: String(id), event: decodeDurableEvent(raw), raw };
}
