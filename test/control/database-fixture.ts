import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/control/db/database.js';
import type { Logger } from '../../src/log.js';

/**
 * Databases for tests. PGlite in memory costs seconds and hundreds of MiB to
 * start, so each test file opens one and shares it. PostgreSQL gets a fresh
 * database per run, dropped at the end, so parallel runs never collide.
 */

export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const silentLog: Logger = pino({ level: 'silent' });

export interface TestDatabase {
  database: Database;
  /** PostgreSQL only: its URL, for a second pool (a second instance) on the same database */
  url?: string;
  /** Closes the database (and drops it, for PostgreSQL). */
  dispose(): Promise<void>;
}

export async function openMemoryDatabase(): Promise<TestDatabase> {
  const database = await openDatabase({ databaseUrl: 'memory://', dataDir: '/nonexistent' }, silentLog);
  return { database, dispose: () => database.close() };
}

/**
 * A throwaway database on the test PostgreSQL server, or null when the server
 * cannot be reached (outside CI only: under CI=true that is an error).
 */
export async function openTemporaryPostgres(options: { migrate?: boolean } = {}): Promise<TestDatabase | null> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => {});
    if (process.env.CI === 'true') throw new Error(`PostgreSQL at ${TEST_POSTGRES_URL} is required under CI: ${String(err)}`);
    return null;
  }
  const name = `nova_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  let database: Database;
  try {
    database = await openDatabase({ databaseUrl: url.toString(), dataDir: '/nonexistent' }, silentLog, options);
  } catch (err) {
    await dropDatabase(name);
    throw err;
  }
  return {
    database,
    url: url.toString(),
    dispose: async () => {
      await database.close();
      await dropDatabase(name);
    },
  };
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Both backends, PostgreSQL null when unreachable outside CI. */
export const BACKENDS = ['pglite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

export async function openBackend(backend: Backend, options: { migrate?: boolean } = {}): Promise<TestDatabase | null> {
  if (backend === 'postgres') return openTemporaryPostgres(options);
  if (options.migrate === false) {
    const database = await openDatabase({ databaseUrl: 'memory://', dataDir: '/nonexistent' }, silentLog, options);
    return { database, dispose: () => database.close() };
  }
  return openMemoryDatabase();
}
