import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
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
