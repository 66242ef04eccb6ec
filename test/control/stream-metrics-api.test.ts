import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { MetricsRepository, type StreamMetricsSample } from '../../src/control/db/metrics-repository.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { BACKENDS, openBackend, openMemoryDatabase, type TestDatabase } from './database-fixture.js';

// A whole minute (epoch multiple of 60 s and of 10 s) so that rolled-up steps start at T0.
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** 30 seconds of samples from T0 (viewers = the second's index, bitrate 1000 × it, fps 30), second 12 missing. */
function samples(streamId: string): StreamMetricsSample[] {
  return Array.from({ length: 30 }, (_, i) => i)
    .filter((i) => i !== 12)
    .map((i) => ({ streamId, at: new Date(T0 + i * 1000), viewers: i, ingressBitrate: 1000 * i, fps: 30 }));
}

for (const backend of BACKENDS) {
  describe(`MetricsRepository.series on ${backend}`, () => {
    let handle: TestDatabase | null = null;
    before(async () => {
      handle = await openBackend(backend);
    });
    after(async () => {
      await handle?.dispose();
    });

    it('returns the window at 1 s, and rolled up by step in SQL', async (t) => {
      if (!handle) return t.skip();
      await sql`TRUNCATE streams CASCADE`.execute(handle.database.db);
      const stream = (await new StreamRepository(handle.database.db).create({ title: 'm' })).stream.id;
      const other = (await new StreamRepository(handle.database.db).create({ title: 'other' })).stream.id;
      const metrics = new MetricsRepository(handle.database.db);
      await metrics.insertMetrics([...samples(stream), { streamId: other, at: new Date(T0 + 5000), viewers: 999, ingressBitrate: 1, fps: 1 }]);

      // the viewers' rebuffering ratio rolls up as the mean of the seconds that have one (null: no CMCD viewer)
      await metrics.insertMetrics([0.2, 0.1].map((ratio, i) => ({ streamId: other, at: new Date(T0 + 6000 + i * 1000), viewers: 1, ingressBitrate: 1, fps: 1, rebufferRatio: ratio })));
      const otherRolled = await metrics.series(other, new Date(T0), new Date(T0 + 10_000), 10);
      assert.equal(otherRolled.length, 1);
      assert.ok(Math.abs(otherRolled[0]!.rebufferRatio! - 0.15) < 1e-9, String(otherRolled[0]!.rebufferRatio));

      const perSecond = await metrics.series(stream, new Date(T0 + 5000), new Date(T0 + 15_000), 1);
      assert.deepEqual(perSecond.map((p) => (p.at.getTime() - T0) / 1000), [5, 6, 7, 8, 9, 10, 11, 13, 14]);
      assert.deepEqual(perSecond[0], { at: new Date(T0 + 5000), viewers: 5, peakViewers: 5, ingressBitrate: 5000, fps: 30, rebufferRatio: null, samples: 1 });

      const rolled = await metrics.series(stream, new Date(T0), new Date(T0 + 60_000), 10);
      assert.deepEqual(
        rolled.map((p) => ({ at: p.at.getTime() - T0, viewers: p.viewers, peak: p.peakViewers, bitrate: p.ingressBitrate, samples: p.samples })),
        [
          { at: 0, viewers: 4.5, peak: 9, bitrate: 4500, samples: 10 },
          // 10…19 without 12: (145 - 12) / 9
          { at: 10_000, viewers: 133 / 9, peak: 19, bitrate: 133_000 / 9, samples: 9 },
          { at: 20_000, viewers: 24.5, peak: 29, bitrate: 24_500, samples: 10 },
        ].map((p) => ({ ...p, viewers: p.viewers, bitrate: p.bitrate })),
      );
      assert.deepEqual(await metrics.series(stream, new Date(T0 + 30_000), new Date(T0 + 60_000), 1), []);
    });
  });
}

describe('GET /api/v1/streams/{id}/metrics', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let owner: { clientId: string; accessToken: string };
  let stranger: string;
  let noScope: string;
  let streamId: string;

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    owner = await f.client(['streams:write', 'analytics:read'], 'owner');
    stranger = (await f.client(['analytics:read'], 'stranger')).accessToken;
    noScope = (await f.client(['streams:read', 'streams:write'], 'no analytics')).accessToken;
    const created = await f.call<{ id: string }>('POST', '/api/v1/streams', { token: owner.accessToken, body: { title: 'owned' } });
    streamId = created.body.id;
    await new MetricsRepository(handle.database.db).insertMetrics(samples(streamId));
  });
  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  interface Series {
    stream_id: string;
    step: number;
    from: string;
    to: string;
    points: Array<{ at: string; viewers: number; peak_viewers: number; samples: number }>;
  }
  const window = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 30_000).toISOString()}`;

  it('gives the owner the series at 1 s and rolled up', async () => {
    const perSecond = await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: owner.accessToken });
    assert.equal(perSecond.status, 200, JSON.stringify(perSecond.body));
    assert.equal(perSecond.body.step, 1);
    assert.equal(perSecond.body.points.length, 29);
    assert.deepEqual(perSecond.body.points[12], { at: new Date(T0 + 13_000).toISOString(), viewers: 13, peak_viewers: 13, ingress_bitrate: 13_000, fps: 30, rebuffer_ratio: null, samples: 1 });
    const rolled = await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}&step=15`, { token: owner.accessToken });
    assert.equal(rolled.status, 200);
    assert.deepEqual(rolled.body.points.map((p) => [p.at, p.peak_viewers, p.samples]), [
      [new Date(T0).toISOString(), 14, 14],
      [new Date(T0 + 15_000).toISOString(), 29, 15],
    ]);
    // the admin token sees every stream
    assert.equal((await f.call<Series>('GET', `/api/v1/streams/${streamId}/metrics?${window}&step=30`)).body.points.length, 1);
  });

  it('is 404 for another client, 403 without analytics:read, 401 without a token', async () => {
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: stranger })).status, 404);
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: noScope })).status, 403);
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?${window}`, { token: null })).status, 401);
    assert.equal((await f.call('GET', `/api/v1/streams/00000000-0000-4000-8000-000000000000/metrics`, { token: owner.accessToken })).status, 404);
  });

  it('answers 400 for a window backwards, too many steps, or bad values', async () => {
    const later = new Date(T0 + 60_000).toISOString();
    for (const query of [`from=${later}&to=${new Date(T0).toISOString()}`, `from=${new Date(T0 - 86_400_000).toISOString()}&to=${later}&step=1`, 'step=0', 'step=x', 'from=yesterday']) {
      const answer = await f.call<{ error: { code: string } }>('GET', `/api/v1/streams/${streamId}/metrics?${query}`, { token: owner.accessToken });
      assert.equal(answer.status, 400, query);
      assert.equal(answer.body.error.code, 'NOVA_ERR_BAD_REQUEST');
    }
    // the same day at step 60 is 1,441 steps: fine
    assert.equal((await f.call('GET', `/api/v1/streams/${streamId}/metrics?from=${new Date(T0 - 86_400_000).toISOString()}&to=${later}&step=60`, { token: owner.accessToken })).status, 200);
  });
});
