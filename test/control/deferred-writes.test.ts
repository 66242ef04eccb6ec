/**
 * State writes that wait out a database outage: a write to a PostgreSQL that
 * cannot be reached (nothing listens on its port yet) lands, once, when it
 * can be; a write that fails for another reason fails at once; the queue is
 * bounded; a server that stops gives its queued writes up.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { DeferredWrites } from '../../src/control/db/deferred-writes.js';
import { isDatabaseUnreachable } from '../../src/control/db/database-errors.js';
import { TEST_POSTGRES_URL, silentLog } from './database-fixture.js';
import { freePort } from '../support/tools.js';

const target = new URL(TEST_POSTGRES_URL);
let table = '';

async function query(port: number, sql: string): Promise<pg.QueryResult> {
  const url = new URL(TEST_POSTGRES_URL);
  url.port = String(port);
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/** PostgreSQL reachable on `port` from now on: a plain TCP relay to the real server. */
function bringUp(port: number): Promise<net.Server> {
  const relay = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => relay.listen(port, '127.0.0.1', () => resolve(relay)));
}

before(async () => {
  table = `deferred_writes_${process.pid}`;
  await query(Number(target.port || 5432), `CREATE TABLE ${table} (id text)`);
});

after(async () => {
  await query(Number(target.port || 5432), `DROP TABLE IF EXISTS ${table}`);
});

test('a write while the database is unreachable waits and lands once it is back, once', async () => {
  const port = await freePort();
  const registry = new Registry();
  const writes = new DeferredWrites(silentLog, registry, null, { initialDelayMs: 50, maxDelayMs: 200 });
  let attempts = 0;
  const landed = writes.run('insert', async () => {
    attempts++;
    await query(port, `INSERT INTO ${table} VALUES ('after-outage')`);
  });
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(writes.queued, 1, 'queued while nothing answers');
  assert.ok(attempts >= 2, `tried again (${attempts})`);
  assert.match(await registry.getSingleMetricAsString('nova_streaming_db_writes_queued'), /nova_streaming_db_writes_queued 1/);
  const relay = await bringUp(port);
  try {
    await landed;
    assert.equal(writes.queued, 0);
    const rows = await query(port, `SELECT count(*)::int AS n FROM ${table} WHERE id = 'after-outage'`);
    assert.equal(rows.rows[0].n, 1);
  } finally {
    relay.close();
  }
});

test('a write that fails for what it asks fails at once; one past the bound is dropped; close gives queued writes up', async () => {
  const reachable = Number(target.port || 5432);
  const writes = new DeferredWrites(silentLog, new Registry(), null, { maxQueued: 1, initialDelayMs: 50, maxDelayMs: 100 });
  const started = Date.now();
  await assert.rejects(writes.run('bad', async () => void (await query(reachable, 'SELECT * FROM no_such_table_at_all'))), (err: Error) => !isDatabaseUnreachable(err));
  assert.ok(Date.now() - started < 1000, 'no retry for an error of the statement');

  const down = await freePort();
  const first = writes.run('first', async () => void (await query(down, 'SELECT 1')));
  first.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 200));
  await assert.rejects(writes.run('second', async () => void (await query(down, 'SELECT 1'))), (err: Error) => isDatabaseUnreachable(err));
  writes.close();
  await assert.rejects(first, (err: Error) => isDatabaseUnreachable(err));
  assert.equal(writes.queued, 0);
});
