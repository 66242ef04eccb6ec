import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import { openDatabase, type Database } from '../../src/control/db/database.js';
import { startControlApiFixture, type ControlApiFixture } from '../support/control-api.js';
import { openTemporaryPostgres, silentLog, type TestDatabase } from './database-fixture.js';

/**
 * Two API instances on one real PostgreSQL (each with its own pool, as two
 * pods would have): a revocation made on one counts on the other within a
 * second, and a signing-key rotation on one breaks no token on either.
 */

const PUBLIC_URL = 'https://api.example';

describe('two instances sharing PostgreSQL', () => {
  let handle: TestDatabase | null;
  let second: Database;
  let a: ControlApiFixture;
  let b: ControlApiFixture;

  before(async () => {
    handle = await openTemporaryPostgres();
    if (!handle) return;
    second = await openDatabase({ databaseUrl: handle.url!, dataDir: '/nonexistent' }, silentLog);
    // The production poll period (the fixture's default is shorter), so the 1 s holds for what ships.
    const env = { TOKEN_REVOCATION_POLL_MS: '250' };
    a = await startControlApiFixture({ database: handle.database, publicUrl: PUBLIC_URL, env });
    b = await startControlApiFixture({ database: second, publicUrl: PUBLIC_URL, env });
  });

  after(async () => {
    if (!handle) return;
    await a.stop();
    await b.stop();
    await second.close();
    await handle.dispose();
  });

  it('a token revoked on one instance is refused by the other within 1 s', async (t) => {
    if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
    const client = await a.client(['streams:read']);
    // B knows the token (verified once, so it sits in B's cache too).
    assert.equal((await b.call('GET', '/api/v1/streams', { token: client.accessToken })).status, 200);
    const revoked = await a.call('POST', '/api/v1/auth/revoke', {
      token: null,
      body: { token: client.accessToken, client_id: client.clientId, client_secret: client.clientSecret },
    });
    assert.equal(revoked.status, 200);
    const started = Date.now();
    let elapsed = -1;
    while (Date.now() - started < 3000) {
      const status = (await b.call('GET', '/api/v1/streams', { token: client.accessToken })).status;
      if (status === 401) {
        elapsed = Date.now() - started;
        break;
      }
      assert.equal(status, 200);
      await sleep(20);
    }
    assert.ok(elapsed >= 0 && elapsed < 1000, `refused on the other instance after ${elapsed} ms`);
    assert.equal((await a.call('GET', '/api/v1/streams', { token: client.accessToken })).status, 401);
  });

  it('a signing-key rotation on one instance breaks no token on either', async (t) => {
    if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
    const client = await a.client(['streams:read']);
    const before = await b.client(['streams:read']);
    const oldKid = decodeProtectedHeader(client.accessToken).kid;
    const sentAt = Date.now();
    const rotated = await a.call<{ kid: string; activates_at: string }>('POST', '/api/v1/auth/signing-keys/rotate');
    assert.equal(rotated.status, 201);
    assert.notEqual(rotated.body.kid, oldKid);
    const activatesAt = Date.parse(rotated.body.activates_at);
    // Published at least one reload period (the fixture's 200 ms) of every instance before it signs.
    assert.ok(activatesAt >= sentAt + 200, 'a new key is published before it signs');
    // Until well past activation, every token from either instance works on both.
    const tokens = [client.accessToken, before.accessToken];
    const kidsSeen = new Set<string>();
    // until well past activation, and on a loaded machine (each round mints two tokens with a slow KDF) until the new key has signed
    while (Date.now() < activatesAt + 500 || (!kidsSeen.has(rotated.body.kid) && Date.now() < activatesAt + 5000)) {
      for (const issuer of [a, b]) {
        const fresh = await issuer.call<{ access_token: string }>('POST', '/api/v1/auth/token', {
          token: null,
          body: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret },
        });
        assert.equal(fresh.status, 200);
        tokens.push(fresh.body.access_token);
        kidsSeen.add(decodeProtectedHeader(fresh.body.access_token).kid!);
      }
      for (const token of tokens.slice(-4).concat(tokens.slice(0, 2))) {
        for (const verifier of [a, b]) assert.equal((await verifier.call('GET', '/api/v1/streams', { token })).status, 200);
      }
      await sleep(50);
    }
    assert.ok(kidsSeen.has(rotated.body.kid), 'the new key signs once active');
    for (const instance of [a, b]) {
      const jwks = await instance.call<{ keys: Array<{ kid: string }> }>('GET', '/.well-known/jwks.json', { token: null });
      const kids = jwks.body.keys.map((k) => k.kid);
      assert.ok(kids.includes(oldKid!) && kids.includes(rotated.body.kid), `both keys published: ${kids.join(', ')}`);
    }
    for (const token of tokens) for (const verifier of [a, b]) assert.equal((await verifier.call('GET', '/api/v1/streams', { token })).status, 200);
  });
});
