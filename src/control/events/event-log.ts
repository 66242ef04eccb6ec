import type { DurableEvent } from './durable-event.js';

/**
 * The event log the relay publishes the outbox to and consumers read from:
 * Redis Streams across instances (redis-event-log.ts), or an in-process copy
 * of their semantics when REDIS_URL is unset (memory-event-log.ts), so the
 * embedded default runs the same relay and consumers.
 *
 * One append-only stream per partition whose entries are numbered by the
 * events' seq; consumer groups with a pending list per group (read, then
 * acknowledged); a replay stream and a dead-letter stream per group.
 */

export interface AppendResult {
  /** how many of the given events the log now holds (appended now, or already there): always a prefix */
  stored: number;
  /** the partition's last seq after the call (0: empty) */
  top: number;
  /**
   * The next event's seq is beyond top + 1: the log lost entries the outbox
   * marked published (a Redis without persistence restarted) and the relay
   * must publish them again before going on.
   */
  gap: boolean;
}

export interface LogEntry {
  /** the partition it was read from; REPLAY_PARTITION for the group's replay stream */
  partition: number;
  /** the log's id of the entry (Redis stream id) */
  entryId: string;
  /** null when the entry is not a durable event (it goes to the dead letters) */
  event: DurableEvent | null;
  raw: string;
}

export const REPLAY_PARTITION = -1;

export interface DeadLetter {
  id: string;
  group: string;
  event: DurableEvent | null;
  raw: string;
  /** the last failure's message */
  error: string;
  attempts: number;
  /** when it was dead-lettered (ms) */
  at: number;
}

/**
 * Where a group starts. fresh: at the end, forgetting any earlier position
 * and pending entries (an instance's own group: a new process has no use for
 * what its predecessor left). resume: where it was, or at the end when it is
 * new (a group shared by instances). start: where it was, or at the very
 * start when it is new (a group the log lost along with its entries).
 */
export type GroupPosition = 'fresh' | 'resume' | 'start';

export interface EventLog {
  readonly kind: 'redis' | 'memory';
  readonly partitions: number;
  /**
   * Appends events of one partition in seq order. An event the log already
   * holds (seq ≤ top) is not added again; an empty partition takes any seq;
   * otherwise only top + 1 is taken, and the call stops at a gap.
   * `force` takes the next event whatever its seq (the events in between are gone for good).
   */
  append(partition: number, events: readonly DurableEvent[], force?: boolean): Promise<AppendResult>;
  /** the last seq of every partition, 0 for an empty one */
  tops(): Promise<number[]>;
  openGroup(group: string, position: GroupPosition): Promise<void>;
  /**
   * Up to `count` entries per partition for `consumer`: new ones (waiting up
   * to blockMs for some), or with `pending` the ones it was given before and
   * never acknowledged. Rejects with a NOGROUP-coded error when the group is gone.
   */
  read(group: string, consumer: string, count: number, blockMs: number, pending?: boolean): Promise<LogEntry[]>;
  /** takes over entries other consumers of the group hold unacknowledged for at least minIdleMs (a dead consumer's) */
  claim(group: string, consumer: string, minIdleMs: number, count: number): Promise<LogEntry[]>;
  ack(group: string, entries: readonly LogEntry[]): Promise<void>;
  /** moves an entry to the group's dead letters and acknowledges it, at once */
  deadLetter(group: string, entry: LogEntry, error: string, attempts: number): Promise<void>;
  /** the group's dead letters, oldest first, after `after` (an id from this list) */
  deadLetters(group: string, limit: number, after?: string): Promise<DeadLetter[]>;
  /** hands a dead letter back to its group (through the replay stream); false when there is none with that id */
  replay(group: string, id: string): Promise<boolean>;
  /**
   * Names `database` (its identity) as the log's writer unless another is named
   * already; returns the one named. A relay whose database is not it must not append.
   */
  claimOwner(database: string): Promise<string>;
  /** the groups that were ever opened on this log */
  groups(): Promise<string[]>;
  /** listens to the log coming back after an outage; returns the unsubscribe function */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}

/** The error a read raises when the group is gone (Redis restarted without its data). */
export class NoGroupError extends Error {
  constructor(group: string) {
    super(`NOGROUP no consumer group ${group}`);
    this.name = 'NoGroupError';
  }
}

export function isNoGroupError(err: unknown): boolean {
  return err instanceof NoGroupError || (err instanceof Error && err.message.startsWith('NOGROUP'));
}
