import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

interface PlaybackTokenBody {
  token: string;
  token_type: string;
  stream_id: string;
  expires_at: string;
  hls_url: string;
  ll_hls_url: string;
  dash_url: string;
  ws_url: string;
}

describe('viewer tokens for private streams', () => {
  let handle: TestDatabase;
  let f: ControlApiFixture;
  let owner: Awaited<ReturnType<ControlApiFixture['client']>>;
  let streamId: string;
  let otherStreamId: string;

  before(async () => {
    handle = await openMemoryDatabase();
    f = await startControlApiFixture({ database: handle.database });
    owner = await f.client(['streams:read', 'streams:write']);
    const create = async () => (await f.call<{ id: string }>('POST', '/api/v1/streams', { token: owner.accessToken, body: { private: true } })).body.id;
    streamId = await create();
    otherStreamId = await create();
  });

  after(async () => {
    await f.stop();
    await handle.dispose();
  });

  const mint = (id: string, body: unknown = {}, token = owner.accessToken) =>
    f.call<PlaybackTokenBody>('POST', `/api/v1/streams/${id}/playback-tokens`, { token, body });

  it('mints an RS256 token bound to one stream, carried in every playback URL', async () => {
    const before = Date.now();
    const minted = await mint(streamId, { expires_in: 120, display_name: 'Ada', viewer_id: 'viewer-42' });
    assert.equal(minted.status, 201);
    const { token } = minted.body;
    for (const url of [minted.body.hls_url, minted.body.ll_hls_url, minted.body.dash_url, minted.body.ws_url]) {
      const parsed = new URL(url);
      assert.equal(parsed.searchParams.get('token'), token);
      assert.ok(parsed.pathname.includes(streamId));
    }
    const expiresAt = Date.parse(minted.body.expires_at);
    assert.ok(expiresAt >= before + 119_000 && expiresAt <= Date.now() + 121_000);
    // The published JWKS verifies it (another verifier than ours).
    const jwks = await f.call<Parameters<typeof createLocalJWKSet>[0]>('GET', '/.well-known/jwks.json', { token: null });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks.body), { audience: 'nova-playback', issuer: f.base, algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.stream_id, streamId);
    assert.equal(payload.sub, 'viewer-42');
    assert.equal(payload.name, 'Ada');
    assert.equal(payload.client_id, owner.clientId);

    const verdict = f.api.playback.verify(streamId, token);
    assert.deepEqual(verdict, { ok: true, viewerId: 'viewer-42', displayName: 'Ada', expiresAt: payload.exp! * 1000 });
    assert.deepEqual(f.api.playback.verify(streamId, token), verdict, 'the remembered verdict is the same');
  });

  it('refuses a missing token, another stream\'s, an access token, a forged or tampered one', async () => {
    const { token } = (await mint(streamId)).body;
    const other = (await mint(otherStreamId)).body.token;
    const claims = decodeJwt(token);
    const [h, , s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, stream_id: otherStreamId })).toString('base64url')}.${s}`;
    const cases: Array<[string, string | null, string]> = [
      ['missing', null, 'missing'],
      ['empty', '', 'missing'],
      ["another stream's", other, 'wrong_stream'],
      ['an access token', owner.accessToken, 'invalid'],
      ['tampered stream id', tampered, 'invalid'],
      ['garbage', 'abc.def.ghi', 'invalid'],
      ['too long', 'a'.repeat(10_000), 'invalid'],
    ];
    for (const [name, candidate, reason] of cases) {
      assert.deepEqual(f.api.playback.verify(streamId, candidate), { ok: false, reason }, name);
    }
    // The same token checked for its own stream still passes after all that.
    assert.equal(f.api.playback.verify(otherStreamId, other).ok, true);
  });

  it('refuses an expired token and the tokens of a revoked client', async () => {
    const key = f.api.keys.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ stream_id: streamId, client_id: owner.clientId })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(f.base)
      .setAudience('nova-playback')
      .setSubject('v')
      .setJti('j-expired')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key.privateKey);
    assert.deepEqual(f.api.playback.verify(streamId, expired), { ok: false, reason: 'expired' });

    const doomed = await f.client(['streams:write']);
    const own = (await f.call<{ id: string }>('POST', '/api/v1/streams', { token: doomed.accessToken, body: { private: true } })).body.id;
    const { token } = (await mint(own, {}, doomed.accessToken)).body;
    assert.equal(f.api.playback.verify(own, token).ok, true);
    assert.equal((await f.call('DELETE', `/api/v1/clients/${doomed.clientId}`)).status, 200);
    assert.deepEqual(f.api.playback.verify(own, token), { ok: false, reason: 'revoked' });
  });

  it('validates the request: expiry bounds, names, and only the stream\'s owner mints', async () => {
    for (const body of [{ expires_in: 5 }, { expires_in: 86_401 }, { expires_in: 1.5 }, { display_name: 'x'.repeat(65) }, { display_name: 'a\nb' }, { viewer_id: 'has space' }, { extra: true }]) {
      assert.equal((await mint(streamId, body)).status, 400, JSON.stringify(body));
    }
    const reader = await f.client(['streams:read']);
    assert.equal((await mint(streamId, {}, reader.accessToken)).status, 403);
    const stranger = await f.client(['streams:write']);
    assert.equal((await mint(streamId, {}, stranger.accessToken)).status, 404);
    assert.equal((await mint(streamId, {}, f.adminToken)).status, 201);
  });
});
