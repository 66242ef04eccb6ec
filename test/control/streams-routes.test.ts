import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { checkAgainstDocument, startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ErrorBody {
  error: { code: string; message: string };
}
type StreamBody = Record<string, unknown> & { id: string; status: string };

describe('streams REST API', () => {
  let handle: TestDatabase;
  let repo: StreamRepository;
  let fixture: ControlApiFixture;
  let base = '';
  let TOKEN = '';
  let deleted: string[];
  let live: ControlApiFixture['live'];

  before(async () => {
    handle = await openMemoryDatabase();
    repo = new StreamRepository(handle.database.db);
    fixture = await startControlApiFixture({ database: handle.database, publicUrl: 'https://media.example' });
    ({ base, deleted, live, adminToken: TOKEN } = fixture);
  });

  after(async () => {
    await fixture.stop();
    await handle.database.close();
  });

  /** Every answer read through here is checked against the OpenAPI document. */
  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(base + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });
    const text = await response.clone().text();
    checkAgainstDocument(init.method ?? 'GET', path, response.status, text === '' ? text : JSON.parse(text));
    return response;
  };
  const create = async (body: unknown = {}) => {
    const res = await api('/api/v1/streams', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 201);
    return (await res.json()) as StreamBody;
  };
  const expectError = async (res: Response, status: number, code: string) => {
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, 'string');
    return body;
  };

  it('creates a stream and returns its key and URLs once', async () => {
    const res = await api('/api/v1/streams', { method: 'POST', body: JSON.stringify({ title: 'Keynote', private: true }) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as StreamBody;
    assert.match(body.id, UUID);
    assert.equal(body.title, 'Keynote');
    assert.equal(body.status, 'PENDING');
    assert.equal(body.private, true);
    assert.match(body.stream_key as string, /^nsk_[A-Za-z0-9_-]{43}$/);
    assert.equal(body.rtmp_url, 'rtmp://media.example:1935/live');
    assert.equal(body.publish_url, `rtmp://media.example:1935/live/${body.stream_key}`);
    assert.equal(body.hls_url, `https://media.example/hls/${body.id}/master.m3u8`);
    assert.equal(body.ll_hls_url, body.hls_url);
    assert.equal(body.dash_url, `https://media.example/dash/${body.id}/manifest.mpd`);
    assert.equal(body.ws_url, `wss://media.example/api/v1/streams/${body.id}/ws`);
    assert.ok(Math.abs(Date.parse(body.created_at as string) - Date.now()) < 60_000);
    assert.equal((await repo.findStreamByKey(body.stream_key as string))?.id, body.id);

    const fetched = (await (await api(`/api/v1/streams/${body.id}`)).json()) as StreamBody;
    assert.equal(fetched.stream_key, undefined, 'GET never returns the key');
    assert.equal(fetched.publish_url, undefined);
    assert.equal(fetched.title, 'Keynote');
  });

  it('accepts an empty body and defaults', async () => {
    const res = await api('/api/v1/streams', { method: 'POST' });
    assert.equal(res.status, 201);
    const body = (await res.json()) as StreamBody;
    assert.equal(body.title, '');
    assert.equal(body.private, false);
  });

  it('shows live viewers and renditions of an active stream', async () => {
    const created = await create({ title: 'live one' });
    await repo.markActive(created.id, 'test-node');
    const renditions = [{ name: 'source', width: 1920, height: 1080, bandwidth: 6_000_000, codecs: 'avc1.640028', frameRate: 30 }];
    const warning = { code: 'long_keyframe_interval', message: 'set the keyframe interval to 2 s', keyframe_interval_ms: 5000 } as const;
    live.set(created.id, { viewers: 7, peakViewers: 9, renditions, warnings: [warning] });
    const body = (await (await api(`/api/v1/streams/${created.id}`)).json()) as StreamBody & { peak_viewers: number; warnings: unknown[] };
    assert.equal(body.status, 'ACTIVE');
    assert.equal(body.viewers, 7);
    assert.equal(body.peak_viewers, 9, 'the live peak, before the database has it');
    assert.deepEqual(body.warnings, [warning]);
    assert.deepEqual(body.renditions, renditions);
    assert.equal(typeof body.started_at, 'string');
    assert.equal(body.ended_at, null);
  });

  it('lists with a status filter and follows next_cursor', async () => {
    const mine = new Set<string>();
    for (let i = 0; i < 5; i++) mine.add((await create({ title: `page ${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 50; guard++) {
      const res = await api(`/api/v1/streams?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200);
      const page = (await res.json()) as { items: StreamBody[]; next_cursor: string | null };
      assert.ok(page.items.length <= 2);
      for (const item of page.items) assert.equal(item.stream_key, undefined);
      seen.push(...page.items.map((s) => s.id));
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    assert.equal(new Set(seen).size, seen.length, 'no stream twice');
    for (const id of mine) assert.ok(seen.includes(id));
    const total = (await repo.list({ limit: 100 })).items.length;
    assert.equal(seen.length, total);

    const active = (await (await api('/api/v1/streams?status=ACTIVE')).json()) as { items: StreamBody[] };
    assert.ok(active.items.length >= 1);
    assert.ok(active.items.every((s) => s.status === 'ACTIVE'));
    assert.ok(!active.items.some((s) => mine.has(s.id)));
  });

  it('deletes: ends the stream, revokes its key, drops its publisher', async () => {
    const created = await create({ title: 'to delete' });
    await repo.markActive(created.id, 'test-node');
    const res = await api(`/api/v1/streams/${created.id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as StreamBody;
    assert.equal(body.id, created.id);
    assert.equal(body.status, 'ENDED');
    assert.equal(body.end_reason, 'deleted');
    assert.equal(typeof body.ended_at, 'string');
    assert.ok(deleted.includes(created.id));
    assert.equal(await repo.findStreamByKey(created.stream_key as string), null);
    assert.equal(await repo.markActive(created.id, 'test-node'), null);
    // Deleting again is harmless.
    const again = await api(`/api/v1/streams/${created.id}`, { method: 'DELETE' });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as StreamBody).end_reason, 'deleted');
  });

  it('answers 401 with www-authenticate without or with a wrong bearer', async () => {
    const created = await create();
    const attempts: Array<[string, RequestInit]> = [
      ['/api/v1/streams', { method: 'POST', body: '{}' }],
      ['/api/v1/streams', { method: 'GET' }],
      [`/api/v1/streams/${created.id}`, { method: 'GET' }],
      [`/api/v1/streams/${created.id}`, { method: 'DELETE' }],
    ];
    for (const [path, init] of attempts) {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }] as Array<Record<string, string>>) {
        const res = await fetch(base + path, { ...init, headers });
        await expectError(res, 401, 'NOVA_ERR_UNAUTHORIZED');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
      }
    }
    assert.equal((await repo.get(created.id))?.status, 'PENDING', 'unauthorized DELETE changed nothing');
    assert.ok(!deleted.includes(created.id));
  });

  it('answers 400 for bad bodies and queries', async () => {
    const bad = ['not json', '[]', '"x"', '42', 'null', '{"title":5}', '{"private":"yes"}', '{"title":"a","extra":1}',
      JSON.stringify({ title: 'x'.repeat(201) }), '{"title":"a\\u0000b"}', '{"title":'];
    for (const body of bad) {
      const res = await api('/api/v1/streams', { method: 'POST', body });
      await expectError(res, 400, 'NOVA_ERR_BAD_REQUEST');
    }
    assert.equal((await api('/api/v1/streams', { method: 'POST', body: JSON.stringify({ title: 'x'.repeat(200) }) })).status, 201);
    for (const query of ['status=LIVE', 'limit=0', 'limit=101', 'limit=abc', 'limit=-1', 'cursor=%%%', 'cursor=abc']) {
      await expectError(await api(`/api/v1/streams?${query}`), 400, 'NOVA_ERR_BAD_REQUEST');
    }
  });

  it('answers 404 for unknown ids', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'nope', 'ZZZZZZZZ-0000-0000-0000-000000000000', '%27%20OR%201%3D1']) {
      await expectError(await api(`/api/v1/streams/${id}`), 404, 'NOVA_ERR_NOT_FOUND');
      await expectError(await api(`/api/v1/streams/${id}`, { method: 'DELETE' }), 404, 'NOVA_ERR_NOT_FOUND');
    }
  });

  it('answers 413 for a body over 16 KiB, declared or streamed', async () => {
    const big = JSON.stringify({ title: 'x'.repeat(17 * 1024) });
    await expectError(await api('/api/v1/streams', { method: 'POST', body: big }), 413, 'NOVA_ERR_PAYLOAD_TOO_LARGE');
    // Chunked: no content-length to refuse up front.
    const chunks = (async function* () {
      for (let i = 0; i < 20; i++) yield new TextEncoder().encode('x'.repeat(1024));
    })();
    const res = await api('/api/v1/streams', { method: 'POST', body: chunks as unknown as RequestInit['body'], duplex: 'half' } as RequestInit);
    await expectError(res, 413, 'NOVA_ERR_PAYLOAD_TOO_LARGE');
    // The server still serves afterwards.
    assert.equal((await api('/api/v1/streams?limit=1')).status, 200);
  });

  it('property: any POST body gets 201 or a JSON 4xx, never a 5xx', async () => {
    const jsonish = fc.oneof(
      fc.json(),
      fc.string(),
      fc.dictionary(fc.constantFrom('title', 'private', 'extra', '__proto__', 'constructor'), fc.jsonValue()).map((o) => JSON.stringify(o)),
      fc.record({ title: fc.string({ maxLength: 250 }), private: fc.boolean() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
      // Lone surrogates, NUL and every plane in titles.
      fc.string({ unit: 'binary', maxLength: 220 }).map((title) => JSON.stringify({ title })),
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(jsonish, async (body) => {
        const res = await api('/api/v1/streams', { method: 'POST', body });
        const text = await res.text();
        assert.ok(res.status === 201 || (res.status >= 400 && res.status < 500), `status ${res.status} for ${JSON.stringify(body)}: ${text}`);
        const parsed = JSON.parse(text) as StreamBody & ErrorBody;
        if (res.status === 201) assert.match(parsed.id, UUID);
        else assert.match(parsed.error.code, /^NOVA_ERR_/);
      }),
      { numRuns: 300 },
    );
  });
});
