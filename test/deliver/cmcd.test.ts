import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CmcdData, parseCmcd, readCmcd } from '../../src/deliver/http/cmcd.js';
import type { RequestContext } from '../../src/http/uws-helpers.js';

function parse(text: string): CmcdData {
  const data = new CmcdData();
  parseCmcd(text, data);
  return data;
}

function context(query: string, headers: Record<string, string> = {}): { ctx: RequestContext; params: URLSearchParams } {
  const ctx: RequestContext = { method: 'GET', url: '/hls/s/720p/video/seg-1.m4s', query, headers: new Map(Object.entries(headers)), remoteAddress: '127.0.0.1', aborted: false };
  return { ctx, params: new URLSearchParams(query) };
}

describe('CMCD parser', () => {
  it('reads the keys of an hls.js segment request from the URL-encoded query', () => {
    const cmcd = 'bl=3200,br=1500,bs,cid="live-1",d=2000,mtp=24300,ot=v,rtp=7500,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=l,su,tb=4000';
    const { ctx, params } = context(`CMCD=${encodeURIComponent(cmcd)}&token=abc`);
    const data = new CmcdData();
    assert.equal(readCmcd(ctx, params, data), true);
    assert.equal(data.sid, '6e2fb550-c457-11e9-bb97-0800200c9a66');
    assert.equal(data.cid, 'live-1');
    assert.equal(data.bl, 3200);
    assert.equal(data.br, 1500);
    assert.equal(data.bs, true);
    assert.equal(data.su, true);
    assert.equal(data.d, 2000);
    assert.equal(data.mtp, 24300);
    assert.equal(data.ot, 'v');
    assert.equal(data.rtp, 7500);
    assert.equal(data.sf, 'h');
    assert.equal(data.st, 'l');
    assert.equal(data.tb, 4000);
    assert.equal(data.v, 1);
  });

  it('reads the four CMCD headers together when the query has none', () => {
    const { ctx, params } = context('', {
      'cmcd-request': 'bl=2100, mtp=12000',
      'cmcd-object': 'br=800,d=1000,ot=av,tb=2500',
      'cmcd-status': 'bs,rtp=4000',
      'cmcd-session': 'cid="c",sf=d,sid="abc",st=v,v=2',
    });
    const data = new CmcdData();
    assert.equal(readCmcd(ctx, params, data), true);
    assert.deepEqual(
      [data.bl, data.mtp, data.br, data.d, data.ot, data.tb, data.bs, data.rtp, data.cid, data.sf, data.sid, data.st, data.v],
      [2100, 12000, 800, 1000, 'av', 2500, true, 4000, 'c', 'd', 'abc', 'v', 2],
    );
  });

  it('no CMCD: present stays false and the fields are their defaults (the reused object is reset)', () => {
    const data = new CmcdData();
    const first = context(`CMCD=${encodeURIComponent('sid="x",bs,br=10')}`);
    readCmcd(first.ctx, first.params, data);
    const second = context('token=1', { 'user-agent': 'x' });
    assert.equal(readCmcd(second.ctx, second.params, data), false);
    assert.equal(data.sid, null);
    assert.equal(data.bs, false);
    assert.ok(Number.isNaN(data.br));
  });

  it('table: CMCD v2 lists, escapes, booleans, parameters and malformed members', () => {
    const table: Array<[string, Partial<Record<keyof CmcdData, unknown>>]> = [
      // v2 sends br, bl, mtp as inner lists: the first item is the object's value
      ['br=(1500 3000),bl=(2000;x=1 500),v=2', { br: 1500, bl: 2000, v: 2 }],
      ['sid="a\\"b\\\\c"', { sid: 'a"b\\c' }],
      ['sid="a,b",br=5', { sid: 'a,b', br: 5 }],
      ['bs=?0,su=?1', { bs: false, su: true }],
      ['bs;p=1,br=7;q="x"', { bs: true, br: 7 }],
      ['mtp=12.5', { mtp: 12.5 }],
      // malformed members are skipped; the ones around them still count
      ['br=a(b,bl=100', { bl: 100 }],
      ['br=abc",bl=100', {}],
      ['br=-5,bl=1.2345,d=1.,mtp=1234567890123456', {}],
      ['sid=unquoted,cid="ok"', { cid: 'ok' }],
      ['SID="upper",bl=9', { bl: 9 }],
      ['ot=zz,ot=v', { ot: 'v' }],
      ['sid="' + 'x'.repeat(65) + '",bl=1', { bl: 1 }],
      ['st=h,sf=v', {}],
      ['bl=10,,bl=20', { bl: 20 }],
      [',=,bl', {}],
      ['br="3000"', {}],
      ['bl=(1 2', {}],
      ['sid="open', {}],
      ['nor="seg-2.m4s",nrr="0-99",pr=1.5,bl=5', { bl: 5 }],
    ];
    for (const [text, expected] of table) {
      const data = parse(text);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(data[key as keyof CmcdData], value, `${text}: ${key}`);
      const fresh = new CmcdData();
      for (const key of ['sid', 'cid', 'bs', 'su', 'ot', 'st', 'sf', 'v'] as const) {
        if (!(key in expected)) assert.deepEqual(data[key], fresh[key], `${text}: ${key} untouched`);
      }
      for (const key of ['br', 'bl', 'mtp', 'd', 'tb', 'rtp'] as const) {
        if (!(key in expected)) assert.ok(Number.isNaN(data[key]), `${text}: ${key} untouched, got ${data[key]}`);
      }
    }
  });

  it('property: any text, even random bytes, never throws and leaves only well-typed values', () => {
    const bytes = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'));
    const near = fc
      .array(fc.constantFrom('sid', 'bs', 'br', 'bl', '=', ',', '"', '\\', '(', ')', ';', '?1', '?0', ' ', '12', '.5', '-', 'v', 'x', 'ot', '%2C', '%'), { maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), bytes, near), (text) => {
        const data = parse(text);
        for (const key of ['br', 'bl', 'mtp', 'd', 'tb', 'rtp'] as const) assert.ok(Number.isNaN(data[key]) || (data[key] >= 0 && Number.isFinite(data[key])));
        for (const key of ['sid', 'cid'] as const) assert.ok(data[key] === null || (typeof data[key] === 'string' && data[key]!.length <= 64));
        assert.equal(typeof data.bs, 'boolean');
        assert.ok(Number.isInteger(data.v) && data.v >= 1);
        // and through the query: URLSearchParams never throws on bad escapes, nor does readCmcd
        const { ctx, params } = context(`CMCD=${text.replace(/[&#]/g, '')}`, { 'cmcd-status': text });
        readCmcd(ctx, params, new CmcdData());
      }),
      { numRuns: 3000 },
    );
  });

  it('property: what a player encodes is read back, whatever the order and spacing', () => {
    const member = fc.oneof(
      fc.nat({ max: 1_000_000 }).map((v) => ['br', v] as const),
      fc.nat({ max: 1_000_000 }).map((v) => ['bl', v] as const),
      fc.nat({ max: 10_000_000 }).map((v) => ['mtp', v] as const),
      fc.stringMatching(/^[\x20-\x7e]{1,64}$/).map((v) => ['sid', v] as const),
      fc.constant(['bs', true] as const),
    );
    fc.assert(
      fc.property(fc.uniqueArray(member, { selector: (m) => m[0], minLength: 1, maxLength: 5 }), fc.boolean(), (members, spaced) => {
        const text = members
          .map(([key, value]) => (value === true ? key : typeof value === 'string' ? `${key}="${value.replace(/["\\]/g, '\\$&')}"` : `${key}=${value}`))
          .join(spaced ? ', ' : ',');
        const data = parse(text);
        for (const [key, value] of members) assert.deepEqual(data[key], value, text);
      }),
    );
  });
});
