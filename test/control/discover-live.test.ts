import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import fc from 'fast-check';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { LiveDirectory } from '../../src/control/discovery/live-directory.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { BACKENDS, openBackend, openMemoryDatabase, silentLog, type TestDatabase } from './database-fixture.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

interface Discovered {
  id: string;
  title: string;
  viewers: number;
  started_at: string;
  thumbnail_url: string | null;
  hls_url: string;
}
interface DiscoverPage {
  items: Discovered[];
  has_more: boolean;
  next_cursor: string | null;
}

/** Streams in every state; the live public ones started a second apart from T0 (`live[i]` at T0 + i s). */
async function seed(repo: StreamRepository, livePublic: number): Promise<{ live: string[]; hidden: string[] }> {
  const live: string[] = [];
  const hidden: string[] = [];
  for (let i = 0; i < livePublic; i++) {
    const { stream } = await repo.create({ title: `live ${i}` });
    await repo.markActive(stream.id, 'instance-a', new Date(T0 + i * 1000));
    live.push(stream.id);
  }
  const privateLive = (await repo.create({ title: 'private', private: true })).stream.id;
  await repo.markActive(privateLive, 'instance-a', new Date(T0 + 99_000));
  const ended = (await repo.create({ title: 'ended' })).stream.id;
  await repo.markActive(ended, 'instance-a', new Date(T0 + 98_000));
  await repo.markEnded(ended, 'unpublished', new Date(T0 + 99_000));
  const pending = (await repo.create({ title: 'pending' })).stream.id;
  hidden.push(privateLive, ended, pending);
  return { live, hidden };
}

for (const backend of BACKENDS) {
  describe(`StreamRepository.listLivePublic on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    before(async () => {
      handle = await openBackend(backend);
    });
    after(async () => {
      await handle?.dispose();
    });

    it('lists live non-private streams only, most recently started first, at most max', async (t) => {
      if (!handle) return t.skip();
      await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
      const repo = new StreamRepository(handle.database.db);
      const { live } = await seed(repo, 4);
      const listed = await repo.listLivePublic(10);
      assert.deepEqual(listed.map((s) => s.id), [...live].reverse());
      assert.deepEqual(listed[0], { id: live[3], title: 'live 3', startedAt: new Date(T0 + 3000) });
      assert.deepEqual((await repo.listLivePublic(2)).map((s) => s.id), [live[3], live[2]]);
    });
  });
}

describe('LiveDirectory', () => {
  let handle: TestDatabase;
  let repo: StreamRepository;
  before(async () => {
    handle = await openMemoryDatabase();
    repo = new StreamRepository(handle.database.db);
    await seed(repo, 5);
  });
  after(async () => {
    await handle.dispose();
  });

  it('reads the database once a second however many requests come, concurrent or not', async () => {
    let now = T0;
    const directory = new LiveDirectory({ load: (max) => repo.listLivePublic(max), viewers: () => 0, log: silentLog, now: () => now });
    const pages = await Promise.all(Array.from({ length: 200 }, (_, i) => directory.page(i % 2 ? 'viewers' : 'recent', 1 + (i % 5), null)));
    assert.equal(directory.loads, 1);
    assert.equal(pages[0]!.items.length, 1);
    now += 999;
    await Promise.all(Array.from({ length: 50 }, () => directory.page('viewers', 50, null)));
    assert.equal(directory.loads, 1);
    now += 1;
    await Promise.all(Array.from({ length: 50 }, () => directory.page('viewers', 50, null)));
    assert.equal(directory.loads, 2);
  });

  it('serves the last list when a read fails, and fails only without one', async () => {
    let now = T0;
    let failing = true;
    const directory = new LiveDirectory({
      load: async (max) => {
        if (failing) throw new Error('database away');
        return repo.listLivePublic(max);
      },
      viewers: () => 0,
      log: silentLog,
      now: () => now,
    });
    await assert.rejects(directory.page('recent', 10, null), /database away/);
    // within the second the failure is not retried: still one read
    await assert.rejects(directory.page('recent', 10, null), /database away/);
    assert.equal(directory.loads, 1);
    failing = false;
    now += 1000;
    assert.equal((await directory.page('recent', 10, null)).items.length, 5);
    failing = true;
    now += 1000;
    assert.equal((await directory.page('recent', 10, null)).items.length, 5);
    assert.equal(directory.loads, 3);
  });
});

describe('GET /api/v1/discover/live', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let live: string[];
  let hidden: string[];
  /** viewers of live[i] */
  const viewersOf = [5, 50, 0, 50, 7, 1, 3];

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database, publicUrl: 'https://media.example' });
    ({ live, hidden } = await seed(new StreamRepository(handle.database.db), viewersOf.length));
    live.forEach((id, i) => f.live.set(id, { viewers: viewersOf[i]!, peakViewers: viewersOf[i]!, renditions: [], warnings: [] }));
  });
  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  /** No credentials: the fixture checks every answer against the document. */
  const get = (query: string) => f.call<DiscoverPage>('GET', `/api/v1/discover/live${query}`, { token: null });

  async function walk(sort: string, limit: number): Promise<Discovered[]> {
    const seen: Discovered[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const answer = await get(`?sort=${sort}&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok(answer.body.items.length <= limit);
      seen.push(...answer.body.items);
      assert.equal(answer.body.next_cursor === null, !answer.body.has_more);
      if (!answer.body.has_more) return seen;
      cursor = answer.body.next_cursor;
    }
    throw new Error('more pages than streams');
  }

  // most viewers first; ties: most recently started first
  const byViewers = (): string[] => live.map((id, i) => ({ id, i })).sort((a, b) => viewersOf[b.i]! - viewersOf[a.i]! || b.i - a.i).map((s) => s.id);

  it('lists live public streams only, by viewers (default), without credentials, cacheable for a second', async () => {
    const answer = await get('');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('cache-control'), 'public, max-age=1');
    assert.equal(answer.body.has_more, false);
    assert.deepEqual(answer.body.items.map((s) => s.id), byViewers());
    for (const id of hidden) assert.ok(!answer.body.items.some((s) => s.id === id));
    const top = answer.body.items[0]!;
    assert.deepEqual(top, {
      id: live[3],
      title: 'live 3',
      viewers: 50,
      started_at: new Date(T0 + 3000).toISOString(),
      thumbnail_url: null,
      hls_url: `https://media.example/hls/${live[3]}/master.m3u8`,
      dash_url: `https://media.example/dash/${live[3]}/manifest.mpd`,
      ws_url: `wss://media.example/api/v1/streams/${live[3]}/ws`,
    });
  });

  it('walks every page in order with the cursor, by viewers and by recency', async () => {
    assert.deepEqual((await walk('viewers', 2)).map((s) => s.id), byViewers());
    assert.deepEqual((await walk('recent', 3)).map((s) => s.id), [...live].reverse());
    assert.deepEqual((await walk('recent', 1)).map((s) => s.started_at), [...live].reverse().map((_, i) => new Date(T0 + (live.length - 1 - i) * 1000).toISOString()));
  });

  it('answers 400 for a bad limit, sort or cursor, and for a cursor of the other sort', async () => {
    const page = await get('?sort=viewers&limit=2');
    for (const query of ['?limit=0', '?limit=51', '?limit=x', '?sort=title', '?cursor=%00', '?cursor=bm90LWEtY3Vyc29y', `?sort=recent&cursor=${page.body.next_cursor}`]) {
      const answer = await f.call<{ error: { code: string } }>('GET', `/api/v1/discover/live${query}`, { token: null });
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'NOVA_ERR_BAD_REQUEST', query);
    }
  });

  it('reads the database at most once a second under concurrent load', async () => {
    const started = Date.now();
    const before = f.api.directory.loads;
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => get(`?sort=${i % 2 ? 'viewers' : 'recent'}&limit=${1 + (i % 7)}`)));
    assert.ok(answers.every((a) => a.status === 200));
    const seconds = Math.ceil((Date.now() - started) / 1000);
    assert.ok(f.api.directory.loads - before <= seconds + 1, `${f.api.directory.loads - before} reads in ${seconds} s for 100 requests`);
  });

  it('property: any limit and sort walk every live public stream exactly once, in order; junk never gets a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('viewers', 'recent'), fc.integer({ min: 1, max: 50 }), async (sort, limit) => {
        const ids = (await walk(sort, limit)).map((s) => s.id);
        assert.deepEqual(ids, sort === 'viewers' ? byViewers() : [...live].reverse());
      }),
      { numRuns: 25 },
    );
    const junk = fc.dictionary(
      fc.constantFrom('sort', 'limit', 'cursor', 'x'),
      fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.base64String({ maxLength: 60 }).map((s) => s.replace(/[+/=]/g, '_'))),
      { maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(junk, async (query) => {
        const answer = await get(`?${new URLSearchParams(query).toString()}`);
        assert.ok(answer.status === 200 || answer.status === 400, `${JSON.stringify(query)}: ${answer.status}`);
      }),
      { numRuns: 150 },
    );
  });
});
