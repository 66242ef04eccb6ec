import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNovaError } from '../../../src/errors.js';
import {
  AMF0_MAX_DEPTH,
  Amf0EcmaArray,
  Amf0Reader,
  decodeAmf0,
  encodeAmf0,
  type Amf0EncodableValue,
  type Amf0Value,
} from '../../../src/ingest/rtmp/amf0.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

interface Amf0Case {
  name: string;
  bytes: Uint8Array;
  decoded: Amf0Value;
  /** what to encode to get `bytes` when it is not `decoded` itself (ECMA arrays) */
  encodeFrom?: Amf0EncodableValue;
  /** bytes our encoder never produces (typed object, xml): decode-only */
  decodeOnly?: boolean;
}

const longText = 'x'.repeat(70_000);

/** One table drives both directions: bytes → decoded and decoded → bytes. */
const cases: Amf0Case[] = [
  { name: 'number 0', bytes: hex('00 0000000000000000'), decoded: 0 },
  { name: 'number 1.5', bytes: hex('00 3ff8000000000000'), decoded: 1.5 },
  { name: 'number -0', bytes: hex('00 8000000000000000'), decoded: -0 },
  { name: 'boolean true', bytes: hex('01 01'), decoded: true },
  { name: 'boolean false', bytes: hex('01 00'), decoded: false },
  { name: 'boolean non-zero byte is true', bytes: hex('01 7f'), decoded: true, decodeOnly: true },
  { name: 'string connect', bytes: hex(`02 0007 ${ascii('connect')}`), decoded: 'connect' },
  { name: 'empty string', bytes: hex('02 0000'), decoded: '' },
  { name: 'utf-8 string', bytes: hex('02 0003 e282ac'), decoded: '€' },
  { name: 'null', bytes: hex('05'), decoded: null },
  { name: 'undefined', bytes: hex('06'), decoded: undefined },
  { name: 'unsupported decodes as undefined', bytes: hex('0d'), decoded: undefined, decodeOnly: true },
  {
    name: 'object {app: live}',
    bytes: hex(`03 0003 ${ascii('app')} 02 0004 ${ascii('live')} 0000 09`),
    decoded: { app: 'live' },
  },
  { name: 'empty object', bytes: hex('03 0000 09'), decoded: {} },
  {
    name: 'nested object',
    bytes: hex(`03 0001 ${ascii('a')} 03 0001 ${ascii('b')} 05 0000 09 0000 09`),
    decoded: { a: { b: null } },
  },
  {
    name: 'ecma array (onMetaData style)',
    bytes: hex(`08 00000002 0008 ${ascii('duration')} 00 4008000000000000 0006 ${ascii('stereo')} 01 01 0000 09`),
    decoded: { duration: 3, stereo: true },
    encodeFrom: new Amf0EcmaArray({ duration: 3, stereo: true }),
  },
  {
    name: 'ecma array with a wrong count still reads to the end marker',
    bytes: hex(`08 00000009 0001 ${ascii('k')} 05 0000 09`),
    decoded: { k: null },
    decodeOnly: true,
  },
  { name: 'strict array [1, "a"]', bytes: hex(`0a 00000002 00 3ff0000000000000 02 0001 ${ascii('a')}`), decoded: [1, 'a'] },
  { name: 'date', bytes: hex('0b 4278bcfe56800000 0000'), decoded: new Date(1_700_000_000_000) },
  // fast-check counterexample (seed 1656558524): a date beyond ±8.64e15 ms cannot round-trip as a Date
  { name: 'unrepresentable date decodes as null', bytes: hex('0b 4400000000000000 0000'), decoded: null, decodeOnly: true },
  {
    name: 'long string',
    bytes: Uint8Array.from([0x0c, 0x00, 0x01, 0x11, 0x70, ...Buffer.from(longText)]),
    decoded: longText,
  },
  {
    name: 'typed object decodes as object',
    bytes: hex(`10 0002 ${ascii('Cl')} 0001 ${ascii('n')} 00 3ff0000000000000 0000 09`),
    decoded: { n: 1 },
    decodeOnly: true,
  },
  { name: 'xml document decodes as string', bytes: hex(`0f 00000003 ${ascii('<a>')}`), decoded: '<a>', decodeOnly: true },
  {
    name: '__proto__ key stays an own property',
    bytes: hex(`03 0009 ${ascii('__proto__')} 00 3ff0000000000000 0000 09`),
    decoded: JSON.parse('{"__proto__": 1}') as Amf0Value,
  },
];

describe('AMF0 golden table', () => {
  for (const c of cases) {
    it(`decodes ${c.name}`, () => {
      const reader = new Amf0Reader(c.bytes);
      assert.deepEqual(reader.readValue(), c.decoded);
      assert.equal(reader.remaining, 0, 'consumed exactly the value');
    });
    if (!c.decodeOnly) {
      it(`encodes ${c.name}`, () => {
        assert.deepEqual(Buffer.from(encodeAmf0([c.encodeFrom ?? c.decoded])), Buffer.from(c.bytes));
      });
    }
  }
});

describe('AMF0 malformed input', () => {
  const bad: Array<[string, Uint8Array]> = [
    ['truncated number', hex('00 3ff8')],
    ['truncated string', hex('02 0005 6162')],
    ['string length beyond buffer', hex('02 ffff')],
    ['object without end marker', hex(`03 0001 ${ascii('a')} 05`)],
    ['object end outside an object', hex('09')],
    ['reference marker', hex('07 0001')],
    ['AVM+ switch', hex('11 02')],
    ['unknown marker', hex('42')],
    ['strict array count larger than the bytes', hex('0a ffffffff 05')],
    ['truncated date', hex('0b 4278bcfe56800000')],
  ];
  for (const [name, bytes] of bad) {
    it(`rejects ${name} with NOVA_ERR_RTMP_AMF`, () => {
      assert.throws(() => decodeAmf0(bytes), (err: unknown) => isNovaError(err) && err.code === 'NOVA_ERR_RTMP_AMF');
    });
  }

  it('bounds nesting depth', () => {
    const depth = AMF0_MAX_DEPTH + 5;
    const bytes = new Uint8Array(depth * 5 + 1);
    for (let i = 0; i < depth; i++) bytes.set([0x0a, 0, 0, 0, 1], i * 5);
    bytes[depth * 5] = 0x05;
    assert.throws(() => decodeAmf0(bytes), (err: unknown) => isNovaError(err) && /nesting/.test(err.message));
  });
});

/** Generates AMF0 byte strings that are valid more often than random bytes are. */
const amfValue: fc.Arbitrary<Amf0EncodableValue> = fc.letrec<{ value: Amf0EncodableValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

describe('AMF0 properties', () => {
  it('any bytes either decode or throw NovaError; what decodes re-encodes to an equal value', () => {
    const bytesFromValues = fc.array(amfValue, { minLength: 1, maxLength: 3 }).map((values) => encodeAmf0(values));
    const mutated = fc.tuple(bytesFromValues, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat())
      .map(([bytes, flips, cut]) => {
        const copy = bytes.slice();
        for (const [at, value] of flips) if (copy.length > 0) copy[at % copy.length] = value;
        return copy.subarray(0, copy.length === 0 ? 0 : cut % (copy.length + 1));
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), bytesFromValues, mutated), (bytes) => {
        let values: Amf0Value[];
        try {
          values = decodeAmf0(bytes);
        } catch (err) {
          assert.ok(isNovaError(err), `non-NovaError thrown: ${String(err)}`);
          assert.equal(err.code, 'NOVA_ERR_RTMP_AMF');
          return;
        }
        assert.deepEqual(decodeAmf0(encodeAmf0(values)), values);
      }),
      { numRuns: 3000 },
    );
  });

  it('encode → decode is the identity on generated values', () => {
    fc.assert(
      fc.property(amfValue, (value) => {
        const [decoded] = decodeAmf0(encodeAmf0([value]));
        assert.deepEqual(decoded, value);
      }),
      { numRuns: 1000 },
    );
  });
});
