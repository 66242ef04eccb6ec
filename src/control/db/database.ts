import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../../log.js';
import { migrate } from './migrate.js';
import { PGliteDialect, PGliteSessionLock } from './pglite-dialect.js';
import { PGliteThread } from './pglite-thread.js';
import type { Schema } from './schema.js';

export interface Database {
  db: Kysely<Schema>;
  /**
   * The same database for queries a publisher or viewer is waiting on (a key check): on PGlite
   * they take its one session before queued writes; on PostgreSQL (a pool) this is `db`.
   */
  urgent: Kysely<Schema>;
  kind: 'pglite' | 'postgres';
  /** PostgreSQL's URL (sessions of their own: the outbox relay's lock and LISTEN); null for PGlite */
  url: string | null;
  /** Resolves when the database answers a trivial query (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseConfig {
  /** null: PGlite persisted under `${dataDir}/pglite`; "memory://": PGlite in memory; postgres(ql)://: PostgreSQL. */
  databaseUrl: string | null;
  dataDir: string;
}

export interface OpenDatabaseOptions {
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

/**
 * Opens the configured database and brings its schema up to date.
 * PGlite starts in seconds and uses hundreds of MiB: open one per process
 * (tests: one per file) and share it.
 */
export async function openDatabase(config: DatabaseConfig, log: Logger, options: OpenDatabaseOptions = {}): Promise<Database> {
  const database =
    config.databaseUrl === null || config.databaseUrl === 'memory://'
      ? await openPGlite(config, log)
      : openPostgres(config.databaseUrl, log, options.poolSize ?? 10);
  try {
    await database.ping();
    if (options.migrate !== false) await migrate(database.db, log);
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
  return database;
}

async function openPGlite(config: DatabaseConfig, log: Logger): Promise<Database> {
  let dataDir = 'memory://';
  if (config.databaseUrl === null) {
    dataDir = resolve(config.dataDir, 'pglite');
    await mkdir(dataDir, { recursive: true });
  }
  const started = Date.now();
  const client = await PGliteThread.open(dataDir);
  log.info({ dataDir, ms: Date.now() - started }, 'embedded PGlite database open (on its own thread)');
  const lock = new PGliteSessionLock();
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(client, { lock }) });
  const urgent = new Kysely<Schema>({ dialect: new PGliteDialect(client, { lock, urgent: true }) });
  let closed = false;
  return {
    db,
    urgent,
    kind: 'pglite',
    url: null,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all([db.destroy(), urgent.destroy()]);
      await client.close();
    },
  };
}

function openPostgres(url: string, log: Logger, poolSize: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits on the pool; unhandled, that kills the process.
  pool.on('error', (err) => log.error({ err: err.message }, 'PostgreSQL pool client error'));
  // A checked-out client has no pool listener (pg-pool removes it), and one that loses its connection
  // between two queries (a transaction's, or right after checkout) emits 'error' with nobody listening:
  // the process died on a PostgreSQL restart. Its next query fails instead and the pool drops it on release.
  pool.on('connect', (client) => client.on('error', (err) => log.debug({ err: err.message }, 'PostgreSQL connection lost')));
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  log.info({ host: safeHost(url) }, 'PostgreSQL database pool created');
  let closed = false;
  return {
    db,
    urgent: db,
    kind: 'postgres',
    url,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy(); // ends the pool
    },
  };
}

/** Host and database name only: the URL may carry a password. */
function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '<unparsable>';
  }
}
