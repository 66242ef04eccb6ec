import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxWriter } from '../../src/package/fmp4/box-writer.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

interface WriterCase {
  name: string;
  size: number;
  write: (w: BoxWriter) => void;
  expected: string;
}

const cases: WriterCase[] = [
  { name: 'u8', size: 2, write: (w) => { w.u8(0xab); w.u8(0x01); }, expected: 'ab01' },
  { name: 'u16 big-endian', size: 2, write: (w) => w.u16(0x1234), expected: '1234' },
  { name: 'u24', size: 3, write: (w) => w.u24(0x0a0b0c), expected: '0a0b0c' },
  { name: 'u32', size: 4, write: (w) => w.u32(0xdeadbeef), expected: 'deadbeef' },
  { name: 'i32 negative', size: 4, write: (w) => w.i32(-2), expected: 'fffffffe' },
  { name: 'u64 above 2^32', size: 8, write: (w) => w.u64(0x1_0000_0002), expected: '0000000100000002' },
  { name: 'u64 large safe integer', size: 8, write: (w) => w.u64(2 ** 52 + 5), expected: '0010000000000005' },
  { name: 'fourcc', size: 4, write: (w) => w.fourcc('moov'), expected: '6d6f6f76' },
  { name: 'zeros', size: 3, write: (w) => w.zeros(3), expected: '000000' },
  { name: 'bytes', size: 3, write: (w) => w.write(new Uint8Array([1, 2, 3])), expected: '010203' },
  { name: 'empty box', size: 8, write: (w) => { w.open('free'); w.close(); }, expected: '0000000866726565' },
  {
    name: 'full box header',
    size: 16,
    write: (w) => { w.openFull('mfhd', 1, 0x020001); w.u32(7); w.close(); },
    expected: '000000106d666864' + '01020001' + '00000007',
  },
  {
    name: 'nested boxes patch both sizes',
    size: 20,
    write: (w) => { w.open('moof'); w.open('traf'); w.u32(0xffffffff); w.close(); w.close(); },
    expected: '000000146d6f6f66' + '0000000c74726166' + 'ffffffff',
  },
];

for (const c of cases) {
  test(`BoxWriter: ${c.name}`, () => {
    const bytes = new Uint8Array(c.size);
    const w = new BoxWriter(bytes);
    c.write(w);
    assert.equal(w.offset, c.size);
    assert.equal(w.openDepth, 0);
    assert.equal(hex(bytes), c.expected);
  });
}

test('BoxWriter writes at an offset inside a larger buffer and leaves the rest alone', () => {
  const bytes = new Uint8Array(12).fill(0xee);
  const w = new BoxWriter(bytes.subarray(2), 0);
  w.open('abcd');
  w.close();
  assert.equal(hex(bytes), 'eeee0000000861626364eeee');
});

test('BoxWriter rejects close() without open()', () => {
  const w = new BoxWriter(new Uint8Array(8));
  assert.throws(() => w.close(), { name: 'NovaError', code: 'NOVA_ERR_INTERNAL' });
});
