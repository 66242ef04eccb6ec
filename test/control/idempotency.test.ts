import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Database } from '../../src/control/db/database.js';
import { IdempotencyStore } from '../../src/control/api/idempotency.js';
import { NovaError } from '../../src/errors.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openMemoryDatabase, openTemporaryPostgres, silentLog, type TestDatabase } from './database-fixture.js';

type StreamBody = { id: string; stream_key: string };

describe('Idempotency-Key on POST, two instances on one PostgreSQL', () => {
  let handle: TestDatabase | null;
  let second: Database;
  let a: ControlApiFixture;
  let b: ControlApiFixture;
  let token: string;
  let clientId: string;

  before(async () => {
    handle = await openTemporaryPostgres();
    if (!handle) return;
    second = await openDatabase({ databaseUrl: handle.url!, dataDir: '/nonexistent' }, silentLog);
    a = await startControlApiFixture({ database: handle.database, publicUrl: 'https://api.example' });
    b = await startControlApiFixture({ database: second, publicUrl: 'https://api.example' });
    const client = await a.client(['streams:read', 'streams:write']);
    token = client.accessToken;
    clientId = client.clientId;
  });

  after(async () => {
    if (!handle) return;
    await a.stop();
    await b.stop();
    await second.close();
    await handle.dispose();
  });

  const ownedStreams = async () =>
    Number((await handle!.database.db.selectFrom('streams').select((eb) => eb.fn.countAll().as('n')).where('owner_client_id', '=', clientId).executeTakeFirstOrThrow()).n);

  it('twenty concurrent creates with one key make one stream and one body', async (t) => {
    if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
    const before = await ownedStreams();
    const headers = { 'idempotency-key': 'create-once-1' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).call<StreamBody>('POST', '/api/v1/streams', { token, body: { title: 'once' }, headers })),
    );
    const created = answers.filter((x) => x.status === 201);
    const others = answers.filter((x) => x.status !== 201);
    assert.ok(created.length >= 1);
    assert.ok(others.every((x) => x.status === 409), `only 201 or 409: ${answers.map((x) => x.status).join(',')}`);
    assert.equal(new Set(created.map((x) => JSON.stringify(x.body))).size, 1, 'one body');
    assert.equal(await ownedStreams(), before + 1, 'one stream');
    // Once it has answered, a retry on either instance gets the same body back.
    for (const instance of [a, b]) {
      const retry = await instance.call<StreamBody>('POST', '/api/v1/streams', { token, body: { title: 'once' }, headers });
      assert.equal(retry.status, 201);
      assert.deepEqual(retry.body, created[0]!.body);
      assert.equal(retry.headers.get('idempotency-replayed'), 'true');
    }
    assert.equal(await ownedStreams(), before + 1);
  });

  it('refuses the key with another body (422), keeps keys per client, and stores responses encrypted', async (t) => {
    if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
    const headers = { 'idempotency-key': 'create-once-2' };
    const first = await a.call<StreamBody>('POST', '/api/v1/streams', { token, body: { title: 'x' }, headers });
    assert.equal(first.status, 201);
    const other = await b.call<{ error: { code: string } }>('POST', '/api/v1/streams', { token, body: { title: 'y' }, headers });
    assert.equal(other.status, 422);
    assert.equal(other.body.error.code, 'NOVA_ERR_UNPROCESSABLE');
    // Another client's identical key is its own.
    const stranger = await a.client(['streams:write']);
    assert.equal((await b.call('POST', '/api/v1/streams', { token: stranger.accessToken, body: { title: 'y' }, headers })).status, 201);
    const rows = await handle.database.db.selectFrom('idempotency_keys').selectAll().execute();
    assert.ok(rows.length >= 3);
    for (const row of rows) {
      assert.ok(!(row.response ?? '').includes(first.body.stream_key) && !(row.response ?? '').includes('nsk_'), 'no plaintext stream key at rest');
      assert.ok(!row.key_hash.includes('create-once'), 'no plaintext key at rest');
    }
  });

  it('forgets a request that failed, so the key can be used again', async (t) => {
    if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
    const headers = { 'idempotency-key': 'mint-1' };
    const missing = await a.call('POST', '/api/v1/streams/00000000-0000-0000-0000-000000000000/playback-tokens', { token, body: {}, headers });
    assert.equal(missing.status, 404);
    const stream = await a.call<StreamBody>('POST', '/api/v1/streams', { token, body: {} });
    const minted = await b.call('POST', `/api/v1/streams/${stream.body.id}/playback-tokens`, { token, body: {}, headers });
    assert.equal(minted.status, 201, 'the key was free again after the 404');
    assert.equal((await a.call('POST', '/api/v1/streams', { token, body: {}, headers: { 'idempotency-key': ' bad key ' } })).status, 400);
  });
});

describe('IdempotencyStore', () => {
  let handle: TestDatabase;
  before(async () => {
    handle = await openMemoryDatabase();
  });
  after(() => handle.dispose());

  it('answers 409 while the first request runs, replays after, and forgets after 24 h', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = new IdempotencyStore(handle.database.db, () => now);
    const input = { principal: 'client:x', key: 'k1', method: 'POST', path: '/api/v1/streams', body: Buffer.from('{}') };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    const execute = async () => {
      runs++;
      await gate;
      return { status: 201, body: { n: runs } };
    };
    const first = store.run(input, execute);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(store.run(input, execute), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CONFLICT');
    release();
    assert.deepEqual((await first).body, { n: 1 });
    const replay = await store.run(input, execute);
    assert.deepEqual(replay.body, { n: 1 });
    assert.equal(replay.status, 201);
    assert.equal(runs, 1);
    await assert.rejects(store.run({ ...input, body: Buffer.from('{"a":1}') }, execute), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_UNPROCESSABLE');
    await assert.rejects(store.run({ ...input, path: '/api/v1/clients' }, execute), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_UNPROCESSABLE');
    now += 24 * 3_600_000 + 1;
    const fresh = await store.run({ ...input, body: Buffer.from('{"a":1}') }, async () => ({ status: 201, body: { n: 99 } }));
    assert.deepEqual(fresh.body, { n: 99 }, 'a day later the key is new');
  });
});
