import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { JwtVerifier, type JwtFailure } from '../../src/control/auth/jwt-verifier.js';

const ISSUER = 'https://api.example';
const EXPECT = { audience: 'nova-api', type: 'at+jwt' };
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}, key = privateKey): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: 'nova-api', sub: 'c', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt', ...header } as { alg: string })
    .sign(key);
}

describe('JwtVerifier', () => {
  it('checks alg, kid, signature, typ, iss, aud, exp and nbf, each with its reason', async () => {
    let now = 1_800_000_000_000;
    const verifier = new JwtVerifier((kid) => (kid === 'k1' ? publicKey : undefined), () => ISSUER, () => now);
    const exp = now / 1000 + 600;
    const cases: Array<[string, Promise<string> | string, JwtFailure | null]> = [
      ['valid', sign({ exp }), null],
      ['aud in a list', sign({ exp, aud: ['other', 'nova-api'] }), null],
      ['unknown kid', sign({ exp }, { kid: 'k2' }), 'unknown_kid'],
      ['no kid', sign({ exp }, { kid: undefined }), 'unknown_kid'],
      ['another key', sign({ exp }, {}, other.privateKey), 'bad_signature'],
      ['typ JWT', sign({ exp }, { typ: 'JWT' }), 'wrong_type'],
      ['other issuer', sign({ exp, iss: 'https://evil.example' }), 'wrong_issuer'],
      ['other audience', sign({ exp, aud: 'nova-playback' }), 'wrong_audience'],
      ['expired beyond the leeway', sign({ exp: now / 1000 - 31 }), 'expired'],
      ['expired within the leeway', sign({ exp: now / 1000 - 10 }), null],
      ['not yet valid', sign({ exp, nbf: now / 1000 + 120 }), 'not_yet_valid'],
      ['no exp', sign({}), 'malformed'],
      ['crit header', sign({ exp }, { crit: ['b64'], b64: true }), 'malformed'],
      ['alg none', `${Buffer.from('{"alg":"none","kid":"k1","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(`{"exp":${exp}}`).toString('base64url')}.`, 'malformed'],
      ['two parts', 'abc.def', 'malformed'],
      ['four parts', 'a.b.c.d', 'malformed'],
      ['not base64url', 'a+b.c.d', 'malformed'],
      ['header not JSON', `${Buffer.from('nope').toString('base64url')}.e30.c2ln`, 'malformed'],
      ['HS256', `${Buffer.from('{"alg":"HS256","kid":"k1","typ":"at+jwt"}').toString('base64url')}.e30.c2ln`, 'bad_alg'],
    ];
    for (const [name, token, reason] of cases) {
      const check = verifier.verify(await token, EXPECT);
      assert.deepEqual(check.ok ? null : check.reason, reason, name);
    }
    // Remembered tokens still expire, and are not accepted for another audience.
    const token = await sign({ exp: now / 1000 + 60 });
    assert.equal(verifier.verify(token, EXPECT).ok, true);
    assert.deepEqual(verifier.verify(token, { audience: 'nova-playback', type: 'JWT' }), { ok: false, reason: 'wrong_audience' });
    now += 91_000;
    assert.deepEqual(verifier.verify(token, EXPECT), { ok: false, reason: 'expired' });
  });
});
