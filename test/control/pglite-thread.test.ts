import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kysely, sql } from 'kysely';
import { PGliteDialect, PGliteSessionLock } from '../../src/control/db/pglite-dialect.js';
import { PGliteThread } from '../../src/control/db/pglite-thread.js';
import { tempDir } from '../support/tools.js';

const MiB = 1024 * 1024;

describe('PGliteThread', () => {
  it('initializes a fresh directory in a child process, so initdb’s memory is not left in this one', async () => {
    const dataDir = tempDir('nova-pglite-thread-');
    const before = process.memoryUsage().rss;
    const thread = await PGliteThread.open(dataDir);
    try {
      const grown = process.memoryUsage().rss - before;
      assert.ok(existsSync(join(dataDir, 'PG_VERSION')), 'the directory holds a database');
      // initdb in this process leaves ~650 MiB of WebAssembly memory behind; a database opened afresh needs ~150–250 MiB
      assert.ok(grown < 400 * MiB, `RSS grew by ${(grown / MiB).toFixed(0)} MiB`);
      assert.deepEqual((await thread.query<{ shared_buffers: string }>('SHOW shared_buffers', [])).rows, [{ shared_buffers: '16MB' }]);
    } finally {
      await thread.close();
    }
  });

  it('runs the in-memory database with the same small buffer pool', async () => {
    const thread = await PGliteThread.open('memory://');
    try {
      assert.deepEqual((await thread.query<{ shared_buffers: string }>('SHOW shared_buffers', [])).rows, [{ shared_buffers: '16MB' }]);
    } finally {
      await thread.close();
    }
  });

  it('rejects with the initializer’s reason when the directory cannot hold a database', async () => {
    const notADirectory = join(tempDir('nova-pglite-thread-'), 'a-file');
    writeFileSync(notADirectory, 'not a database');
    await assert.rejects(PGliteThread.open(notADirectory), (err: Error) => {
      assert.match(err.message, /^initializing the embedded database in .*a-file failed \(exit 1\): \S/);
      return true;
    });
  });
});

describe('PGliteDialect session lock', () => {
  it('an urgent query (a publisher’s key check) goes before writes queued ahead of it, never into an open transaction', async () => {
    const thread = await PGliteThread.open('memory://');
    const lock = new PGliteSessionLock();
    const db = new Kysely<Record<string, never>>({ dialect: new PGliteDialect(thread, { lock }) });
    const urgent = new Kysely<Record<string, never>>({ dialect: new PGliteDialect(thread, { lock, urgent: true }) });
    try {
      await sql`CREATE TABLE t (n int)`.execute(db);
      const order: string[] = [];
      let commit!: () => void;
      const holding = new Promise<void>((resolve) => (commit = resolve));
      const transaction = db.transaction().execute(async (trx) => {
        await sql`INSERT INTO t VALUES (1)`.execute(trx);
        await holding;
        await sql`INSERT INTO t VALUES (2)`.execute(trx);
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const writes = [1, 2, 3].map((i) => sql`INSERT INTO t VALUES (${10 + i})`.execute(db).then(() => order.push(`write ${i}`)));
      // the key check, asked last: it must not see the open transaction's rows
      const check = sql<{ n: number }>`SELECT count(*)::int AS n FROM t`.execute(urgent).then((result) => {
        order.push('check');
        return result.rows[0]!.n;
      });
      commit();
      await Promise.all([transaction, ...writes]);
      assert.equal(await check, 2, 'the check ran after the transaction committed, before the queued writes');
      assert.deepEqual(order, ['check', 'write 1', 'write 2', 'write 3']);
    } finally {
      await Promise.all([db.destroy(), urgent.destroy()]);
      await thread.close();
    }
  });
});
