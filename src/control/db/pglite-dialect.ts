import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { PGliteSession } from './pglite-thread.js';

/**
 * Who holds PGlite's one session and who waits for it. Holders are served in
 * order, except that urgent ones (a query a publisher is waiting on: its key
 * check) go before the others: in a burst of publishes the key checks would
 * otherwise queue behind the start writes of the streams admitted before them,
 * which nobody waits on.
 */
export class PGliteSessionLock {
  #held = false;
  readonly #urgent: Array<() => void> = [];
  readonly #waiting: Array<() => void> = [];

  acquire(urgent: boolean): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => (urgent ? this.#urgent : this.#waiting).push(resolve));
  }

  release(): void {
    const next = this.#urgent.shift() ?? this.#waiting.shift();
    if (next) next();
    else this.#held = false;
  }
}

export interface PGliteDialectOptions {
  /** shared by every dialect on the same session (default: a lock of its own) */
  lock?: PGliteSessionLock;
  /** this dialect's holders go before the non-urgent ones waiting (default false) */
  urgent?: boolean;
}

/**
 * Kysely dialect for PGlite. kysely-pglite's own driver hands out a fresh
 * "connection" per query without any lock, so on PGlite's single session a
 * query issued while a transaction is open elsewhere runs inside that
 * transaction (and is rolled back with it); it also drops affected-row
 * counts. This one keeps one logical connection, handed out one holder at a
 * time, and reports numAffectedRows.
 */
export class PGliteDialect implements Dialect {
  readonly #client: PGliteSession;
  readonly #lock: PGliteSessionLock;
  readonly #urgent: boolean;
  constructor(client: PGliteSession, options: PGliteDialectOptions = {}) {
    this.#client = client;
    this.#lock = options.lock ?? new PGliteSessionLock();
    this.#urgent = options.urgent ?? false;
  }
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#client, this.#lock, this.#urgent);
  }
  createIntrospector(db: Parameters<Dialect['createIntrospector']>[0]) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection;
  readonly #lock: PGliteSessionLock;
  readonly #urgent: boolean;

  constructor(client: PGliteSession, lock: PGliteSessionLock, urgent: boolean) {
    this.#connection = new PGliteConnection(client);
    this.#lock = lock;
    this.#urgent = urgent;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.acquire(this.#urgent);
    return this.#connection;
  }

  async releaseConnection(): Promise<void> {
    this.#lock.release();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('BEGIN'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  // Closing PGlite is the Database's job (it owns it).
  async destroy(): Promise<void> {}
}

class PGliteConnection implements DatabaseConnection {
  readonly #client: PGliteSession;
  constructor(client: PGliteSession) {
    this.#client = client;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#client.query<R>(compiledQuery.sql, compiledQuery.parameters as unknown[]);
    return result.affectedRows === undefined
      ? { rows: result.rows }
      : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not support streaming queries');
  }
}
