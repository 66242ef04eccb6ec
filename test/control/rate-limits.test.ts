import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { startControlApiFixture, type ApiAnswer, type ControlApiFixture } from '../support/control-api.js';
import { SHARED_REDIS_URL, freePort, redisReachable } from '../ws/support/redis-helpers.js';
import { openMemoryDatabase, type TestDatabase } from './database-fixture.js';

/**
 * Limits with two instances sharing Redis (one count across both) and with
 * one instance and no Redis (its own count). Small quotas so the tests reach
 * them; each run has its own Redis prefix, so parallel runs never share.
 */

const WRITES = 4;
const READS = 6;
const ANONYMOUS = 5;

function limitEnv(extra: Record<string, string>): Record<string, string> {
  return {
    RATE_LIMIT: 'on',
    RATE_LIMIT_WRITES_PER_MIN: String(WRITES),
    RATE_LIMIT_READS_PER_MIN: String(READS),
    RATE_LIMIT_ANONYMOUS_PER_MIN: String(ANONYMOUS),
    ...extra,
  };
}

// One embedded database for the whole file (it costs seconds to open); each instance below is its own API.
let handle: TestDatabase;
before(async () => {
  handle = await openMemoryDatabase();
});
after(async () => {
  await handle.dispose();
});

/** RateLimit: "policy";r=N;t=S → { policy, r, t } */
function parseRateLimit(answer: ApiAnswer): { policy: string; r: number; t: number } {
  const match = /^"(\w+)";r=(\d+);t=(\d+)$/.exec(answer.headers.get('ratelimit') ?? '');
  assert.ok(match, `RateLimit header: ${answer.headers.get('ratelimit')}`);
  return { policy: match[1]!, r: Number(match[2]), t: Number(match[3]) };
}

function assertLimited(answer: ApiAnswer, policy: string, quota: number): void {
  assert.equal(answer.status, 429, JSON.stringify(answer.body));
  const retry = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${answer.headers.get('retry-after')}`);
  assert.equal(answer.headers.get('ratelimit-policy'), `"${policy}";q=${quota};w=60`);
  assert.equal(parseRateLimit(answer).r, 0);
  assert.equal((answer.body as { error: { code: string } }).error.code, 'NOVA_ERR_RATE_LIMITED');
}

describe('rate limits across two instances sharing Redis', () => {
  let a: ControlApiFixture;
  let b: ControlApiFixture;
  const prefix = `nova-test:${process.pid}:${randomBytes(4).toString('hex')}:rl`;

  before(async () => {
    if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
    const env = limitEnv({ REDIS_URL: SHARED_REDIS_URL, RATE_LIMIT_REDIS_PREFIX: prefix });
    // One public URL, as behind one load balancer: a token from either instance names the same issuer.
    a = await startControlApiFixture({ database: handle.database, env, publicUrl: 'https://api.example' });
    b = await startControlApiFixture({ database: handle.database, env, publicUrl: 'https://api.example' });
  });

  after(async () => {
    await a.stop();
    await b.stop();
    const redis = createClient({ url: SHARED_REDIS_URL });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(keys);
    await redis.quit();
  });

  it('counts a client\'s writes on both instances together; the one past the quota gets 429 on either', async () => {
    const client = await a.client(['streams:write', 'streams:read']);
    const remaining: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      const instance = i % 2 === 0 ? a : b;
      const answer = await instance.call('POST', '/api/v1/streams', { token: client.accessToken, body: {} });
      assert.equal(answer.status, 201);
      assert.equal(answer.headers.get('ratelimit-policy'), `"writes";q=${WRITES};w=60`);
      remaining.push(parseRateLimit(answer).r);
    }
    assert.deepEqual(remaining, Array.from({ length: WRITES }, (_, i) => WRITES - 1 - i), 'one count across both instances');
    assertLimited(await a.call('POST', '/api/v1/streams', { token: client.accessToken, body: {} }), 'writes', WRITES);
    assertLimited(await b.call('DELETE', '/api/v1/streams/00000000-0000-0000-0000-000000000000', { token: client.accessToken }), 'writes', WRITES);
    // Reads have their own allowance; another client has its own; the admin token is never limited.
    assert.equal((await b.call('GET', '/api/v1/streams', { token: client.accessToken })).status, 200);
    const other = await a.client(['streams:write']);
    assert.equal((await b.call('POST', '/api/v1/streams', { token: other.accessToken, body: {} })).status, 201);
    for (let i = 0; i < WRITES + 2; i++) assert.equal((await a.call('POST', '/api/v1/streams', { body: {} })).status, 201);
  });

  it('limits failed authentication and the token endpoint per source address', async () => {
    // Creating clients above went through the token endpoint from this address: start from what is left.
    const first = await b.call('GET', '/api/v1/streams', { token: 'guess-0' });
    assert.equal(first.status, 401);
    const left = parseRateLimit(first).r;
    assert.ok(left < ANONYMOUS);
    for (let i = 1; i <= left; i++) {
      const answer = await (i % 2 === 0 ? b : a).call('GET', '/api/v1/streams', { token: `guess-${i}` });
      assert.equal(answer.status, 401);
      assert.equal(parseRateLimit(answer).r, left - i, 'one count across both instances');
    }
    assertLimited(await a.call('POST', '/api/v1/auth/token', { token: null, body: { grant_type: 'client_credentials' } }), 'anonymous', ANONYMOUS);
    assertLimited(await b.call('GET', '/api/v1/streams', { token: 'another-guess' }), 'anonymous', ANONYMOUS);
  });
});

describe('rate limits without Redis', () => {
  let a: ControlApiFixture;
  let b: ControlApiFixture;

  before(async () => {
    a = await startControlApiFixture({ database: handle.database, env: limitEnv({}), publicUrl: 'https://api.example' });
    b = await startControlApiFixture({ database: handle.database, env: limitEnv({}), publicUrl: 'https://api.example' });
  });

  after(async () => {
    await a.stop();
    await b.stop();
  });

  it('counts in process: each instance has its own allowance', async () => {
    const client = await a.client(['streams:read']);
    for (let i = 0; i < READS; i++) assert.equal((await a.call('GET', '/api/v1/streams', { token: client.accessToken })).status, 200);
    const limited = await a.call('GET', '/api/v1/streams', { token: client.accessToken });
    assertLimited(limited, 'reads', READS);
    assert.ok(parseRateLimit(limited).t <= 60);
    const elsewhere = await b.call('GET', '/api/v1/streams', { token: client.accessToken });
    assert.equal(elsewhere.status, 200, 'the other instance counts on its own');
    assert.equal(parseRateLimit(elsewhere).r, READS - 1);
  });
});

describe('rate limits while Redis is unreachable', () => {
  let f: ControlApiFixture;

  before(async () => {
    // Nothing listens there: the limiter falls back to counting in process.
    f = await startControlApiFixture({ database: handle.database, env: limitEnv({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }) });
  });

  after(async () => {
    await f.stop();
  });

  it('still serves, and still limits, counting in process', async () => {
    const client = await f.client(['streams:read']);
    for (let i = 0; i < READS; i++) assert.equal((await f.call('GET', '/api/v1/streams', { token: client.accessToken })).status, 200);
    assertLimited(await f.call('GET', '/api/v1/streams', { token: client.accessToken }), 'reads', READS);
  });
});
