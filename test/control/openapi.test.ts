import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import fc from 'fast-check';
import { asyncApiDocument, type AsyncApiDocument, type WsMessagesSchema } from '../../src/control/api/asyncapi-document.js';
import { listOperations, openApiDocument } from '../../src/control/api/openapi-document.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
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

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    clientToken = (await f.client(['streams:read', 'streams:write'])).accessToken;
    streamId = ((await f.call<{ id: string }>('POST', '/api/v1/streams', { token: clientToken, body: {} })).body).id;
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
      const concrete = path.replace('{id}', '00000000-0000-0000-0000-000000000000').replace('{asset}', 'nothing-here');
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

  it('property: random bodies, parameters and headers never get a 500 or an undocumented answer', async () => {
    const operations = listOperations(openApiDocument()).filter(({ operation }) => operation.operationId !== 'rotateSigningKey');
    const segment = fc.oneof(
      fc.constant(''),
      fc.uuid(),
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 40 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom('%00', '%ZZ', '..', '%2F', 'null'),
    );
    const query = fc.dictionary(fc.constantFrom('status', 'sort', 'limit', 'cursor', 'from', 'to', 'step', 'token', 'x'), fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String)), { maxKeys: 3 });
    const body = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
      fc.dictionary(
        fc.constantFrom('title', 'private', 'name', 'scopes', 'grant_type', 'scope', 'refresh_token', 'client_id', 'client_secret', 'token', 'expires_in', 'display_name', 'viewer_id', '__proto__'),
        fc.jsonValue({ maxDepth: 2 }),
      ).map((o) => JSON.stringify(o)),
    );
    const credential = fc.constantFrom<string | null>(null, f.adminToken, clientToken, 'garbage');
    const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', undefined);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), segment, query, body, credential, contentType, fc.boolean(), async (entry, param, q, payload, token, type, useStream) => {
        const id = useStream ? streamId : param;
        const path = entry.path.replace('{id}', id).replace('{asset}', param);
        if (!path.startsWith('/')) return;
        const search = new URLSearchParams(q).toString();
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        const hasBody = entry.method === 'POST';
        let answer;
        try {
          answer = await f.call(entry.method, path + (search ? `?${search}` : ''), { token, headers, ...(hasBody ? { rawBody: payload } : {}) });
        } catch (err) {
          // A path with a raw "?" or "#" in the random segment moves the route: fetch then asks for a path outside the document.
          if (err instanceof assert.AssertionError && /is not in the OpenAPI document/.test(err.message)) return;
          throw err;
        }
        assert.ok(answer.status < 500, `${entry.method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      }),
      { numRuns: 400 },
    );
  });
});
