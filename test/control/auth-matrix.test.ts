import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { SCOPES, type Scope } from '../../src/control/auth/scopes.js';
import { DEFAULT_OUTBOX_SETTINGS } from '../../src/control/db/outbox-append.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { WebhookRepository } from '../../src/control/webhooks/webhook-repository.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

/**
 * Every bearer-protected route × every kind of credential, each with exactly
 * the status it must get. Expectations are derived from the route's scope
 * (from the table below, which must agree with the document's security) and
 * from the credential, never copied from what the server answers.
 */

interface Credential {
  name: string;
  /** null: no Authorization header */
  token: string | null;
  /** the client behind it (owns the streams made for it), if any */
  clientId: string | null;
  /** the scopes it holds; 'all' for the admin token; null for a forged or expired token */
  scopes: ReadonlySet<Scope> | 'all' | null;
}

interface RouteCase {
  operation: string;
  scope: Scope;
  success: number;
  /** builds the request for this credential: path and body */
  request(credential: Credential): Promise<{ method: string; path: string; body?: unknown }>;
  /** whether the route acts on a resource owned by a client (so a stranger's token gets 404) */
  owned: boolean;
}

describe('every route × every credential', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let repo: StreamRepository;
  let webhooks: WebhookRepository;
  const credentials: Credential[] = [];

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    repo = new StreamRepository(handle.database.db);
    webhooks = new WebhookRepository(handle.database.db, DEFAULT_OUTBOX_SETTINGS);
    credentials.push({ name: 'none', token: null, clientId: null, scopes: null });
    credentials.push({ name: 'admin token', token: f.adminToken, clientId: null, scopes: 'all' });
    for (const scope of SCOPES) {
      const c = await f.client([scope], `only ${scope}`);
      credentials.push({ name: `scope ${scope}`, token: c.accessToken, clientId: c.clientId, scopes: new Set([scope]) });
    }
    // A client with every stream scope, acting on streams that are not its own.
    const stranger = await f.client(['streams:read', 'streams:write'], 'stranger');
    credentials.push({ name: "another client's token", token: stranger.accessToken, clientId: 'stranger', scopes: new Set<Scope>(['streams:read', 'streams:write']) });

    const real = await f.client(['streams:read', 'streams:write'], 'forgery base');
    const key = f.api.keys.signingKey();
    const claims = decodeJwt(real.accessToken);
    const header = decodeProtectedHeader(real.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const sign = (payload: Record<string, unknown>, protectedHeader: Record<string, unknown>, signingKey: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(signingKey);
    const expired = await sign({ ...claims, iat: now - 3600, exp: now - 1800 }, header, key.privateKey);
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const wrongKid = await sign(claims, { ...header, kid: 'not-a-published-kid' }, otherKey);
    const foreignKeySameKid = await sign(claims, header, otherKey);
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const algNone = `${b64({ alg: 'none', typ: 'at+jwt', kid: header.kid })}.${b64(claims)}.`;
    const publicPem = key.publicKey.export({ type: 'spki', format: 'pem' });
    const hs256 = await sign(claims, { alg: 'HS256', typ: 'at+jwt', kid: header.kid }, new TextEncoder().encode(String(publicPem)));
    const [h, , s] = real.accessToken.split('.');
    const tampered = `${h}.${b64({ ...claims, scope: 'admin' })}.${s}`;
    const viewer = f.api.tokens.mintViewerToken({ streamId: '00000000-0000-0000-0000-000000000000', expiresInSeconds: 600, mintedBy: real.clientId });
    for (const [name, token] of [
      ['expired', expired], ['wrong kid', wrongKid], ['right kid, another key', foreignKeySameKid], ['alg none', algNone],
      ['HS256 signed with the public key', hs256], ['tampered payload', tampered], ['a viewer token', (await viewer).token],
      ['garbage', 'not-a-token'], ['admin token + 1 character', f.adminToken + 'x'],
    ] as const) {
      credentials.push({ name, token, clientId: null, scopes: null });
    }
  });

  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  /** A stream owned by the credential's client (the admin's own for the admin token). */
  const streamFor = async (credential: Credential): Promise<string> => {
    const ownerClientId = credential.clientId === 'stranger' || credential.clientId === null ? null : credential.clientId;
    return (await repo.create({ title: 'matrix', ownerClientId })).stream.id;
  };
  /** A webhook owned as streamFor's stream is. */
  const webhookFor = async (credential: Credential): Promise<string> => {
    const ownerClientId = credential.clientId === 'stranger' || credential.clientId === null ? null : credential.clientId;
    return (await webhooks.create({ url: 'https://93.184.216.34/hook', eventTypes: ['*'], description: 'matrix', ownerClientId }, new Date())).webhook.id;
  };
  const victimClient = async (): Promise<string> => (await f.api.clients.create({ name: 'victim', scopes: new Set(['streams:read']) })).client.id;

  const routes: RouteCase[] = [
    { operation: 'createStream', scope: 'streams:write', success: 201, owned: false, request: async () => ({ method: 'POST', path: '/api/v1/streams', body: { title: 't' } }) },
    { operation: 'listStreams', scope: 'streams:read', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/streams?limit=5' }) },
    { operation: 'getStream', scope: 'streams:read', success: 200, owned: true, request: async (c) => ({ method: 'GET', path: `/api/v1/streams/${await streamFor(c)}` }) },
    { operation: 'deleteStream', scope: 'streams:write', success: 200, owned: true, request: async (c) => ({ method: 'DELETE', path: `/api/v1/streams/${await streamFor(c)}` }) },
    { operation: 'createPlaybackToken', scope: 'streams:write', success: 201, owned: true, request: async (c) => ({ method: 'POST', path: `/api/v1/streams/${await streamFor(c)}/playback-tokens`, body: {} }) },
    { operation: 'getStreamMetrics', scope: 'analytics:read', success: 200, owned: true, request: async (c) => ({ method: 'GET', path: `/api/v1/streams/${await streamFor(c)}/metrics` }) },
    { operation: 'listStreamViewers', scope: 'analytics:read', success: 200, owned: true, request: async (c) => ({ method: 'GET', path: `/api/v1/streams/${await streamFor(c)}/viewers?limit=5` }) },
    { operation: 'getAnalyticsSummary', scope: 'analytics:read', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/analytics/summary' }) },
    { operation: 'createClient', scope: 'admin', success: 201, owned: false, request: async () => ({ method: 'POST', path: '/api/v1/clients', body: { scopes: ['chat:write'] } }) },
    { operation: 'listClients', scope: 'admin', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/clients' }) },
    { operation: 'getClient', scope: 'admin', success: 200, owned: false, request: async () => ({ method: 'GET', path: `/api/v1/clients/${await victimClient()}` }) },
    { operation: 'revokeClient', scope: 'admin', success: 200, owned: false, request: async () => ({ method: 'DELETE', path: `/api/v1/clients/${await victimClient()}` }) },
    // an IP literal on a public address: no DNS lookup, allowed without WEBHOOK_ALLOW_PRIVATE
    { operation: 'createWebhook', scope: 'streams:write', success: 201, owned: false, request: async () => ({ method: 'POST', path: '/api/v1/webhooks', body: { url: 'https://93.184.216.34/hook', event_types: ['*'] } }) },
    { operation: 'listWebhooks', scope: 'streams:read', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/webhooks' }) },
    { operation: 'getWebhook', scope: 'streams:read', success: 200, owned: true, request: async (c) => ({ method: 'GET', path: `/api/v1/webhooks/${await webhookFor(c)}` }) },
    { operation: 'deleteWebhook', scope: 'streams:write', success: 200, owned: true, request: async (c) => ({ method: 'DELETE', path: `/api/v1/webhooks/${await webhookFor(c)}` }) },
    { operation: 'enableWebhook', scope: 'streams:write', success: 200, owned: true, request: async (c) => ({ method: 'POST', path: `/api/v1/webhooks/${await webhookFor(c)}/enable` }) },
    { operation: 'listWebhookAttempts', scope: 'streams:read', success: 200, owned: true, request: async (c) => ({ method: 'GET', path: `/api/v1/webhooks/${await webhookFor(c)}/attempts?limit=5` }) },
    { operation: 'listEventGroups', scope: 'admin', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/events/groups' }) },
    { operation: 'listDeadLetters', scope: 'admin', success: 200, owned: false, request: async () => ({ method: 'GET', path: '/api/v1/events/groups/webhooks/dead-letters?limit=5' }) },
    {
      operation: 'replayDeadLetter',
      scope: 'admin',
      success: 200,
      owned: false,
      request: async () => ({ method: 'POST', path: `/api/v1/events/groups/matrix%3Agroup/dead-letters/${await f.deadLetter('matrix:group')}/replay` }),
    },
    { operation: 'rotateSigningKey', scope: 'admin', success: 201, owned: false, request: async () => ({ method: 'POST', path: '/api/v1/auth/signing-keys/rotate' }) },
  ];

  const expected = (route: RouteCase, credential: Credential): number => {
    if (credential.scopes === null) return 401;
    if (credential.scopes === 'all') return route.success;
    const granted = credential.scopes.has(route.scope) || credential.scopes.has('admin');
    if (!granted) return 403;
    if (route.owned && credential.clientId === 'stranger') return 404;
    return route.success;
  };

  it('the table names every bearer-protected operation of the document with its scope', async () => {
    const document = f.api.document();
    const fromDocument = new Map<string, string>();
    for (const item of Object.values(document.paths)) {
      for (const operation of Object.values(item)) {
        const oauth = operation.security.find((requirement) => requirement.oauth2 !== undefined);
        if (oauth) fromDocument.set(operation.operationId, oauth.oauth2![0]!);
      }
    }
    assert.deepEqual(new Map(routes.map((r) => [r.operation, r.scope])), fromDocument);
  });

  it('gives each (route, credential) exactly its status', async () => {
    const failures: string[] = [];
    let cells = 0;
    for (const route of routes) {
      for (const credential of credentials) {
        const { method, path, body } = await route.request(credential);
        const answer = await f.call<{ error?: { code: string } }>(method, path, { token: credential.token, ...(body === undefined ? {} : { body }) });
        const want = expected(route, credential);
        cells++;
        if (answer.status !== want) failures.push(`${route.operation} with ${credential.name}: ${answer.status}, expected ${want} ${JSON.stringify(answer.body)}`);
        if (want === 401) {
          const challenge = answer.headers.get('www-authenticate') ?? '';
          if (!/^Bearer realm="nova-streaming"/.test(challenge)) failures.push(`${route.operation} with ${credential.name}: WWW-Authenticate ${challenge}`);
          if (credential.token !== null && !challenge.includes('error="invalid_token"')) failures.push(`${route.operation} with ${credential.name}: no invalid_token in ${challenge}`);
        }
        if (want === 403 && !(answer.headers.get('www-authenticate') ?? '').includes(`error="insufficient_scope", scope="${route.scope}"`)) {
          failures.push(`${route.operation} with ${credential.name}: 403 without insufficient_scope`);
        }
      }
    }
    assert.equal(cells, routes.length * credentials.length);
    assert.deepEqual(failures, []);
  });

  it('leaves public routes open to everyone', async () => {
    for (const path of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/api/v1/openapi.json']) {
      for (const credential of credentials) {
        const answer = await f.call('GET', path, { token: credential.token });
        assert.equal(answer.status, 200, `${path} with ${credential.name}`);
      }
    }
  });
});
