import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../../log.js';
import { decodeDurableEvent, encodeDurableEvent, type DurableEvent } from './durable-event.js';
import { REPLAY_PARTITION, type AppendResult, type DeadLetter, type EventLog, type GroupPosition, type LogEntry } from './event-log.js';
import { reconnectDelay } from './redis-bus.js';

/**
 * The event log on Redis Streams. Keys under `prefix`:
 *   <prefix>:p:<n>             partition n; entry id 0-<seq>, field e = the event's JSON
 *   <prefix>:replay:<group>    dead letters handed back to the group (ids from Redis' clock)
 *   <prefix>:dlq:<group>       the group's dead letters (fields e, err, attempts, src, srcid)
 *   <prefix>:groups            the names of the groups ever opened (a set)
 *   <prefix>:owner             the identity of the database whose outbox this log carries
 *
 * Numbering entries by seq makes the append idempotent and ordered in Redis
 * itself (a Lua script checks the top): a relay that died after XADD and
 * before marking its rows published, or two relays for a moment, cannot add
 * an event twice or out of order. Reads block on a connection of their own
 * per consumer; everything else shares one connection, which fails fast while
 * Redis is away (the outbox holds the events meanwhile).
 */

const APPEND_SCRIPT = `
local top = 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then top = tonumber(string.match(last[1][1], '%-(%d+)$')) end
local stored = 0
local force = ARGV[2] == '1'
for i = 3, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if top > 0 and seq <= top then
    stored = stored + 1
  else
    if top > 0 and seq ~= top + 1 and not force then return {stored, top, 1} end
    force = false
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. ARGV[i], 'e', ARGV[i + 1])
    top = seq
    stored = stored + 1
  end
end
return {stored, top, 0}
`;

const REPLAY_SCRIPT = `
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local fields = found[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'e' then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', fields[i + 1])
    redis.call('XDEL', KEYS[1], ARGV[1])
    return 1
  end
end
return 0
`;

export interface RedisEventLogOptions {
  url: string;
  partitions: number;
  /** key prefix, one per deployment ("nova:events"); tests use a unique one */
  prefix?: string;
  /** entries kept per partition (EVENT_STREAM_MAXLEN, approximate as Redis trims) */
  maxLength?: number;
  /** dead letters kept per group */
  maxDeadLetters?: number;
  log: Logger;
  /** reconnect backoff ceiling (2000 ms) */
  maxReconnectDelayMs?: number;
}

type RawEntry = [string, string[] | null];

export class RedisEventLog implements EventLog {
  readonly kind = 'redis';
  readonly partitions: number;
  readonly prefix: string;
  readonly #client: RedisClientType;
  readonly #readers = new Map<string, Promise<RedisClientType>>();
  readonly #maxLength: number;
  readonly #maxDeadLetters: number;
  readonly #log: Logger;
  readonly #reconnectListeners = new Set<() => void>();
  readonly #partitionKeys: string[];
  #wasReady = false;
  #closed = false;

  constructor(options: RedisEventLogOptions) {
    this.partitions = options.partitions;
    this.prefix = options.prefix ?? 'nova:events';
    this.#maxLength = options.maxLength ?? 100_000;
    this.#maxDeadLetters = options.maxDeadLetters ?? 10_000;
    this.#log = options.log;
    this.#partitionKeys = Array.from({ length: this.partitions }, (_, n) => `${this.prefix}:p:${n}`);
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    this.#client = createClient({
      url: options.url,
      socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries, maxDelay), connectTimeout: 2000 },
      // a command while Redis is away fails at once: the relay retries from the outbox, readers back off
      disableOfflineQueue: true,
    }) as RedisClientType;
    this.#client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'event log connection error'));
    this.#client.on('ready', () => {
      if (this.#wasReady) {
        this.#log.info('event log reconnected');
        for (const listener of this.#reconnectListeners) listener();
      }
      this.#wasReady = true;
    });
    void this.#client.connect().catch((err: unknown) => this.#log.warn({ err }, 'event log did not connect'));
  }

  /** Resolves once connected (start-up, tests). */
  async waitReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#client.isReady) {
      if (Date.now() > deadline) throw new Error(`event log not connected within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  get isReady(): boolean {
    return this.#client.isReady;
  }

  async append(partition: number, events: readonly DurableEvent[], force = false): Promise<AppendResult> {
    if (events.length === 0) return { stored: 0, top: 0, gap: false };
    const args: string[] = [String(this.#maxLength), force ? '1' : '0'];
    for (const event of events) args.push(String(event.seq), encodeDurableEvent(event));
    const reply = (await this.#client.sendCommand(['EVAL', APPEND_SCRIPT, '1', this.#partitionKey(partition), ...args])) as [number, number, number];
    return { stored: Number(reply[0]), top: Number(reply[1]), gap: Number(reply[2]) === 1 };
  }

  async tops(): Promise<number[]> {
    const replies = await Promise.all(
      this.#partitionKeys.map((key) => this.#client.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1']) as Promise<RawEntry[]>),
    );
    return replies.map((entries) => (entries.length > 0 ? seqOf(entries[0]![0]) : 0));
  }

  async openGroup(group: string, position: GroupPosition): Promise<void> {
    const keys = [...this.#partitionKeys, this.#replayKey(group)];
    await Promise.all(
      keys.map(async (key) => {
        if (position === 'fresh') await this.#client.sendCommand(['XGROUP', 'DESTROY', key, group]).catch(() => 0);
        try {
          await this.#client.sendCommand(['XGROUP', 'CREATE', key, group, position === 'start' ? '0' : '$', 'MKSTREAM']);
        } catch (err) {
          if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
        }
      }),
    );
    await this.#client.sendCommand(['SADD', `${this.prefix}:groups`, group]);
  }

  async read(group: string, consumer: string, count: number, blockMs: number, pending = false): Promise<LogEntry[]> {
    const keys = [...this.#partitionKeys, this.#replayKey(group)];
    const args = ['XREADGROUP', 'GROUP', group, consumer, 'COUNT', String(count)];
    if (!pending && blockMs > 0) args.push('BLOCK', String(blockMs));
    args.push('STREAMS', ...keys, ...keys.map(() => (pending ? '0' : '>')));
    // A blocking read holds its connection: each consumer has its own.
    const client = pending || blockMs === 0 ? this.#client : await this.#reader(`${group}\0${consumer}`);
    const reply = (await client.sendCommand(args)) as Array<[string, RawEntry[]]> | Record<string, RawEntry[]> | null;
    const entries: LogEntry[] = [];
    const vanished: LogEntry[] = [];
    // RESP2 answers a list of [key, entries]; node-redis may hand it over as a map of key → entries
    const streams = reply === null ? [] : Array.isArray(reply) ? reply : Object.entries(reply);
    for (const [key, raw] of streams) {
      const partition = this.#partitionOf(key);
      for (const [id, fields] of raw) {
        // a pending entry trimmed away since: nothing to handle, only to acknowledge
        if (fields === null) vanished.push({ partition, entryId: id, event: null, raw: '' });
        else entries.push(toEntry(partition, id, fields));
      }
    }
    if (vanished.length > 0) await this.ack(group, vanished);
    return entries;
  }

  async claim(group: string, consumer: string, minIdleMs: number, count: number): Promise<LogEntry[]> {
    const keys = [...this.#partitionKeys, this.#replayKey(group)];
    const claimed: LogEntry[] = [];
    for (const key of keys) {
      const partition = this.#partitionOf(key);
      let cursor = '0-0';
      let taken = 0;
      do {
        const reply = (await this.#client.sendCommand(['XAUTOCLAIM', key, group, consumer, String(minIdleMs), cursor, 'COUNT', String(count)])) as [
          string,
          Array<RawEntry | null>,
          ...unknown[],
        ];
        cursor = reply[0];
        for (const raw of reply[1]) {
          if (raw === null || raw[1] === null) continue;
          claimed.push(toEntry(partition, raw[0], raw[1]));
          taken++;
        }
      } while (cursor !== '0-0' && taken < count);
    }
    return claimed;
  }

  async ack(group: string, entries: readonly LogEntry[]): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (const entry of entries) {
      const key = entry.partition === REPLAY_PARTITION ? this.#replayKey(group) : this.#partitionKey(entry.partition);
      let ids = byKey.get(key);
      if (!ids) byKey.set(key, (ids = []));
      ids.push(entry.entryId);
    }
    await Promise.all([...byKey].map(([key, ids]) => this.#client.sendCommand(['XACK', key, group, ...ids])));
  }

  async deadLetter(group: string, entry: LogEntry, error: string, attempts: number): Promise<void> {
    const source = entry.partition === REPLAY_PARTITION ? this.#replayKey(group) : this.#partitionKey(entry.partition);
    await this.#client
      .multi()
      .addCommand([
        'XADD', this.#deadKey(group), 'MAXLEN', '~', String(this.#maxDeadLetters), '*',
        'e', entry.raw, 'err', error.slice(0, 2000), 'attempts', String(attempts), 'src', source, 'srcid', entry.entryId,
      ])
      .addCommand(['XACK', source, group, entry.entryId])
      .exec();
  }

  async deadLetters(group: string, limit: number, after?: string): Promise<DeadLetter[]> {
    const start = after === undefined ? '-' : `(${after}`;
    const reply = (await this.#client.sendCommand(['XRANGE', this.#deadKey(group), start, '+', 'COUNT', String(limit)])) as RawEntry[];
    return reply.map(([id, fields]) => {
      const f = fieldMap(fields ?? []);
      return {
        id,
        group,
        event: decodeDurableEvent(f.e ?? ''),
        raw: f.e ?? '',
        error: f.err ?? '',
        attempts: Number(f.attempts ?? 0),
        at: Number(id.split('-', 1)[0]),
      };
    });
  }

  async replay(group: string, id: string): Promise<boolean> {
    if (!/^\d+-\d+$/.test(id)) return false;
    const reply = await this.#client.sendCommand(['EVAL', REPLAY_SCRIPT, '2', this.#deadKey(group), this.#replayKey(group), id, String(this.#maxDeadLetters)]);
    return Number(reply) === 1;
  }

  async claimOwner(database: string): Promise<string> {
    const key = `${this.prefix}:owner`;
    await this.#client.sendCommand(['SET', key, database, 'NX']);
    return String(await this.#client.sendCommand(['GET', key]));
  }

  async groups(): Promise<string[]> {
    return ((await this.#client.sendCommand(['SMEMBERS', `${this.prefix}:groups`])) as string[]).sort();
  }

  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reconnectListeners.clear();
    const readers = await Promise.all([...this.#readers.values()].map((reader) => reader.catch(() => null)));
    for (const client of [...readers, this.#client]) {
      try {
        if (client?.isOpen) client.destroy();
      } catch {
        // already closed
      }
    }
  }

  #reader(name: string): Promise<RedisClientType> {
    let reader = this.#readers.get(name);
    if (!reader) {
      const client = this.#client.duplicate() as RedisClientType;
      client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'event log reader connection error'));
      reader = client.connect().then(() => client);
      reader.catch(() => this.#readers.delete(name));
      this.#readers.set(name, reader);
    }
    return reader;
  }

  #partitionKey(partition: number): string {
    const key = this.#partitionKeys[partition];
    if (key === undefined) throw new RangeError(`partition ${partition} outside 0..${this.partitions - 1}`);
    return key;
  }

  #partitionOf(key: string): number {
    const prefix = `${this.prefix}:p:`;
    return key.startsWith(prefix) ? Number(key.slice(prefix.length)) : REPLAY_PARTITION;
  }

  #replayKey(group: string): string {
    return `${this.prefix}:replay:${group}`;
  }

  #deadKey(group: string): string {
    return `${this.prefix}:dlq:${group}`;
  }
}

function seqOf(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf('-') + 1));
}

function fieldMap(fields: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
  return map;
}

function toEntry(partition: number, entryId: string, fields: string[]): LogEntry {
  const raw = fieldMap(fields).e ?? '';
  return { partition, entryId, event: decodeDurableEvent(raw), raw };
}
