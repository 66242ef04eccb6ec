import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { ClientRepository } from '../../src/control/db/client-repository.js';
import { MetricsRepository } from '../../src/control/db/metrics-repository.js';
import { encodeCursor } from '../../src/control/db/opaque-cursor.js';
import type { Schema } from '../../src/control/db/schema.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { ViewerAnalyticsRepository, type AnalyticsSummary } from '../../src/control/db/viewer-analytics-repository.js';
import type { ViewerSessionRecord } from '../../src/deliver/sessions/viewer-session-tracker.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { BACKENDS, openBackend, openMemoryDatabase, type TestDatabase } from './database-fixture.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

function session(streamId: string, fields: Partial<ViewerSessionRecord> & { startedAt: Date; clientKey: string }): ViewerSessionRecord {
  return {
    id: randomUUID(),
    streamId,
    protocol: 'hls',
    instanceId: 'nova-test',
    lastSeenAt: fields.endedAt ?? fields.startedAt,
    endedAt: null,
    renditions: ['720p'],
    renditionSwitches: 0,
    requests: 1,
    bytesServed: 0,
    startupMs: null,
    watchMs: 0,
    cmcd: false,
    cmcdSid: null,
    contentId: null,
    streamFormat: null,
    rebufferCount: 0,
    rebufferMs: 0,
    rebufferRatio: null,
    avgBitrateKbps: null,
    avgThroughputKbps: null,
    bufferLengthMs: null,
    ...fields,
  };
}

interface Seeded {
  a1: string;
  a2: string;
  b1: string;
  /** a1's sessions, newest first as the API lists them */
  a1Newest: string[];
  /** a1's sessions not ended, newest first */
  a1Live: string[];
}

/**
 * Known data, window [T0, T0 + 1 h):
 * owner A's a1 has 8 sessions (7 in the window, one two hours before), a2 one crossing the window's end;
 * owner B's b1 one. Per-second viewers: a1 5 then 3, a2 2 then 6, b1 100 then nothing.
 */
async function seed(db: Kysely<Schema>, ownerA: string, ownerB: string): Promise<Seeded> {
  const streams = new StreamRepository(db);
  const a1 = (await streams.create({ title: 'a1', ownerClientId: ownerA })).stream.id;
  const a2 = (await streams.create({ title: 'a2', ownerClientId: ownerA })).stream.id;
  const b1 = (await streams.create({ title: 'b1', ownerClientId: ownerB })).stream.id;
  const at = (ms: number) => new Date(T0 + ms);
  const a1Sessions = [
    session(a1, { clientKey: 'v1', startedAt: at(0), endedAt: at(10 * MIN), watchMs: 10 * MIN, startupMs: 1000, cmcd: true, cmcdSid: 'v1', contentId: 'c', streamFormat: 'h', rebufferCount: 2, rebufferMs: 6000, rebufferRatio: 0.01, avgBitrateKbps: 2000, avgThroughputKbps: 9000, bufferLengthMs: 4000, bytesServed: 150_000_000, renditions: ['720p', '480p'], renditionSwitches: 1 }),
    session(a1, { clientKey: 'v2', startedAt: at(1 * MIN), lastSeenAt: at(30 * MIN), watchMs: 20 * MIN, startupMs: 500, cmcd: true, avgBitrateKbps: 3000 }),
    session(a1, { clientKey: 'v1', startedAt: at(2 * MIN), endedAt: at(3 * MIN), watchMs: MIN }),
    session(a1, { clientKey: 'v3', startedAt: at(3 * MIN), endedAt: at(4 * MIN) }),
    session(a1, { clientKey: 'v3', startedAt: at(4 * MIN), endedAt: at(5 * MIN) }),
    // two sessions starting in the same millisecond: the cursor's id breaks the tie
    session(a1, { clientKey: 'v3', startedAt: at(5 * MIN), endedAt: at(6 * MIN) }),
    session(a1, { clientKey: 'v3', startedAt: at(5 * MIN), lastSeenAt: at(6 * MIN) }),
    // before the window: listed, not summed
    session(a1, { clientKey: 'v8', startedAt: at(-2 * HOUR), endedAt: at(-HOUR), watchMs: 999_999, startupMs: 9999 }),
  ];
  const records = [
    ...a1Sessions,
    session(a2, { clientKey: 'v1', startedAt: at(50 * MIN), endedAt: at(70 * MIN), watchMs: 20 * MIN, startupMs: 2000, cmcd: true, rebufferMs: 12_000, avgBitrateKbps: 1000 }),
    session(b1, { clientKey: 'v9', startedAt: at(0), endedAt: at(100 * MIN), watchMs: 100 * MIN, startupMs: 100 }),
  ];
  const metrics = new MetricsRepository(db);
  await metrics.upsertViewerSessions(records);
  const sample = (streamId: string, ms: number, viewers: number) => ({ streamId, at: at(ms), viewers, ingressBitrate: 1, fps: 30 });
  await metrics.insertMetrics([sample(a1, 10_000, 5), sample(a1, 11_000, 3), sample(a2, 10_000, 2), sample(a2, 11_000, 6), sample(b1, 10_000, 100), sample(a1, -10_000, 50)]);
  const newest = [...a1Sessions].sort((x, y) => y.startedAt.getTime() - x.startedAt.getTime() || (x.id < y.id ? 1 : -1));
  return { a1, a2, b1, a1Newest: newest.map((s) => s.id), a1Live: newest.filter((s) => s.endedAt === null).map((s) => s.id) };
}

function close(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);
}

for (const backend of BACKENDS) {
  describe(`ViewerAnalyticsRepository on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    let repo: ViewerAnalyticsRepository;
    let seeded: Seeded;
    let ownerA: string;
    let ownerB: string;
    before(async () => {
      handle = await openBackend(backend);
      if (!handle) return;
      const db = handle.database.db;
      await sql`TRUNCATE streams CASCADE`.execute(db);
      const clients = new ClientRepository(db);
      ownerA = (await clients.create({ name: 'A', scopes: new Set(['analytics:read']) })).client.id;
      ownerB = (await clients.create({ name: 'B', scopes: new Set(['analytics:read']) })).client.id;
      seeded = await seed(db, ownerA, ownerB);
      repo = new ViewerAnalyticsRepository(db);
    });
    after(async () => {
      await handle?.dispose();
    });

    it('walks every session once, newest first, and filters live ones', async (t) => {
      if (!handle) return t.skip();
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await repo.listSessions(seeded.a1, { limit: 3, cursor });
        seen.push(...page.items.map((s) => s.id));
        assert.equal(page.hasMore, page.nextCursor !== null);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, seeded.a1Newest);
      const live = await repo.listSessions(seeded.a1, { limit: 100, live: true });
      assert.deepEqual(live.items.map((s) => s.id), seeded.a1Live);
      assert.equal(live.hasMore, false);
      const first = (await repo.listSessions(seeded.a1, { limit: 100 })).items.find((s) => s.startupMs === 1000)!;
      assert.deepEqual(
        { ...first, id: '' },
        {
          id: '', kind: 'hls', instanceId: 'nova-test', startedAt: new Date(T0), lastSeenAt: new Date(T0 + 10 * MIN), endedAt: new Date(T0 + 10 * MIN),
          renditions: ['720p', '480p'], renditionSwitches: 1, bytesServed: 150_000_000, startupMs: 1000, watchMs: 10 * MIN, cmcd: true, cmcdSid: 'v1',
          contentId: 'c', streamFormat: 'h', avgBitrateKbps: 2000, avgThroughputKbps: 9000, bufferLengthMs: 4000, rebufferCount: 2, rebufferMs: 6000, rebufferRatio: 0.01,
        },
      );
    });

    it("sums the owner's sessions and peaks over the window", async (t) => {
      if (!handle) return t.skip();
      const summary = await repo.summary(new Date(T0), new Date(T0 + HOUR), ownerA);
      assertOwnerA(summary, seeded);

      const b = await repo.summary(new Date(T0), new Date(T0 + HOUR), ownerB);
      assert.deepEqual([b.sessions, b.minutesWatched, b.peakConcurrentViewers, b.streams.map((s) => s.streamId)], [1, 100, 100, [seeded.b1]]);

      const all = await repo.summary(new Date(T0), new Date(T0 + HOUR), null);
      // second 10: 5 + 2 + 100
      assert.deepEqual([all.sessions, all.minutesWatched, all.uniqueViewers, all.peakConcurrentViewers], [9, 151, 4, 107]);
      assert.deepEqual(all.streams.map((s) => s.streamId), [seeded.b1, seeded.a1, seeded.a2]);

      const empty = await repo.summary(new Date(T0 + 10 * HOUR), new Date(T0 + 11 * HOUR), null);
      assert.deepEqual(empty, { minutesWatched: 0, sessions: 0, uniqueViewers: 0, meanStartupMs: null, rebufferRatio: null, avgBitrateKbps: null, cmcdSessions: 0, peakConcurrentViewers: 0, streams: [] });
    });

    it('a counters-only write updates the counters of an existing row; one not written yet is written whole', async (t) => {
      if (!handle) return t.skip();
      const db = handle.database.db;
      const metrics = new MetricsRepository(db);
      const streamId = (await new StreamRepository(db).create({ title: 'counters' })).stream.id;
      const at = (ms: number) => new Date(T0 + ms);
      const first = session(streamId, { clientKey: 'c1', startedAt: at(0), cmcd: true, cmcdSid: 'c1', renditions: ['720p'] });
      assert.equal(await metrics.upsertViewerSessions([first]), 1);
      const later = { ...first, lastSeenAt: at(10_000), requests: 9, bytesServed: 5000, watchMs: 9000, rebufferRatio: 0.1, avgBitrateKbps: 800, avgThroughputKbps: 4000, bufferLengthMs: 3000 };
      // what a counters-only write leaves alone, changed here to show it is left alone
      const countersOnly = { ...later, countersOnly: true, renditions: ['1080p'], cmcdSid: 'changed', rebufferCount: 3 };
      // a failed batch retried with a newer counters-only snapshot of a session never written: written whole
      const unwritten = session(streamId, { clientKey: 'c2', startedAt: at(0), lastSeenAt: at(1000), requests: 1 });
      const unwrittenLater = { ...unwritten, lastSeenAt: at(3000), requests: 3, countersOnly: true };
      // a counters-only row whose stream is gone, or never written: nothing, no failure
      const missing = { ...session(streamId, { clientKey: 'c3', startedAt: at(0) }), countersOnly: true };
      assert.equal(await metrics.upsertViewerSessions([unwritten, countersOnly, unwrittenLater, missing]), 2);
      const rows = await db.selectFrom('viewer_sessions').selectAll().where('stream_id', '=', streamId).orderBy('client_id').execute();
      assert.deepEqual(
        rows.map((r) => [r.client_id, r.last_seen_at?.getTime(), r.requests, Number(r.bytes_served), Number(r.watch_ms), r.rebuffer_ratio, r.avg_bitrate_kbps, r.avg_throughput_kbps, r.buffer_length_ms, r.renditions, r.cmcd_sid, r.rebuffer_count]),
        [
          ['c1', T0 + 10_000, 9, 5000, 9000, 0.1, 800, 4000, 3000, ['720p'], 'c1', 0],
          ['c2', T0 + 3000, 3, 0, 0, null, null, null, null, ['720p'], null, 0],
        ],
      );
    });

    it('rewriting live rows’ counters stays in their pages (HOT updates): the table does not grow with every rewrite', async (t) => {
      if (!handle) return t.skip();
      const db = handle.database.db;
      const metrics = new MetricsRepository(db);
      const streamId = (await new StreamRepository(db).create({ title: 'rewrites' })).stream.id;
      const live = Array.from({ length: 300 }, (_, i) => session(streamId, { clientKey: `r${i}`, startedAt: new Date(T0), cmcd: true, cmcdSid: `r${i}` }));
      await metrics.upsertViewerSessions(live);
      const sizes = async (): Promise<[table: number, indexes: number]> => {
        const { rows } = await sql<{ table: string; indexes: string }>`SELECT pg_relation_size('viewer_sessions') AS table, pg_indexes_size('viewer_sessions') AS indexes`.execute(db);
        return [Number(rows[0]!.table), Number(rows[0]!.indexes)];
      };
      const before = await sizes();
      for (let round = 1; round <= 20; round++) {
        await metrics.upsertViewerSessions(live.map((r) => ({ ...r, lastSeenAt: new Date(T0 + round * 10_000), requests: round, bytesServed: round * 1000, watchMs: round * 10_000, countersOnly: true })));
      }
      // A rewrite that leaves its page leaves a dead version behind and adds an entry to each index: 6,000 of
      // them took the table from 72 kB to ~1 MB with pages filled full; with room kept, it stays about where it was.
      const after = await sizes();
      assert.ok(after[0] <= 3 * before[0], `the table grew from ${before[0]} to ${after[0]} bytes over 6,000 rewrites (indexes ${before[1]} → ${after[1]})`);
      const row = await db.selectFrom('viewer_sessions').select(['requests', 'watch_ms']).where('id', '=', live[0]!.id).executeTakeFirstOrThrow();
      assert.deepEqual([row.requests, Number(row.watch_ms)], [20, 200_000]);
    });

    it('writes a key text cannot hold (NUL, an unpaired surrogate) instead of failing its batch', async (t) => {
      if (!handle) return t.skip();
      const db = handle.database.db;
      const streamId = (await new StreamRepository(db).create({ title: 'odd keys' })).stream.id;
      // `?sid=%00` reaches the tracker as a NUL; a JSON string may carry an unpaired surrogate
      const odd = session(streamId, { clientKey: 'sid:a\u0000b', startedAt: new Date(T0), cmcdSid: 'x\ud800', contentId: 'é"\\' });
      const plain = session(streamId, { clientKey: 'v1', startedAt: new Date(T0) });
      await new MetricsRepository(db).upsertViewerSessions([odd, plain]);
      const rows = await db.selectFrom('viewer_sessions').select(['id', 'client_id', 'cmcd_sid', 'content_id']).where('stream_id', '=', streamId).execute();
      assert.deepEqual(
        rows.sort((a, b) => (a.id === odd.id ? -1 : b.id === odd.id ? 1 : 0)).map((r) => [r.client_id, r.cmcd_sid, r.content_id]),
        [
          ['sid:a\ufffdb', 'x\ufffd', 'é"\\'],
          ['v1', null, null],
        ],
      );
    });
  });
}

function assertOwnerA(summary: AnalyticsSummary, seeded: Seeded): void {
  // a1: 10 + 20 + 1 minutes; a2: 20 (the whole session, though it ends after the window)
  assert.equal(summary.minutesWatched, 51);
  assert.equal(summary.sessions, 8);
  // v1 (a1 and a2), v2, v3
  assert.equal(summary.uniqueViewers, 3);
  close(summary.meanStartupMs, 3500 / 3, 'mean startup');
  // (6 s + 12 s) stalled over 50 CMCD minutes
  close(summary.rebufferRatio, 18_000 / (50 * MIN), 'rebuffer ratio');
  // (2000 × 10 + 3000 × 20 + 1000 × 20) / 50
  close(summary.avgBitrateKbps, 2000, 'bitrate');
  assert.equal(summary.cmcdSessions, 3);
  // second 10: 5 + 2, second 11: 3 + 6; the sample before the window (50) is not in it
  assert.equal(summary.peakConcurrentViewers, 9);
  assert.deepEqual(
    summary.streams.map((s) => [s.streamId, s.title, s.minutesWatched, s.sessions, s.uniqueViewers, s.peakViewers, s.cmcdSessions]),
    [
      [seeded.a1, 'a1', 31, 7, 3, 5, 2],
      [seeded.a2, 'a2', 20, 1, 1, 6, 1],
    ],
  );
  close(summary.streams[0]!.rebufferRatio, 6000 / (30 * MIN), 'a1 rebuffer ratio');
  close(summary.streams[0]!.meanStartupMs, 750, 'a1 startup');
}

describe('GET /api/v1/streams/{id}/viewers and /api/v1/analytics/summary', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let owner: { clientId: string; accessToken: string };
  let other: { clientId: string; accessToken: string };
  let noScope: string;
  let seeded: Seeded;

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    owner = await f.client(['analytics:read'], 'owner');
    other = await f.client(['analytics:read'], 'other');
    noScope = (await f.client(['streams:read'], 'no analytics')).accessToken;
    seeded = await seed(handle.database.db, owner.clientId, other.clientId);
  });
  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  interface Page {
    stream_id: string;
    items: Array<Record<string, unknown> & { id: string }>;
    has_more: boolean;
    next_cursor: string | null;
  }
  interface Summary {
    minutes_watched: number;
    sessions: number;
    unique_viewers: number;
    peak_concurrent_viewers: number;
    qoe: { mean_startup_ms: number | null; rebuffer_ratio: number | null; avg_bitrate_kbps: number | null; cmcd_sessions: number };
    streams: Array<{ stream_id: string; minutes_watched: number; peak_viewers: number }>;
  }
  const window = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + HOUR).toISOString()}`;

  it('pages the owner through every session once, then has_more false', async () => {
    const seen: string[] = [];
    let path = `/api/v1/streams/${seeded.a1}/viewers?limit=3`;
    for (let pages = 0; pages < 10; pages++) {
      const page = await f.call<Page>('GET', path, { token: owner.accessToken });
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.stream_id, seeded.a1);
      seen.push(...page.body.items.map((s) => s.id));
      if (!page.body.has_more) {
        assert.equal(page.body.next_cursor, null);
        break;
      }
      path = `/api/v1/streams/${seeded.a1}/viewers?limit=3&cursor=${page.body.next_cursor}`;
    }
    assert.deepEqual(seen, seeded.a1Newest);
    const whole = await f.call<Page>('GET', `/api/v1/streams/${seeded.a1}/viewers`, { token: owner.accessToken });
    assert.equal(whole.body.items.length, 8);
    assert.equal(whole.body.has_more, false);
    const first = whole.body.items.find((s) => s.startup_ms === 1000)!;
    assert.deepEqual(
      { ...first, id: '' },
      {
        id: '', kind: 'hls', instance_id: 'nova-test', started_at: new Date(T0).toISOString(), last_seen_at: new Date(T0 + 10 * MIN).toISOString(),
        ended_at: new Date(T0 + 10 * MIN).toISOString(), renditions: ['720p', '480p'], rendition_switches: 1, bytes_served: 150_000_000, startup_ms: 1000,
        watch_ms: 10 * MIN, cmcd: true, cmcd_sid: 'v1', content_id: 'c', stream_format: 'h', avg_bitrate_kbps: 2000, avg_throughput_kbps: 9000,
        buffer_length_ms: 4000, rebuffer_count: 2, rebuffer_ms: 6000, rebuffer_ratio: 0.01,
      },
    );
    const live = await f.call<Page>('GET', `/api/v1/streams/${seeded.a1}/viewers?live=true`, { token: owner.accessToken });
    assert.deepEqual(live.body.items.map((s) => s.id), seeded.a1Live);
    assert.ok(live.body.items.every((s) => s.ended_at === null));
    // the admin token sees every stream's sessions
    assert.equal((await f.call<Page>('GET', `/api/v1/streams/${seeded.b1}/viewers`)).body.items.length, 1);
  });

  it('answers 400 for a bad cursor or limit, 404 for another client, 403 without analytics:read', async () => {
    const bad = [
      'cursor=not-a-cursor',
      `cursor=${encodeCursor(['x', 'y'])}`,
      `cursor=${encodeCursor([-1, 'y'])}`,
      `cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
      'limit=0',
      'limit=101',
      'live=maybe',
    ];
    for (const query of bad) {
      const answer = await f.call<{ error: { code: string } }>('GET', `/api/v1/streams/${seeded.a1}/viewers?${query}`, { token: owner.accessToken });
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'NOVA_ERR_BAD_REQUEST', query);
    }
    assert.equal((await f.call('GET', `/api/v1/streams/${seeded.a1}/viewers`, { token: other.accessToken })).status, 404);
    assert.equal((await f.call('GET', `/api/v1/streams/${seeded.a1}/viewers`, { token: noScope })).status, 403);
    assert.equal((await f.call('GET', `/api/v1/streams/${seeded.a1}/viewers`, { token: null })).status, 401);
    assert.equal((await f.call('GET', '/api/v1/streams/00000000-0000-4000-8000-000000000000/viewers', { token: owner.accessToken })).status, 404);
  });

  it("sums each caller's own streams; the admin token sums all", async () => {
    const mine = await f.call<Summary>('GET', `/api/v1/analytics/summary?${window}`, { token: owner.accessToken });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.deepEqual([mine.body.minutes_watched, mine.body.sessions, mine.body.unique_viewers, mine.body.peak_concurrent_viewers], [51, 8, 3, 9]);
    close(mine.body.qoe.rebuffer_ratio, 18_000 / (50 * MIN), 'rebuffer ratio');
    close(mine.body.qoe.mean_startup_ms, 3500 / 3, 'startup');
    close(mine.body.qoe.avg_bitrate_kbps, 2000, 'bitrate');
    assert.deepEqual(mine.body.streams.map((s) => [s.stream_id, s.minutes_watched, s.peak_viewers]), [[seeded.a1, 31, 5], [seeded.a2, 20, 6]]);

    const theirs = await f.call<Summary>('GET', `/api/v1/analytics/summary?${window}`, { token: other.accessToken });
    assert.deepEqual([theirs.body.sessions, theirs.body.minutes_watched, theirs.body.streams.map((s) => s.stream_id)], [1, 100, [seeded.b1]]);

    const all = await f.call<Summary>('GET', `/api/v1/analytics/summary?${window}`);
    assert.deepEqual([all.body.sessions, all.body.minutes_watched, all.body.unique_viewers, all.body.peak_concurrent_viewers], [9, 151, 4, 107]);

    // default window: the 24 hours before now, which holds none of the data (dated 2030)
    const now = await f.call<Summary>('GET', '/api/v1/analytics/summary', { token: owner.accessToken });
    assert.equal(now.status, 200);
    assert.equal(now.body.sessions, 0);
  });

  it('answers 400 for a window backwards or longer than 31 days', async () => {
    const day = 86_400_000;
    for (const query of [
      `from=${new Date(T0 + HOUR).toISOString()}&to=${new Date(T0).toISOString()}`,
      `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 31 * day + 1).toISOString()}`,
      'from=yesterday',
    ]) {
      const answer = await f.call<{ error: { code: string } }>('GET', `/api/v1/analytics/summary?${query}`, { token: owner.accessToken });
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'NOVA_ERR_BAD_REQUEST');
    }
    assert.equal((await f.call('GET', `/api/v1/analytics/summary?from=${new Date(T0).toISOString()}&to=${new Date(T0 + 31 * day).toISOString()}`, { token: owner.accessToken })).status, 200);
    assert.equal((await f.call('GET', '/api/v1/analytics/summary', { token: noScope })).status, 403);
  });
});
