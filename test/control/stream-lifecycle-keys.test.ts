/**
 * The key check of publishes that arrive together: each gets its own answer (a good key its
 * stream, an unknown or revoked one null), and they share the database's round trips instead
 * of one lookup each (a burst of N publishes was admitted as slowly as N queries in a row).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import { StreamLifecycle, type StreamShapeSink } from '../../src/control/stream-lifecycle.js';
import { openMemoryDatabase, silentLog, type TestDatabase } from './database-fixture.js';

let db: TestDatabase;

before(async () => {
  db = await openMemoryDatabase();
});

after(async () => {
  await db.dispose();
});

const discardDelivery: StreamShapeSink = { beginStream() {}, updateRenditions() {}, removeRendition() {}, endStream() {} };

test('keys checked together: one lookup for the first, one for all that came while it ran', async () => {
  const repo = new StreamRepository(db.database.db);
  const lookups: number[] = [];
  const findStreamsByKeyHashes = repo.findStreamsByKeyHashes.bind(repo);
  repo.findStreamsByKeyHashes = (hashes) => {
    lookups.push(hashes.length);
    return findStreamsByKeyHashes(hashes);
  };
  const created = await Promise.all(Array.from({ length: 8 }, (_, i) => repo.create({ title: `burst ${i}` })));
  const revoked = await repo.create({ title: 'revoked' });
  await repo.revokeKeys(revoked.stream.id);
  const lifecycle = new StreamLifecycle(repo, new LocalEventBus(), discardDelivery, 'keys-test', silentLog);
  try {
    const unknownKey = created[0]!.streamKey.slice(0, -1) + (created[0]!.streamKey.endsWith('A') ? 'B' : 'A');
    const names = [...created.map((c) => c.streamKey), revoked.streamKey, unknownKey, `${created[1]!.streamKey}?obs=1`];
    const answers = await Promise.all(names.map((name) => lifecycle.authorize('live', name)));
    assert.deepEqual(
      answers.map((a) => a?.streamId ?? null),
      [...created.map((c) => c.stream.id), null, null, created[1]!.stream.id],
    );
    // the first key alone, at once; the other ten together after it, nine keys (one is asked for twice)
    assert.deepEqual(lookups, [1, 9]);
  } finally {
    lifecycle.close();
  }
});
