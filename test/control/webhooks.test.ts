/**
 * Webhooks in the whole server against real HTTP receivers: a receiver that
 * fails three times and then answers gets the event once more (same
 * webhook-id) with a Standard Webhooks signature that verifies, every attempt
 * logged; a receiver that never answers slows nobody else's deliveries and,
 * once its retry window is over, is disabled with a webhook_disabled notice;
 * private and loopback targets are refused unless configured. A client's
 * webhooks are its own (another client gets 404) and hear only its own
 * streams; the admin's hear every stream. Every answer read through `api`
 * is checked against the OpenAPI document.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { checkWebhookTarget, isInternalAddress, parseWebhookUrl } from '../../src/control/webhooks/webhook-target.js';
import { sendWebhook } from '../../src/control/webhooks/webhook-sender.js';
import { checkAgainstDocument } from '../support/control-api.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

/** An HTTP receiver answering each request as `answer` says (null: never answers). */
async function receiver(answer: (n: number) => number | null): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const status = answer(got.length + 1);
      got.push({ at: Date.now(), headers: req.headers, body, status: status ?? 0 });
      if (status === null) hanging.add(res);
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () =>
      new Promise((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('webhooks', () => {
  let nova: NovaFixture;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    nova = await startNova({
      env: {
        LOG_LEVEL: 'silent',
        WEBHOOK_ALLOW_PRIVATE: 'on',
        WEBHOOK_TIMEOUT_MS: '400',
        WEBHOOK_RETRY_BASE_MS: '50',
        WEBHOOK_RETRY_WINDOW_S: '3',
        WEBHOOK_BREAKER_RESET_MS: '200',
      },
    });
  });
  after(async () => {
    for (const close of closers) await close();
    await nova?.stop();
  });

  /** The server's answer, checked against the document; with `token`, as that client (default: the admin token). */
  const api = async (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: unknown }> => {
    let answer: { status: number; body: unknown };
    if (token === undefined) answer = await nova.api(method, path, body);
    else {
      const response = await fetch(nova.http + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      answer = { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
    }
    checkAgainstDocument(method, path, answer.status, answer.body);
    return answer;
  };

  /** An API client with these scopes and an access token for it. */
  const client = async (scopes: string[], name: string): Promise<{ clientId: string; token: string }> => {
    const created = (await api('POST', '/api/v1/clients', { name, scopes })).body as { client_id: string; client_secret: string };
    const issued = await fetch(`${nova.http}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: created.client_id, client_secret: created.client_secret }),
    });
    assert.equal(issued.status, 200);
    return { clientId: created.client_id, token: ((await issued.json()) as { access_token: string }).access_token };
  };

  const register = async (url: string, eventTypes: string[], token?: string): Promise<{ id: string; secret: string }> => {
    const created = await api('POST', '/api/v1/webhooks', { url, event_types: eventTypes, description: 'test' }, token);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const body = created.body as { id: string; secret: string; enabled: boolean };
    assert.match(body.secret, /^whsec_/);
    assert.equal(body.enabled, true);
    return body;
  };

  it('a receiver that fails three times and then answers gets the event once, signed, every attempt logged', async () => {
    const flaky = await receiver((n) => (n <= 3 ? 500 : 204));
    closers.push(flaky.close);
    const webhook = await register(flaky.url, ['stream_created']);
    const stream = await nova.createStream({ title: 'hooked' });
    await waitFor('the fourth attempt to succeed', 10_000, () => flaky.got.some((r) => r.status === 204));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(flaky.got.length, 4, 'three failures, one success, nothing after');
    const ids = new Set(flaky.got.map((r) => r.headers['webhook-id']));
    assert.equal(ids.size, 1, 'the same webhook-id on every attempt');
    const delivered = flaky.got[3]!;
    const verified = new Webhook(webhook.secret).verify(delivered.body, delivered.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
    assert.equal(verified.type, 'stream_created');
    assert.equal(verified.data.stream_id, stream.id);
    assert.equal(verified.data.title, 'hooked');
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(delivered.body, delivered.headers as Record<string, string>), 'another secret does not verify');

    const attempts = await api('GET', `/api/v1/webhooks/${webhook.id}/attempts`);
    assert.equal(attempts.status, 200);
    const items = (attempts.body as { items: Array<{ attempt: number; status_code: number | null; error: string | null; event_id: string }> }).items;
    assert.deepEqual(items.map((a) => [a.attempt, a.status_code]), [[4, 204], [3, 500], [2, 500], [1, 500]]);
    assert.equal(items[0]!.error, null);
    assert.equal(items[3]!.error, 'HTTP 500');
    assert.ok(items.every((a) => a.event_id === [...ids][0]));
    assert.equal((await api('DELETE', `/api/v1/webhooks/${webhook.id}`)).status, 200);
  });

  it('a receiver that never answers slows no other delivery, and is disabled with a notice after its retry window', async () => {
    const silent = await receiver(() => null);
    const prompt = await receiver(() => 200);
    closers.push(silent.close, prompt.close);
    const dead = await register(silent.url, ['stream_created']);
    await register(prompt.url, ['stream_created', 'webhook_disabled']);
    const started = Date.now();
    const streams = [];
    for (let i = 0; i < 6; i++) streams.push(await nova.createStream({ title: `busy ${i}` }));
    await waitFor('the prompt receiver to get all six', 5000, () => prompt.got.filter((r) => JSON.parse(r.body).type === 'stream_created').length >= 6);
    const slowest = Math.max(...prompt.got.map((r) => r.at - started));
    assert.ok(slowest < 2000, `the last reached the prompt receiver ${slowest} ms after the first was raised, beside a receiver that never answers`);
    assert.ok(silent.got.length >= 1, 'the silent one was tried');

    await waitFor('the silent webhook to be disabled', 15_000, async () => ((await api('GET', `/api/v1/webhooks/${dead.id}`)).body as { enabled: boolean }).enabled === false);
    const disabled = (await api('GET', `/api/v1/webhooks/${dead.id}`)).body as { disabled_reason: string };
    assert.match(disabled.disabled_reason, /no answer within 400 ms/);
    const notice = await waitFor('the webhook_disabled notice', 5000, () => prompt.got.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> }).find((b) => b.type === 'webhook_disabled'));
    assert.equal(notice.data.stream_id, dead.id);
    assert.equal(notice.data.url, silent.url);
    const tries = silent.got.length;
    await nova.createStream({ title: 'after' });
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(silent.got.length, tries, 'a disabled webhook is not tried');
    const enabled = await api('POST', `/api/v1/webhooks/${dead.id}/enable`);
    assert.equal((enabled.body as { enabled: boolean }).enabled, true);
  });

  it("a client's webhooks are its own and hear only its own streams; the admin's hear every stream", async () => {
    const a = await client(['streams:read', 'streams:write'], 'hooks a');
    const b = await client(['streams:read', 'streams:write'], 'hooks b');
    const boss = await client(['admin'], 'hooks boss');
    const gone = await client(['streams:read', 'streams:write'], 'hooks revoked');
    const receivers = { a: await receiver(() => 204), b: await receiver(() => 204), admin: await receiver(() => 204), boss: await receiver(() => 204), gone: await receiver(() => 204) };
    for (const r of Object.values(receivers)) closers.push(r.close);
    const hookA = await register(receivers.a.url, ['stream_created'], a.token);
    const hookB = await register(receivers.b.url, ['stream_created'], b.token);
    await register(receivers.admin.url, ['stream_created']);
    await register(receivers.boss.url, ['stream_created'], boss.token);
    await register(receivers.gone.url, ['stream_created'], gone.token);

    // the webhook itself: another client gets 404 on every operation, its owner and the admin see it
    for (const [method, path] of [['GET', `/api/v1/webhooks/${hookA.id}`], ['GET', `/api/v1/webhooks/${hookA.id}/attempts`], ['POST', `/api/v1/webhooks/${hookA.id}/enable`], ['DELETE', `/api/v1/webhooks/${hookA.id}`]] as const) {
      assert.equal((await api(method, path, undefined, b.token)).status, 404, `${method} ${path} as another client`);
    }
    const seen = (answer: { body: unknown }): string[] => (answer.body as { items: Array<{ id: string }> }).items.map((w) => w.id);
    assert.deepEqual(seen(await api('GET', '/api/v1/webhooks', undefined, a.token)), [hookA.id]);
    const mine = (await api('GET', `/api/v1/webhooks/${hookA.id}`, undefined, a.token)).body as { owner_client_id: string };
    assert.equal(mine.owner_client_id, a.clientId);
    for (const token of [undefined, boss.token]) {
      const all = seen(await api('GET', '/api/v1/webhooks', undefined, token));
      assert.ok(all.includes(hookA.id) && all.includes(hookB.id), 'the admin token and admin clients list every webhook');
    }
    const readOnly = await client(['streams:read'], 'hooks read-only');
    assert.equal((await api('POST', '/api/v1/webhooks', { url: receivers.a.url, event_types: ['*'] }, readOnly.token)).status, 403);
    assert.equal((await api('GET', '/api/v1/events/groups', undefined, a.token)).status, 403, 'dead letters are for admin only');

    // what each webhook hears
    assert.equal((await api('DELETE', `/api/v1/clients/${gone.clientId}`)).status, 200);
    const created = async (token: string): Promise<string> => ((await api('POST', '/api/v1/streams', { title: 'owned' }, token)).body as { id: string }).id;
    const streams = {
      a: await created(a.token),
      b: await created(b.token),
      admin: (await nova.createStream({ title: 'admin owned' })).id,
      // the revoked client's stream (it can no longer make one through the API)
      gone: (await nova.server.repo.create({ title: 'revoked owner', ownerClientId: gone.clientId })).stream.id,
    };
    const heard = (r: { got: Received[] }): string[] =>
      r.got.map((g) => (JSON.parse(g.body) as { data: { stream_id: string } }).data.stream_id).filter((id) => Object.values(streams).includes(id)).sort();
    const every = Object.values(streams).sort();
    await waitFor('the admin webhooks to hear every stream', 10_000, () => heard(receivers.admin).length === 4 && heard(receivers.boss).length === 4);
    assert.deepEqual(heard(receivers.admin), every);
    assert.deepEqual(heard(receivers.boss), every, "an admin client's webhook hears every stream");
    await waitFor("the clients' webhooks to hear their own", 5000, () => heard(receivers.a).length > 0 && heard(receivers.b).length > 0);
    // deliveries are made at fan-out, with the admin's: give any stray one time to arrive
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(heard(receivers.a), [streams.a]);
    assert.deepEqual(heard(receivers.b), [streams.b]);
    assert.deepEqual(heard(receivers.gone), [], "a revoked client's webhook hears nothing");
  });

  it('refuses bad registrations with coded errors', async () => {
    const bad = async (body: unknown, status: number): Promise<void> => {
      const response = await api('POST', '/api/v1/webhooks', body);
      assert.equal(response.status, status, JSON.stringify(body));
      assert.match((response.body as { error: { code: string } }).error.code, /^NOVA_ERR_/);
    };
    await bad({ url: 'ftp://example.com/x', event_types: ['*'] }, 400);
    await bad({ url: 'not a url', event_types: ['*'] }, 400);
    await bad({ url: 'http://user:pw@example.com/', event_types: ['*'] }, 400);
    await bad({ url: 'http://example.com/', event_types: [] }, 400);
    await bad({ url: 'http://example.com/', event_types: ['stream_metrics'] }, 400);
    await bad({ url: 'http://example.com/', event_types: ['*'], extra: 1 }, 400);
    assert.equal((await api('GET', '/api/v1/webhooks/not-an-id')).status, 404);
    assert.equal((await fetch(`${nova.http}/api/v1/webhooks`)).status, 401);
  });

  it('private and loopback targets are refused unless allowed, at registration and at connection', async () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '172.20.0.1', '169.254.169.254', '::1', 'fe80::1', '::ffff:127.0.0.1', 'fd00::1']) {
      assert.equal(isInternalAddress(address), true, address);
    }
    for (const address of ['93.184.216.34', '2606:2800:220:1::1']) assert.equal(isInternalAddress(address), false, address);
    await assert.rejects(checkWebhookTarget(parseWebhookUrl('http://127.0.0.1:9/x'), false), { code: 'NOVA_ERR_FORBIDDEN' });
    await assert.rejects(checkWebhookTarget(parseWebhookUrl('http://localhost:9/x'), false), { code: 'NOVA_ERR_FORBIDDEN' });
    await assert.rejects(checkWebhookTarget(parseWebhookUrl('http://[::1]:9/x'), false), { code: 'NOVA_ERR_FORBIDDEN' });
    await checkWebhookTarget(parseWebhookUrl('http://127.0.0.1:9/x'), true);
    const local = await receiver(() => 200);
    closers.push(local.close);
    const viaName = await sendWebhook({ url: local.url.replace('127.0.0.1', 'localhost'), secret: `whsec_${Buffer.alloc(24, 2).toString('base64')}`, id: 'msg_1', body: '{}' }, { timeoutMs: 1000, allowInternal: false });
    assert.equal(viaName.ok, false);
    assert.match(viaName.error ?? '', /private or loopback/);
    assert.equal(local.got.length, 0, 'never connected');
    const allowed = await sendWebhook({ url: local.url, secret: `whsec_${Buffer.alloc(24, 2).toString('base64')}`, id: 'msg_2', body: '{}' }, { timeoutMs: 1000, allowInternal: true });
    assert.equal(allowed.ok, true);
  });
});
