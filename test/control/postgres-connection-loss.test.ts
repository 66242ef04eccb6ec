/**
 * A pooled PostgreSQL connection that dies while checked out (between two
 * queries of a transaction, or right after checkout) must fail its next query,
 * not the process: pg-pool listens for errors only on idle clients.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { TEST_POSTGRES_URL, openTemporaryPostgres, type TestDatabase } from './database-fixture.js';

let fixture: TestDatabase | null;

before(async () => {
  fixture = await openTemporaryPostgres({ migrate: false });
});

after(async () => {
  await fixture?.dispose();
});

test('a connection terminated while checked out fails its next query; the pool goes on with a new one', async (t) => {
  if (!fixture) return t.skip('no PostgreSQL at ' + TEST_POSTGRES_URL);
  const db = fixture.database.db;
  await db.connection().execute(async (connection) => {
    const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(connection);
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    } finally {
      await admin.end();
    }
    // the server's FATAL reaches the idle, checked-out client now: the process must outlive it
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assert.rejects(sql`SELECT 1`.execute(connection));
  });
  const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
  assert.equal(rows[0]!.one, 1);
});
