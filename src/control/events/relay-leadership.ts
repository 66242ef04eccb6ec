import { Kysely, PostgresDialect, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import type { Logger } from '../../log.js';
import type { Schema } from '../db/schema.js';
import { reconnectDelay } from './redis-bus.js';

/**
 * Which instance relays the outbox. Exactly one at a time across instances
 * sharing a PostgreSQL: the one holding a session advisory lock on a
 * connection of its own. When that instance dies its connection closes and
 * PostgreSQL releases the lock; the others try for it every retryMs, so one
 * of them takes over within about that. The same connection LISTENs for the
 * outbox trigger's NOTIFY, which wakes the relay at each commit, and runs
 * the relay's own statements (`session`).
 */
export interface RelayLeadership {
  readonly isLeader: boolean;
  /**
   * The database handle the relay's statements run on, or null for the
   * process' shared one. PostgreSQL: the lock session itself, so a round
   * never waits in the pool behind the writes it relays, and no statement of
   * a relay that lost its lock can run.
   */
  readonly session: Kysely<Schema> | null;
  /** called when this instance gains or loses the lead */
  onChange(listener: (leader: boolean) => void): () => void;
  /** called when another session committed outbox rows */
  onNotify(listener: () => void): () => void;
  close(): Promise<void>;
}

/** The embedded database serves one process: it always relays, and its writers wake it in-process. */
export class SoleLeadership implements RelayLeadership {
  readonly isLeader = true;
  readonly session = null;
  onChange(): () => void {
    return () => {};
  }
  onNotify(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

/** Arbitrary constant, next to migrate.ts' 7_310_442_001. */
export const RELAY_LOCK_KEY = 7_310_442_002;
export const OUTBOX_CHANNEL = 'nova_outbox';

export interface PostgresLeadershipOptions {
  url: string;
  log: Logger;
  /** how often a follower tries for the lock, and the leader checks its connection (1000 ms) */
  retryMs?: number;
  /** reconnect backoff ceiling (5000 ms) */
  maxReconnectDelayMs?: number;
}

export class PostgresLeadership implements RelayLeadership {
  #leader = false;
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failures = 0;
  #closed = false;
  #busy = false;
  readonly #changeListeners = new Set<(leader: boolean) => void>();
  readonly #notifyListeners = new Set<() => void>();
  readonly #options: Required<PostgresLeadershipOptions>;
  readonly #sessionClients = new WeakMap<pg.Client, PostgresPoolClient>();
  readonly session: Kysely<Schema>;

  constructor(options: PostgresLeadershipOptions) {
    this.#options = { retryMs: 1000, maxReconnectDelayMs: 5000, ...options };
    // A "pool" of the one lock session: pg.Client queues the relay's statements behind the lock check.
    this.session = new Kysely<Schema>({
      dialect: new PostgresDialect({ pool: { connect: async () => this.#sessionClient(), end: async () => {} } }),
    });
    this.#schedule(0);
  }

  #sessionClient(): PostgresPoolClient {
    const client = this.#client;
    if (!this.#leader || client === null) throw new Error('the outbox relay holds no PostgreSQL session: not relaying');
    let wrapped = this.#sessionClients.get(client);
    if (!wrapped) {
      wrapped = { query: client.query.bind(client) as PostgresPoolClient['query'], release: () => {} };
      this.#sessionClients.set(client, wrapped);
    }
    return wrapped;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  onNotify(listener: () => void): () => void {
    this.#notifyListeners.add(listener);
    return () => this.#notifyListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = null;
    this.#setLeader(false);
    // ending the session releases the lock at once: a follower takes over at its next try
    await client?.end().catch(() => {});
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.#closed) return;
    this.#busy = true;
    try {
      const client = this.#client ?? (await this.#connect());
      if (this.#leader) {
        // a leader whose server went away must stop relaying before a follower takes over
        await client.query('SELECT 1');
      } else {
        const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RELAY_LOCK_KEY]);
        if (result.rows[0]?.locked === true) this.#setLeader(true);
      }
      this.#failures = 0;
      this.#schedule(this.#options.retryMs);
    } catch (err) {
      this.#lost(err);
    } finally {
      this.#busy = false;
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#options.url, connectionTimeoutMillis: 5000, keepAlive: true });
    client.on('error', (err) => this.#lost(err));
    client.on('end', () => {
      if (this.#client === client) this.#lost(new Error('connection ended'));
    });
    client.on('notification', (message) => {
      if (message.channel !== OUTBOX_CHANNEL) return;
      for (const listener of this.#notifyListeners) listener();
    });
    this.#client = client;
    await client.connect();
    await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    return client;
  }

  #lost(err: unknown): void {
    const client = this.#client;
    this.#client = null;
    if (client) void client.end().catch(() => {});
    if (this.#leader) this.#options.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'outbox relay lost its PostgreSQL session: no longer relaying');
    this.#setLeader(false);
    if (this.#closed) return;
    this.#failures++;
    this.#schedule(reconnectDelay(this.#failures, this.#options.maxReconnectDelayMs));
  }

  #setLeader(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    if (leader) this.#options.log.info('outbox relay: this instance relays');
    for (const listener of this.#changeListeners) listener(leader);
  }
}
