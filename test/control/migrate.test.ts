import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { pino } from 'pino';
import { openDatabase } from '../../src/control/db/database.js';
import { loadMigrations, migrate } from '../../src/control/db/migrate.js';
import { splitSqlStatements } from '../../src/control/db/split-sql-statements.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { tempDir } from '../support/tools.js';
import { BACKENDS, openBackend, silentLog } from './database-fixture.js';

const TABLES = ['api_clients', 'event_log_identity', 'event_outbox', 'event_partitions', 'idempotency_keys', 'quality_levels', 'refresh_tokens', 'schema_migrations', 'signing_keys', 'stream_keys', 'stream_metrics', 'stream_metrics_1m', 'stream_metrics_rollup_state', 'streams', 'token_revocations', 'viewer_sessions', 'webhook_attempts', 'webhook_deliveries', 'webhooks'];
const SHIPPED = ['0001_initial', '0002_api_clients', '0003_outbox', '0004_webhooks', '0005_viewer_session_qoe', '0006_webhook_owners', '0007_stream_metrics_rollups', '0008_stream_metrics_egress', '0009_viewer_sessions_fillfactor'];

describe('splitSqlStatements', () => {
  it('splits at top-level semicolons only', () => {
    const script = [
      '-- a comment; with a semicolon',
      "CREATE TABLE a (x text DEFAULT 'semi;colon', \"odd;name\" int);",
      '/* block; /* nested; */ still; */',
      "INSERT INTO a VALUES ('it''s; fine');",
      'CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;',
      'DO $$ BEGIN PERFORM 1; END $$;',
      'SELECT 1',
      ';;  -- trailing',
    ].join('\n');
    assert.deepEqual(splitSqlStatements(script), [
      "-- a comment; with a semicolon\nCREATE TABLE a (x text DEFAULT 'semi;colon', \"odd;name\" int)",
      "/* block; /* nested; */ still; */\nINSERT INTO a VALUES ('it''s; fine')",
      'CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql',
      'DO $$ BEGIN PERFORM 1; END $$',
      'SELECT 1',
    ]);
    assert.deepEqual(splitSqlStatements('  \n-- only a comment\n'), []);
  });

  it('splits every shipped migration into statements that each start with SQL', async () => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length >= 1);
    assert.equal(migrations[0]!.name, '0001_initial');
    for (const migration of migrations) {
      const statements = splitSqlStatements(migration.sql);
      assert.ok(statements.length >= 1, migration.name);
      for (const statement of statements) assert.match(statement.replace(/^(--[^\n]*\n\s*)+/, ''), /^(CREATE|ALTER|INSERT|UPDATE|DROP|COMMENT)\b/);
    }
  });
});

for (const backend of BACKENDS) {
  describe(`migrate on ${backend}`, () => {
    it('creates every table once and is a no-op when run again', async (t) => {
      const handle = await openBackend(backend, { migrate: false });
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      try {
        const db = handle.database.db;
        const first = await migrate(db, silentLog);
        assert.deepEqual(first, SHIPPED);
        const second = await migrate(db, silentLog);
        assert.deepEqual(second, []);
        // Two migrators at once (two instances starting) still apply nothing twice.
        assert.deepEqual(await Promise.all([migrate(db, silentLog), migrate(db, silentLog)]), [[], []]);
        const tables = await sql<{ table_name: string }>`
          SELECT table_name FROM information_schema.tables
          WHERE table_schema = current_schema() ORDER BY table_name`.execute(db);
        assert.deepEqual(tables.rows.map((r) => r.table_name), TABLES);
        const recorded = await db.selectFrom('schema_migrations').selectAll().execute();
        assert.equal(recorded.length, SHIPPED.length);
        assert.match(recorded[0]!.checksum, /^[0-9a-f]{64}$/);
      } finally {
        await handle.dispose();
      }
    });

    it('applies only new migrations, warns about edited ones, and rolls back a failing one', async (t) => {
      const handle = await openBackend(backend);
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      try {
        const db = handle.database.db;
        const shipped = await loadMigrations();
        const warnings: string[] = [];
        const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
        const edited = shipped.map((m) => ({ ...m, checksum: '0'.repeat(64) }));
        const extra = { name: '0099_extra', sql: 'CREATE TABLE extra (id int);\nINSERT INTO extra VALUES (1);', checksum: 'x' };
        assert.deepEqual(await migrate(db, log, [...edited, extra]), ['0099_extra']);
        assert.equal(warnings.length, SHIPPED.length);
        assert.match(warnings[0]!, /0001_initial/);

        const broken = { name: '0100_broken', sql: 'CREATE TABLE half (id int);\nSELECT no_such_function();', checksum: 'y' };
        await assert.rejects(migrate(db, silentLog, [...shipped, extra, broken]), /0100_broken/);
        const half = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'half'`.execute(db);
        assert.equal(half.rows[0]!.n, 0, 'a failed migration leaves nothing behind');
        const names = (await db.selectFrom('schema_migrations').select('name').orderBy('name').execute()).map((r) => r.name);
        assert.deepEqual(names, [...SHIPPED, '0099_extra']);
      } finally {
        await handle.dispose();
      }
    });
  });
}

describe('PGlite persisted under DATA_DIR', () => {
  it('keeps data across reopen without re-running migrations', async () => {
    const dataDir = tempDir('nova-pglite-');
    const first = await openDatabase({ databaseUrl: null, dataDir }, silentLog);
    let id: string;
    try {
      assert.equal(first.kind, 'pglite');
      id = (await new StreamRepository(first.db).create({ title: 'kept' })).stream.id;
    } finally {
      await first.close();
    }
    const second = await openDatabase({ databaseUrl: null, dataDir }, silentLog);
    try {
      assert.equal((await new StreamRepository(second.db).get(id))?.title, 'kept');
      assert.deepEqual(await migrate(second.db, silentLog), []);
    } finally {
      await second.close();
    }
  });
});
