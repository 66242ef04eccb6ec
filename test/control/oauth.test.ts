import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { verifyClientSecret } from '../../src/control/auth/client-secret.js';
import { RequestAuthenticator } from '../../src/control/auth/request-authenticator.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

interface OAuthErrorBody {
  error: string;
  error_description: string;
}
interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}
interface ClientBody {
  client_id: string;
  client_secret?: string;
  scopes: string[];
  name: string;
  revoked_at: string | null;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('API clients and OAuth2 client credentials', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let client: ClientBody & { client_secret: string };

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    const created = await f.call<ClientBody & { client_secret: string }>('POST', '/api/v1/clients', { body: { name: 'backend', scopes: ['streams:read', 'streams:write'] } });
    assert.equal(created.status, 201);
    client = created.body;
  });

  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  const token = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    f.call<Tokens & OAuthErrorBody>('POST', '/api/v1/auth/token', { token: null, rawBody: form(fields), headers: { ...FORM, ...headers } });

  it('shows a client secret once and stores only its scrypt hash', async () => {
    assert.match(client.client_secret, /^ncs_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(client.scopes, ['streams:read', 'streams:write']);
    const row = await handle.database.db.selectFrom('api_clients').selectAll().where('id', '=', client.client_id).executeTakeFirstOrThrow();
    assert.match(row.secret_hash, /^scrypt\$\d+\$8\$1\$/);
    assert.ok(!row.secret_hash.includes(client.client_secret));
    assert.equal(await verifyClientSecret(client.client_secret, row.secret_hash), true);
    assert.equal(await verifyClientSecret(client.client_secret + 'x', row.secret_hash), false);
    const listed = await f.call<{ items: ClientBody[] }>('GET', '/api/v1/clients');
    assert.equal(listed.status, 200);
    assert.ok(listed.body.items.some((c) => c.client_id === client.client_id && c.client_secret === undefined));
    const one = await f.call<ClientBody>('GET', `/api/v1/clients/${client.client_id}`);
    assert.equal(one.body.client_secret, undefined);
    assert.equal(one.body.name, 'backend');
    assert.equal((await f.call('GET', '/api/v1/clients/00000000-0000-0000-0000-000000000000')).status, 404);
    for (const body of [{}, { scopes: [] }, { scopes: ['root'] }, { scopes: ['admin', 'admin'] }, { scopes: ['admin'], extra: 1 }, { scopes: ['admin'], name: 'a\u0000' }]) {
      assert.equal((await f.call('POST', '/api/v1/clients', { body })).status, 400, JSON.stringify(body));
    }
  });

  it('issues RS256 tokens for HTTP Basic, form and JSON credentials, verifiable with the published JWKS', async () => {
    const jwks = await f.call<{ keys: Array<{ kid: string }> }>('GET', '/.well-known/jwks.json', { token: null });
    assert.equal(jwks.status, 200);
    const keySet = createLocalJWKSet(jwks.body as Parameters<typeof createLocalJWKSet>[0]);
    const viaBasic = await token({ grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.client_secret) });
    const viaForm = await token({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, scope: 'streams:read' });
    const viaJson = await f.call<Tokens>('POST', '/api/v1/auth/token', { token: null, body: { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret } });
    for (const answer of [viaBasic, viaForm, viaJson]) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('cache-control'), 'no-store');
      assert.equal(answer.headers.get('pragma'), 'no-cache');
      assert.equal(answer.body.token_type, 'Bearer');
      assert.equal(answer.body.expires_in, 900);
      assert.match(answer.body.refresh_token, /^nrt_/);
      const header = decodeProtectedHeader(answer.body.access_token);
      assert.equal(header.alg, 'RS256');
      assert.equal(header.typ, 'at+jwt');
      assert.ok(jwks.body.keys.some((k) => k.kid === header.kid));
      // An independent verifier (jose) accepts what we issue.
      const { payload } = await jwtVerify(answer.body.access_token, keySet, { issuer: f.base, audience: 'nova-api', algorithms: ['RS256'] });
      assert.equal(payload.sub, client.client_id);
      assert.equal(payload.exp! - payload.iat!, 900);
    }
    assert.equal(viaBasic.body.scope, 'streams:read streams:write');
    assert.equal(viaForm.body.scope, 'streams:read');
    const metadata = await f.call<Record<string, unknown>>('GET', '/.well-known/oauth-authorization-server', { token: null });
    assert.equal(metadata.body.issuer, f.base);
    assert.equal(metadata.body.token_endpoint, `${f.base}/api/v1/auth/token`);
    assert.equal(metadata.body.jwks_uri, `${f.base}/.well-known/jwks.json`);
  });

  it('answers RFC 6749 §5.2 errors', async () => {
    const cases: Array<[string, Record<string, string>, Record<string, string>, number, string]> = [
      ['wrong secret', { grant_type: 'client_credentials', client_id: client.client_id, client_secret: 'ncs_' + 'A'.repeat(43) }, {}, 401, 'invalid_client'],
      ['unknown client', { grant_type: 'client_credentials', client_id: '00000000-0000-0000-0000-000000000000', client_secret: client.client_secret }, {}, 401, 'invalid_client'],
      ['no credentials', { grant_type: 'client_credentials' }, {}, 401, 'invalid_client'],
      ['malformed Basic', { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }, 401, 'invalid_client'],
      ['Basic and body secret', { grant_type: 'client_credentials', client_secret: client.client_secret }, { authorization: basic(client.client_id, client.client_secret) }, 400, 'invalid_request'],
      ['no grant_type', { client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'invalid_request'],
      ['unknown grant', { grant_type: 'password', client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'unsupported_grant_type'],
      ['scope not granted', { grant_type: 'client_credentials', scope: 'admin', client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'invalid_scope'],
      ['unknown scope', { grant_type: 'client_credentials', scope: 'root', client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'invalid_scope'],
      ['bad refresh token', { grant_type: 'refresh_token', refresh_token: 'nrt_nope', client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'invalid_grant'],
      ['no refresh token', { grant_type: 'refresh_token', client_id: client.client_id, client_secret: client.client_secret }, {}, 400, 'invalid_request'],
    ];
    for (const [name, fields, headers, status, error] of cases) {
      const answer = await token(fields, headers);
      assert.equal(answer.status, status, name);
      assert.equal(answer.body.error, error, name);
      assert.equal(typeof answer.body.error_description, 'string', name);
      if (status === 401) assert.match(answer.headers.get('www-authenticate') ?? '', /^Basic realm=/, name);
    }
    // A repeated parameter is invalid_request (RFC 6749 §3.2).
    const twice = await f.call<OAuthErrorBody>('POST', '/api/v1/auth/token', { token: null, rawBody: 'grant_type=client_credentials&grant_type=client_credentials', headers: FORM });
    assert.equal(twice.status, 400);
    assert.equal(twice.body.error, 'invalid_request');
  });

  it('rotates refresh tokens and revokes the family when a used one comes back', async () => {
    const first = await token({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.refresh_token, first.body.refresh_token);
    assert.equal(second.body.scope, first.body.scope);
    // Narrowing on refresh is allowed, widening is not.
    const narrowed = await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token, scope: 'streams:read' }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(narrowed.status, 200);
    assert.equal(narrowed.body.scope, 'streams:read');
    const widened = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, scope: 'streams:read streams:write' }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(widened.body.error, 'invalid_scope');
    assert.equal((await f.call('GET', '/api/v1/streams', { token: narrowed.body.access_token })).status, 200);

    // Another client cannot use this family's refresh token.
    const other = await f.client(['streams:read']);
    const stolen = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: other.clientId, client_secret: other.clientSecret });
    assert.equal(stolen.body.error, 'invalid_grant');

    // Reuse of the first (already rotated) refresh token: the family is gone, access tokens included.
    const reused = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
    const afterReuse = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token }, { authorization: basic(client.client_id, client.client_secret) });
    assert.equal(afterReuse.body.error, 'invalid_grant', 'the newest refresh token of the family is revoked too');
    for (const access of [first.body.access_token, second.body.access_token, narrowed.body.access_token]) {
      const answer = await f.call<{ error: { code: string } }>('GET', '/api/v1/streams', { token: access });
      assert.equal(answer.status, 401);
      assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
    // Another family of the same client is untouched.
    assert.equal((await f.call('GET', '/api/v1/streams', { token: other.accessToken })).status, 200);
  });

  it('revokes per RFC 7009: access tokens, refresh families, and nothing of other clients', async () => {
    const mine = await token({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
    const other = await f.client(['streams:read']);
    const revoke = (value: string, id: string, secret: string) =>
      f.call('POST', '/api/v1/auth/revoke', { token: null, rawBody: form({ token: value }), headers: { ...FORM, authorization: basic(id, secret) } });
    // Another client's token: 200, nothing happens.
    assert.equal((await revoke(other.accessToken, client.client_id, client.client_secret)).status, 200);
    assert.equal((await f.call('GET', '/api/v1/streams', { token: other.accessToken })).status, 200);
    assert.equal((await revoke('garbage', client.client_id, client.client_secret)).status, 200);
    assert.equal((await revoke(mine.body.access_token, 'nope', 'nope')).status, 401);
    // Its own access token: that token only.
    assert.equal((await revoke(mine.body.access_token, client.client_id, client.client_secret)).status, 200);
    assert.equal((await f.call('GET', '/api/v1/streams', { token: mine.body.access_token })).status, 401);
    const fresh = await token({ grant_type: 'refresh_token', refresh_token: mine.body.refresh_token, client_id: client.client_id, client_secret: client.client_secret });
    assert.equal(fresh.status, 200, 'revoking an access token leaves its refresh token');
    // A refresh token: the family, its access tokens too.
    assert.equal((await revoke(fresh.body.refresh_token, client.client_id, client.client_secret)).status, 200);
    assert.equal((await f.call('GET', '/api/v1/streams', { token: fresh.body.access_token })).status, 401);
    const refused = await token({ grant_type: 'refresh_token', refresh_token: fresh.body.refresh_token, client_id: client.client_id, client_secret: client.client_secret });
    assert.equal(refused.body.error, 'invalid_grant');
  });

  it('keeps each client to its own streams; the admin sees all', async () => {
    const a = await f.client(['streams:read', 'streams:write'], 'a');
    const b = await f.client(['streams:read', 'streams:write'], 'b');
    const boss = await f.client(['admin'], 'boss');
    const created = await f.call<{ id: string; owner_client_id: string | null }>('POST', '/api/v1/streams', { token: a.accessToken, body: { title: 'mine' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.owner_client_id, a.clientId);
    const id = created.body.id;
    assert.equal((await f.call('GET', `/api/v1/streams/${id}`, { token: b.accessToken })).status, 404);
    assert.equal((await f.call('DELETE', `/api/v1/streams/${id}`, { token: b.accessToken })).status, 404);
    assert.equal((await f.call('POST', `/api/v1/streams/${id}/playback-tokens`, { token: b.accessToken, body: {} })).status, 404);
    const listB = await f.call<{ items: Array<{ id: string }> }>('GET', '/api/v1/streams?limit=100', { token: b.accessToken });
    assert.ok(!listB.body.items.some((s) => s.id === id));
    const listA = await f.call<{ items: Array<{ id: string; owner_client_id: string }> }>('GET', '/api/v1/streams?limit=100', { token: a.accessToken });
    assert.ok(listA.body.items.some((s) => s.id === id));
    assert.ok(listA.body.items.every((s) => s.owner_client_id === a.clientId));
    for (const credential of [f.adminToken, boss.accessToken]) {
      assert.equal((await f.call('GET', `/api/v1/streams/${id}`, { token: credential })).status, 200);
    }
    assert.equal((await f.call('DELETE', `/api/v1/streams/${id}`, { token: a.accessToken })).status, 200);
  });

  it('tells an admin token shaped like a JWT from an access token', async () => {
    const dotted = 'admin.token.with-dots-0123456789';
    const authenticator = new RequestAuthenticator(dotted, f.api.tokens);
    assert.deepEqual(await authenticator.authenticate(`Bearer ${dotted}`), { ok: true, principal: { kind: 'admin' } });
    const access = (await f.client(['streams:read'])).accessToken;
    const asClient = await authenticator.authenticate(`Bearer ${access}`);
    assert.equal(asClient.ok && asClient.principal.kind, 'client');
    assert.equal((await authenticator.authenticate(`Bearer ${dotted}x`)).ok, false);
    assert.equal((await authenticator.authenticate(`Basic ${dotted}`)).ok, false);
  });

  it('revoking a client ends its tokens and its token requests', async () => {
    const doomed = await f.client(['streams:read']);
    assert.equal((await f.call('GET', '/api/v1/streams', { token: doomed.accessToken })).status, 200);
    const revoked = await f.call<ClientBody>('DELETE', `/api/v1/clients/${doomed.clientId}`);
    assert.equal(revoked.status, 200);
    assert.equal(typeof revoked.body.revoked_at, 'string');
    assert.equal((await f.call('GET', '/api/v1/streams', { token: doomed.accessToken })).status, 401);
    assert.equal((await token({ grant_type: 'client_credentials', client_id: doomed.clientId, client_secret: doomed.clientSecret })).body.error, 'invalid_client');
    assert.equal((await token({ grant_type: 'refresh_token', refresh_token: doomed.refreshToken, client_id: doomed.clientId, client_secret: doomed.clientSecret })).body.error, 'invalid_client');
  });
});
