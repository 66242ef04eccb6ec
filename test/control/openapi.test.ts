import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import fc from 'fast-check';
import { asyncApiDocument, type AsyncApiDocument, type WsMessagesSchema } from '../../src/control/api/asyncapi-document.js';
import { listOperations, openApiDocument } from '../../src/control/api/openapi-document.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

/**
 * The document is the contract: a standard validator accepts it, the server
 * registers exactly its operations, and no request, however odd, gets a
 * 500 or an answer the document does not describe (every answer read
 * through the fixture is checked against it).
 */

describe('OpenAPI document', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let clientToken: string;
  let streamId: string;
  let webhookId: string;
  let deadLetterId: string;

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    clientToken = (await f.client(['streams:read', 'streams:write'])).accessToken;
    streamId = ((await f.call<{ id: string }>('POST', '/api/v1/streams', { token: clientToken, body: {} })).body).id;
    // an IP literal on a public address: registered without a DNS lookup, never sent to (no dispatcher here)
    webhookId = (await f.call<{ id: string }>('POST', '/api/v1/webhooks', { token: clientToken, body: { url: 'https://93.184.216.34/hook', event_types: ['*'] } })).body.id;
    deadLetterId = await f.deadLetter('webhooks', streamId);
  });

  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  it('is valid OpenAPI 3.0.3 (swagger-parser), as served', async () => {
    const served = await f.call<Record<string, unknown>>('GET', '/api/v1/openapi.json', { token: null });
    assert.equal(served.status, 200);
    assert.equal(served.body.openapi, '3.0.3');
    assert.deepEqual((served.body.servers as Array<{ url: string }>)[0]!.url, f.base);
    await SwaggerParser.validate(structuredClone(served.body) as never);
    await SwaggerParser.validate(structuredClone(openApiDocument()) as never);
  });

  it('lists exactly the registered routes, and each answers from the API router', async () => {
    const documented = listOperations(openApiDocument()).map(({ method, path }) => `${method} ${path}`).sort();
    assert.deepEqual(f.api.router.registered().sort(), documented);
    for (const { method, path } of listOperations(openApiDocument())) {
      const concrete = path.replace('{id}', '00000000-0000-0000-0000-000000000000').replace('{asset}', 'nothing-here').replace('{group}', 'webhooks');
      const response = await fetch(f.base + concrete, { method });
      assert.ok(response.headers.get('x-request-id'), `${method} ${path} is served by the router`);
      assert.ok(response.status < 500, `${method} ${path}: ${response.status}`);
      await response.arrayBuffer();
    }
  });

  it('serves the rendered documentation, the WebSocket schema and the AsyncAPI document built from it', async () => {
    const page = await fetch(`${f.base}/api/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await page.text();
    for (const [, src] of html.matchAll(/(?:src|href)="(\/api\/docs\/[^"]+)"/g)) {
      const asset = await fetch(f.base + src);
      assert.equal(asset.status, 200, src);
      assert.ok((await asset.arrayBuffer()).byteLength > 0, src);
    }
    assert.match(await (await fetch(`${f.base}/api/docs/init.js`)).text(), /\/api\/v1\/openapi\.json/);
    assert.equal((await fetch(`${f.base}/api/docs/..%2Fpackage.json`)).status, 404);
    const schema = await f.call('GET', '/api/v1/schemas/ws-messages.schema.json', { token: null });
    assert.equal(schema.status, 200);
    const wsSchema = JSON.parse(schema.body as string) as WsMessagesSchema;
    assert.equal(wsSchema.$id?.endsWith('ws-messages.schema.json'), true);
    const asyncApi = await f.call<AsyncApiDocument>('GET', '/api/v1/asyncapi.json', { token: null });
    assert.equal(asyncApi.status, 200);
    assert.deepEqual(asyncApi.body, asyncApiDocument(wsSchema, f.base));
    assert.equal(asyncApi.body.servers.nova!.url, new URL(f.base).host);
  });

  const segment = fc.oneof(
    fc.constant(''),
    fc.uuid(),
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => encodeURIComponent(s)),
    fc.constantFrom('%00', '%ZZ', '..', '%2F', 'null'),
  );
  const query = fc.dictionary(
    fc.constantFrom('status', 'sort', 'limit', 'cursor', 'from', 'to', 'step', 'before', 'after', 'token', 'x'),
    fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('1', '1-0', '0', '9007199254740993', '1e3')),
    { maxKeys: 3 },
  );
  // webhook targets that need no DNS lookup: public and private IP literals, and what is not a URL
  const webhookUrl = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('https://93.184.216.34/hook', 'http://93.184.216.34:8080/a?b=c#d') },
    { weight: 1, arbitrary: fc.constantFrom('http://127.0.0.1:9/x', 'http://[::1]/x', 'ftp://93.184.216.34/', 'http://u:p@93.184.216.34/', 'not a url', '', `https://93.184.216.34/${'x'.repeat(2000)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.ipV4().map((ip) => `http://${ip}/`) },
  );
  const eventTypes = fc.oneof(
    { weight: 3, arbitrary: fc.uniqueArray(fc.constantFrom('*', 'stream_created', 'stream_ended', 'webhook_disabled'), { minLength: 1, maxLength: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom('*', 'stream_created', 'stream_metrics', '', 'x'), { maxLength: 22 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
  const description = fc.oneof(fc.string({ minLength: 40, maxLength: 520 }), fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('a\u0000b', 'line\nbreak'), fc.jsonValue({ maxDepth: 1 }));
  const webhookBody = fc.oneof(
    { weight: 4, arbitrary: fc.record({ url: webhookUrl, event_types: eventTypes, description }, { requiredKeys: ['url', 'event_types'] }) },
    { weight: 1, arbitrary: fc.record({ url: webhookUrl, event_types: eventTypes, description, extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }) },
  ).map((o) => JSON.stringify(o));
  const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', undefined);

  /** A webhook of the client's own to delete, so the shared one stays for the other operations. */
  const freshWebhook = async (): Promise<string> =>
    (await f.call<{ id: string }>('POST', '/api/v1/webhooks', { token: clientToken, body: { url: 'https://93.184.216.34/gone', event_types: ['*'] } })).body.id;

  /** Sends one request through the fixture (which checks the answer against the document); null when the path left the document. */
  const probe = async (
    entry: { method: string; path: string },
    path: string,
    q: Record<string, string>,
    payload: string,
    token: string | null,
    type: string | undefined,
  ): Promise<number | null> => {
    if (!path.startsWith('/')) return null;
    const search = new URLSearchParams(q).toString();
    const headers: Record<string, string> = {};
    if (type !== undefined) headers['content-type'] = type;
    const hasBody = entry.method === 'POST';
    let answer;
    try {
      answer = await f.call(entry.method, path + (search ? `?${search}` : ''), { token, headers, ...(hasBody ? { rawBody: payload } : {}) });
    } catch (err) {
      // A path with a raw "?" or "#" in the random segment moves the route: fetch then asks for a path outside the document.
      if (err instanceof assert.AssertionError && /is not in the OpenAPI document/.test(err.message)) return null;
      throw err;
    }
    assert.ok(answer.status < 500, `${entry.method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.status;
  };

  it('property: random bodies, parameters and headers never get a 500 or an undocumented answer', async () => {
    const operations = listOperations(openApiDocument()).filter(({ operation }) => operation.operationId !== 'rotateSigningKey');
    const body = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
      fc.dictionary(
        fc.constantFrom('title', 'private', 'name', 'scopes', 'grant_type', 'scope', 'refresh_token', 'client_id', 'client_secret', 'token', 'expires_in', 'display_name', 'viewer_id', 'url', 'event_types', 'description', '__proto__'),
        fc.jsonValue({ maxDepth: 2 }),
      ).map((o) => JSON.stringify(o)),
      webhookBody,
    );
    const credential = fc.constantFrom<string | null>(null, f.adminToken, clientToken, 'garbage');
    const groups = fc.oneof(fc.constantFrom('webhooks', 'instance%3Anova-0', 'no-such-group'), segment);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), segment, groups, query, body, credential, contentType, fc.boolean(), async (entry, param, group, q, payload, token, type, useReal) => {
        // a real id of the kind the path names, half of the time
        const real =
          entry.operation.operationId === 'deleteWebhook' ? await freshWebhook() : entry.path.startsWith('/api/v1/webhooks/') ? webhookId : entry.path.includes('/dead-letters/') ? deadLetterId : streamId;
        const path = entry.path.replace('{id}', useReal ? real : param).replace('{asset}', param).replace('{group}', useReal ? 'webhooks' : group);
        await probe(entry, path, q, payload, token, type);
      }),
      { numRuns: 400 },
    );
  });

  it('property: the webhooks and dead-letter operations, with mostly well-formed requests, never get a 500', async () => {
    const operations = listOperations(openApiDocument()).filter(({ operation }) => operation.tags.includes('webhooks') || operation.tags.includes('events'));
    const stranger = (await f.client(['streams:read', 'streams:write'], 'property stranger')).accessToken;
    const credential = fc.constantFrom<string | null>(f.adminToken, f.adminToken, clientToken, clientToken, stranger, null);
    const groups = fc.oneof(
      { weight: 3, arbitrary: fc.constant('webhooks') },
      { weight: 1, arbitrary: fc.constantFrom('instance%3Anova-0', 'no%20such', 'x'.repeat(201)) },
      { weight: 1, arbitrary: segment },
    );
    const fewParams = fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 3, arbitrary: query });
    const successes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...operations),
        fc.oneof(fc.constant(webhookId), fc.constant(deadLetterId), segment),
        groups,
        fewParams,
        webhookBody,
        credential,
        fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: contentType }),
        async (entry, id, group, q, payload, token, type) => {
          const target = entry.operation.operationId === 'deleteWebhook' && id === webhookId ? await freshWebhook() : id;
          const path = entry.path.replace('{id}', target).replace('{group}', group);
          const status = await probe(entry, path, q, payload, token, type);
          if (status !== null && status < 300) successes.set(entry.operation.operationId, (successes.get(entry.operation.operationId) ?? 0) + 1);
        },
      ),
      { numRuns: 400 },
    );
    // the requests reached the handlers, not only the validation in front of them
    for (const operationId of ['createWebhook', 'listWebhooks', 'getWebhook', 'deleteWebhook', 'enableWebhook', 'listWebhookAttempts', 'listEventGroups', 'listDeadLetters']) {
      assert.ok((successes.get(operationId) ?? 0) > 0, `${operationId} never succeeded: ${JSON.stringify([...successes])}`);
    }
  });
});

/**
 * The whole server: every route its HTTP app has under /api/ and
 * /.well-known/ is an operation of the document, registered once (by the
 * router), or one of the few that are not REST, listed here. A route added
 * straight on the app, outside the router, fails this.
 */
describe('routes of the whole server', () => {
  /** registered on the app, outside the OpenAPI router, on purpose */
  const NOT_REST = new Set([
    // the WebSocket: described by the AsyncAPI document (/api/v1/asyncapi.json)
    'WS /api/v1/streams/{id}/ws',
  ]);
  let nova: NovaFixture;

  before(async () => {
    nova = await startNova({ env: { LOG_LEVEL: 'silent' } });
  });
  after(async () => {
    await nova?.stop();
  });

  it('registers every operation of the document and nothing else under /api/ and /.well-known/', () => {
    const api = nova.server.routes
      .filter((route) => /^\/(api|\.well-known)(\/|$)/.test(route.pattern))
      .map((route) => `${route.method} ${route.pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    const counts = new Map<string, number>();
    for (const route of api) counts.set(route, (counts.get(route) ?? 0) + 1);
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], 'no route registered twice');
    const documented = listOperations(openApiDocument()).map(({ method, path }) => `${method} ${path}`);
    assert.deepEqual(api.filter((route) => !NOT_REST.has(route)).sort(), [...documented].sort());
    for (const route of NOT_REST) assert.ok(counts.has(route), `${route} is registered`);
    // what the server answers for the new operations comes from the router (request id, JSON error)
    assert.ok(api.includes('GET /api/v1/webhooks') && api.includes('GET /api/v1/events/groups'));
  });

  it('serves the webhooks and dead-letter operations from the router, with its headers and the document\'s errors', async () => {
    for (const path of ['/api/v1/webhooks', '/api/v1/events/groups']) {
      const response = await fetch(nova.http + path);
      assert.equal(response.status, 401);
      assert.ok(response.headers.get('x-request-id'), path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      const body = (await response.json()) as { error: { code: string; request_id: string } };
      assert.equal(body.error.code, 'NOVA_ERR_UNAUTHORIZED');
      assert.equal(body.error.request_id, response.headers.get('x-request-id'));
    }
  });
});
