import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Schema } from './schema.js';
import { splitSqlStatements } from './split-sql-statements.js';

export interface Migration {
  /** File name without ".sql", e.g. "0001_initial"; applied in name order. */
  name: string;
  sql: string;
  /** sha256 hex of the file: an applied migration that changed afterwards is reported. */
  checksum: string;
}

const MIGRATION_FILE = /^(\d{4,}_[A-Za-z0-9_]+)\.sql$/;
/** Arbitrary constant: serialises migrators of several instances starting at once on one PostgreSQL. */
const MIGRATION_LOCK_KEY = 7_310_442_001;

/** migrations/ at the repository root, from src/ (tsx) or dist/src/ (built, run from the repo root). */
export function defaultMigrationsDir(): string {
  const besideSource = fileURLToPath(new URL('../../../migrations/', import.meta.url));
  return existsSync(besideSource) ? besideSource : resolve('migrations');
}

export async function loadMigrations(dir: string = defaultMigrationsDir()): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((file) => MIGRATION_FILE.test(file)).sort();
  const migrations: Migration[] = [];
  for (const file of names) {
    const text = await readFile(join(dir, file), 'utf8');
    migrations.push({
      name: MIGRATION_FILE.exec(file)![1]!,
      sql: text,
      checksum: createHash('sha256').update(text).digest('hex'),
    });
  }
  return migrations;
}

/**
 * Applies the migrations not yet recorded in schema_migrations, all in one
 * transaction under an advisory lock, and returns the names it applied.
 * Running it again applies nothing.
 */
export async function migrate(
  db: Kysely<Schema>,
  log: Logger,
  migrations?: readonly Migration[],
): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL
    )`.execute(trx);
    const applied = new Map(
      (await trx.selectFrom('schema_migrations').select(['name', 'checksum']).execute()).map((row) => [
        row.name,
        row.checksum,
      ]),
    );
    const done: string[] = [];
    for (const migration of all) {
      const previous = applied.get(migration.name);
      if (previous !== undefined) {
        if (previous !== migration.checksum) {
          log.warn({ migration: migration.name }, 'applied migration file has changed since; write a new migration instead');
        }
        continue;
      }
      for (const statement of splitSqlStatements(migration.sql)) {
        try {
          await sql.raw(statement).execute(trx);
        } catch (err) {
          throw new NovaError(
            'NOVA_ERR_INTERNAL',
            `migration ${migration.name} failed: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
      await trx
        .insertInto('schema_migrations')
        .values({ name: migration.name, checksum: migration.checksum, applied_at: new Date() })
        .execute();
      done.push(migration.name);
    }
    if (done.length > 0) log.info({ applied: done }, 'database migrated');
    return done;
  });
}
